package redis

import (
	"context"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// The client benchmarks put rueidis, which redisstore is built on, beside go-redis: each client
// with its defaults (but rueidis's client-side cache, which cachekit turns off), sending the same
// commands for the same plain 64-byte values.

// clients returns the raw clients on s. On a cluster, where MGET takes keys of one slot only,
// each reads keys of many slots the way it offers: rueidis's MGet helper sends an MGET per
// slot, pipelined to each node; go-redis pipelines GETs, one pipeline per node.
func (s *server) clients() []impl {
	r, g := s.def.rueidis, s.goredis
	keys := s.keys["raw"]
	rueidisMGet := func(ctx context.Context, keys []string) (int, error) {
		vals, err := r.Do(ctx, r.B().Mget().Key(keys...).Build()).AsStrSlice()
		return len(vals), err
	}
	goredisMGet := func(ctx context.Context, keys []string) (int, error) {
		vals, err := g.MGet(ctx, keys...).Result()
		return len(vals), err
	}
	if s.cluster {
		rueidisMGet = func(ctx context.Context, keys []string) (int, error) {
			vals, err := rueidis.MGet(r, ctx, keys)
			return len(vals), err
		}
		goredisMGet = func(ctx context.Context, keys []string) (int, error) {
			cmds, err := g.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for _, k := range keys {
					p.Get(ctx, k)
				}
				return nil
			})
			return len(cmds), err // err is the first command's error, a miss (goredis.Nil) included
		}
	}
	return []impl{
		{
			name: "rueidis", wire: s.def.wire, keys: keys,
			get: func(ctx context.Context, key string) error {
				return same(r.Do(ctx, r.B().Get().Key(key).Build()).ToString())
			},
			set: func(ctx context.Context, key, val string) error {
				return r.Do(ctx, r.B().Set().Key(key).Value(val).PxMilliseconds(ttl.Milliseconds()).Build()).Error()
			},
			getMany: rueidisMGet,
		},
		{
			name: "go-redis", wire: s.goredisWire, keys: keys,
			get: func(ctx context.Context, key string) error {
				return same(g.Get(ctx, key).Result())
			},
			set: func(ctx context.Context, key, val string) error {
				return g.Set(ctx, key, val, ttl).Err()
			},
			getMany: goredisMGet,
		},
	}
}

func BenchmarkClientGet(b *testing.B) {
	compare(b, []string{"standalone", "cluster"}, []variant{{"", benchGet}}, (*server).clients, hasGet)
}

func BenchmarkClientSet(b *testing.B) {
	compare(b, []string{"standalone"}, []variant{{"", benchSet}}, (*server).clients, hasSet)
}

func BenchmarkClientMGet(b *testing.B) {
	compare(b, []string{"standalone", "cluster"}, []variant{{fmt.Sprintf("keys=%d", batch), benchGetMany}}, (*server).clients, hasGetMany)
}

func BenchmarkClientGetParallel(b *testing.B) {
	compare(b, []string{"standalone"}, []variant{{"callers=64", getParallel(64)}}, (*server).clients, hasGet)
}
