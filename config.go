package cachekit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/monitor"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
	"github.com/cachekit/cachekit/tiered"
)

// Storage types, the values of Config.StorageType and CACHE_STORAGE_TYPE.
const (
	StorageMemory   = "memory"
	StorageDynamoDB = "dynamodb"
	StorageRedis    = "redis"
)

// Config says which backend to build and how, in the terms of the CACHE_* environment
// variables that ConfigFromEnv reads, each named on its field. The zero value means every
// documented default: an in-memory cache.
type Config struct {
	// StorageType is the backend: StorageMemory, StorageDynamoDB or StorageRedis.
	// Empty means StorageDynamoDB when TableName is set, else StorageRedis when RedisURL is,
	// else StorageMemory.
	// Environment: CACHE_STORAGE_TYPE.
	StorageType string
	// KeyPrefix is Options.Prefix. Empty means DefaultPrefix. Environment: CACHE_KEY_PREFIX.
	KeyPrefix string
	// DefaultTTL is Options.TTL. Zero means DefaultTTL. Environment: CACHE_DEFAULT_TTL, a Go
	// duration ("90s", "24h") or a whole number of seconds ("300").
	DefaultTTL time.Duration
	// MemoryMaxSize is memstore's MaxSize. Zero means its default.
	// Environment: CACHE_MEMORY_MAX_SIZE, a positive whole number.
	MemoryMaxSize int
	// L1MaxSize, when positive, puts an in-memory tier (package tiered) of that many entries
	// in front of a remote backend. Environment: CACHE_L1_MAX_SIZE.
	L1MaxSize int
	// L1TTL caps the lifetime of an L1 copy, and so how stale a value another instance
	// changed can be when read here; setting it alone turns L1 on with tiered.DefaultMaxSize.
	// Zero means tiered.DefaultMaxTTL. Environment: CACHE_L1_TTL.
	L1TTL time.Duration
	// MemoryCleanupInterval is memstore's CleanupInterval: zero means its default, a negative
	// value no clean-up goroutine. Environment: CACHE_MEMORY_CLEANUP_INTERVAL, a duration or
	// seconds as for CACHE_DEFAULT_TTL, where "0" turns the goroutine off.
	MemoryCleanupInterval time.Duration
	// TableName is the DynamoDB table. Environment: CACHE_TABLE_NAME.
	TableName string
	// DynamoDBEndpoint sends DynamoDB requests to another endpoint, such as DynamoDB Local's
	// http://127.0.0.1:8000. Environment: CACHE_DYNAMODB_ENDPOINT; the AWS SDK's own
	// AWS_ENDPOINT_URL_DYNAMODB works too.
	DynamoDBEndpoint string
	// DynamoDBPartitionKey names the table's partition key attribute; empty means "PK".
	// Environment: CACHE_DYNAMODB_PARTITION_KEY.
	DynamoDBPartitionKey string
	// DynamoDBSortKey and DynamoDBSortKeyValue name the sort key of a single-table design and
	// the constant cache items carry in it. Environment: CACHE_DYNAMODB_SORT_KEY and
	// CACHE_DYNAMODB_SORT_KEY_VALUE.
	DynamoDBSortKey      string
	DynamoDBSortKeyValue string
	// DynamoDBConsistentRead makes reads strongly consistent. Environment:
	// CACHE_DYNAMODB_CONSISTENT_READ, true or false.
	DynamoDBConsistentRead bool
	// FallbackStorageType, when set, puts the backend behind a circuit breaker
	// (resilient.Breaker) and sends traffic to this second backend while the breaker is open
	// (resilient.Fallback): for example redis with a dynamodb fallback. It takes the same
	// settings as StorageType. Environment: CACHE_FALLBACK_STORAGE_TYPE.
	FallbackStorageType string
	// RedisURL is the Redis server or cluster, as redisstore.ParseURL reads it:
	// redis://[user:password@]host:port[/db], rediss:// for TLS, addr= for more seed nodes.
	// Environment: CACHE_REDIS_URL.
	RedisURL string

	// DisableBreaker leaves a remote backend (DynamoDB, Redis) without the circuit breaker
	// (resilient.Breaker) that Open otherwise puts in front of it, so that its errors reach
	// the caller however many there are. A fallback needs the breaker.
	// Environment: CACHE_BREAKER=off (on is the default).
	DisableBreaker bool
	// OpTimeout bounds every call to a remote backend (resilient.Options.OpTimeout). Zero
	// means resilient.DefaultOpTimeout. Environment: CACHE_OP_TIMEOUT, a duration.
	OpTimeout time.Duration
	// BreakerFailures is how many failures in a row open the breaker; zero means
	// resilient.DefaultFailureThreshold. Environment: CACHE_BREAKER_FAILURES.
	BreakerFailures int
	// BreakerOpenTimeout is how long the breaker stays open before it probes the backend
	// again; zero means resilient.DefaultOpenTimeout. Environment: CACHE_BREAKER_OPEN_TIMEOUT.
	BreakerOpenTimeout time.Duration

	// HealthCheckInterval is how often the Cache checks a remote backend's health with a
	// probe key: zero means monitor.DefaultInterval, a negative value no checks. The memory
	// backend is never checked. Environment: CACHE_HEALTH_CHECK_INTERVAL, a duration, where
	// "0" turns the checks off.
	HealthCheckInterval time.Duration
	// Metrics is "emf" to write the Cache's statistics as CloudWatch Embedded Metric Format
	// lines on standard output, or empty for none. Environment: CACHE_METRICS.
	Metrics string
	// MetricsNamespace is the CloudWatch namespace; empty means "cachekit".
	// Environment: CACHE_METRICS_NAMESPACE.
	MetricsNamespace string
	// MetricsInterval is how often metrics are flushed; zero means
	// monitor.DefaultFlushInterval. Environment: CACHE_METRICS_INTERVAL.
	MetricsInterval time.Duration
	// ServiceName is the metrics' Service dimension. Environment: CACHE_SERVICE_NAME, else
	// AWS_LAMBDA_FUNCTION_NAME.
	ServiceName string
	// OnDemand runs health checks and metric flushes inside cache calls, when due, instead
	// of on goroutines of the Cache's own: what AWS Lambda needs, where goroutines freeze
	// between invocations. ConfigFromEnv sets it when AWS_LAMBDA_FUNCTION_NAME is set.
	OnDemand bool
}

