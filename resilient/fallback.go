package resilient

import (
	"context"
	"errors"
	"fmt"

	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// DefaultMaxTracked is the default of Options.MaxTracked and FallbackOptions.MaxTracked.
const DefaultMaxTracked = 10_000

// FallbackOptions configures a Fallback. The zero value means every documented default.
type FallbackOptions struct {
	// MaxTracked bounds the keys written, deleted or expired on the fallback during an
	// outage, which are invalidated on both stores when traffic returns to the primary. Past
	// it, the longest prefix those keys share is cleared instead. Zero means
	// DefaultMaxTracked.
	MaxTracked int
	// ProbePrefix is put before the key of the health check that must pass on the primary
	// before traffic returns to it. Zero means DefaultProbePrefix.
	ProbePrefix string
	// Probe is that health check: nil on success. Nil means a probe key under ProbePrefix
	// written, read back, compared and deleted.
	Probe func(ctx context.Context, primary backend.Store) error
	// Logger receives a line when traffic moves; nil means slog.Default().
	Logger *slog.Logger
}

// Fallback is a backend.Store that sends traffic to a primary behind a Breaker and, while
// the breaker is open, to a fallback (Redis primary, DynamoDB fallback, as the seed design
// has it).
//
// Traffic returns to the primary once its breaker lets a call through again and a health
// check of it passes (a probe key written, read back and deleted). The keys changed on the
// fallback during the outage may then be stale on both stores: the primary holds the value
// from before, the fallback the outage's, which a later outage would serve. They are
// invalidated on both, and until that is done they read as misses, so that no stale value
// is ever read; one call at a time does the invalidation while the others go on.
type Fallback struct {
	primary  *Breaker
	fallback backend.Store
	o        FallbackOptions

	// The keys changed during an outage once traffic is back: invalidated on both stores,
	// read as misses until then.
	stale *staleSet

	mu         sync.Mutex
	onFallback bool        // traffic is on the fallback
	away       atomic.Bool // onFallback, for the stale set, which may not take mu
	returning  bool        // a call is checking the primary's health, to give traffic back
	changed    pending     // keys changed on the fallback during this outage
	movedOut   uint64
	movedBack  uint64
}

var (
	_ backend.Store          = (*Fallback)(nil)
	_ backend.ExpiryReader   = (*Fallback)(nil)
	_ backend.Leaser         = (*Fallback)(nil)
	_ backend.Counter        = (*Fallback)(nil)
	_ backend.StatusReporter = (*Fallback)(nil)
	_ backend.Unwrapper      = (*Fallback)(nil)
)

// Unwrap implements backend.Unwrapper: the primary's Breaker, which serves when all is well.
func (f *Fallback) Unwrap() backend.Store { return f.primary }

// NewFallback returns a Fallback over primary and fallback. Close closes both.
func NewFallback(primary *Breaker, fallback backend.Store, opts FallbackOptions) (*Fallback, error) {
	if primary == nil || fallback == nil {
		return nil, fmt.Errorf("resilient: NewFallback needs a primary and a fallback: %w", backend.ErrConfig)
	}
	if opts.MaxTracked < 0 {
		return nil, fmt.Errorf("resilient: negative FallbackOptions.MaxTracked %d: %w", opts.MaxTracked, backend.ErrConfig)
	}
	if opts.MaxTracked == 0 {
		opts.MaxTracked = DefaultMaxTracked
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ProbePrefix == "" {
		opts.ProbePrefix = DefaultProbePrefix
	}
	if opts.Probe == nil {
		prefix := opts.ProbePrefix
		opts.Probe = func(ctx context.Context, s backend.Store) error { return probe(ctx, s, prefix) }
	}
	f := &Fallback{primary: primary, fallback: fallback, o: opts}
	ready := func() bool { return !f.away.Load() && !primary.isOpen() }
	f.stale = newStaleSet(opts.MaxTracked, ready, f.invalidate, settleLog{
		logger: opts.Logger,
		failed: "cachekit: the keys changed during the outage are not all invalidated yet; they read as misses meanwhile",
		done:   "cachekit: the keys changed during the outage are invalidated on both stores",
	})
	return f, nil
}

// enter returns the store a call goes to now, and whether it is the fallback. A write on
// the fallback records its keys before it runs, and must be followed by leave.
func (f *Fallback) enter(ctx context.Context, write bool, keys []string) (backend.Store, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	open := f.primary.isOpen() // read under f.mu, so that no call acts on a state another changed
	switch {
	case open && !f.onFallback:
		f.onFallback, f.changed = true, pending{}
		f.away.Store(true)
		f.movedOut++
		f.o.Logger.Warn("cachekit: the primary store is down; traffic goes to the fallback")
	case !open && f.onFallback && !f.returning:
		f.returning = true
		f.mu.Unlock()
		err := f.o.Probe(ctx, f.primary)
		f.mu.Lock()
		f.returning = false
		if err != nil {
			f.o.Logger.Warn("cachekit: the primary store is not back yet; traffic stays on the fallback", "error", err)
			break
		}
		if f.primary.isOpen() || !f.onFallback {
			break // the check's own failure opened it again, or another call already moved
		}
		// From now on the outage's keys read as misses until they are invalidated on both.
		f.stale.merge(f.changed.take())
		f.onFallback = false
		f.away.Store(false)
		f.movedBack++
		f.o.Logger.Info("cachekit: the primary store is back; traffic returns to it")
	}
	if !f.onFallback {
		return f.primary, false
	}
	if write {
		f.changed.add(f.o.MaxTracked, keys...)
	}
	return f.fallback, true
}

// leave ends a write that enter sent to the fallback. Its keys are recorded again: traffic
// may have returned while it ran, after the record was taken, and the fallback now holds
// its value.
func (f *Fallback) leave(keys []string, prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.onFallback {
		f.stale.add(prefix, keys...)
		return
	}
	if prefix != "" {
		f.changed.addPrefix(prefix)
	}
	f.changed.add(f.o.MaxTracked, keys...)
}

// invalidate runs one batch of the invalidation on both stores: on the primary as its
// breaker runs its own, which counts no refusal as a caller's; then on the fallback.
func (f *Fallback) invalidate(ctx context.Context, batch pending) (int, error) {
	n, err := f.primary.invalidate(ctx, batch)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.primary.o.OpTimeout+clearTimeout)
	defer cancel()
	_, err = batch.invalidate(ctx, f.fallback)
	return n, err
}

// route returns the store a read goes to now.
func (f *Fallback) route(ctx context.Context) backend.Store {
	s, _ := f.enter(ctx, false, nil)
	return s
}

// written runs a write on the store enter chose, recording its keys on the fallback.
func (f *Fallback) written(ctx context.Context, keys []string, fn func(backend.Store) error) error {
	s, onFallback := f.enter(ctx, true, keys)
	if onFallback {
		defer f.leave(keys, "")
	}
	return fn(s)
}

// Get implements backend.Store.
func (f *Fallback) Get(ctx context.Context, key string) ([]byte, error) {
	s := f.route(ctx)
	if f.stale.covers(key) {
		return nil, backend.ErrSkipped
	}
	return s.Get(ctx, key)
}

// GetMany implements backend.Store.
func (f *Fallback) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	s := f.route(ctx)
	if err := backend.CheckKeys(keys); err != nil {
		return nil, err
	}
	if keys, _ = f.stale.fresh(keys); len(keys) == 0 {
		return map[string][]byte{}, backend.ContextErr(ctx)
	}
	return s.GetMany(ctx, keys)
}

