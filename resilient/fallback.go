package resilient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/monitor"
)

// DefaultMaxTracked is the default of FallbackOptions.MaxTracked.
const DefaultMaxTracked = 100_000

// FallbackOptions configures a Fallback. The zero value means every documented default.
type FallbackOptions struct {
	// MaxTracked bounds the keys written, deleted or expired on the fallback during an
	// outage, which are invalidated on both stores when traffic returns to the primary. Past
	// it, the longest prefix those keys share is cleared instead. Zero means
	// DefaultMaxTracked.
	MaxTracked int
	// ProbePrefix is put before the key of the health check that must pass on the primary
	// before traffic returns to it (see monitor.Checker). Zero means monitor.DefaultPrefix.
	ProbePrefix string
	// Logger receives a line when traffic moves; nil means slog.Default().
	Logger *slog.Logger
}

// Fallback is a backend.Store that sends traffic to a primary behind a Breaker and, while
// the breaker is open, to a fallback (Redis primary, DynamoDB fallback, as the seed design
// has it).
//
// Traffic returns to the primary once its breaker lets a call through again and a health
// check of it passes (a probe key written, read back and deleted), and only after the keys
// changed on the fallback during the outage are invalidated on both stores, so that neither
// can serve a value older than the one written or deleted meanwhile. One call does that work
// while the others go on using the fallback; when it fails, traffic stays on the fallback
// and a later call tries again.
type Fallback struct {
	primary  *Breaker
	fallback backend.Store
	probe    *monitor.Checker
	o        FallbackOptions

	mu         sync.Mutex
	onFallback bool // traffic is on the fallback
	returning  bool // a call is checking the primary and invalidating, to give traffic back
	writing    int  // writes under way on the fallback
	changed    changes
	movedOut   uint64
	movedBack  uint64
	invalid    uint64 // keys invalidated on the way back
}

// changes are the keys changed on the fallback during an outage.
type changes struct {
	keys     map[string]struct{}
	overflow bool   // keys outgrew MaxTracked, or a Clear ran: common is the prefix to clear
	common   string // the longest prefix of every key and cleared prefix; meaningful when some is
	some     bool   // a key or prefix was added
}

func (c *changes) add(limit int, keys ...string) {
	for _, k := range keys {
		if c.some {
			c.common = commonPrefix(c.common, k)
		} else {
			c.common, c.some = k, true
		}
		if c.overflow {
			continue
		}
		if c.keys == nil {
			c.keys = map[string]struct{}{}
		}
		c.keys[k] = struct{}{}
		if len(c.keys) > limit {
			c.overflow, c.keys = true, nil
		}
	}
}

// addPrefix records a Clear of prefix: its keys are unknown, so the prefix is cleared on
// the way back.
func (c *changes) addPrefix(prefix string) {
	c.add(0, prefix) // a bound of 0 overflows at once
}

func (c *changes) merge(o changes, limit int) {
	if o.overflow {
		c.addPrefix(o.common)
	}
	for k := range o.keys {
		c.add(limit, k)
	}
}

var (
	_ backend.Store        = (*Fallback)(nil)
	_ backend.ExpiryReader = (*Fallback)(nil)
)

// NewFallback returns a Fallback over primary and fallback. Close closes both.
func NewFallback(primary *Breaker, fallback backend.Store, opts FallbackOptions) (*Fallback, error) {
	if primary == nil || fallback == nil {
		return nil, errors.New("resilient: NewFallback needs a primary and a fallback")
	}
	if opts.MaxTracked <= 0 {
		opts.MaxTracked = DefaultMaxTracked
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	probe := monitor.NewChecker(primary, monitor.Options{Prefix: opts.ProbePrefix, Retries: -1, Logger: opts.Logger})
	return &Fallback{primary: primary, fallback: fallback, probe: probe, o: opts}, nil
}

// route returns the store a read goes to now.
func (f *Fallback) route(ctx context.Context) backend.Store {
	s, _ := f.enter(ctx, false, nil)
	return s
}

// enter returns the store a call goes to now, and whether it is the fallback. A write on
// the fallback records its keys before it runs, and must be followed by leave.
func (f *Fallback) enter(ctx context.Context, write bool, keys []string) (backend.Store, bool) {
	open := f.primary.isOpen()
	f.mu.Lock()
	switch {
	case open && !f.onFallback:
		f.onFallback, f.changed = true, changes{}
		f.movedOut++
		f.o.Logger.Warn("cachekit: the primary store is down; traffic goes to the fallback")
	case !open && f.onFallback && !f.returning:
		f.returning = true
		f.mu.Unlock()
		err := f.giveBack(ctx)
		f.mu.Lock()
		f.returning = false
		if err != nil {
			f.o.Logger.Error("cachekit: the primary store is not back yet; traffic stays on the fallback", "error", err)
		}
	}
	defer f.mu.Unlock()
	if !f.onFallback {
		return f.primary, false
	}
	if write {
		f.changed.add(f.o.MaxTracked, keys...)
		f.writing++
	}
	return f.fallback, true
}

// leave ends a write enter sent to the fallback. Its keys are recorded again: the write may
// have landed after a give-back pass invalidated them, and traffic cannot have returned
// while it ran.
func (f *Fallback) leave(keys []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writing--
	f.changed.add(f.o.MaxTracked, keys...)
}

// maxPasses bounds the invalidation passes one give-back makes while writes keep coming.
const maxPasses = 3

// giveBack checks the primary's health and invalidates on both stores what the outage
// changed, then returns traffic to the primary; f.returning keeps other calls off it.
func (f *Fallback) giveBack(ctx context.Context) error {
	if res := f.probe.Check(ctx); res.Status == monitor.Unhealthy {
		return fmt.Errorf("health check: %s", res.LastError)
	}
	for range maxPasses {
		f.mu.Lock()
		batch := f.changed
		f.changed = changes{}
		f.mu.Unlock()
		n, err := f.invalidate(ctx, batch)
		f.mu.Lock()
		f.invalid += uint64(n)
		if err != nil {
			f.changed.merge(batch, f.o.MaxTracked)
			f.mu.Unlock()
			return fmt.Errorf("invalidating the keys changed during the outage: %w", err)
		}
		if !f.changed.some && f.writing == 0 {
			f.onFallback = false
			f.movedBack++
			f.mu.Unlock()
			f.o.Logger.Info("cachekit: the primary store is back; traffic returns to it")
			return nil
		}
		f.mu.Unlock()
	}
	return errors.New("writes on the fallback kept coming; another call will try again")
}

// invalidate deletes on both stores the keys of c, or clears the prefix they share, and
// returns how many keys it invalidated.
func (f *Fallback) invalidate(ctx context.Context, c changes) (int, error) {
	stores := []backend.Store{f.primary, f.fallback}
	if c.overflow {
		if c.common == "" {
			return 0, errors.New("the changed keys share no prefix to clear")
		}
		n := 0
		for _, s := range stores {
			m, err := s.Clear(ctx, c.common)
			if err != nil {
				return n, err
			}
			n = max(n, m)
		}
		return n, nil
	}
	keys := slices.Collect(maps.Keys(c.keys))
	done := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		for _, s := range stores {
			if err := s.Delete(ctx, batch...); err != nil {
				return done, err
			}
		}
		done += len(batch)
		keys = keys[len(batch):]
	}
	return done, nil
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return strings.ToValidUTF8(a[:i], "")
}

