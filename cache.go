package cachekit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// Defaults for the zero fields of Options.
const (
	DefaultPrefix          = "CACHE#"
	DefaultTTL             = time.Hour
	DefaultHealthInterval  = time.Minute
	DefaultMetricsInterval = time.Minute
	DefaultCleanupInterval = time.Minute
)

// Options configures a Cache. The zero value means every documented default; a nil plug-in
// (Codec aside) means none, and a negative interval turns its task off.
//
// The Cache runs its periodic tasks (health checks, metric flushes, sweeps of expired entries
// held in memory) on one schedule: by default inside calls, the first call that finds a task
// due running it before its own work, which is what AWS Lambda needs, where goroutines freeze
// between invocations; with Background, on one goroutine of the Cache's own. Each task is
// first due one interval after New, not in the first call: that call is often a Lambda cold
// start's, which has paid enough.
type Options struct {
	// Prefix is put before every key on the way to the Store and taken off on the way back,
	// so that caches with different prefixes can share one Store, and a DynamoDB table with
	// business data. Zero means DefaultPrefix. It must be valid UTF-8, leave room for a key
	// within MaxKeyLen and end with one of PrefixSeparators. A Cache whose prefix starts
	// another's (CACHE# and CACHE#geo:) is that one's parent: it counts and clears its entries.
	Prefix string
	// TTL is the lifetime of an entry written with a zero TTL. Zero means DefaultTTL.
	TTL time.Duration
	// Codec encodes values. Nil means JSON.
	Codec Codec

	// Health, when not nil, checks the Store's health every HealthInterval (monitor.Checker is
	// one; its probe keys go under its own Options.Prefix): the Store the Cache uses at the
	// time, or behind an in-memory L1 the remote tier. Cache.Health and Stats report the last
	// conclusive result.
	Health HealthCheck
	// HealthInterval is how often Health runs. Zero means DefaultHealthInterval.
	HealthInterval time.Duration
	// Metrics, when not nil, receives the Cache's counts and latencies as they happen (see
	// Recorder; packages emf and otelcache have two). Every MetricsInterval the Cache reports
	// its Store's status to it and flushes it when it is a Flusher; Flush and Close flush it
	// too. The Cache does not own it: Close does not close it.
	Metrics Recorder
	// MetricsInterval is how often the status is reported and Metrics flushed. Zero means
	// DefaultMetricsInterval.
	MetricsInterval time.Duration
	// CleanupInterval is how often expired entries are swept out of a Store that keeps them in
	// memory (a backend.Sweeper: memstore, tiered's L1). Zero means DefaultCleanupInterval.
	// Expired entries are never returned either way; sweeping frees their memory.
	CleanupInterval time.Duration
	// Background runs the periodic tasks on one goroutine of the Cache's own, which Close
	// stops, instead of inside calls: for long-running services, whose calls may be too few
	// to run them in time. Leave it off under AWS Lambda.
	Background bool
}

// Cache is what services call: typed-agnostic values through a Codec, keys under a prefix, a
// default TTL and statistics, over a Store that can be swapped while the Cache is in use.
// Typed gives a view of it for one value type, with GetOrLoad.
//
// A Cache is safe for concurrent use. Create it with New or Open, or take the process-wide one
// from Default.
type Cache struct {
	core   *core
	prefix string
	ttl    time.Duration
	stats  statCounters
	parent *Cache // the Cache a Typed view was made from, whose statistics include the view's
	err    error  // a configuration error that every call reports
}

// core is what a Cache shares with the views made from it.
type core struct {
	store  atomic.Pointer[storeBox]
	codec  Codec
	flight flight

	closeOnce sync.Once
	closed    atomic.Bool
	closing   context.Context // done when the Cache is closed; ends loads in flight
	cancel    context.CancelFunc

	rec      Recorder // nil without Options.Metrics
	health   health
	onDemand bool // calls run the due tasks
	sched    schedule
}

