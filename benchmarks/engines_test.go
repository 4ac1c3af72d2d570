package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Yiling-J/theine-go"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/jellydator/ttlcache/v3"
	"github.com/maypok86/otter/v2"
	gocache "github.com/patrickmn/go-cache"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
)

// ttl is the lifetime every write is given, on the engines that take one: memstore always
// tracks a TTL, so the peers pay for theirs too.
const ttl = time.Hour

// engine is what a benchmark drives: one cache, bounded to the capacity it was made with
// unless its spec says it is unbounded.
type engine interface {
	Get(key string) ([]byte, bool)
	Set(key string, value []byte)
	Close()
}

// waiter is an engine whose writes reach its policy later, through a buffer; Wait returns once
// they have, so that a hit-ratio replay sees every write it made.
type waiter interface{ Wait() }

// engineSpec is a row of the tables: a name, and how to make the engine.
type engineSpec struct {
	name string // the value of the engine= key in the benchmark's name
	new  func(capacity int) (engine, error)
	// unbounded engines keep every key they are given: they have no place in a hit-ratio table.
	unbounded bool
	// policyOf names the engine whose eviction policy this one uses, and so whose hit ratio it
	// has; the hit-ratio table shows that engine only.
	policyOf string
}

// engines are the rows of every table, in the order they are printed.
var engines = []engineSpec{
	{name: "memstore", new: newMemstore},
	{name: "cachekit.Cache", new: newCachekit, policyOf: "memstore"},
	{name: "otter", new: newOtter},
	{name: "ristretto", new: newRistretto},
	{name: "theine", new: newTheine},
	{name: "ttlcache", new: newTTLCache},
	{name: "go-cache", new: newGoCache, unbounded: true},
	{name: "map", new: newMap, unbounded: true},
}

// fifoSpec is the seed design's policy: a bounded map that evicts the oldest write. It takes part
// in the hit-ratio benchmark only, as the baseline W-TinyLFU must beat.
var fifoSpec = engineSpec{name: "fifo", new: newFIFO}

// ctx is the context of every call to the cachekit engines.
var ctx = context.Background()

type memstoreEngine struct{ s *memstore.Store }

func newMemstore(capacity int) (engine, error) {
	s, err := memstore.New(memstore.Options{MaxSize: capacity})
	if err != nil {
		return nil, err
	}
	return memstoreEngine{s}, nil
}

func (e memstoreEngine) Get(key string) ([]byte, bool) {
	v, err := e.s.Get(ctx, key)
	return v, found(err)
}

func (e memstoreEngine) Set(key string, value []byte) { must(e.s.Set(ctx, key, value, ttl)) }
func (e memstoreEngine) Close()                       { must(e.s.Close()) }

// cachekitEngine is the layer services call: a Typed view over a Cache over a memstore, which
// adds the key prefix, the codec (JSON, the default) and the statistics to the store's cost.
type cachekitEngine struct {
	c    *cachekit.Cache
	view *cachekit.View[[]byte]
}

func newCachekit(capacity int) (engine, error) {
	s, err := memstore.New(memstore.Options{MaxSize: capacity})
	if err != nil {
		return nil, err
	}
	c, err := cachekit.New(s, cachekit.Options{})
	if err != nil {
		return nil, err
	}
	return cachekitEngine{c: c, view: cachekit.Typed[[]byte](c, "", ttl)}, nil
}

func (e cachekitEngine) Get(key string) ([]byte, bool) {
	v, err := e.view.Get(ctx, key)
	return v, found(err)
}

func (e cachekitEngine) Set(key string, value []byte) { must(e.view.Set(ctx, key, value, 0)) }
func (e cachekitEngine) Close()                       { must(e.c.Close()) }

// found turns a cachekit read's error into a hit or a miss. Any other error is a fault of the
// harness, not a result, so it stops the run.
func found(err error) bool {
	if errors.Is(err, backend.ErrNotFound) {
		return false
	}
	must(err)
	return true
}

func must(err error) {
	if err != nil {
		panic(fmt.Sprintf("benchmarks: %v", err))
	}
}

type otterEngine struct{ c *otter.Cache[string, []byte] }

func newOtter(capacity int) (engine, error) {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumSize:      capacity,
		ExpiryCalculator: otter.ExpiryWriting[string, []byte](ttl),
	})
	if err != nil {
		return nil, err
	}
	return otterEngine{c}, nil
}

func (e otterEngine) Get(key string) ([]byte, bool) { return e.c.GetIfPresent(key) }
func (e otterEngine) Set(key string, value []byte)  { e.c.Set(key, value) }
func (e otterEngine) Close()                        { e.c.StopAllGoroutines() }

