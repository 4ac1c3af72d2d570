package tiered

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
)

// Defaults for the zero fields of Options.
const (
	DefaultMaxSize = 10_000
	DefaultMaxTTL  = 30 * time.Second
)

// Options configures a Store. The zero value means every documented default.
type Options struct {
	// MaxSize bounds the entries L1 holds; the least valuable are evicted past it (W-TinyLFU,
	// as in memstore). Zero means DefaultMaxSize.
	MaxSize int
	// MaxTTL caps the lifetime of an L1 copy, and so how stale a value updated by another
	// instance can be when read here. Zero means DefaultMaxTTL.
	MaxTTL time.Duration
	// Clock is L1's time source, for tests; nil means the system's monotonic clock.
	Clock backend.Clock
}

// Store is a backend.Store with an in-memory L1 in front of a remote L2. Create it with New;
// it is safe for concurrent use.
type Store struct {
	l1 *memstore.Store
	l2 backend.Store
	o  Options

	l1Hits, l2Reads, l2Hits atomic.Uint64
}

var _ backend.Store = (*Store)(nil)

// New returns a Store with a new L1 in front of l2. Close closes both.
func New(l2 backend.Store, opts Options) (*Store, error) {
	if l2 == nil {
		return nil, errors.New("tiered: nil L2 Store")
	}
	if opts.MaxSize < 0 || opts.MaxTTL < 0 {
		return nil, fmt.Errorf("tiered: negative Options (MaxSize %d, MaxTTL %v)", opts.MaxSize, opts.MaxTTL)
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxTTL == 0 {
		opts.MaxTTL = DefaultMaxTTL
	}
	// No clean-up goroutine: copies live at most MaxTTL, expired ones are never served, and
	// CleanUp sweeps on demand (a Cache calls it when due).
	l1, err := memstore.New(memstore.Options{MaxSize: opts.MaxSize, CleanupInterval: -1, Clock: opts.Clock})
	if err != nil {
		return nil, fmt.Errorf("tiered: L1: %w", err)
	}
	return &Store{l1: l1, l2: l2, o: opts}, nil
}

// L2 returns the remote Store behind L1: health checks probe it, not the copy in memory.
func (s *Store) L2() backend.Store { return s.l2 }

// copyTTL is the lifetime of an L1 copy of an entry with ttl left in L2.
func (s *Store) copyTTL(ttl time.Duration) time.Duration { return min(ttl, s.o.MaxTTL) }

// fill puts copies of entries read from L2 into L1.
func (s *Store) fill(ctx context.Context, entries []backend.Entry) {
	copies := make([]backend.Entry, 0, len(entries))
	for _, e := range entries {
		if e.TTL > 0 {
			copies = append(copies, backend.Entry{Key: e.Key, Value: e.Value, TTL: s.copyTTL(e.TTL)})
		}
	}
	if len(copies) > 0 {
		_ = s.l1.SetMany(ctx, copies) // only a closed L1 or a done context refuse, and then the read goes on without
	}
}

// Get implements backend.Store: L1, else L2, copied into L1.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.l1.Get(ctx, key)
	if !errors.Is(err, backend.ErrNotFound) {
		if err == nil {
			s.l1Hits.Add(1)
		}
		return v, err
	}
	entries, err := s.readL2(ctx, []string{key})
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, backend.ErrNotFound
	}
	return entries[0].Value, nil
}

// readL2 reads keys from L2 with their time left, and copies what it finds into L1.
func (s *Store) readL2(ctx context.Context, keys []string) ([]backend.Entry, error) {
	s.l2Reads.Add(uint64(len(keys)))
	entries, err := backend.ReadEntries(ctx, s.l2, keys)
	if err != nil {
		return nil, err
	}
	s.l2Hits.Add(uint64(len(entries)))
	s.fill(ctx, entries)
	return entries, nil
}

