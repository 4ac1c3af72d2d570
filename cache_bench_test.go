package cachekit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
)

func benchView(b *testing.B) (*cachekit.View[GeoInfo], []string) {
	ctx := context.Background()
	s, _ := memstore.New(memstore.Options{})
	c, _ := cachekit.New(s, cachekit.Options{})
	b.Cleanup(func() { c.Close() })
	v := cachekit.Typed[GeoInfo](c, "geo:", time.Hour)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("10.0.", i/256, ".", i%256)
		_ = v.Set(ctx, keys[i], GeoInfo{City: "Sydney", Country: "AU"}, 0)
	}
	return v, keys
}

func BenchmarkViewGetHit(b *testing.B) {
	ctx := context.Background()
	v, keys := benchView(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := v.Get(ctx, keys[i&1023]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkViewGetOrLoadHit(b *testing.B) {
	ctx := context.Background()
	v, keys := benchView(b)
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
	v, keys := benchView(b)
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
	ctx := context.Background()
	v, keys := benchView(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		start := (i * 100) % 900
		if m, err := v.GetMany(ctx, keys[start:start+100]); err != nil || len(m) != 100 {
			b.Fatal(len(m), err)
		}
	}
}