type ristrettoEngine struct {
	c *ristretto.Cache[string, []byte]
}

func newRistretto(capacity int) (engine, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: int64(capacity) * 10, // the ten counters per entry its documentation advises
		MaxCost:     int64(capacity),
		BufferItems: 64,
		// Each entry costs 1, so that MaxCost counts entries as the other engines do.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return ristrettoEngine{c}, nil
}

func (e ristrettoEngine) Get(key string) ([]byte, bool) { return e.c.Get(key) }
func (e ristrettoEngine) Set(key string, value []byte)  { e.c.SetWithTTL(key, value, 1, ttl) }
func (e ristrettoEngine) Wait()                         { e.c.Wait() }
func (e ristrettoEngine) Close()                        { e.c.Close() }

type theineEngine struct{ c *theine.Cache[string, []byte] }

func newTheine(capacity int) (engine, error) {
	c, err := theine.NewBuilder[string, []byte](int64(capacity)).Build()
	if err != nil {
		return nil, err
	}
	return theineEngine{c}, nil
}

func (e theineEngine) Get(key string) ([]byte, bool) { return e.c.Get(key) }
func (e theineEngine) Set(key string, value []byte)  { e.c.SetWithTTL(key, value, 1, ttl) }
func (e theineEngine) Wait()                         { e.c.Wait() }
func (e theineEngine) Close()                        { e.c.Close() }

// ttlcacheEngine runs without Start: expired entries are then dropped as they are read, and no
// goroutine is left to stop.
type ttlcacheEngine struct {
	c *ttlcache.Cache[string, []byte]
}

func newTTLCache(capacity int) (engine, error) {
	return ttlcacheEngine{ttlcache.New(
		ttlcache.WithCapacity[string, []byte](uint64(capacity)),
		ttlcache.WithTTL[string, []byte](ttl),
	)}, nil
}

func (e ttlcacheEngine) Get(key string) ([]byte, bool) {
	it := e.c.Get(key)
	if it == nil {
		return nil, false
	}
	return it.Value(), true
}

func (e ttlcacheEngine) Set(key string, value []byte) { e.c.Set(key, value, ttl) }
func (e ttlcacheEngine) Close()                       { e.c.DeleteAll() }

// goCacheEngine has no size bound: capacity is ignored. A cleanup interval of zero runs no
// janitor goroutine; expired entries are still never returned.
type goCacheEngine struct{ c *gocache.Cache }

func newGoCache(int) (engine, error) { return goCacheEngine{gocache.New(ttl, 0)}, nil }

func (e goCacheEngine) Get(key string) ([]byte, bool) {
	v, ok := e.c.Get(key)
	if !ok {
		return nil, false
	}
	return v.([]byte), true
}

func (e goCacheEngine) Set(key string, value []byte) { e.c.Set(key, value, ttl) }
func (e goCacheEngine) Close()                       { e.c.Flush() }

// mapEngine is the floor: the least a concurrent cache can do, with no TTL, no eviction and no
// statistics. capacity is ignored.
type mapEngine struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func newMap(int) (engine, error) { return &mapEngine{m: make(map[string][]byte)}, nil }

func (e *mapEngine) Get(key string) ([]byte, bool) {
	e.mu.RLock()
	v, ok := e.m[key]
	e.mu.RUnlock()
	return v, ok
}

func (e *mapEngine) Set(key string, value []byte) {
	e.mu.Lock()
	e.m[key] = value
	e.mu.Unlock()
}

func (e *mapEngine) Close() {}

// fifoEngine is a map bounded to capacity that evicts the oldest key written, with no TTL.
type fifoEngine struct {
	mu    sync.Mutex
	m     map[string][]byte
	order []string // keys in the order written: a ring whose next slot is next
	next  int
}

func newFIFO(capacity int) (engine, error) {
	return &fifoEngine{m: make(map[string][]byte, capacity), order: make([]string, capacity)}, nil
}

func (e *fifoEngine) Get(key string) ([]byte, bool) {
	e.mu.Lock()
	v, ok := e.m[key]
	e.mu.Unlock()
	return v, ok
}

func (e *fifoEngine) Set(key string, value []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.m[key]; ok {
		e.m[key] = value
		return
	}
	if len(e.m) == len(e.order) {
		delete(e.m, e.order[e.next])
	}
	e.order[e.next] = key
	e.next = (e.next + 1) % len(e.order)
	e.m[key] = value
}

func (e *fifoEngine) Close() {}