type storeBox struct{ Store }

// New returns a Cache over store, configured by opts. The Cache owns the store: Close closes it.
func New(store Store, opts Options) (*Cache, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil Store", ErrConfig)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if err := CheckPrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("%w: Options.Prefix: %w", ErrConfig, err)
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if err := backend.CheckTTL(opts.TTL); err != nil {
		return nil, fmt.Errorf("%w: Options.TTL: %w", ErrConfig, err)
	}
	if opts.Codec == nil {
		opts.Codec = JSON
	}
	co := &core{codec: opts.Codec, rec: opts.Metrics}
	co.closing, co.cancel = context.WithCancel(context.Background())
	co.store.Store(&storeBox{store})
	c := &Cache{core: co, prefix: opts.Prefix, ttl: opts.TTL}
	co.watch(c, opts)
	return c, nil
}

// watch sets up the periodic tasks opts asks for.
func (co *core) watch(c *Cache, opts Options) {
	sweep := -1 * time.Second // off unless the Store keeps expired entries in memory
	if _, ok := backend.Find[backend.Sweeper](co.store.Load().Store); ok {
		sweep = interval(opts.CleanupInterval, DefaultCleanupInterval)
	}
	check := -1 * time.Second
	if opts.Health != nil {
		co.health.check = opts.Health
		check = interval(opts.HealthInterval, DefaultHealthInterval)
	}
	flush := -1 * time.Second
	if co.rec != nil {
		flush = interval(opts.MetricsInterval, DefaultMetricsInterval)
	}
	co.sched.start(time.Now(), check, flush, sweep)
	if !co.sched.idle() {
		if opts.Background {
			co.sched.background(co)
		} else {
			co.onDemand = true
		}
	}
}