// GetEntries implements backend.ExpiryReader.
func (f *Fallback) GetEntries(ctx context.Context, keys []string) ([]backend.Entry, error) {
	s := f.route(ctx)
	if err := backend.CheckKeys(keys); err != nil {
		return nil, err
	}
	if keys, _ = f.stale.fresh(keys); len(keys) == 0 {
		return nil, backend.ContextErr(ctx)
	}
	return backend.ReadEntries(ctx, s, keys)
}

// Has implements backend.Store.
func (f *Fallback) Has(ctx context.Context, key string) (bool, error) {
	s := f.route(ctx)
	if f.stale.covers(key) {
		return false, backend.CheckKey(key)
	}
	return s.Has(ctx, key)
}

// TTL implements backend.Store.
func (f *Fallback) TTL(ctx context.Context, key string) (time.Duration, error) {
	s := f.route(ctx)
	if f.stale.covers(key) {
		return 0, backend.ErrSkipped
	}
	return s.TTL(ctx, key)
}

// Count implements backend.Store. Stale keys not yet invalidated are counted.
func (f *Fallback) Count(ctx context.Context, prefix string) (int, error) {
	return f.route(ctx).Count(ctx, prefix)
}

// Set implements backend.Store.
func (f *Fallback) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := backend.CheckEntries([]backend.Entry{{Key: key, TTL: ttl}}); err != nil {
		return err // refused before anything is recorded: a bad key must never be tracked
	}
	return f.written(ctx, []string{key}, func(s backend.Store) error { return s.Set(ctx, key, value, ttl) })
}

