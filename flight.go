package cachekit

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// flight runs one load per key at a time and shares its result with every caller that asks
// for the key meanwhile. Unlike x/sync/singleflight, each caller waits only as long as its
// own context allows, and the load itself is cancelled once no caller is left waiting for it.
// A zero flight is ready to use.
type flight struct {
	mu    sync.Mutex
	calls map[string]*call
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
func (g *flight) do(ctx, stop context.Context, key string, load func(context.Context) ([]byte, error)) ([]byte, error) {
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
		go g.run(c, key, lctx, stop, load)
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
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	c.data, c.err = load(ctx)
}
