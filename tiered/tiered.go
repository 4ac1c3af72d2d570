package tiered

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
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
	// Clock is L1's time source, and the time an envelope's freshness is judged by, for
	// tests; nil means the system's clock.
	Clock backend.Clock
}

// Store is a backend.Store with an in-memory L1 in front of a remote L2. Create it with New;
// it is safe for concurrent use.
type Store struct {
	l1 *memstore.Store
	l2 backend.Store
	o  Options

	// Writes and deletes bump their key's shard generation, under its lock, as they update
	// L1; a read of L2 fills L1 only if no write to its shard came between the read's start
	// and its fill, so that a reply in flight never puts back a value a write replaced.
	shards [numShards]shard

	l1Hits, l2Reads, l2Hits atomic.Uint64
}

const numShards = 64

type shard struct {
	mu  sync.Mutex
	gen atomic.Uint64
}

func (s *Store) shard(key string) *shard {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &s.shards[h%numShards]
}

// gens notes the generations of keys' shards before a call to L2.
func (s *Store) gens(keys []string) []uint64 {
	g := make([]uint64, len(keys))
	for i, k := range keys {
		g[i] = s.shard(k).gen.Load()
	}
	return g
}

// l1ctx is the context of L1's writes, whatever the caller's: L1 is memory, and a copy
// left behind because a context ended would outlive the write that replaced it.
var l1ctx = context.Background()

var (
	_ backend.Store     = (*Store)(nil)
	_ backend.Leaser    = (*Store)(nil)
	_ backend.Counter   = (*Store)(nil)
	_ backend.Tier      = (*Store)(nil)
	_ backend.Sweeper   = (*Store)(nil)
	_ backend.Unwrapper = (*Store)(nil)
)

// New returns a Store with a new L1 in front of l2. Close closes both.
func New(l2 backend.Store, opts Options) (*Store, error) {
	if l2 == nil {
		return nil, fmt.Errorf("tiered: nil L2 Store: %w", backend.ErrConfig)
	}
	if opts.MaxSize < 0 || opts.MaxTTL < 0 {
		return nil, fmt.Errorf("tiered: negative Options (MaxSize %d, MaxTTL %v): %w", opts.MaxSize, opts.MaxTTL, backend.ErrConfig)
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxTTL == 0 {
		opts.MaxTTL = DefaultMaxTTL
	}
	// No clean-up goroutine: copies live at most MaxTTL, expired ones are never served, and
	// CleanUp sweeps on demand (a Cache calls it when due).
	l1, err := memstore.New(memstore.Options{MaxSize: opts.MaxSize, Clock: opts.Clock})
	if err != nil {
		return nil, fmt.Errorf("tiered: L1: %w", err)
	}
	return &Store{l1: l1, l2: l2, o: opts}, nil
}

// L2 implements backend.Tier: the remote Store behind L1, which health checks probe rather
// than the copy in memory.
func (s *Store) L2() backend.Store { return s.l2 }

// copyTTL is the lifetime of an L1 copy of value, an entry with ttl left in L2: none when it
// is not positive.
//
// The copy of an envelope (backend.Envelope) ends when the value stops being fresh, tombstones
// included. Past that point the entry is in its grace period: some instance of the fleet is
// refreshing it, and writes the new value to L2. Every instance must then read L2, so that all
// see the new value as soon as it is there, rather than each serving its own stale copy and
// refreshing the key itself.
func (s *Store) copyTTL(value []byte, ttl time.Duration) time.Duration {
	ttl = min(ttl, s.o.MaxTTL)
	if e, ok := backend.ParseEnvelope(value); ok {
		ttl = min(ttl, e.FreshUntil.Sub(s.now()))
	}
	return ttl
}

func (s *Store) now() time.Time {
	if s.o.Clock != nil {
		return s.o.Clock.Now()
	}
	return time.Now()
}

// fill puts copies of entries read from L2 into L1, but none of a key whose shard was
// written since gen, its generation when the read began.
func (s *Store) fill(entries []backend.Entry, keys []string, gen []uint64) {
	before := make(map[string]uint64, len(keys))
	for i, k := range keys {
		before[k] = gen[i]
	}
	for _, e := range entries {
		ttl := s.copyTTL(e.Value, e.TTL)
		if ttl <= 0 {
			continue
		}
		sh := s.shard(e.Key)
		sh.mu.Lock()
		if sh.gen.Load() == before[e.Key] {
			_ = s.l1.Set(l1ctx, e.Key, e.Value, ttl) // only a closed L1 refuses
		}
		sh.mu.Unlock()
	}
}

// wrote brings L1 in line with a write or delete of keys that L2 has answered: a copy of
// each entry of copies when no other write to its shard came since gen and copyTTL keeps
// one, else none.
func (s *Store) wrote(keys []string, gen []uint64, copies map[string]backend.Entry) {
	for i, k := range keys {
		sh := s.shard(k)
		sh.mu.Lock()
		alone := sh.gen.Add(1) == gen[i]+1
		e, ok := copies[k]
		if ttl := s.copyTTL(e.Value, e.TTL); ok && alone && ttl > 0 {
			_ = s.l1.Set(l1ctx, k, e.Value, ttl)
		} else {
			_ = s.l1.Delete(l1ctx, k)
		}
		sh.mu.Unlock()
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
	gen := s.gens(keys)
	entries, err := backend.ReadEntries(ctx, s.l2, keys)
	if err != nil {
		return nil, err
	}
	s.l2Hits.Add(uint64(len(entries)))
	s.fill(entries, keys, gen)
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
	e := backend.Entry{Key: key, Value: value, TTL: ttl}
	if err := backend.CheckEntries([]backend.Entry{e}); err != nil {
		return err
	}
	gen := s.gens([]string{key})
	err := s.l2.Set(ctx, key, value, ttl)
	var copies map[string]backend.Entry
	if err == nil {
		copies = map[string]backend.Entry{key: e}
	}
	s.wrote([]string{key}, gen, copies)
	return err
}

// SetMany implements backend.Store: L2, then copies in L1. When L2 fails, L1's copies go;
// when writes of a key overlap, its copy goes too, since L2's order is not known here.
func (s *Store) SetMany(ctx context.Context, entries []backend.Entry) error {
	if err := backend.CheckEntries(entries); err != nil {
		return err
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	gen := s.gens(keys)
	err := s.l2.SetMany(ctx, entries)
	var copies map[string]backend.Entry
	if err == nil {
		copies = make(map[string]backend.Entry, len(entries))
		for _, e := range entries {
			copies[e.Key] = e // the last of a key wins, as in L2
		}
	}
	s.wrote(keys, gen, copies)
	return err
}

// Delete implements backend.Store: L2 and L1; L1's copies go even when L2 fails.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if err := backend.CheckKeys(keys); err != nil {
		return err
	}
	err := s.l2.Delete(ctx, keys...)
	s.wrote(keys, make([]uint64, len(keys)), nil)
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
		s.wrote([]string{key}, []uint64{0}, nil)
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
		// Every shard's generation moves, so that no read in flight fills a cleared key.
		for i := range s.shards {
			s.shards[i].mu.Lock()
			s.shards[i].gen.Add(1)
		}
		_, _ = s.l1.Clear(l1ctx, prefix) // even when L2 failed part-way
		for i := range s.shards {
			s.shards[i].mu.Unlock()
		}
	}
	return n, err
}