// SetMany implements backend.Store.
func (f *Fallback) SetMany(ctx context.Context, entries []backend.Entry) error {
	if err := backend.CheckEntries(entries); err != nil {
		return err
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	return f.written(ctx, keys, func(s backend.Store) error { return s.SetMany(ctx, entries) })
}

// Delete implements backend.Store.
func (f *Fallback) Delete(ctx context.Context, keys ...string) error {
	if err := backend.CheckKeys(keys); err != nil {
		return err
	}
	return f.written(ctx, keys, func(s backend.Store) error { return s.Delete(ctx, keys...) })
}

// Expire implements backend.Store.
func (f *Fallback) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := backend.CheckEntries([]backend.Entry{{Key: key, TTL: ttl}}); err != nil {
		return err
	}
	return f.written(ctx, []string{key}, func(s backend.Store) error { return s.Expire(ctx, key, ttl) })
}

// Clear implements backend.Store. During an outage, the cleared prefix is cleared on the
// primary too when traffic returns.
func (f *Fallback) Clear(ctx context.Context, prefix string) (int, error) {
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	s, onFallback := f.enter(ctx, true, nil)
	if onFallback {
		defer f.leave(nil, prefix)
	}
	return s.Clear(ctx, prefix)
}

// Close stops the invalidation goroutine and closes both stores.
func (f *Fallback) Close() error {
	f.stale.close()
	return errors.Join(f.primary.Close(), f.fallback.Close())
}

// FallbackStats says where traffic went.
type FallbackStats struct {
	OnFallback  bool   // traffic is on the fallback now
	MovedOut    uint64 // times traffic moved to the fallback
	MovedBack   uint64 // times it returned to the primary
	Invalidated uint64 // keys invalidated on both stores on the way back
	Stale       bool   // keys changed during an outage are not all invalidated yet
}

// Stats returns where traffic is and has been.
func (f *Fallback) Stats() FallbackStats {
	left, done := f.stale.size()
	f.mu.Lock()
	defer f.mu.Unlock()
	return FallbackStats{
		OnFallback: f.onFallback, MovedOut: f.movedOut, MovedBack: f.movedBack,
		Invalidated: done, Stale: left > 0,
	}
}

// Status implements backend.StatusReporter: the primary's breaker and where traffic goes.
func (f *Fallback) Status() backend.Status {
	st := backend.Status{Breaker: f.primary.worstState().String(), Active: "primary"}
	if f.Stats().OnFallback {
		st.Active = "fallback"
	}
	return st
}
