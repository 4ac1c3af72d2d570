package cachekit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
)

// benchView returns a view of a Cache over a memstore holding val under each of 1024 keys,
// and the keys.
func benchView[V any](b *testing.B, codec cachekit.Codec, val V) (*cachekit.View[V], []string) {
	ctx := context.Background()
	s, _ := memstore.New(memstore.Options{})
	c, _ := cachekit.New(s, cachekit.Options{})
	b.Cleanup(func() { c.Close() })
	v := cachekit.Typed[V](c, "geo:", time.Hour).WithCodec(codec)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("10.0.", i/256, ".", i%256)
		if err := v.Set(ctx, keys[i], val, 0); err != nil {
			b.Fatal(err)
		}
	}
	return v, keys
}

func geoView(b *testing.B) (*cachekit.View[GeoInfo], []string) {
	return benchView(b, nil, GeoInfo{City: "Sydney", Country: "AU"})
}

// benchGet reads the keys of v from every CPU.
func benchGet[V any](b *testing.B, v *cachekit.View[V], keys []string) {
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := v.Get(ctx, keys[i&1023]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkViewGetHit reads a small struct through the JSON codec, and 64 bytes through Raw as
// a []byte and as a string.
func BenchmarkViewGetHit(b *testing.B) {
	b.Run("codec=JSON", func(b *testing.B) {
		v, keys := geoView(b)
		benchGet(b, v, keys)
	})
	b.Run("codec=Raw/bytes", func(b *testing.B) {
		v, keys := benchView(b, cachekit.Raw, make([]byte, 64))
		benchGet(b, v, keys)
	})
	b.Run("codec=Raw/string", func(b *testing.B) {
		v, keys := benchView(b, cachekit.Raw, string(make([]byte, 64)))
		benchGet(b, v, keys)
	})
}

func BenchmarkViewGetOrLoadHit(b *testing.B) {
	ctx := context.Background()
	v, keys := geoView(b)
	load := func(context.Context, string) (GeoInfo, error) { return GeoInfo{}, nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := v.GetOrLoad(ctx, keys[i&1023], load); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkViewSet(b *testing.B) {
	ctx := context.Background()
	v, keys := geoView(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if err := v.Set(ctx, keys[i&1023], GeoInfo{City: "Oslo", Country: "NO"}, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkViewGetMany100(b *testing.B) {
	for _, bc := range []struct {
		name string
		run  func(b *testing.B, start int)
	}{
		{"codec=JSON", getMany(geoView(b))},
		{"codec=Raw", getMany(benchView(b, cachekit.Raw, make([]byte, 64)))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				bc.run(b, (i*100)%900)
			}
		})
	}
}

// getMany returns a step of BenchmarkViewGetMany100: the 100 keys from start.
func getMany[V any](v *cachekit.View[V], keys []string) func(b *testing.B, start int) {
	return func(b *testing.B, start int) {
		if m, err := v.GetMany(context.Background(), keys[start:start+100]); err != nil || len(m) != 100 {
			b.Fatal(len(m), err)
		}
	}
}