// errNoLeases is what Acquire and Release report over an L2 that is not a backend.Leaser.
var errNoLeases = fmt.Errorf("tiered: L2 holds no leases: %w", errors.ErrUnsupported)

// Acquire implements backend.Leaser on L2, since a lease must hold across the fleet; it
// reports an error wrapping errors.ErrUnsupported when L2 is not a Leaser. L1 keeps no copy
// of the key.
func (s *Store) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	l, ok := s.l2.(backend.Leaser)
	if !ok {
		return false, errNoLeases
	}
	taken, err := l.Acquire(ctx, key, token, ttl)
	s.forget(key)
	return taken, err
}

// Release implements backend.Leaser on L2, as Acquire does.
func (s *Store) Release(ctx context.Context, key, token string) error {
	l, ok := s.l2.(backend.Leaser)
	if !ok {
		return errNoLeases
	}
	err := l.Release(ctx, key, token)
	s.forget(key)
	return err
}

// forget drops L1's copy of a lease's or a counter's key, whatever L2 answered, as a delete
// does: moving the key's shard generation keeps a read in flight from copying the lease, or
// the value (or count) the key held before, into L1.
func (s *Store) forget(key string) {
	if backend.CheckKey(key) == nil {
		s.wrote([]string{key}, []uint64{0}, nil)
	}
}

// errNoCounter is what Incr reports when neither L2 nor a Store behind its decorators is a
// backend.Counter.
var errNoCounter = fmt.Errorf("tiered: L2 keeps no counters: %w", errors.ErrUnsupported)

// Incr implements backend.Counter on L2's counter, found with backend.Find so that one behind
// L2's decorators counts too, since a count must hold across the fleet; it reports an error
// wrapping errors.ErrUnsupported when there is none. L1's copy of the key goes, whatever L2
// answered, so that the next read through this Store asks L2 and never serves a count older
// than this increment.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	c, ok := backend.Find[backend.Counter](s.l2)
	if !ok {
		return 0, errNoCounter
	}
	n, err := c.Incr(ctx, key, delta, ttl)
	s.forget(key)
	return n, err
}

// CleanUp removes L1's expired copies now.
func (s *Store) CleanUp() { s.l1.CleanUp() }

// Close closes L1 and L2.
func (s *Store) Close() error {
	return errors.Join(s.l1.Close(), s.l2.Close())
}

// Unwrap implements backend.Unwrapper: L2, behind the copies.
func (s *Store) Unwrap() backend.Store { return s.l2 }

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