// MetricsEMF is the value of Config.Metrics (CACHE_METRICS) that turns metrics on.
const MetricsEMF = "emf"

// The environment variables ConfigFromEnv reads.
const (
	EnvStorageType           = "CACHE_STORAGE_TYPE"
	EnvKeyPrefix             = "CACHE_KEY_PREFIX"
	EnvDefaultTTL            = "CACHE_DEFAULT_TTL"
	EnvMemoryMaxSize         = "CACHE_MEMORY_MAX_SIZE"
	EnvMemoryCleanupInterval = "CACHE_MEMORY_CLEANUP_INTERVAL"
	EnvTableName             = "CACHE_TABLE_NAME"
	EnvDynamoDBEndpoint      = "CACHE_DYNAMODB_ENDPOINT"
	EnvDynamoDBPartitionKey  = "CACHE_DYNAMODB_PARTITION_KEY"
	EnvDynamoDBSortKey       = "CACHE_DYNAMODB_SORT_KEY"
	EnvDynamoDBSortKeyValue  = "CACHE_DYNAMODB_SORT_KEY_VALUE"
	EnvDynamoDBConsistent    = "CACHE_DYNAMODB_CONSISTENT_READ"
	EnvRedisURL              = "CACHE_REDIS_URL"
	EnvFallbackStorageType   = "CACHE_FALLBACK_STORAGE_TYPE"
	EnvL1MaxSize             = "CACHE_L1_MAX_SIZE"
	EnvL1TTL                 = "CACHE_L1_TTL"
	EnvBreaker               = "CACHE_BREAKER"
	EnvOpTimeout             = "CACHE_OP_TIMEOUT"
	EnvBreakerFailures       = "CACHE_BREAKER_FAILURES"
	EnvBreakerOpenTimeout    = "CACHE_BREAKER_OPEN_TIMEOUT"
	EnvHealthCheckInterval   = "CACHE_HEALTH_CHECK_INTERVAL"
	EnvMetrics               = "CACHE_METRICS"
	EnvMetricsNamespace      = "CACHE_METRICS_NAMESPACE"
	EnvMetricsInterval       = "CACHE_METRICS_INTERVAL"
	EnvServiceName           = "CACHE_SERVICE_NAME"
	// EnvLambdaFunctionName is set by AWS Lambda in every function's environment.
	EnvLambdaFunctionName = "AWS_LAMBDA_FUNCTION_NAME"
)

