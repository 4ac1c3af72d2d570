package memstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/cachekit/cachekit/backend"
)

// DefaultMaxSize is the default of Options.MaxSize.
const DefaultMaxSize = 10_000

// Options configures a Store. The zero value means every documented default.
type Options struct {
	// MaxSize bounds the number of entries. When the store is full, a write evicts the entry
	// least likely to be used again (W-TinyLFU). Zero means DefaultMaxSize.
	MaxSize int
	// Clock is the time source for expiry. Nil means the system's monotonic clock.
	Clock backend.Clock
}

// Store is an in-process backend.Store, bounded in size, with a TTL per entry.
// Create it with New; it is safe for concurrent use.
type Store struct {
	cache  *otter.Cache[string, item]
	clock  otter.Clock
	closed atomic.Bool

	closeOnce sync.Once
}

var (
	_ backend.Store   = (*Store)(nil)
	_ backend.Sweeper = (*Store)(nil)
	_ backend.Leaser  = (*Store)(nil)
	_ backend.Counter = (*Store)(nil)
)

// item is what the engine holds: the caller's bytes and the lifetime they were given at their
// latest write or Expire, which the expiry calculator reads, unless the write keeps the
// entry's expiry as it was (an increment of a counter).
type item struct {
	value      []byte
	ttl        time.Duration
	keepExpiry bool
}

// expiry is the store's expiry calculator: an entry lives its item's ttl from its latest
// write, except across a write that keeps its expiry.
type expiry struct{}

func (expiry) ExpireAfterCreate(e otter.Entry[string, item]) time.Duration { return e.Value.ttl }

func (expiry) ExpireAfterUpdate(e otter.Entry[string, item], _ item) time.Duration {
	if e.Value.keepExpiry {
		return e.ExpiresAfter()
	}
	return e.Value.ttl
}

func (expiry) ExpireAfterRead(e otter.Entry[string, item]) time.Duration { return e.ExpiresAfter() }

// New returns a Store configured by opts, or an error naming the option that is invalid.
func New(opts Options) (*Store, error) {
	if opts.MaxSize < 0 {
		return nil, fmt.Errorf("memstore: MaxSize %d is negative: %w", opts.MaxSize, backend.ErrConfig)
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	var clock otter.Clock = newMonotonic()
	if opts.Clock != nil {
		clock = clockAdapter{opts.Clock}
	}
	cache, err := otter.New(&otter.Options[string, item]{
		MaximumSize:      opts.MaxSize,
		ExpiryCalculator: expiry{},
		Clock:            clock,
	})
	if err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	return &Store{cache: cache, clock: clock}, nil
}

// usable reports why no call may proceed: a closed store or a done context.
func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return backend.ContextErr(ctx)
}

// Get implements backend.Store. It does not allocate on a hit.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	// Every stored key passed CheckKey when it was written, so a hit needs no check: the
	// UTF-8 scan runs only on a miss, to tell an invalid key from an absent one.
	it, ok := s.cache.GetIfPresent(key)
	if !ok {
		if err := backend.CheckKey(key); err != nil {
			return nil, err
		}
		return nil, backend.ErrNotFound
	}
	return it.value, nil
}

// GetMany implements backend.Store.
func (s *Store) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if err := backend.CheckKeys(keys); err != nil {
		return nil, err
	}
	found := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if it, ok := s.cache.GetIfPresent(k); ok {
			found[k] = it.value
		}
	}
	return found, nil
}

// GetEntries implements backend.ExpiryReader.
func (s *Store) GetEntries(ctx context.Context, keys []string) ([]backend.Entry, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if err := backend.CheckKeys(keys); err != nil {
		return nil, err
	}
	keys = backend.UniqueKeys(keys)
	entries := make([]backend.Entry, 0, len(keys))
	now := s.clock.NowNano()
	for _, k := range keys {
		if _, ok := s.cache.GetIfPresent(k); !ok { // a read, for the eviction policy
			continue
		}
		if e, ok := s.cache.GetEntryQuietly(k); ok && e.ExpiresAtNano > now {
			entries = append(entries, backend.Entry{Key: k, Value: e.Value.value, TTL: time.Duration(e.ExpiresAtNano - now)})
		}
	}
	return entries, nil
}

var _ backend.ExpiryReader = (*Store)(nil)

// Set implements backend.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return err
	}
	s.cache.Set(key, item{value: value, ttl: ttl})
	return nil
}

// SetMany implements backend.Store.
func (s *Store) SetMany(ctx context.Context, entries []backend.Entry) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckEntries(entries); err != nil {
		return err
	}
	for _, e := range entries {
		s.cache.Set(e.Key, item{value: e.Value, ttl: e.TTL})
	}
	return nil
}

// Delete implements backend.Store.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckKeys(keys); err != nil {
		return err
	}
	for _, k := range keys {
		s.cache.Invalidate(k)
	}
	return nil
}

// Has implements backend.Store. It leaves the entry's standing in the eviction policy as it is.
func (s *Store) Has(ctx context.Context, key string) (bool, error) {
	if _, err := s.entry(ctx, key); err != nil {
		if err == backend.ErrNotFound {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// Expire implements backend.Store.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return err
	}
	// Rewriting the item with its new lifetime under the entry's lock makes the expiry
	// calculator restart the clock from now; an absent or expired entry is left absent.
	_, ok := s.cache.ComputeIfPresent(key, func(old item) (item, otter.ComputeOp) {
		return item{value: old.value, ttl: ttl}, otter.WriteOp
	})
	if !ok {
		return backend.ErrNotFound
	}
	return nil
}

// TTL implements backend.Store.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	e, err := s.entry(ctx, key)
	if err != nil {
		return 0, err
	}
	return time.Duration(e.ExpiresAtNano - s.clock.NowNano()), nil
}

