package cachekit

import (
	"context"
	"errors"
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
	done   chan struct{} // closed when the load has returned
	data   []byte
	absent bool // the load returned nothing for the key (a batch's source lacks it)
	err    error
	panic  *panicError
	load   *loading // the load the call is a key of
}

// loading is one run of a loader, for one key or a batch of them. Its waiters count, over all
// its keys, the callers still waiting; when the last has gone, the load is cancelled and its
// keys leave the map at once, so that no later caller joins a load nobody waits for, and no
// key of it is loaded again beside it while it runs. Guarded by flight.mu.
type loading struct {
	waiters int
	cancel  context.CancelFunc
	calls   []*call
	keys    []string
}

// errNoReturn is what a caller gets whose loader ended without returning (runtime.Goexit).
var errNoReturn = errors.New("cachekit: the loader ended without returning")

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
//
// A key may be under way in a batch (doMany) whose source lacks it; the caller then loads it
// itself: through the map once more, then, should a batch answer without it again, alone.
func (g *flight) do(ctx, stop context.Context, key string, mark uint64, load func(ctx context.Context, reread bool) ([]byte, error)) ([]byte, error) {
	one := func(ctx context.Context, _ []string, reread []bool) (map[string][]byte, error) {
		data, err := load(ctx, reread[0])
		return map[string][]byte{key: data}, err
	}
	for attempt := 0; ; attempt++ {
		calls := g.start(ctx, stop, []string{key}, []uint64{mark}, attempt >= 2, one)
		if err := g.wait(ctx, calls); err != nil {
			return nil, err
		}
		if c := calls[0]; c.err != nil || !c.absent {
			return c.data, c.err
		}
		if attempt >= 2 {
			// Its own load came back without the key: the loader never returned.
			return nil, errNoReturn
		}
		mark = g.mark(key, "")
	}
}

// doMany is do for several keys (whole keys, without repeats) at once: the keys another load
// has under way are waited for, and the rest are loaded together, by one call of load with
// those keys, which returns the data of the keys it found. marks[i] is g.mark for keys[i];
// load is told which of its keys to read again (see do). The result holds the keys found; a
// load's error is returned for its keys' caller, and the first one met is doMany's.
func (g *flight) doMany(ctx, stop context.Context, keys []string, marks []uint64, load func(ctx context.Context, keys []string, reread []bool) (map[string][]byte, error)) (map[string][]byte, error) {
	calls := g.start(ctx, stop, keys, marks, false, load)
	if err := g.wait(ctx, calls); err != nil {
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

// start returns a call per key, the caller counted among each one's waiters: the call under
// way for the key, or (for the keys none is, or all of them when alone) a call of one new load
// of those keys, started on a goroutine of its own. With alone, the new load is not entered
// in the map: a caller that must load for itself.
func (g *flight) start(ctx, stop context.Context, keys []string, marks []uint64, alone bool, load func(ctx context.Context, keys []string, reread []bool) (map[string][]byte, error)) []*call {
	calls := make([]*call, len(keys))
	l := &loading{}
	var reread []bool
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.calls == nil {
		g.calls = make(map[string]*call)
	}
	for i, key := range keys {
		c, ok := g.calls[key]
		if !ok || alone {
			c = &call{done: make(chan struct{}), load: l}
			if !alone {
				g.calls[key] = c
			}
			l.calls, l.keys = append(l.calls, c), append(l.keys, key)
			reread = append(reread, g.mark(key, "") != marks[i])
		}
		c.load.waiters++
		calls[i] = c
	}
	if len(l.calls) > 0 {
		var lctx context.Context
		lctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
		go g.run(l, lctx, stop, func(ctx context.Context) (map[string][]byte, error) {
			return load(ctx, l.keys, reread)
		})
	}
	return calls
}

// wait waits for every call, as long as ctx allows, and re-raises a load's panic. A caller
// that gives up leaves every call it still waited for (see leave).
func (g *flight) wait(ctx context.Context, calls []*call) error {
	for i, c := range calls {
		select {
		case <-c.done:
		case <-ctx.Done():
			g.leave(calls[i:])
			return fmt.Errorf("cachekit: %w", ctx.Err())
		}
		g.mu.Lock()
		c.load.waiters--
		g.mu.Unlock()
		if c.panic != nil {
			g.leave(calls[i+1:])
			panic(c.panic)
		}
	}
	return nil
}

// leave takes the caller off the waiters of calls' loads; a load left with none is
// cancelled, and its keys leave the map so that the next caller starts a fresh one.
func (g *flight) leave(calls []*call) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range calls {
		l := c.load
		if l.waiters--; l.waiters > 0 {
			continue
		}
		l.cancel()
		for i, key := range l.keys {
			if g.calls[key] == l.calls[i] {
				delete(g.calls, key)
			}
		}
	}
}

// run runs load for the keys of l, and gives each call its key's result.
func (g *flight) run(l *loading, ctx, stop context.Context, load func(context.Context) (map[string][]byte, error)) {
	unhook := context.AfterFunc(stop, l.cancel)
	var found map[string][]byte
	var err error
	var p *panicError
	defer func() {
		if v := recover(); v != nil {
			p = &panicError{value: v, stack: debug.Stack()}
		}
		unhook()
		l.cancel()
		for i, c := range l.calls {
			c.panic, c.err = p, err
			c.data, c.absent = found[l.keys[i]], !hasKey(found, l.keys[i])
			// Counted before the call leaves the map: a caller that finds no call under
			// way afterwards is sure to see the count changed, and so to read what this
			// load stored.
			g.landed[shard(l.keys[i], "")].Add(1)
		}
		g.mu.Lock()
		for i, c := range l.calls {
			if g.calls[l.keys[i]] == c {
				delete(g.calls, l.keys[i])
			}
		}
		g.mu.Unlock()
		for _, c := range l.calls {
			close(c.done)
		}
	}()
	found, err = load(ctx)
}

func hasKey(m map[string][]byte, k string) bool {
	_, ok := m[k]
	return ok
}