// ConfigFromEnv reads a Config from the process's CACHE_* environment variables and validates
// it. An unset or empty variable means the field's default; a value that cannot be used is an
// error wrapping ErrConfig that names the variable, never a silent fallback. With the error
// comes every valid value read, the invalid ones left zero, so that a command line can still
// override the variables.
func ConfigFromEnv() (Config, error) {
	return ConfigFromLookup(os.LookupEnv)
}

// ConfigFromLookup is ConfigFromEnv over any source of variables, such as a test's map.
func ConfigFromLookup(lookup func(name string) (string, bool)) (Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	cfg := Config{
		StorageType: strings.ToLower(get(EnvStorageType)),
		KeyPrefix:   get(EnvKeyPrefix),
		TableName:   get(EnvTableName),

		DynamoDBEndpoint:     get(EnvDynamoDBEndpoint),
		DynamoDBPartitionKey: get(EnvDynamoDBPartitionKey),
		DynamoDBSortKey:      get(EnvDynamoDBSortKey),
		DynamoDBSortKeyValue: get(EnvDynamoDBSortKeyValue),
		RedisURL:             get(EnvRedisURL),
		FallbackStorageType:  strings.ToLower(get(EnvFallbackStorageType)),

		Metrics:          strings.ToLower(get(EnvMetrics)),
		MetricsNamespace: get(EnvMetricsNamespace),
		ServiceName:      cmp.Or(get(EnvServiceName), get(EnvLambdaFunctionName)),
		OnDemand:         get(EnvLambdaFunctionName) != "",
	}
	var errs []error
	// positive reads a positive duration (seconds or a Go duration) into dst.
	positive := func(name string, dst *time.Duration, example string) {
		if v := get(name); v != "" {
			if d, err := ParseDuration(v); err != nil || d <= 0 {
				errs = append(errs, envError(name, v, "want a positive duration such as "+example))
			} else {
				*dst = d
			}
		}
	}
	// interval reads a duration where 0 means none, which dst holds as -1.
	interval := func(name string, dst *time.Duration) {
		if v := get(name); v != "" {
			switch d, err := ParseDuration(v); {
			case err != nil || d < 0:
				errs = append(errs, envError(name, v, "want a duration such as 1m, or 0 for none"))
			case d == 0:
				*dst = -1
			default:
				*dst = d
			}
		}
	}
	// count reads a positive whole number into dst.
	count := func(name string, dst *int) {
		if v := get(name); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n <= 0 {
				errs = append(errs, envError(name, v, "want a positive whole number"))
			} else {
				*dst = n
			}
		}
	}
	positive(EnvDefaultTTL, &cfg.DefaultTTL, "5m or 300")
	count(EnvMemoryMaxSize, &cfg.MemoryMaxSize)
	interval(EnvMemoryCleanupInterval, &cfg.MemoryCleanupInterval)
	count(EnvL1MaxSize, &cfg.L1MaxSize)
	positive(EnvL1TTL, &cfg.L1TTL, "500ms or 10s")
	positive(EnvOpTimeout, &cfg.OpTimeout, "500ms or 10s")
	positive(EnvBreakerOpenTimeout, &cfg.BreakerOpenTimeout, "500ms or 10s")
	count(EnvBreakerFailures, &cfg.BreakerFailures)
	interval(EnvHealthCheckInterval, &cfg.HealthCheckInterval)
	positive(EnvMetricsInterval, &cfg.MetricsInterval, "500ms or 10s")
	if v := get(EnvBreaker); v != "" {
		switch strings.ToLower(v) {
		case "on", "true", "1":
		case "off", "false", "0":
			cfg.DisableBreaker = true
		default:
			errs = append(errs, envError(EnvBreaker, v, "want on or off"))
		}
	}
	if v := get(EnvDynamoDBConsistent); v != "" {
		if b, err := strconv.ParseBool(v); err != nil {
			errs = append(errs, envError(EnvDynamoDBConsistent, v, "want true or false"))
		} else {
			cfg.DynamoDBConsistentRead = b
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	return cfg, cfg.Validate()
}

func envError(name, value, want string) error {
	return fmt.Errorf("%w: %s=%q: %s", ErrConfig, name, value, want)
}

// ParseDuration reads a duration as the CACHE_* variables give them: a Go duration ("90s",
// "24h") or a whole number of seconds ("300"), at most MaxTTL either way.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(MaxTTL/time.Second) || n < -int64(MaxTTL/time.Second) {
			return 0, fmt.Errorf("%d seconds is beyond MaxTTL (%v)", n, MaxTTL)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration such as 90s, 5m or 24h, or a whole number of seconds")
	}
	if d > MaxTTL || d < -MaxTTL {
		return 0, fmt.Errorf("%v is beyond MaxTTL (%v)", d, MaxTTL)
	}
	return d, nil
}

