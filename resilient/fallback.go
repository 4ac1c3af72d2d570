package resilient

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cachekit/cachekit/backend"
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
	// Logger receives a line when traffic moves; nil means slog.Default().
	Logger *slog.Logger
}

// Fallback is a backend.Store that sends traffic to a primary behind a Breaker and, while
// the breaker is open, to a fallback (Redis primary, DynamoDB fallback, as the seed design
// has it). When the primary answers again, traffic returns to it, but only after the keys
// touched during the outage are invalidated on both stores, so that neither can serve a value
// older than the one written or deleted meanwhile.
type Fallback struct {
	primary  *Breaker
	fallback backend.Store
	o        FallbackOptions

	mu          sync.Mutex
	onFallback  bool                // traffic is on the fallback
	touched     map[string]struct{} // keys changed on the fallback during this outage
	overflow    bool                // touched outgrew MaxTracked: common holds the prefix to clear
	common      string              // the longest prefix of every key touched
	movedOut    uint64
	movedBack   uint64
	invalidated uint64
}

var _ backend.Store = (*Fallback)(nil)

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
	return &Fallback{primary: primary, fallback: fallback, o: opts}, nil
}

// route returns the store a call goes to now. On the way back to the primary it first
// invalidates, on both stores, what the outage touched; while that fails, traffic stays on
// the fallback.
func (f *Fallback) route(ctx context.Context) backend.Store {
	open := f.primary.Stats().State == "open"
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case open && !f.onFallback:
		f.onFallback, f.touched, f.overflow, f.common = true, map[string]struct{}{}, false, ""
		f.movedOut++
		f.o.Logger.Warn("cachekit: the primary store is down; traffic goes to the fallback")
	case !open && f.onFallback:
		if err := f.reconcile(ctx); err != nil {
			f.o.Logger.Error("cachekit: the primary store is back, but the keys changed during the outage could not be invalidated; traffic stays on the fallback", "error", err)
			return f.fallback
		}
		f.onFallback, f.touched = false, nil
		f.movedBack++
		f.o.Logger.Info("cachekit: the primary store is back; traffic returns to it")
	}
	if f.onFallback {
		return f.fallback
	}
	return f.primary
}

// reconcile invalidates on both stores the keys touched during the outage. f.mu is held.
func (f *Fallback) reconcile(ctx context.Context) error {
	if f.overflow {
		if f.common == "" {
			return errors.New("the changed keys share no prefix to clear")
		}
		for _, s := range []backend.Store{f.primary, f.fallback} {
			if _, err := s.Clear(ctx, f.common); err != nil {
				return err
			}
		}
		f.invalidated += uint64(f.o.MaxTracked)
		return nil
	}
	keys := make([]string, 0, len(f.touched))
	for k := range f.touched {
		keys = append(keys, k)
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		for _, s := range []backend.Store{f.primary, f.fallback} {
			if err := s.Delete(ctx, batch...); err != nil {
				return err
			}
		}
		for _, k := range batch {
			delete(f.touched, k)
		}
		f.invalidated += uint64(len(batch))
		keys = keys[len(batch):]
	}
	return nil
}

// touch remembers keys changed on the fallback.
func (f *Fallback) touch(keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.onFallback {
		return
	}
	for _, k := range keys {
		if f.common == "" && len(f.touched) == 0 && !f.overflow {
			f.common = k
		} else {
			f.common = commonPrefix(f.common, k)
		}
		if f.overflow {
			continue
		}
		f.touched[k] = struct{}{}
		if len(f.touched) > f.o.MaxTracked {
			f.overflow, f.touched = true, nil
		}
	}
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return strings.ToValidUTF8(a[:i], "")
}

// written runs a write on the store route chose and, on the fallback, remembers its keys.
func (f *Fallback) written(ctx context.Context, keys []string, fn func(backend.Store) error) error {
	s := f.route(ctx)
	err := fn(s)
	if s == f.fallback {
		f.touch(keys...)
	}
	return err
}

// Get implements backend.Store.
func (f *Fallback) Get(ctx context.Context, key string) ([]byte, error) {
	return f.route(ctx).Get(ctx, key)
}

// GetMany implements backend.Store.
func (f *Fallback) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	return f.route(ctx).GetMany(ctx, keys)
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
	var n int
	err := f.written(ctx, nil, func(s backend.Store) (err error) {
		n, err = s.Clear(ctx, prefix)
		return err
	})
	if err == nil {
		f.mu.Lock()
		if f.onFallback {
			// The keys under prefix are unknown: clear it on return, with the rest.
			f.overflow, f.touched = true, nil
			f.common = commonPrefix(f.common, prefix)
			if f.common == "" {
				f.common = prefix
			}
		}
		f.mu.Unlock()
	}
	return n, err
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
	return FallbackStats{OnFallback: f.onFallback, MovedOut: f.movedOut, MovedBack: f.movedBack, Invalidated: f.invalidated}
}