// written runs a write on the store enter chose, recording its keys on the fallback.
func (f *Fallback) written(ctx context.Context, keys []string, fn func(backend.Store) error) error {
	s, onFallback := f.enter(ctx, true, keys)
	if onFallback {
		defer f.leave(keys)
	}
	return fn(s)
}

// Get implements backend.Store.
func (f *Fallback) Get(ctx context.Context, key string) ([]byte, error) {
	return f.route(ctx).Get(ctx, key)
}

// GetMany implements backend.Store.
func (f *Fallback) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	return f.route(ctx).GetMany(ctx, keys)
}

// GetEntries implements backend.ExpiryReader.
func (f *Fallback) GetEntries(ctx context.Context, keys []string) ([]backend.Entry, error) {
	return backend.ReadEntries(ctx, f.route(ctx), keys)
}

// Has implements backend.Store.
func (f *Fallback) Has(ctx context.Context, key string) (bool, error) {
	return f.route(ctx).Has(ctx, key)
}

// TTL implements backend.Store.
func (f *Fallback) TTL(ctx context.Context, key string) (time.Duration, error) {
	return f.route(ctx).TTL(ctx, key)
}

// Count implements backend.Store.
func (f *Fallback) Count(ctx context.Context, prefix string) (int, error) {
	return f.route(ctx).Count(ctx, prefix)
}

// Set implements backend.Store.
func (f *Fallback) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return f.written(ctx, []string{key}, func(s backend.Store) error { return s.Set(ctx, key, value, ttl) })
}

// SetMany implements backend.Store.
func (f *Fallback) SetMany(ctx context.Context, entries []backend.Entry) error {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	return f.written(ctx, keys, func(s backend.Store) error { return s.SetMany(ctx, entries) })
}

// Delete implements backend.Store.
func (f *Fallback) Delete(ctx context.Context, keys ...string) error {
	return f.written(ctx, keys, func(s backend.Store) error { return s.Delete(ctx, keys...) })
}

// Expire implements backend.Store.
func (f *Fallback) Expire(ctx context.Context, key string, ttl time.Duration) error {
	return f.written(ctx, []string{key}, func(s backend.Store) error { return s.Expire(ctx, key, ttl) })
}

// Clear implements backend.Store. During an outage, the cleared prefix is cleared on the
// primary too when traffic returns.
func (f *Fallback) Clear(ctx context.Context, prefix string) (int, error) {
	s, onFallback := f.enter(ctx, true, nil)
	if onFallback {
		defer func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.changed.addPrefix(prefix)
			f.writing--
		}()
	}
	return s.Clear(ctx, prefix)
}

// Close closes both stores.
func (f *Fallback) Close() error {
	return errors.Join(f.primary.Close(), f.fallback.Close())
}

// FallbackStats says where traffic went.
type FallbackStats struct {
	OnFallback  bool   // traffic is on the fallback now
	MovedOut    uint64 // times traffic moved to the fallback
	MovedBack   uint64 // times it returned to the primary
	Invalidated uint64 // keys invalidated on both stores on the way back
}

// Stats returns where traffic is and has been.
func (f *Fallback) Stats() FallbackStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FallbackStats{OnFallback: f.onFallback, MovedOut: f.movedOut, MovedBack: f.movedBack, Invalidated: f.invalid}
}

// Status reports the primary's breaker and where traffic goes: for a cache's statistics.
func (f *Fallback) Status() Status {
	st := Status{Breaker: f.primary.cb.State().String(), Active: "primary"}
	if f.Stats().OnFallback {
		st.Active = "fallback"
	}
	return st
}
