package cachekit

import (
	"context"
	"errors"
	"fmt"
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
	// to run them in time; and it runs the refreshes of views with Freshness on goroutines
	// of their own, so that no read waits for one. Leave it off under AWS Lambda, where
	// goroutines freeze between invocations: tasks and refreshes then run inside calls.
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

	rec        Recorder // nil without Options.Metrics
	health     health
	onDemand   bool // calls run the due tasks
	background bool // Options.Background: refreshes run on goroutines of the Cache's own
	sched      schedule

	busy       busyKeys       // leases other instances hold, for views with Freshness.Lease
	refreshing sync.Map       // whole keys a refresh of this process has claimed
	detachMu   sync.Mutex     // orders enter after Close's closed flag
	detached   sync.WaitGroup // refreshes running on goroutines of their own, and refreshes' loads
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
	co := &core{codec: opts.Codec, rec: opts.Metrics, background: opts.Background}
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
	co.sched.start(mono(), check, flush, sweep)
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

// Close stops the goroutines the Cache started (its schedule's, and refreshes', whose loaders
// it waits for once it has cancelled their contexts), flushes its metrics, cancels the
// contexts of loads in flight, closes the Store and makes later calls report ErrClosed, on
// the Cache and on every view made from it. It is idempotent: a second Close returns nil.
func (c *Cache) Close() error {
	if c.err != nil {
		return nil
	}
	var err error
	c.core.closeOnce.Do(func() {
		co := c.core
		co.detachMu.Lock()
		co.closed.Store(true)
		co.detachMu.Unlock()
		co.cancel()
		co.sched.halt()
		co.detached.Wait()
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
	now := mono()
	return c.useAt(ctx, &now)
}

// useAt is use for a call that read the clock at *now, to time its call to the Store; it
// reads the clock again into *now when it ran periodic tasks, which are no part of that time.
func (c *Cache) useAt(ctx context.Context, now *time.Duration) (Store, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.core.closed.Load() {
		return nil, ErrClosed
	}
	if err := backend.ContextErr(ctx); err != nil {
		return nil, err
	}
	if c.core.onDemand && c.core.runDue(ctx, *now) {
		*now = mono()
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
	if strings.HasSuffix(key, leaseSuffix) {
		return "", fmt.Errorf("%w: a key ending with %q, which a key's refresh lease ends with", ErrInvalidKey, leaseSuffix)
	}
	return full, nil
}

// fullKeys applies fullKey to every key: the whole key of keys[i] is at i.
func (c *Cache) fullKeys(keys []string) ([]string, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		fk, err := c.fullKey(k)
		if err != nil {
			return nil, err
		}
		full[i] = fk
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
