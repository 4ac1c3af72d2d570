package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cachekit/cachekit/memstore"
)

func BenchmarkGetHit(b *testing.B) {
	ctx := context.Background()
	s, _ := memstore.New(memstore.Options{})
	defer s.Close()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("CACHE#key:", i)
		_ = s.Set(ctx, keys[i], make([]byte, 64), time.Hour)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := s.Get(ctx, keys[i&1023]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSet(b *testing.B) {
	ctx := context.Background()
	s, _ := memstore.New(memstore.Options{})
	defer s.Close()
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprint("CACHE#key:", i)
	}
	value := make([]byte, 64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if err := s.Set(ctx, keys[i&(1<<16-1)], value, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
}