// entry reads key's entry without touching the eviction policy, or reports ErrNotFound.
func (s *Store) entry(ctx context.Context, key string) (otter.Entry[string, item], error) {
	if err := s.usable(ctx); err != nil {
		return otter.Entry[string, item]{}, err
	}
	if err := backend.CheckKey(key); err != nil {
		return otter.Entry[string, item]{}, err
	}
	e, ok := s.cache.GetEntryQuietly(key)
	if !ok || e.ExpiresAtNano <= s.clock.NowNano() {
		return otter.Entry[string, item]{}, backend.ErrNotFound
	}
	return e, nil
}

// Acquire implements backend.Leaser: the check and the write happen under the entry's lock, in
// which the engine counts an expired entry as absent.
func (s *Store) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := s.usable(ctx); err != nil {
		return false, err
	}
	if err := backend.CheckKey(key); err != nil {
		return false, err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return false, err
	}
	acquired := false
	s.cache.Compute(key, func(old item, found bool) (item, otter.ComputeOp) {
		if found {
			return old, otter.CancelOp
		}
		acquired = true
		return item{value: []byte(token), ttl: ttl}, otter.WriteOp
	})
	return acquired, nil
}

// Release implements backend.Leaser, comparing the token under the entry's lock.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	s.cache.ComputeIfPresent(key, func(old item) (item, otter.ComputeOp) {
		if string(old.value) != token {
			return old, otter.CancelOp
		}
		return old, otter.InvalidateOp
	})
	return nil
}

// Incr implements backend.Counter: the count is read and written under the entry's lock, in
// which the engine counts an expired entry as absent, and an increment keeps the expiry the
// counter was created with. The value is the count's decimal digits, as Redis keeps it: any
// other value under key (leading zeros or a sign included) is not a counter.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	if err := backend.CheckKey(key); err != nil {
		return 0, err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return 0, err
	}
	var (
		n   int64
		err error
	)
	s.cache.Compute(key, func(old item, found bool) (item, otter.ComputeOp) {
		if !found {
			n = delta
			return item{value: strconv.AppendInt(nil, n, 10), ttl: ttl}, otter.WriteOp
		}
		cur, ok := parseCount(old.value)
		if !ok {
			err = fmt.Errorf("memstore: %w: the value is not an integer", backend.ErrNotCounter)
			return old, otter.CancelOp
		}
		if n, ok = add(cur, delta); !ok {
			err = fmt.Errorf("memstore: %w: %d%+d is out of the range of int64", backend.ErrNotCounter, cur, delta)
			return old, otter.CancelOp
		}
		return item{value: strconv.AppendInt(nil, n, 10), ttl: old.ttl, keepExpiry: true}, otter.WriteOp
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// parseCount reads a counter's value: an int64's decimal digits as strconv.FormatInt writes
// them, and nothing else.
func parseCount(v []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	var buf [20]byte
	return n, err == nil && string(strconv.AppendInt(buf[:0], n, 10)) == string(v)
}

// add returns a+b, and false when the sum overflows int64.
func add(a, b int64) (int64, bool) {
	sum := a + b
	return sum, (b >= 0) == (sum >= a)
}

// Count implements backend.Store. It visits every entry, in memory, after settling pending
// evictions, so that it never counts past MaxSize.
func (s *Store) Count(ctx context.Context, prefix string) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	s.cache.CleanUp()
	n := 0
	for k := range s.cache.Keys() {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n, nil
}

// Clear implements backend.Store. It visits every entry, in memory.
func (s *Store) Clear(ctx context.Context, prefix string) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	n := 0
	for k := range s.cache.Keys() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if err := backend.ContextErr(ctx); err != nil {
			return n, err
		}
		if _, removed := s.cache.Invalidate(k); removed {
			n++
		}
	}
	return n, nil
}

// Len returns the number of entries the store holds, expired ones not yet removed included.
func (s *Store) Len() int {
	return s.cache.EstimatedSize()
}

// CleanUp removes expired entries and finishes pending evictions now. The store runs no
// goroutine of its own: a cachekit.Cache calls CleanUp on its schedule (see
// cachekit.Options.CleanupInterval), and a program using the store alone may call it.
func (s *Store) CleanUp() {
	s.cache.CleanUp()
}

// Close drops every entry. Later calls report
// backend.ErrClosed. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cache.StopAllGoroutines()
		s.cache.InvalidateAll()
	})
	return nil
}

// monotonic reads the system's monotonic clock as Unix nanoseconds, immune to wall-clock steps.
type monotonic struct {
	start     time.Time
	startNano int64
}

func newMonotonic() *monotonic {
	now := time.Now()
	return &monotonic{start: now, startNano: now.UnixNano()}
}

func (m *monotonic) NowNano() int64 { return m.startNano + int64(time.Since(m.start)) }

// Tick returns nil: the store runs no timer of its own; its owner sweeps it (CleanUp).
func (m *monotonic) Tick(time.Duration) <-chan time.Time { return nil }

type clockAdapter struct{ clock backend.Clock }

func (a clockAdapter) NowNano() int64                      { return a.clock.Now().UnixNano() }
func (a clockAdapter) Tick(time.Duration) <-chan time.Time { return nil }
