package redis

import (
	"context"
	"fmt"
	"testing"

	rediscache "github.com/go-redis/cache/v9"
	"github.com/redis/rueidis"
)

// The cache benchmarks put cachekit's Cache (a Typed[string] view over redisstore) beside
// redisstore alone (the Store the view calls, with the view's whole keys) and the raw rueidis
// calls it makes, at each of the client settings in flushDelays; and, at rueidis's default,
// beside two Redis caches on go-redis: eko/gocache (lib/v4 with store/redis/v4) and
// go-redis/cache. Each stores a string of 64 bytes its own way: cachekit as JSON, gocache as
// it is, go-redis/cache as msgpack (s2-compressed from 64 bytes on); the raw client as it is.
// Neither peer has a batch read.

// jsonValue is value as cachekit stores it, which redisstore reads back.
var jsonValue = `"` + value + `"`

// caches returns, for each client setting, cachekit, redisstore and the raw rueidis calls on
// that client; and the peers, in the default setting's group. Only the default client's
// impls write (one call at a time, the delay changes nothing).
func (s *server) caches() []impl {
	var out []impl
	for _, c := range s.settings {
		r, store, view := c.rueidis, c.store, c.view
		ck := impl{
			name: "cachekit", group: c.group(), wire: c.wire, keys: s.keys["cachekit"],
			get: func(ctx context.Context, key string) error { return same(view.Get(ctx, key)) },
		}
		rs := impl{
			name: "redisstore", group: c.group(), wire: c.wire, keys: s.keys["redisstore"],
			get: func(ctx context.Context, key string) error {
				v, err := store.Get(ctx, key)
				if err == nil && string(v) != jsonValue {
					return errWrongValue
				}
				return err
			},
		}
		raw := impl{
			name: "rueidis", group: c.group(), wire: c.wire, keys: s.keys["raw"],
			get: func(ctx context.Context, key string) error {
				return same(r.Do(ctx, r.B().Get().Key(key).Build()).ToString())
			},
		}
		if c == s.def {
			ck.set = func(ctx context.Context, key, val string) error { return view.Set(ctx, key, val, 0) }
			raw.set = func(ctx context.Context, key, val string) error {
				return r.Do(ctx, r.B().Set().Key(key).Value(val).PxMilliseconds(ttl.Milliseconds()).Build()).Error()
			}
		}
		out = append(out, ck, rs, raw)
	}
	return append(out,
		impl{
			name: "gocache", group: s.def.group(), wire: s.goredisWire, keys: s.keys["gocache"],
			get: func(ctx context.Context, key string) error { return same(s.gocache.Get(ctx, key)) },
			set: func(ctx context.Context, key, val string) error { return s.gocache.Set(ctx, key, val) },
		},
		impl{
			name: "go-redis-cache", group: s.def.group(), wire: s.goredisWire, keys: s.keys["go-redis-cache"],
			get: func(ctx context.Context, key string) error {
				var val string
				return same(val, s.rediscache.Get(ctx, key, &val))
			},
			set: func(ctx context.Context, key, val string) error {
				return s.rediscache.Set(&rediscache.Item{Ctx: ctx, Key: key, Value: val, TTL: ttl})
			},
		},
	)
}

// batchReads returns cachekit's GetMany, redisstore's, and the raw rueidis reads of the same
// keys, on the default client: rueidis.MGet, the helper that returns a map as GetMany does (one
// MGET on a server, one per hash slot on a cluster), and the plain replies, with no map (one
// MGET on a server, a GET per key pipelined on a cluster, where MGET takes one slot's keys).
func (s *server) batchReads() []impl {
	c := s.def
	r := c.rueidis
	slice := func(ctx context.Context, keys []string) (int, error) {
		vals, err := r.Do(ctx, r.B().Mget().Key(keys...).Build()).ToArray()
		return len(vals), err
	}
	if s.cluster {
		slice = func(ctx context.Context, keys []string) (int, error) {
			cmds := make(rueidis.Commands, len(keys))
			for i, k := range keys {
				cmds[i] = r.B().Get().Key(k).Build()
			}
			n := 0
			for _, res := range r.DoMulti(ctx, cmds...) {
				if err := res.Error(); err != nil {
					return n, err
				}
				n++
			}
			return n, nil
		}
	}
	return []impl{
		{
			name: "cachekit", wire: c.wire, keys: s.keys["cachekit"],
			getMany: func(ctx context.Context, keys []string) (int, error) {
				found, err := c.view.GetMany(ctx, keys)
				return len(found), err
			},
		},
		{
			name: "redisstore", wire: c.wire, keys: s.keys["redisstore"],
			getMany: func(ctx context.Context, keys []string) (int, error) {
				found, err := c.store.GetMany(ctx, keys)
				return len(found), err
			},
		},
		{
			name: "rueidis", wire: c.wire, keys: s.keys["raw"],
			getMany: func(ctx context.Context, keys []string) (int, error) {
				found, err := rueidis.MGet(r, ctx, keys)
				return len(found), err
			},
		},
		{name: "rueidis-slice", wire: c.wire, keys: s.keys["raw"], getMany: slice},
	}
}

// BenchmarkCacheGet reads one key at a time: the latency of a single caller, which rueidis
// never delays (its writer waits only while more than one call is in flight).
func BenchmarkCacheGet(b *testing.B) {
	compare(b, []string{"standalone", "cluster"}, []variant{{"", benchGet}}, (*server).caches, hasGet)
}

func BenchmarkCacheSet(b *testing.B) {
	compare(b, []string{"standalone"}, []variant{{"", benchSet}}, (*server).caches, hasSet)
}

func BenchmarkCacheGetMany(b *testing.B) {
	compare(b, []string{"standalone", "cluster"}, []variant{{fmt.Sprintf("keys=%d", batch), benchGetMany}}, (*server).batchReads, hasGetMany)
}

// BenchmarkCacheGetParallel reads from 64 callers at once, the throughput under load, and
// from 4, where a delay of the writer shows in each call's latency; on loopback, and through a
// proxy that makes the round trip a network's.
func BenchmarkCacheGetParallel(b *testing.B) {
	compare(b, []string{"standalone", proxied}, []variant{{"callers=64", getParallel(64)}, {"callers=4", getParallel(4)}}, (*server).caches, hasGet)
}
