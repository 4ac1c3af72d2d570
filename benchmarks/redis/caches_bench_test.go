package redis

import (
	"context"
	"fmt"
	"testing"

	rediscache "github.com/go-redis/cache/v9"
	"github.com/redis/rueidis"
)

// The cache benchmarks put cachekit's Cache (a Typed[string] view over redisstore) beside the
// raw rueidis calls it makes, and beside two Redis caches on go-redis: eko/gocache (lib/v4 with
// store/redis/v4) and go-redis/cache. Each stores a string of 64 bytes its own way: cachekit as
// JSON, gocache as it is, go-redis/cache as msgpack (s2-compressed from 64 bytes on); the raw
// client as it is. Neither peer has a batch read.

// caches returns the cache libraries on s, and the raw rueidis calls cachekit makes.
func (s *server) caches() []impl {
	r := s.rueidis
	v := s.cachekitView
	return []impl{
		{
			name: "cachekit", wire: s.rueidisWire, keys: s.keys["cachekit"],
			get: v.Get,
			set: func(ctx context.Context, key, val string) error { return v.Set(ctx, key, val, 0) },
			getMany: func(ctx context.Context, keys []string) (int, error) {
				found, err := v.GetMany(ctx, keys)
				return len(found), err
			},
		},
		{
			name: "rueidis", wire: s.rueidisWire, keys: s.keys["raw"],
			get: func(ctx context.Context, key string) (string, error) {
				return r.Do(ctx, r.B().Get().Key(key).Build()).ToString()
			},
			set: func(ctx context.Context, key, val string) error {
				return r.Do(ctx, r.B().Set().Key(key).Value(val).PxMilliseconds(ttl.Milliseconds()).Build()).Error()
			},
			getMany: func(ctx context.Context, keys []string) (int, error) {
				found, err := rueidis.MGet(r, ctx, keys) // what redisstore's GetMany calls
				return len(found), err
			},
		},
		{
			name: "cachekit-flush", wire: s.rueidisFlushWire, keys: s.keys["cachekit"],
			get: s.cachekitFlushView.Get,
			set: func(ctx context.Context, key, val string) error { return s.cachekitFlushView.Set(ctx, key, val, 0) },
			getMany: func(ctx context.Context, keys []string) (int, error) {
				found, err := s.cachekitFlushView.GetMany(ctx, keys)
				return len(found), err
			},
		},
		{
			name: "rueidis-flush", wire: s.rueidisFlushWire, keys: s.keys["raw"],
			get: func(ctx context.Context, key string) (string, error) {
				return s.rueidisFlush.Do(ctx, s.rueidisFlush.B().Get().Key(key).Build()).ToString()
			},
			set: func(ctx context.Context, key, val string) error {
				return s.rueidisFlush.Do(ctx, s.rueidisFlush.B().Set().Key(key).Value(val).PxMilliseconds(ttl.Milliseconds()).Build()).Error()
			},
			getMany: func(ctx context.Context, keys []string) (int, error) {
				found, err := rueidis.MGet(s.rueidisFlush, ctx, keys)
				return len(found), err
			},
		},
		{
			name: "gocache", wire: s.goredisWire, keys: s.keys["gocache"],
			get: func(ctx context.Context, key string) (string, error) { return s.gocache.Get(ctx, key) },
			set: func(ctx context.Context, key, val string) error { return s.gocache.Set(ctx, key, val) },
		},
		{
			name: "go-redis-cache", wire: s.goredisWire, keys: s.keys["go-redis-cache"],
			get: func(ctx context.Context, key string) (string, error) {
				var val string
				err := s.rediscache.Get(ctx, key, &val)
				return val, err
			},
			set: func(ctx context.Context, key, val string) error {
				return s.rediscache.Set(&rediscache.Item{Ctx: ctx, Key: key, Value: val, TTL: ttl})
			},
		},
	}
}

func BenchmarkCacheGet(b *testing.B) {
	compare(b, []string{"standalone", "cluster"}, "", (*server).caches, benchGet)
}

func BenchmarkCacheSet(b *testing.B) {
	compare(b, []string{"standalone"}, "", (*server).caches, benchSet)
}

func BenchmarkCacheGetMany(b *testing.B) {
	compare(b, []string{"standalone", "cluster"}, fmt.Sprintf("keys=%d", batch), withGetMany((*server).caches), benchGetMany)
}

func BenchmarkCacheGetParallel(b *testing.B) {
	compare(b, []string{"standalone"}, fmt.Sprintf("callers=%d", callers), (*server).caches, benchGetParallel)
}
