package cachekit

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// flight runs one load per key at a time and shares its result with every caller that asks
// for the key meanwhile. Unlike x/sync/singleflight, each caller waits only as long as its
// own context allows, and the load itself is cancelled once no caller is left waiting for it.
// A zero flight is ready to use.
type flight struct {
	mu    sync.Mutex
	calls map[string]*call

	// landed counts the loads that have ended, per shard of keys. A caller notes its key's
	// count before it reads the cache; when the read misses and a load of the same shard has
	// ended since, the value may have been stored after the read looked, so the next load
	// reads again before it goes to the source (see mark and do).
	landed [landedShards]atomic.Uint64
}

const landedShards = 64

var landedSeed = maphash.MakeSeed()

// mark returns the count of ended loads of the shard of the key prefix+key (given in two parts,
// so that a hit builds no string), to pass to do after reading the cache.
func (g *flight) mark(prefix, key string) uint64 {
	return g.landed[shard(prefix, key)].Load()
}

func shard(prefix, key string) uint64 {
	var h maphash.Hash
	h.SetSeed(landedSeed)
	h.WriteString(prefix)
	h.WriteString(key)
	return h.Sum64() % landedShards
}

type call struct {
	done    chan struct{} // closed when the load has returned
	data    []byte
	absent  bool // a batch load returned nothing for the key
	err     error
	panic   *panicError
	waiters int    // callers still waiting; guarded by flight.mu
	release func() // called, under flight.mu, when the last waiter has gone: ends the load
}

// panicError carries a loader's panic, with its stack, to the callers that waited for it.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string {
	return fmt.Sprintf("cachekit: loader panicked: %v\n\n%s", p.value, p.stack)
}

// do returns the result of load for key, starting it unless one is under way. load runs on a
// goroutine of its own, with a context that keeps ctx's values, ends when every caller waiting
// for it has gone or when stop is done, and is never cancelled by one caller alone.
//
// mark is what g.mark returned for key before the caller read the cache. load is told to read
// again (reread) when a load of key's shard has ended since: the caller's miss may predate
// the value that load stored, and loading once per key means not loading it again.
func (g *flight) do(ctx, stop context.Context, key string, mark uint64, load func(ctx context.Context, reread bool) ([]byte, error)) ([]byte, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call)
	}
	c, ok := g.calls[key]
	if !ok {
		c = &call{done: make(chan struct{})}
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.release = cancel
		g.calls[key] = c
		reread := g.mark(key, "") != mark
		go g.run([]*call{c}, []string{key}, lctx, cancel, stop, func(ctx context.Context) (map[string][]byte, error) {
			data, err := load(ctx, reread)
			return map[string][]byte{key: data}, err
		})
	}
	c.waiters++
	g.mu.Unlock()

	if err := g.wait(ctx, []*call{c}, []string{key}); err != nil {
		return nil, err
	}
	return c.data, c.err
}

// doMany is do for several keys (whole keys, without repeats) at once: the keys another load
// has under way are waited for, and the rest are loaded together, by one call of load with
// those keys, which returns the data of the keys it found. marks[i] is g.mark for keys[i];
// load is told which of its keys to read again (see do). The result holds the keys found; a
// load's error is returned for its keys' caller, and the first one met is doMany's.
func (g *flight) doMany(ctx, stop context.Context, keys []string, marks []uint64, load func(ctx context.Context, keys []string, reread []bool) (map[string][]byte, error)) (map[string][]byte, error) {
	calls := make([]*call, len(keys))
	var own []*call
	var ownKeys []string
	var reread []bool
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call)
	}
	for i, key := range keys {
		c, ok := g.calls[key]
		if !ok {
			c = &call{done: make(chan struct{})}
			g.calls[key] = c
			own, ownKeys = append(own, c), append(ownKeys, key)
			reread = append(reread, g.mark(key, "") != marks[i])
		}
		c.waiters++
		calls[i] = c
	}
	if len(own) > 0 {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		// The load ends when none of its keys has a caller left.
		live := len(own)
		for _, c := range own {
			c.release = func() {
				if live--; live == 0 {
					cancel()
				}
			}
		}
		go g.run(own, ownKeys, lctx, cancel, stop, func(ctx context.Context) (map[string][]byte, error) {
			return load(ctx, ownKeys, reread)
		})
	}
	g.mu.Unlock()

	if err := g.wait(ctx, calls, keys); err != nil {
		return nil, err
	}
	found := make(map[string][]byte, len(keys))
	for i, c := range calls {
		if c.err != nil {
			return nil, c.err
		}
		if !c.absent {
			found[keys[i]] = c.data
		}
	}
	return found, nil
}

// wait waits for every call of keys, as long as ctx allows, and re-raises a load's panic. A
// caller that gives up leaves every call it still waited for; a call left with no waiter ends
// its load and leaves the map, so that the next caller starts a fresh one.
func (g *flight) wait(ctx context.Context, calls []*call, keys []string) error {
	for i, c := range calls {
		select {
		case <-c.done:
		case <-ctx.Done():
			g.leave(calls[i:], keys[i:])
			return fmt.Errorf("cachekit: %w", ctx.Err())
		}
		g.mu.Lock()
		c.waiters--
		g.mu.Unlock()
		if c.panic != nil {
			g.leave(calls[i+1:], keys[i+1:])
			panic(c.panic)
		}
	}
	return nil
}

func (g *flight) leave(calls []*call, keys []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, c := range calls {
		if c.waiters--; c.waiters == 0 {
			c.release()
			if g.calls[keys[i]] == c {
				delete(g.calls, keys[i])
			}
		}
	}
}

// run runs load for the keys of calls, and gives each call its key's result.
func (g *flight) run(calls []*call, keys []string, ctx context.Context, cancel context.CancelFunc, stop context.Context, load func(context.Context) (map[string][]byte, error)) {
	unhook := context.AfterFunc(stop, cancel)
	var found map[string][]byte
	var err error
	var p *panicError
	defer func() {
		if v := recover(); v != nil {
			p = &panicError{value: v, stack: debug.Stack()}
		}
		unhook()
		cancel()
		for i, c := range calls {
			c.panic, c.err = p, err
			c.data, c.absent = found[keys[i]], found == nil || !hasKey(found, keys[i])
			// Counted before the call leaves the map: a caller that finds no call under
			// way afterwards is sure to see the count changed, and so to read what this
			// load stored.
			g.landed[shard(keys[i], "")].Add(1)
		}
		g.mu.Lock()
		for i, c := range calls {
			if g.calls[keys[i]] == c {
				delete(g.calls, keys[i])
			}
		}
		g.mu.Unlock()
		for _, c := range calls {
			close(c.done)
		}
	}()
	found, err = load(ctx)
}

func hasKey(m map[string][]byte, k string) bool {
	_, ok := m[k]
	return ok
}