// interval resolves an Options interval: zero means def, a negative value off (0 here).
func interval(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// probeTarget is what health checks probe: the Store the Cache uses at the time, or the
// remote tier behind it when it has one (a copy in memory says nothing of the backend).
func (co *core) probeTarget() Store {
	s := co.store.Load().Store
	if t, ok := backend.Find[backend.Tier](s); ok {
		return t.L2()
	}
	return s
}

// Flush reports the Store's status to Options.Metrics and flushes it, when it is a Flusher:
// call it at the end of a Lambda invocation, so that no line waits for a thaw that may never
// come. It does nothing without Options.Metrics.
func (c *Cache) Flush() error {
	if c.err != nil || c.core.rec == nil {
		return nil
	}
	return c.core.flush()
}

// Health returns the result of the last conclusive health check, and whether one has run.
func (c *Cache) Health() (HealthResult, bool) {
	r, _, _ := c.core.health.snapshot()
	if r == nil {
		return HealthResult{}, false
	}
	return *r, true
}

// PrefixSeparators are the bytes a Cache's or a view's whole prefix may end with. Ending with
// one keeps namespaces apart: with "a:" and "ab:" no key of one can start with the other, while
// "a" and "ab" would see, and clear, each other's entries. A prefix can still nest inside
// another by design: "CACHE#" is the parent of its views' "CACHE#geo:".
const PrefixSeparators = ":#/|"

// CheckPrefix reports whether prefix may be the whole prefix of a Cache or a view: the key
// rules of CheckKey, room left for a key of at least one byte, and a last byte among
// PrefixSeparators. Its errors wrap ErrInvalidKey.
func CheckPrefix(prefix string) error {
	if err := backend.CheckPrefix(prefix); err != nil {
		return err
	}
	if len(prefix) >= MaxKeyLen {
		return fmt.Errorf("%w: a prefix of %d bytes leaves no room for a key", ErrInvalidKey, len(prefix))
	}
	if !strings.ContainsRune(PrefixSeparators, rune(prefix[len(prefix)-1])) {
		return fmt.Errorf("%w: a prefix must end with one of %q, so that no other prefix's keys start with it", ErrInvalidKey, PrefixSeparators)
	}
	return nil
}

// Invalid returns a Cache whose every call, and every call of the views made from it, reports
// err, and whose Close does nothing: what a package-level Cache gets from a configuration it
// cannot use (see cacheenv.Default), so that declaring views never fails.
func Invalid(err error) *Cache {
	return &Cache{core: &core{}, err: err}
}

// Prefix returns the prefix the Cache puts before every key.
func (c *Cache) Prefix() string { return c.prefix }

// Store returns the Store the Cache uses now.
func (c *Cache) Store() Store {
	if b := c.core.store.Load(); b != nil {
		return b.Store
	}
	return nil
}

// SetStore makes the Cache, and every view made from it, use s from the next call on, and
// returns the Store it used before, which the caller now owns (and may Close). Calls under way
// finish on the Store they started with. Use it to put a memstore in for tests, or another
// backend when one degrades.
func (c *Cache) SetStore(s Store) (old Store, err error) {
	if c.err != nil {
		return nil, c.err
	}
	if s == nil {
		return nil, fmt.Errorf("%w: nil Store", ErrConfig)
	}
	if c.core.closed.Load() {
		return nil, ErrClosed
	}
	return c.core.store.Swap(&storeBox{s}).Store, nil
}

// Close stops the goroutine the Cache started, flushes its metrics, cancels the
// contexts of loads in flight, closes the Store and makes later calls report ErrClosed, on
// the Cache and on every view made from it. It is idempotent: a second Close returns nil.
func (c *Cache) Close() error {
	if c.err != nil {
		return nil
	}
	var err error
	c.core.closeOnce.Do(func() {
		co := c.core
		co.closed.Store(true)
		co.cancel()
		co.sched.halt()
		var errs []error
		if co.rec != nil {
			errs = append(errs, co.flush())
		}
		err = errors.Join(append(errs, c.Store().Close())...)
	})
	return err
}

// use returns the Store for one call, or why there is none.
func (c *Cache) use(ctx context.Context) (Store, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.core.closed.Load() {
		return nil, ErrClosed
	}
	if err := backend.ContextErr(ctx); err != nil {
		return nil, err
	}
	if c.core.onDemand {
		c.core.runDue(ctx)
	}
	return c.core.store.Load().Store, nil
}

// fullKey applies the prefix and the key rules.
func (c *Cache) fullKey(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	full := c.prefix + key
	if err := backend.CheckKey(full); err != nil {
		return "", err
	}
	return full, nil
}

// fullKeys applies fullKey to every key, folding duplicates.
func (c *Cache) fullKeys(keys []string) ([]string, error) {
	full := make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		fk, err := c.fullKey(k)
		if err != nil {
			return nil, err
		}
		full = append(full, fk)
	}
	return full, nil
}

// resolveTTL turns a zero TTL into the Cache's default and holds the rest to the TTL rules.
func (c *Cache) resolveTTL(ttl time.Duration) (time.Duration, error) {
	if ttl == 0 {
		return c.ttl, nil
	}
	return ttl, backend.CheckTTL(ttl)
}

// getRaw reads key's encoded value and counts the hit, miss or error.
func (c *Cache) getRaw(ctx context.Context, key string) ([]byte, error) {
	s, full, err := c.target(ctx, key)
	if err != nil {
		return nil, c.count(&counters{errors: 1}, err)
	}
	start := time.Now()
	data, err := s.Get(ctx, full)
	c.timed(false, start)
	c.countRead(err)
	return data, err
}

