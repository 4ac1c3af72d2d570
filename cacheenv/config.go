// Package cacheenv builds a cachekit.Cache from the CACHE_* environment variables: Default,
// the process-wide Cache a Lambda function declares its views on, and Load and Open for
// programs (such as cachectl) that want the Config in hand. It is the one package that reads
// the environment and the one that imports every backend, so that the backend can change
// with a variable and no code change; a program that builds its Store itself (cachekit.New
// over memstore, dynamostore or redisstore) does not import it and links only that backend.
package cacheenv

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

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/emf"
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
// variables that Load reads, each named on its field. The zero value means every
// documented default: an in-memory cache.
type Config struct {
	// StorageType is the backend: StorageMemory, StorageDynamoDB or StorageRedis.
	// Empty means StorageDynamoDB when TableName is set, else StorageRedis when RedisURL is,
	// else StorageMemory.
	// Environment: CACHE_STORAGE_TYPE.
	StorageType string
	// KeyPrefix is cachekit.Options.Prefix. Empty means cachekit.DefaultPrefix. Environment: CACHE_KEY_PREFIX.
	KeyPrefix string
	// DefaultTTL is cachekit.Options.TTL. Zero means cachekit.DefaultTTL. Environment: CACHE_DEFAULT_TTL, a Go
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
	// MemoryCleanupInterval is how often expired entries are swept out of memory (the memory
	// backend, an L1): cachekit.Options.CleanupInterval, where zero means
	// cachekit.DefaultCleanupInterval and a negative value no sweeps. Environment:
	// CACHE_MEMORY_CLEANUP_INTERVAL, a duration or seconds as for CACHE_DEFAULT_TTL, where "0"
	// turns the sweeps off.
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

	// HealthCheckInterval is how often the cachekit.Cache checks a remote backend's health with a
	// probe key: zero means cachekit.DefaultHealthInterval, a negative value no checks. The memory
	// backend is never checked. Environment: CACHE_HEALTH_CHECK_INTERVAL, a duration, where
	// "0" turns the checks off.
	HealthCheckInterval time.Duration
	// Metrics is "emf" to write the cachekit.Cache's statistics as CloudWatch Embedded Metric Format
	// lines on standard output, or empty for none. Environment: CACHE_METRICS.
	Metrics string
	// MetricsNamespace is the CloudWatch namespace; empty means emf.DefaultNamespace.
	// Environment: CACHE_METRICS_NAMESPACE.
	MetricsNamespace string
	// MetricsInterval is how often metrics are flushed; zero means
	// cachekit.DefaultMetricsInterval. Environment: CACHE_METRICS_INTERVAL.
	MetricsInterval time.Duration
	// ServiceName is the metrics' Service dimension. Environment: CACHE_SERVICE_NAME, else
	// AWS_LAMBDA_FUNCTION_NAME.
	ServiceName string
	// Background runs the cachekit.Cache's health checks, metric flushes and sweeps on a
	// goroutine of its own (cachekit.Options.Background) rather than inside calls when due.
	// Load sets it unless AWS_LAMBDA_FUNCTION_NAME is set: under AWS Lambda goroutines freeze
	// between invocations.
	Background bool
}

// MetricsEMF is the value of Config.Metrics (CACHE_METRICS) that turns metrics on.
const MetricsEMF = "emf"