// Backend returns the storage type the Config selects, with an empty StorageType resolved:
// StorageDynamoDB when TableName is set, else StorageRedis when RedisURL is, else
// StorageMemory.
func (cfg Config) Backend() string {
	switch {
	case cfg.StorageType != "":
		return cfg.StorageType
	case cfg.TableName != "":
		return StorageDynamoDB
	case cfg.RedisURL != "":
		return StorageRedis
	}
	return StorageMemory
}

// Validate reports a Config that Open could not use. Its errors wrap ErrConfig and name both
// the field and its environment variable.
func (cfg Config) Validate() error {
	if f := cfg.FallbackStorageType; f != "" {
		if f == cfg.Backend() {
			return fmt.Errorf("%w: fallback storage type %q (%s) is the storage type itself", ErrConfig, f, EnvFallbackStorageType)
		}
		if cfg.Backend() == StorageMemory {
			return fmt.Errorf("%w: a fallback (%s) goes behind a remote backend, not memory", ErrConfig, EnvFallbackStorageType)
		}
		fallback := cfg
		fallback.StorageType, fallback.FallbackStorageType = f, ""
		fallback.L1MaxSize, fallback.L1TTL = 0, 0 // the L1 goes in front of both
		if err := fallback.Validate(); err != nil {
			return fmt.Errorf("%w (the fallback, %s)", err, EnvFallbackStorageType)
		}
	}
	switch t := cfg.Backend(); t {
	case StorageMemory:
	case StorageDynamoDB:
		if cfg.TableName == "" {
			return fmt.Errorf("%w: storage type %q (%s) needs a table name (%s)", ErrConfig, t, EnvStorageType, EnvTableName)
		}
		if (cfg.DynamoDBSortKey == "") != (cfg.DynamoDBSortKeyValue == "") {
			return fmt.Errorf("%w: %s and %s go together", ErrConfig, EnvDynamoDBSortKey, EnvDynamoDBSortKeyValue)
		}
	case StorageRedis:
		if cfg.RedisURL == "" {
			return fmt.Errorf("%w: storage type %q (%s) needs a URL (%s)", ErrConfig, t, EnvStorageType, EnvRedisURL)
		}
		if _, err := redisstore.ParseURL(cfg.RedisURL); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrConfig, EnvRedisURL, err)
		}
	default:
		return fmt.Errorf("%w: storage type %q (%s): want %s, %s or %s", ErrConfig, t, EnvStorageType,
			StorageMemory, StorageDynamoDB, StorageRedis)
	}
	if cfg.KeyPrefix != "" {
		if err := checkPrefix(cfg.KeyPrefix); err != nil {
			return fmt.Errorf("%w: key prefix (%s): %w", ErrConfig, EnvKeyPrefix, err)
		}
	}
	if cfg.DefaultTTL < 0 || cfg.DefaultTTL > MaxTTL {
		return fmt.Errorf("%w: default TTL %v (%s): want a positive duration up to %v", ErrConfig, cfg.DefaultTTL, EnvDefaultTTL, MaxTTL)
	}
	if cfg.MemoryMaxSize < 0 {
		return fmt.Errorf("%w: memory max size %d (%s): want a positive whole number", ErrConfig, cfg.MemoryMaxSize, EnvMemoryMaxSize)
	}
	if cfg.L1MaxSize < 0 || cfg.L1TTL < 0 {
		return fmt.Errorf("%w: negative L1 setting (%s, %s)", ErrConfig, EnvL1MaxSize, EnvL1TTL)
	}
	if cfg.tiered() && cfg.Backend() == StorageMemory {
		return fmt.Errorf("%w: an L1 (%s, %s) goes in front of a remote backend, not memory", ErrConfig, EnvL1MaxSize, EnvL1TTL)
	}
	if cfg.DisableBreaker && cfg.FallbackStorageType != "" {
		return fmt.Errorf("%w: a fallback (%s) needs the circuit breaker (%s)", ErrConfig, EnvFallbackStorageType, EnvBreaker)
	}
	if cfg.OpTimeout < 0 || cfg.BreakerOpenTimeout < 0 || cfg.BreakerFailures < 0 || cfg.MetricsInterval < 0 {
		return fmt.Errorf("%w: negative breaker or metrics setting (%s, %s, %s, %s)", ErrConfig,
			EnvOpTimeout, EnvBreakerOpenTimeout, EnvBreakerFailures, EnvMetricsInterval)
	}
	if m := cfg.Metrics; m != "" && m != MetricsEMF && m != "none" {
		return fmt.Errorf("%w: metrics %q (%s): want %s or none", ErrConfig, m, EnvMetrics, MetricsEMF)
	}
	return nil
}