// getManyRaw reads the encoded values of keys, keyed by whole keys: callers take the prefix
// off (a substring, which copies nothing) as they decode.
func (c *Cache) getManyRaw(ctx context.Context, keys []string) (map[string][]byte, error) {
	full, err := c.fullKeys(keys)
	if err != nil {
		return nil, c.count(&counters{errors: 1}, err)
	}
	s, err := c.use(ctx)
	if err != nil {
		return nil, c.count(&counters{errors: 1}, err)
	}
	if len(full) == 0 {
		return map[string][]byte{}, nil
	}
	start := time.Now()
	found, err := s.GetMany(ctx, full)
	c.timed(false, start)
	if err != nil {
		return nil, c.count(&counters{errors: 1}, err)
	}
	c.count(&counters{hits: uint64(len(found)), misses: uint64(len(full) - len(found))}, nil)
	return found, nil
}

// encode runs the codec, wrapping its error in ErrEncode.
func (c *Cache) encode(v any) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	data, err := c.core.codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return data, nil
}

// decode runs the codec, wrapping its error in ErrDecode.
func (c *Cache) decode(data []byte, dst any) error {
	if err := c.core.codec.Unmarshal(data, dst); err != nil {
		c.count(&counters{errors: 1}, nil)
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return nil
}

// target returns what a call on one key works on: the Store and the whole key.
func (c *Cache) target(ctx context.Context, key string) (Store, string, error) {
	full, err := c.fullKey(key)
	if err != nil {
		return nil, "", err
	}
	s, err := c.use(ctx)
	return s, full, err
}

// setRaw writes an encoded value.
func (c *Cache) setRaw(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	ttl, err := c.resolveTTL(ttl)
	var s Store
	var full string
	if err == nil {
		s, full, err = c.target(ctx, key)
	}
	if err == nil {
		start := time.Now()
		err = s.Set(ctx, full, data, ttl)
		c.timed(true, start)
	}
	if err != nil {
		return c.count(&counters{errors: 1}, err)
	}
	c.count(&counters{sets: 1}, nil)
	return nil
}

// setManyRaw writes encoded values, all with one TTL.
func (c *Cache) setManyRaw(ctx context.Context, values map[string][]byte, ttl time.Duration) error {
	ttl, err := c.resolveTTL(ttl)
	if err != nil {
		return c.count(&counters{errors: 1}, err)
	}
	entries := make([]Entry, 0, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		full, err := c.fullKey(k)
		if err != nil {
			return c.count(&counters{errors: 1}, err)
		}
		entries = append(entries, Entry{Key: full, Value: values[k], TTL: ttl})
	}
	s, err := c.use(ctx)
	if err == nil && len(entries) > 0 {
		start := time.Now()
		err = s.SetMany(ctx, entries)
		c.timed(true, start)
	}
	if err != nil {
		return c.count(&counters{errors: 1}, backend.MapBatchKeys(err, c.callerKey))
	}
	c.count(&counters{sets: uint64(len(entries))}, nil)
	return nil
}

// Get decodes the value stored under key into dst, a non-nil pointer, or reports ErrNotFound.
func (c *Cache) Get(ctx context.Context, key string, dst any) error {
	data, err := c.getRaw(ctx, key)
	if err != nil {
		return err
	}
	return c.decode(data, dst)
}

// GetMany decodes the values found for keys into *dst, a map from the caller's keys to a value
// type (a *map[string]T), which it creates when nil. Missing keys are absent from it; a missing
// key is never an error.
func (c *Cache) GetMany(ctx context.Context, keys []string, dst any) error {
	m := reflect.ValueOf(dst)
	if m.Kind() != reflect.Pointer || m.IsNil() || m.Elem().Kind() != reflect.Map || m.Elem().Type().Key().Kind() != reflect.String {
		return fmt.Errorf("cachekit: GetMany needs a non-nil *map[string]T, not %T", dst)
	}
	found, err := c.getManyRaw(ctx, keys)
	if err != nil {
		return err
	}
	m = m.Elem()
	if m.IsNil() {
		m.Set(reflect.MakeMapWithSize(m.Type(), len(found)))
	}
	for k, data := range found {
		v := reflect.New(m.Type().Elem())
		if err := c.decode(data, v.Interface()); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(k[len(c.prefix):]).Convert(m.Type().Key()), v.Elem())
	}
	return nil
}