// GetMany implements backend.Store: what L1 holds, and the rest from L2 in one batch.
func (s *Store) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	copies, err := s.l1.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	s.l1Hits.Add(uint64(len(copies)))
	var missing []string
	for _, k := range backend.UniqueKeys(keys) {
		if _, ok := copies[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return copies, nil
	}
	entries, err := s.readL2(ctx, missing)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		copies[e.Key] = e.Value
	}
	return copies, nil
}

// Set implements backend.Store: L2, then a copy in L1. When L2 fails, L1's copy goes too.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.l2.Set(ctx, key, value, ttl); err != nil {
		s.drop(key)
		return err
	}
	return s.l1.Set(ctx, key, value, s.copyTTL(ttl))
}

// SetMany implements backend.Store: L2, then copies in L1.
func (s *Store) SetMany(ctx context.Context, entries []backend.Entry) error {
	if err := s.l2.SetMany(ctx, entries); err != nil {
		keys := make([]string, len(entries))
		for i, e := range entries {
			keys[i] = e.Key
		}
		s.drop(keys...)
		return err
	}
	copies := make([]backend.Entry, len(entries))
	for i, e := range entries {
		copies[i] = backend.Entry{Key: e.Key, Value: e.Value, TTL: s.copyTTL(e.TTL)}
	}
	return s.l1.SetMany(ctx, copies)
}

// drop removes L1 copies whatever the caller's context, so that a failed write or delete
// never leaves one behind. Only invalid keys are refused, and those were never copied.
func (s *Store) drop(keys ...string) {
	_ = s.l1.Delete(context.Background(), keys...)
}

// Delete implements backend.Store: L2 and L1; L1's copies go even when L2 fails.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if err := backend.CheckKeys(keys); err != nil {
		return err
	}
	err := s.l2.Delete(ctx, keys...)
	s.drop(keys...)
	return err
}

// Has implements backend.Store: an L1 copy, else L2.
func (s *Store) Has(ctx context.Context, key string) (bool, error) {
	if ok, err := s.l1.Has(ctx, key); ok || err != nil {
		return ok, err
	}
	return s.l2.Has(ctx, key)
}

// Expire implements backend.Store on L2; L1's copy goes, and the next read copies the entry
// with its new TTL.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) error {
	err := s.l2.Expire(ctx, key, ttl)
	if !errors.Is(err, backend.ErrInvalidKey) {
		s.drop(key)
	}
	return err
}

// TTL implements backend.Store: L2's, which is authoritative.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	return s.l2.TTL(ctx, key)
}

// Count implements backend.Store: L2's entries under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int, error) {
	return s.l2.Count(ctx, prefix)
}

// Clear implements backend.Store on both tiers, and returns how many L2 removed.
func (s *Store) Clear(ctx context.Context, prefix string) (int, error) {
	n, err := s.l2.Clear(ctx, prefix)
	if !errors.Is(err, backend.ErrInvalidKey) {
		_, _ = s.l1.Clear(context.WithoutCancel(ctx), prefix) // even when L2 failed part-way
	}
	return n, err
}

// CleanUp removes L1's expired copies now.
func (s *Store) CleanUp() { s.l1.CleanUp() }

// Close closes L1 and L2.
func (s *Store) Close() error {
	return errors.Join(s.l1.Close(), s.l2.Close())
}

// Status reports L2's breaker and active store, when it has them.
func (s *Store) Status() resilient.Status {
	if r, ok := s.l2.(interface{ Status() resilient.Status }); ok {
		return r.Status()
	}
	return resilient.Status{}
}

// Stats says where reads were served.
type Stats struct {
	L1Hits  uint64 // keys served from L1
	L2Reads uint64 // keys L1 did not hold, asked of L2
	L2Hits  uint64 // of those, the ones L2 had
	L1Len   int    // copies L1 holds, expired ones not yet swept included
}

// Stats returns where reads were served.
func (s *Store) Stats() Stats {
	return Stats{L1Hits: s.l1Hits.Load(), L2Reads: s.l2Reads.Load(), L2Hits: s.l2Hits.Load(), L1Len: s.l1.Len()}
}
