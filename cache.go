package cachekit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/monitor"
)

// Defaults for the zero fields of Options.
const (
	DefaultPrefix = "CACHE#"
	DefaultTTL    = time.Hour
)

// Options configures a Cache. The zero value means every documented default.
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

	// Health, when not nil, makes the Cache check its Store with a probe (see
	// monitor.Checker) every Health.Interval, on demand: the first call that finds a check
	// due runs it before its own work, which is what AWS Lambda needs, where goroutines freeze
	// between invocations. The first check is due one interval after New. A zero
	// Health.Prefix means the Cache's prefix + "health:". Counters reports the last result.
	Health *monitor.Options
	// Metrics, when not nil, makes the Cache write its statistics as CloudWatch Embedded
	// Metric Format lines (see monitor.EMF): every Metrics.Interval, checked on demand like
	// Health; on Flush, at the end of a Lambda invocation; and on Close.
	Metrics *monitor.EMFOptions
	// Background runs the health checks and metric flushes on goroutines of the Cache's own,
	// on their intervals, instead of on demand: for long-running services. Close stops them.
	Background bool
	// CleanupInterval, when positive, makes calls sweep the Store's expired entries on
	// demand, when the Store keeps them in memory (memstore, tiered's L1): the first call that
	// finds a sweep due runs it. For Lambda, where a memstore's own clean-up goroutine
	// freezes between invocations. Zero means none.
	CleanupInterval time.Duration
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

	checker  *monitor.Checker // nil without Options.Health
	emf      *monitor.EMF     // nil without Options.Metrics
	onDemand bool             // calls run due checks, flushes and sweeps
	checkDue due
	flushDue due
	sweepDue due
}

// due tells calls when a periodic task is due, so that exactly one of them runs it.
type due struct {
	every time.Duration
	next  atomic.Int64 // Unix nanoseconds
}

// start makes the task due every interval, the first time one interval from now.
func (d *due) start(every time.Duration) {
	d.every = every
	d.next.Store(time.Now().Add(every).UnixNano())
}

// claim reports whether the task is due at now, and if so makes this caller the one to run
// it.
func (d *due) claim(now int64) bool {
	next := d.next.Load()
	return d.every > 0 && now >= next && d.next.CompareAndSwap(next, now+int64(d.every))
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
	co := &core{codec: opts.Codec}
	co.closing, co.cancel = context.WithCancel(context.Background())
	co.store.Store(&storeBox{store})
	c := &Cache{core: co, prefix: opts.Prefix, ttl: opts.TTL}
	co.watch(c, opts)
	return c, nil
}

// watch sets up the health checks and metrics opts asks for.
func (co *core) watch(c *Cache, opts Options) {
	if opts.Health != nil {
		h := *opts.Health
		if h.Prefix == "" {
			h.Prefix = c.prefix + "health:"
		}
		co.checker = monitor.NewChecker(probed{co}, h)
	}
	if opts.Metrics != nil {
		co.emf = monitor.NewEMF(*opts.Metrics)
		co.emf.Watch(c)
	}
	if opts.Background {
		if co.checker != nil {
			co.checker.Start()
		}
		if co.emf != nil {
			co.emf.Start()
		}
		opts.Health, opts.Metrics = nil, nil // none on demand
	}
	// The first check is due an interval from now, not in the first call: that call is often
	// a Lambda cold start's, which has paid enough.
	if opts.Health != nil {
		co.checkDue.start(cmp.Or(max(opts.Health.Interval, 0), monitor.DefaultInterval))
	}
	if opts.Metrics != nil {
		co.flushDue.start(cmp.Or(max(opts.Metrics.Interval, 0), monitor.DefaultFlushInterval))
	}
	if opts.CleanupInterval > 0 {
		co.sweepDue.start(opts.CleanupInterval)
	}
	co.onDemand = co.checkDue.every > 0 || co.flushDue.every > 0 || co.sweepDue.every > 0
}

// probed is what health checks call: the Store the Cache uses at the time, uncounted, or
// the remote tier behind it when it has one (a copy in memory says nothing of the backend).
type probed struct{ co *core }

func (p probed) target() Store {
	s := p.co.store.Load().Store
	if t, ok := backend.Find[backend.Tier](s); ok {
		return t.L2()
	}
	return s
}

func (p probed) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return p.target().Set(ctx, key, value, ttl)
}

func (p probed) Get(ctx context.Context, key string) ([]byte, error) {
	return p.target().Get(ctx, key)
}

func (p probed) Delete(ctx context.Context, keys ...string) error {
	return p.target().Delete(ctx, keys...)
}

// maintain runs, on demand, the health check, metric flush and sweep that are due. One
// call runs each; the others go on.
func (co *core) maintain(ctx context.Context) {
	now := time.Now().UnixNano()
	if co.checkDue.claim(now) {
		co.checker.Check(ctx)
	}
	if co.flushDue.claim(now) {
		_ = co.emf.Flush()
	}
	if co.sweepDue.claim(now) {
		if s, ok := backend.Find[backend.Sweeper](co.store.Load().Store); ok {
			s.CleanUp()
		}
	}
}

// Flush writes the metrics of the Cache now, when Options.Metrics asked for them: call it at
// the end of a Lambda invocation, so that no line waits for a thaw that may never come.
func (c *Cache) Flush() error {
	if c.err != nil || c.core.emf == nil {
		return nil
	}
	return c.core.emf.Flush()
}

// Health returns the result of the last health check, and whether one has run.
func (c *Cache) Health() (monitor.Result, bool) {
	if c.err != nil || c.core.checker == nil {
		return monitor.Result{}, false
	}
	r := c.core.checker.Last()
	return r, !r.CheckedAt.IsZero()
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

// Close stops the goroutines the Cache started, writes its last metrics, cancels the
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
		var errs []error
		if co.checker != nil {
			errs = append(errs, co.checker.Close())
		}
		if co.emf != nil {
			errs = append(errs, co.emf.Close())
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
		c.core.maintain(ctx)
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
