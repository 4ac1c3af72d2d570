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
	err     error
	panic   *panicError
	waiters int // callers still waiting; guarded by flight.mu
	cancel  context.CancelFunc
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
		var lctx context.Context
		lctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
		g.calls[key] = c
		reread := g.mark(key, "") != mark
		go g.run(c, key, lctx, stop, func(ctx context.Context) ([]byte, error) { return load(ctx, reread) })
	}
	c.waiters++
	g.mu.Unlock()

	select {
	case <-c.done:
		g.mu.Lock()
		c.waiters--
		g.mu.Unlock()
		if c.panic != nil {
			panic(c.panic)
		}
		return c.data, c.err
	case <-ctx.Done():
		g.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			// Nobody is left to use the result: stop the load, and let the next caller start
			// a fresh one rather than join a cancelled one.
			c.cancel()
			if g.calls[key] == c {
				delete(g.calls, key)
			}
		}
		g.mu.Unlock()
		return nil, fmt.Errorf("cachekit: %w", ctx.Err())
	}
}

func (g *flight) run(c *call, key string, ctx, stop context.Context, load func(context.Context) ([]byte, error)) {
	unhook := context.AfterFunc(stop, c.cancel)
	defer func() {
		if v := recover(); v != nil {
			c.panic = &panicError{value: v, stack: debug.Stack()}
		}
		unhook()
		c.cancel()
		// Counted before the call leaves the map: a caller that finds no call under way
		// afterwards is sure to see the count changed, and so to read what this load stored.
		g.landed[shard(key, "")].Add(1)
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	c.data, c.err = load(ctx)
}