// The environment variables Load reads.
const (
	VarStorageType           = "CACHE_STORAGE_TYPE"
	VarKeyPrefix             = "CACHE_KEY_PREFIX"
	VarDefaultTTL            = "CACHE_DEFAULT_TTL"
	VarMemoryMaxSize         = "CACHE_MEMORY_MAX_SIZE"
	VarMemoryCleanupInterval = "CACHE_MEMORY_CLEANUP_INTERVAL"
	VarTableName             = "CACHE_TABLE_NAME"
	VarDynamoDBEndpoint      = "CACHE_DYNAMODB_ENDPOINT"
	VarDynamoDBPartitionKey  = "CACHE_DYNAMODB_PARTITION_KEY"
	VarDynamoDBSortKey       = "CACHE_DYNAMODB_SORT_KEY"
	VarDynamoDBSortKeyValue  = "CACHE_DYNAMODB_SORT_KEY_VALUE"
	VarDynamoDBConsistent    = "CACHE_DYNAMODB_CONSISTENT_READ"
	VarRedisURL              = "CACHE_REDIS_URL"
	VarFallbackStorageType   = "CACHE_FALLBACK_STORAGE_TYPE"
	VarL1MaxSize             = "CACHE_L1_MAX_SIZE"
	VarL1TTL                 = "CACHE_L1_TTL"
	VarBreaker               = "CACHE_BREAKER"
	VarOpTimeout             = "CACHE_OP_TIMEOUT"
	VarBreakerFailures       = "CACHE_BREAKER_FAILURES"
	VarBreakerOpenTimeout    = "CACHE_BREAKER_OPEN_TIMEOUT"
	VarHealthCheckInterval   = "CACHE_HEALTH_CHECK_INTERVAL"
	VarMetrics               = "CACHE_METRICS"
	VarMetricsNamespace      = "CACHE_METRICS_NAMESPACE"
	VarMetricsInterval       = "CACHE_METRICS_INTERVAL"
	VarServiceName           = "CACHE_SERVICE_NAME"
	// VarLambdaFunctionName is set by AWS Lambda in every function's environment.
	VarLambdaFunctionName = "AWS_LAMBDA_FUNCTION_NAME"
)

// Load reads a Config from the process's CACHE_* environment variables and validates
// it. An unset or empty variable means the field's default; a value that cannot be used is an
// error wrapping cachekit.ErrConfig that names the variable, never a silent fallback. With the error
// comes every valid value read, the invalid ones left zero, so that a command line can still
// override the variables.
func Load() (Config, error) {
	return LoadFrom(os.LookupEnv)
}

// LoadFrom is Load over any source of variables, such as a test's map.
func LoadFrom(lookup func(name string) (string, bool)) (Config, error) {
	cfg := Config{Background: true} // unless AWS_LAMBDA_FUNCTION_NAME says otherwise
	var errs []error
	for _, v := range variables {
		value, _ := lookup(v.Name)
		if value = strings.TrimSpace(value); value == "" {
			continue
		}
		if err := v.set(&cfg, value); err != nil {
			errs = append(errs, envError(v.Name, value, err))
		}
	}
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	return cfg, cfg.Validate()
}

