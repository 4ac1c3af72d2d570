package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/memstore"
)

func newStore(t *testing.T, opts memstore.Options) *memstore.Store {
	t.Helper()
	s, err := memstore.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMaxSizeBoundsEntries(t *testing.T) {
	ctx := context.Background()
	const max = 100
	s := newStore(t, memstore.Options{MaxSize: max})
	for i := range 100 * max {
		if err := s.Set(ctx, fmt.Sprint("k", i), []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	s.CleanUp()
	if n := s.Len(); n > max {
		t.Errorf("Len after %d writes = %d, want at most MaxSize %d", 100*max, n, max)
	}
	if n, _ := s.Count(ctx, "k"); n > max {
		t.Errorf("Count = %d, want at most MaxSize %d", n, max)
	}
}

// TestExpiredEntriesAreRemovedWithoutTheGoroutine writes with no clean-up goroutine, as in a
// frozen Lambda environment: expired entries make way as later writes come.
func TestExpiredEntriesAreRemovedWithoutTheGoroutine(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock(time.Unix(1_800_000_000, 0))
	s := newStore(t, memstore.Options{MaxSize: 1000, Clock: clock})
	for i := range 1000 {
		_ = s.Set(ctx, fmt.Sprint("old", i), []byte("v"), time.Minute)
	}
	clock.Advance(2 * time.Minute)
	for i := range 1000 {
		_ = s.Set(ctx, fmt.Sprint("new", i), []byte("v"), time.Hour)
	}
	s.CleanUp()
	if n, _ := s.Count(ctx, "new"); n != 1000 {
		t.Errorf("Count of live entries = %d, want all 1000: expired ones should have made way", n)
	}
	if n := s.Len(); n > 1000 {
		t.Errorf("Len = %d, want at most 1000", n)
	}
}

func TestGetHitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, memstore.Options{})
	_ = s.Set(ctx, "CACHE#key", []byte("value"), time.Hour)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.Get(ctx, "CACHE#key"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Get hit allocates %.1f times, want 0", allocs)
	}
}

func TestNewRefusesNegativeMaxSize(t *testing.T) {
	if _, err := memstore.New(memstore.Options{MaxSize: -1}); err == nil {
		t.Error("New with MaxSize -1: want an error")
	}
}