// Open builds the Store that cfg names and a Cache over it: a remote backend behind a
// circuit breaker (unless DisableBreaker), with a fallback when FallbackStorageType names
// one, health checks of a remote backend and metrics as cfg asks. It does no network I/O: a
// DynamoDB client reads its configuration (region, credentials chain) and sends its first
// request on the Cache's first call, and a Redis client connects then.
func Open(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := openStore(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return New(s, cfg.options())
}

// options returns the Cache options cfg describes.
func (cfg Config) options() Options {
	opts := Options{Prefix: cfg.KeyPrefix, TTL: cfg.DefaultTTL, Background: !cfg.OnDemand}
	if cfg.OnDemand && (cfg.Backend() == StorageMemory || cfg.tiered()) && cfg.MemoryCleanupInterval >= 0 {
		opts.CleanupInterval = cmp.Or(cfg.MemoryCleanupInterval, memstore.DefaultCleanupInterval)
	}
	if cfg.Backend() != StorageMemory && cfg.HealthCheckInterval >= 0 {
		opts.Health = &monitor.Options{Interval: cfg.HealthCheckInterval}
		if cfg.OnDemand {
			opts.Health.Retries = -1 // the check runs inside a request: no backoff sleeps there
		}
	}
	if cfg.Metrics == MetricsEMF {
		dims := map[string]string{"Backend": cfg.Backend()}
		if cfg.ServiceName != "" {
			dims["Service"] = cfg.ServiceName
		}
		opts.Metrics = &monitor.EMFOptions{Namespace: cfg.MetricsNamespace, Dimensions: dims, Interval: cfg.MetricsInterval}
	}
	return opts
}

// tiered reports whether the Config asks for an L1 in front of the backend.
func (cfg Config) tiered() bool { return cfg.L1MaxSize > 0 || cfg.L1TTL > 0 }

// openStore builds the Store cfg describes: the backend, behind its breaker and with its
// fallback, and an L1 in front of it all, so that L1 keeps serving while L2 is down.
func openStore(cfg Config) (Store, error) {
	s, err := openRemote(cfg)
	if err != nil || !cfg.tiered() {
		return s, err
	}
	t, err := tiered.New(s, tiered.Options{MaxSize: cfg.L1MaxSize, MaxTTL: cfg.L1TTL})
	if err != nil {
		s.Close()
		return nil, err
	}
	return t, nil
}

func openRemote(cfg Config) (Store, error) {
	primary, err := openBackend(cfg)
	if err != nil || cfg.DisableBreaker || cfg.Backend() == StorageMemory {
		return primary, err
	}
	guarded, err := resilient.New(primary, resilient.Options{
		Name:             cfg.Backend(),
		FailureThreshold: uint32(cfg.BreakerFailures),
		OpenTimeout:      cfg.BreakerOpenTimeout,
		OpTimeout:        cfg.OpTimeout,
	})
	if err != nil || cfg.FallbackStorageType == "" {
		return guarded, err
	}
	second := cfg
	second.StorageType = cfg.FallbackStorageType
	fallback, err := openBackend(second)
	if err != nil {
		primary.Close()
		return nil, err
	}
	prefix := cmp.Or(cfg.KeyPrefix, DefaultPrefix)
	return resilient.NewFallback(guarded, fallback, resilient.FallbackOptions{ProbePrefix: prefix + "health:"})
}

// openBackend builds the one backend cfg.Backend names.
func openBackend(cfg Config) (Store, error) {
	switch cfg.Backend() {
	case StorageRedis:
		return redisstore.Open(cfg.RedisURL, redisstore.Options{})
	case StorageDynamoDB:
		client, closeIdle, err := dynamostore.NewClient(context.Background(), cfg.DynamoDBEndpoint)
		if err != nil {
			return nil, err
		}
		opts := cfg.DynamoDBOptions()
		opts.OnClose = closeIdle // the Cache owns the client it built
		return dynamostore.New(client, opts)
	default:
		every := cfg.MemoryCleanupInterval
		if cfg.OnDemand {
			every = -1 // no goroutine to freeze: calls sweep on demand (Options.CleanupInterval)
		}
		return memstore.New(memstore.Options{MaxSize: cfg.MemoryMaxSize, CleanupInterval: every})
	}
}

// DynamoDBOptions returns the dynamostore options the Config describes.
func (cfg Config) DynamoDBOptions() dynamostore.Options {
	return dynamostore.Options{
		Table:          cfg.TableName,
		PartitionKey:   cfg.DynamoDBPartitionKey,
		SortKey:        cfg.DynamoDBSortKey,
		SortKeyValue:   cfg.DynamoDBSortKeyValue,
		ConsistentRead: cfg.DynamoDBConsistentRead,
	}
}

var defaultCache = sync.OnceValue(func() *Cache {
	cfg, err := ConfigFromEnv()
	if err != nil {
		return broken(err)
	}
	c, err := Open(cfg)
	if err != nil {
		return broken(err)
	}
	return c
})

// Default returns the process-wide Cache, built on the first call from the CACHE_* environment
// variables (see Config) and the same on every later call. Building it does no network I/O.
//
// When the environment is invalid, Default still returns a Cache, so that it can initialise
// package-level variables, and every call of it, and of the views made from it, reports the
// error, which names the variable. Use SetStore to swap its Store at run time, as tests do.
func Default() *Cache {
	return defaultCache()
}