// Set stores value under key for ttl; a zero ttl means the Cache's default.
func (c *Cache) Set(ctx context.Context, key string, value any, ttl time.Duration) error {
	data, err := c.encode(value)
	if err != nil {
		return c.count(&counters{errors: 1}, err)
	}
	return c.setRaw(ctx, key, data, ttl)
}

// SetMany stores every value of values under its key for ttl; a zero ttl means the Cache's
// default. Every key and value is checked and encoded before anything is written.
func (c *Cache) SetMany(ctx context.Context, values map[string]any, ttl time.Duration) error {
	encoded := make(map[string][]byte, len(values))
	for k, v := range values {
		data, err := c.encode(v)
		if err != nil {
			return c.count(&counters{errors: 1}, err)
		}
		encoded[k] = data
	}
	return c.setManyRaw(ctx, encoded, ttl)
}

// Delete removes the entry under key; a missing key is not an error.
func (c *Cache) Delete(ctx context.Context, key string) error {
	return c.DeleteMany(ctx, key)
}

// DeleteMany removes the entries under keys; missing keys are not an error.
func (c *Cache) DeleteMany(ctx context.Context, keys ...string) error {
	full, err := c.fullKeys(keys)
	var s Store
	if err == nil {
		s, err = c.use(ctx)
	}
	if err == nil && len(full) > 0 {
		start := time.Now()
		err = s.Delete(ctx, full...)
		c.timed(true, start)
	}
	if err != nil {
		return c.count(&counters{errors: 1}, backend.MapBatchKeys(err, c.callerKey))
	}
	c.count(&counters{deletes: uint64(len(full))}, nil)
	return nil
}

// callerKey turns a Store's whole key back into the key the caller gave, for a BatchError.
func (c *Cache) callerKey(full string) string { return strings.TrimPrefix(full, c.prefix) }

// Has reports whether an unexpired entry is stored under key, without reading its value.
func (c *Cache) Has(ctx context.Context, key string) (bool, error) {
	s, full, err := c.target(ctx, key)
	if err != nil {
		return false, c.count(&counters{errors: 1}, err)
	}
	start := time.Now()
	ok, err := s.Has(ctx, full)
	c.timed(false, start)
	return ok, c.count(&counters{}, err)
}

// Expire gives the existing entry under key a new TTL, counted from now, without changing its
// value; a zero ttl means the Cache's default. It reports ErrNotFound, and creates nothing, when
// there is no entry. Sliding expiration is Expire on every read.
func (c *Cache) Expire(ctx context.Context, key string, ttl time.Duration) error {
	ttl, err := c.resolveTTL(ttl)
	var s Store
	var full string
	if err == nil {
		s, full, err = c.target(ctx, key)
	}
	if err == nil {
		start := time.Now()
		err = s.Expire(ctx, full, ttl)
		c.timed(true, start)
	}
	return c.count(&counters{}, err)
}

// TTL returns the time the entry under key has left, or ErrNotFound.
func (c *Cache) TTL(ctx context.Context, key string) (time.Duration, error) {
	s, full, err := c.target(ctx, key)
	if err != nil {
		return 0, c.count(&counters{errors: 1}, err)
	}
	start := time.Now()
	ttl, err := s.TTL(ctx, full)
	c.timed(false, start)
	return ttl, c.count(&counters{}, err)
}

// Clear removes every entry under the Cache's prefix, and nothing else, and returns how many
// it removed. On a remote backend it scans: see the backend's documentation for its cost.
func (c *Cache) Clear(ctx context.Context) (int, error) {
	s, err := c.use(ctx)
	if err != nil {
		return 0, c.count(&counters{errors: 1}, err)
	}
	n, err := s.Clear(ctx, c.prefix)
	return n, c.count(&counters{deletes: uint64(n)}, err)
}
