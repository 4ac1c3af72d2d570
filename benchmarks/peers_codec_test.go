package benchmarks

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	ekocache "github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/marshaler"
	ekostore "github.com/eko/gocache/lib/v4/store"
	rediscache "github.com/go-redis/cache/v9"
	gocache "github.com/patrickmn/go-cache"
)

var errMiss = errors.New("benchmarks: a miss")

// goRedisCacheHit reads through go-redis/cache's local cache alone (TinyLFU, no Redis):
// MessagePack, and s2 compression above 64 bytes, as it stores every value.
func goRedisCacheHit(b *testing.B, value any, keys []string) func(string) error {
	c := rediscache.New(&rediscache.Options{LocalCache: rediscache.NewTinyLFU(2*hitKeys, ttl)})
	for _, k := range keys {
		if err := c.Set(&rediscache.Item{Ctx: ctx, Key: k, Value: value, TTL: ttl}); err != nil {
			b.Fatal(err)
		}
	}
	typ := reflect.TypeOf(value)
	return func(k string) error {
		return c.Get(ctx, k, reflect.New(typ).Interface())
	}
}

// ekoHit reads through eko/gocache's cache and marshaler (MessagePack) over an in-memory store.
// Its own in-memory stores are modules of their own that the module proxy here does not serve,
// so the store is goCacheStore below, which does what eko's store/go_cache does.
func ekoHit(b *testing.B, value any, keys []string) func(string) error {
	m := marshaler.New(ekocache.New[any](goCacheStore{gocache.New(ttl, 0)}))
	for _, k := range keys {
		if err := m.Set(ctx, k, value); err != nil {
			b.Fatal(err)
		}
	}
	typ := reflect.TypeOf(value)
	return func(k string) error {
		_, err := m.Get(ctx, k, reflect.New(typ).Interface())
		return err
	}
}

// goCacheStore is an eko/gocache store over patrickmn/go-cache, as eko's store/go_cache.
type goCacheStore struct{ c *gocache.Cache }

func (s goCacheStore) Get(_ context.Context, key any) (any, error) {
	if v, ok := s.c.Get(key.(string)); ok {
		return v, nil
	}
	return nil, ekostore.NotFoundWithCause(errMiss)
}

func (s goCacheStore) GetWithTTL(ctx context.Context, key any) (any, time.Duration, error) {
	v, err := s.Get(ctx, key)
	return v, ttl, err
}

func (s goCacheStore) Set(_ context.Context, key, value any, options ...ekostore.Option) error {
	s.c.Set(key.(string), value, ekostore.ApplyOptions(options...).Expiration)
	return nil
}

func (s goCacheStore) Delete(_ context.Context, key any) error { s.c.Delete(key.(string)); return nil }
func (s goCacheStore) Invalidate(context.Context, ...ekostore.InvalidateOption) error {
	return nil
}
func (s goCacheStore) Clear(context.Context) error { s.c.Flush(); return nil }
func (s goCacheStore) GetType() string             { return "go-cache" }