// ParseDuration reads a duration as the CACHE_* variables give them: a Go duration ("90s",
// "24h") or a whole number of seconds ("300"), at most cachekit.MaxTTL either way.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(cachekit.MaxTTL/time.Second) || n < -int64(cachekit.MaxTTL/time.Second) {
			return 0, fmt.Errorf("%d seconds is beyond MaxTTL (%v)", n, cachekit.MaxTTL)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration such as 90s, 5m or 24h, or a whole number of seconds")
	}
	if d > cachekit.MaxTTL || d < -cachekit.MaxTTL {
		return 0, fmt.Errorf("%v is beyond MaxTTL (%v)", d, cachekit.MaxTTL)
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

// Validate reports a Config that Open could not use. Its errors wrap cachekit.ErrConfig and name both
// the field and its environment variable.
func (cfg Config) Validate() error {
	if f := cfg.FallbackStorageType; f != "" {
		if f == cfg.Backend() {
			return fmt.Errorf("%w: fallback storage type %q (%s) is the storage type itself", cachekit.ErrConfig, f, VarFallbackStorageType)
		}
		if cfg.Backend() == StorageMemory {
			return fmt.Errorf("%w: a fallback (%s) goes behind a remote backend, not memory", cachekit.ErrConfig, VarFallbackStorageType)
		}
		fallback := cfg
		fallback.StorageType, fallback.FallbackStorageType = f, ""
		fallback.L1MaxSize, fallback.L1TTL = 0, 0 // the L1 goes in front of both
		if err := fallback.Validate(); err != nil {
			return fmt.Errorf("%w (the fallback, %s)", err, VarFallbackStorageType)
		}
	}
	switch t := cfg.Backend(); t {
	case StorageMemory:
	case StorageDynamoDB:
		if cfg.TableName == "" {
			return fmt.Errorf("%w: storage type %q (%s) needs a table name (%s)", cachekit.ErrConfig, t, VarStorageType, VarTableName)
		}
		if (cfg.DynamoDBSortKey == "") != (cfg.DynamoDBSortKeyValue == "") {
			return fmt.Errorf("%w: %s and %s go together", cachekit.ErrConfig, VarDynamoDBSortKey, VarDynamoDBSortKeyValue)
		}
	case StorageRedis:
		if cfg.RedisURL == "" {
			return fmt.Errorf("%w: storage type %q (%s) needs a URL (%s)", cachekit.ErrConfig, t, VarStorageType, VarRedisURL)
		}
		if _, err := redisstore.ParseURL(cfg.RedisURL); err != nil {
			return fmt.Errorf("%w: %s: %w", cachekit.ErrConfig, VarRedisURL, err)
		}
	default:
		return fmt.Errorf("%w: storage type %q (%s): want %s, %s or %s", cachekit.ErrConfig, t, VarStorageType,
			StorageMemory, StorageDynamoDB, StorageRedis)
	}
	if cfg.KeyPrefix != "" {
		if err := cachekit.CheckPrefix(cfg.KeyPrefix); err != nil {
			return fmt.Errorf("%w: key prefix (%s): %w", cachekit.ErrConfig, VarKeyPrefix, err)
		}
	}
	if cfg.DefaultTTL < 0 || cfg.DefaultTTL > cachekit.MaxTTL {
		return fmt.Errorf("%w: default TTL %v (%s): want a positive duration up to %v", cachekit.ErrConfig, cfg.DefaultTTL, VarDefaultTTL, cachekit.MaxTTL)
	}
	if cfg.MemoryMaxSize < 0 {
		return fmt.Errorf("%w: memory max size %d (%s): want a positive whole number", cachekit.ErrConfig, cfg.MemoryMaxSize, VarMemoryMaxSize)
	}
	if cfg.L1MaxSize < 0 || cfg.L1TTL < 0 {
		return fmt.Errorf("%w: negative L1 setting (%s, %s)", cachekit.ErrConfig, VarL1MaxSize, VarL1TTL)
	}
	if cfg.tiered() && cfg.Backend() == StorageMemory {
		return fmt.Errorf("%w: an L1 (%s, %s) goes in front of a remote backend, not memory", cachekit.ErrConfig, VarL1MaxSize, VarL1TTL)
	}
	if cfg.DisableBreaker && cfg.FallbackStorageType != "" {
		return fmt.Errorf("%w: a fallback (%s) needs the circuit breaker (%s)", cachekit.ErrConfig, VarFallbackStorageType, VarBreaker)
	}
	if cfg.OpTimeout < 0 || cfg.BreakerOpenTimeout < 0 || cfg.BreakerFailures < 0 || cfg.MetricsInterval < 0 {
		return fmt.Errorf("%w: negative breaker or metrics setting (%s, %s, %s, %s)", cachekit.ErrConfig,
			VarOpTimeout, VarBreakerOpenTimeout, VarBreakerFailures, VarMetricsInterval)
	}
	if m := cfg.Metrics; m != "" && m != MetricsEMF && m != "none" {
		return fmt.Errorf("%w: metrics %q (%s): want %s or none", cachekit.ErrConfig, m, VarMetrics, MetricsEMF)
	}
	return nil
}

// Open builds the cachekit.Store that cfg names and a cachekit.Cache over it: a remote backend behind a
// circuit breaker (unless DisableBreaker), with a fallback when FallbackStorageType names
// one, health checks of a remote backend and metrics as cfg asks. It does no network I/O: a
// DynamoDB client reads its configuration (region, credentials chain) and sends its first
// request on the cachekit.Cache's first call, and a Redis client connects then.
func Open(cfg Config) (*cachekit.Cache, error) {
	s, err := OpenStore(cfg)
	if err != nil {
		return nil, err
	}
	return cachekit.New(s, cfg.options())
}

// OpenStore builds the cachekit.Store that Open puts its Cache over, for a caller that puts
// its own Cache over it, as a simulated fleet does with one Store per instance. The caller
// owns it and closes it. It does no network I/O either.
func OpenStore(cfg Config) (cachekit.Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := openStore(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", cachekit.ErrConfig, err)
	}
	return s, nil
}

// options returns the cachekit.Cache options cfg describes.
func (cfg Config) options() cachekit.Options {
	opts := cachekit.Options{
		Prefix: cfg.KeyPrefix, TTL: cfg.DefaultTTL, Background: cfg.Background,
		HealthInterval: cfg.HealthCheckInterval, MetricsInterval: cfg.MetricsInterval,
		CleanupInterval: cfg.MemoryCleanupInterval,
	}
	if cfg.Backend() != StorageMemory && cfg.HealthCheckInterval >= 0 {
		h := monitor.Options{Prefix: cmp.Or(cfg.KeyPrefix, cachekit.DefaultPrefix) + "health:"}
		if !cfg.Background {
			h.Retries = -1 // the check runs inside a request: no backoff sleeps there
		}
		opts.Health = monitor.NewChecker(h)
	}
	if cfg.Metrics == MetricsEMF {
		opts.Metrics = emf.New(emf.Options{Namespace: cfg.MetricsNamespace, Prefix: cfg.KeyPrefix, Dimensions: cfg.MetricsDimensions()})
	}
	return opts
}

// MetricsDimensions returns the dimensions, beside Prefix, that Open gives the metrics of
// Metrics "emf": Backend, and Service when ServiceName is set. A dashboard or an alarm names
// a metric by its whole dimension set: give emf.Dashboard and emf.Alarms these, with
// KeyPrefix and MetricsNamespace, as "cachectl dashboard" and "cachectl alarms" do.
func (cfg Config) MetricsDimensions() map[string]string {
	dims := map[string]string{"Backend": cfg.Backend()}
	if cfg.ServiceName != "" {
		dims["Service"] = cfg.ServiceName
	}
	return dims
}

// tiered reports whether the Config asks for an L1 in front of the backend.
func (cfg Config) tiered() bool { return cfg.L1MaxSize > 0 || cfg.L1TTL > 0 }

// openStore builds the cachekit.Store cfg describes: the backend, behind its breaker and with its
// fallback, and an L1 in front of it all, so that L1 keeps serving while L2 is down.
func openStore(cfg Config) (cachekit.Store, error) {
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

func openRemote(cfg Config) (cachekit.Store, error) {
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
	prefix := cmp.Or(cfg.KeyPrefix, cachekit.DefaultPrefix)
	return resilient.NewFallback(guarded, fallback, resilient.FallbackOptions{ProbePrefix: prefix + "health:"})
}

// openBackend builds the one backend cfg.Backend names.
func openBackend(cfg Config) (cachekit.Store, error) {
	switch cfg.Backend() {
	case StorageRedis:
		return redisstore.Open(cfg.RedisURL, redisstore.Options{})
	case StorageDynamoDB:
		client, closeIdle, err := dynamostore.NewClient(context.Background(), cfg.DynamoDBEndpoint)
		if err != nil {
			return nil, err
		}
		opts := cfg.DynamoDBOptions()
		opts.OnClose = closeIdle // the cachekit.Cache owns the client it built
		return dynamostore.New(client, opts)
	default:
		return memstore.New(memstore.Options{MaxSize: cfg.MemoryMaxSize})
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

var defaultCache = sync.OnceValue(func() *cachekit.Cache {
	cfg, err := Load()
	if err != nil {
		return cachekit.Invalid(err)
	}
	c, err := Open(cfg)
	if err != nil {
		return cachekit.Invalid(err)
	}
	return c
})

// Default returns the process-wide cachekit.Cache, built on the first call from the CACHE_* environment
// variables (see Config) and the same on every later call. Building it does no network I/O.
//
// When the environment is invalid, Default still returns a cachekit.Cache, so that it can initialise
// package-level variables, and every call of it, and of the views made from it, reports the
// error, which names the variable. Use SetStore to swap its cachekit.Store at run time, as tests do.
func Default() *cachekit.Cache {
	return defaultCache()
}
