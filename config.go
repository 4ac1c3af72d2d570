package cachekit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cachekit/cachekit/memstore"
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
	// Empty means StorageDynamoDB when TableName is set, else StorageMemory.
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
	// MemoryCleanupInterval is memstore's CleanupInterval: zero means its default, a negative
	// value no clean-up goroutine. Environment: CACHE_MEMORY_CLEANUP_INTERVAL, a duration or
	// seconds as for CACHE_DEFAULT_TTL, where "0" turns the goroutine off.
	MemoryCleanupInterval time.Duration
	// TableName is the DynamoDB table. Environment: CACHE_TABLE_NAME.
	TableName string
}

// The environment variables ConfigFromEnv reads.
const (
	EnvStorageType           = "CACHE_STORAGE_TYPE"
	EnvKeyPrefix             = "CACHE_KEY_PREFIX"
	EnvDefaultTTL            = "CACHE_DEFAULT_TTL"
	EnvMemoryMaxSize         = "CACHE_MEMORY_MAX_SIZE"
	EnvMemoryCleanupInterval = "CACHE_MEMORY_CLEANUP_INTERVAL"
	EnvTableName             = "CACHE_TABLE_NAME"
)

// ConfigFromEnv reads a Config from the process's CACHE_* environment variables. An unset or
// empty variable means the field's default; a value that cannot be used is an error wrapping
// ErrConfig that names the variable, never a silent fallback.
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
	}
	var err error
	if v := get(EnvDefaultTTL); v != "" {
		if cfg.DefaultTTL, err = parseSeconds(v); err != nil || cfg.DefaultTTL <= 0 {
			return Config{}, envError(EnvDefaultTTL, v, "want a positive duration such as 5m or 300", err)
		}
	}
	if v := get(EnvMemoryMaxSize); v != "" {
		if cfg.MemoryMaxSize, err = strconv.Atoi(v); err != nil || cfg.MemoryMaxSize <= 0 {
			return Config{}, envError(EnvMemoryMaxSize, v, "want a positive whole number", err)
		}
	}
	if v := get(EnvMemoryCleanupInterval); v != "" {
		d, err := parseSeconds(v)
		if err != nil || d < 0 {
			return Config{}, envError(EnvMemoryCleanupInterval, v, "want a duration such as 1m, or 0 for none", err)
		}
		cfg.MemoryCleanupInterval = d
		if d == 0 {
			cfg.MemoryCleanupInterval = -1
		}
	}
	if err := cfg.check(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func envError(name, value, want string, err error) error {
	if err != nil {
		return fmt.Errorf("%w: %s=%q: %s: %w", ErrConfig, name, value, want, err)
	}
	return fmt.Errorf("%w: %s=%q: %s", ErrConfig, name, value, want)
}

// parseSeconds reads a Go duration, or a whole number of seconds.
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(MaxTTL/time.Second) || n < -int64(MaxTTL/time.Second) {
			return 0, fmt.Errorf("%d seconds is out of range", n)
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// storageType returns the backend the Config names, with the empty default resolved.
func (cfg Config) storageType() string {
	switch {
	case cfg.StorageType != "":
		return cfg.StorageType
	case cfg.TableName != "":
		return StorageDynamoDB
	}
	return StorageMemory
}

// check reports a Config that Open could not use, naming the environment variable.
func (cfg Config) check() error {
	switch t := cfg.storageType(); t {
	case StorageMemory:
	case StorageDynamoDB, StorageRedis:
		return fmt.Errorf("%w: %s=%q: this backend is not in this version of cachekit yet", ErrConfig, EnvStorageType, t)
	default:
		return fmt.Errorf("%w: %s=%q: want %s, %s or %s", ErrConfig, EnvStorageType, t,
			StorageMemory, StorageDynamoDB, StorageRedis)
	}
	if cfg.KeyPrefix != "" {
		if err := checkPrefix(cfg.KeyPrefix); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrConfig, EnvKeyPrefix, err)
		}
	}
	if cfg.DefaultTTL < 0 || cfg.DefaultTTL > MaxTTL {
		return fmt.Errorf("%w: %s=%v: want a positive duration up to %v", ErrConfig, EnvDefaultTTL, cfg.DefaultTTL, MaxTTL)
	}
	if cfg.MemoryMaxSize < 0 {
		return fmt.Errorf("%w: %s=%d: want a positive whole number", ErrConfig, EnvMemoryMaxSize, cfg.MemoryMaxSize)
	}
	return nil
}

// Open builds the Store that cfg names and a Cache over it. It does no network I/O.
func Open(cfg Config) (*Cache, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s, err := memstore.New(memstore.Options{
		MaxSize:         cfg.MemoryMaxSize,
		CleanupInterval: cfg.MemoryCleanupInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return New(s, Options{Prefix: cfg.KeyPrefix, TTL: cfg.DefaultTTL})
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
