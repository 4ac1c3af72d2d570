package tiered_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/tiered"
)

// wantCount checks that a Get of key through s reads n, and that s has read keys from L2 so
// far.
func wantCount(t *testing.T, s *tiered.Store, key string, n int64, reads uint64) {
	t.Helper()
	wantBytes(t, s, key, []byte(strconv.FormatInt(n, 10)), reads)
}

// TestIncrGoesToL2 counts through the tier on each remote L2: Incr is L2's, L1 keeps no copy
// of the key after one (not even a copy from before), and a Get after an Incr reads the new
// count from L2, never a stale one.
func TestIncrGoesToL2(t *testing.T) {
	onEachL2(t, func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string) {
		ctx := context.Background()
		inner := l2.open(t, clock)
		s := newTiered(t, inner, clock, time.Hour)
		defer s.Close()
		incr := func(delta, want int64) {
			t.Helper()
			if n, err := s.Incr(ctx, key, delta, time.Minute); n != want || err != nil {
				t.Fatalf("Incr(%d) = %d, %v; want %d", delta, n, err, want)
			}
			if n := s.Stats().L1Len; n != 0 {
				t.Errorf("L1 holds %d copies after an Incr, want none", n)
			}
		}
		incr(1, 1)
		incr(2, 3)
		if v, err := inner.Get(ctx, key); err != nil || string(v) != "3" {
			t.Errorf("L2 holds %q, %v; want the count, 3", v, err)
		}
		wantCount(t, s, key, 3, 1)
		wantCount(t, s, key, 3, 1) // L1's copy, until the next Incr
		for i := range int64(3) {
			incr(-1, 2-i)
			wantCount(t, s, key, 2-i, uint64(2+i)) // from L2 after each increment
		}

		// A copy a Set made goes too, whatever L2 makes of the value: Redis counts on from its
		// digits, DynamoDB refuses it (a counter there is a number, which Set never writes).
		if err := s.Set(ctx, key, []byte("7"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Incr(ctx, key, 1, time.Minute); err == nil && n != 8 || err != nil && !errors.Is(err, backend.ErrNotCounter) {
			t.Fatalf("Incr of a value Set to 7 = %d, %v; want 8, or ErrNotCounter", n, err)
		}
		if n := s.Stats().L1Len; n != 0 {
			t.Errorf("L1 holds %d copies after an Incr of a key Set wrote, want none", n)
		}
		held, err := inner.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		wantBytes(t, s, key, held, 5) // from L2
	})
}

// TestOtherInstancesCountsLagByMaxTTLAtMost: another instance's increments are seen through a
// Get once this instance's copy ends, or at once through an Incr of zero, which asks L2.
func TestOtherInstancesCountsLagByMaxTTLAtMost(t *testing.T) {
	onEachL2(t, func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string) {
		ctx := context.Background()
		reader := newTiered(t, l2.open(t, clock), clock, 10*time.Second)
		defer reader.Close()
		other := newTiered(t, l2.open(t, clock), clock, 10*time.Second)
		defer other.Close()
		if _, err := other.Incr(ctx, key, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		wantCount(t, reader, key, 1, 1)
		if _, err := other.Incr(ctx, key, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		wantCount(t, reader, key, 1, 1) // its copy, at most MaxTTL old
		if n, err := reader.Incr(ctx, key, 0, time.Minute); n != 2 || err != nil {
			t.Errorf("Incr of zero = %d, %v; want the fleet's count, 2", n, err)
		}
		wantCount(t, reader, key, 2, 2)

		if _, err := other.Incr(ctx, key, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second)
		wantCount(t, reader, key, 3, 3) // the copy ended at MaxTTL
	})
}

// TestReadInFlightNeverCopiesAnOldCount: a read of L2 that an Incr overtakes puts nothing in
// L1, so the next Get reads the new count.
func TestReadInFlightNeverCopiesAnOldCount(t *testing.T) {
	ctx := context.Background()
	ms, _ := memstore.New(memstore.Options{})
	gated := &gatedL2{Store: ms}
	s := newTiered(t, gated, nil, time.Minute) // counts are its memstore's
	defer s.Close()
	if _, err := s.Incr(ctx, "CACHE#n", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	gated.read, gated.gate = make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); _, _ = s.Get(ctx, "CACHE#n") }()
	<-gated.read
	if n, err := s.Incr(ctx, "CACHE#n", 1, time.Minute); n != 2 || err != nil {
		t.Fatalf("Incr = %d, %v; want 2", n, err)
	}
	close(gated.gate)
	<-done
	gated.gate = nil
	if v, err := s.Get(ctx, "CACHE#n"); err != nil || string(v) != "2" {
		t.Errorf("Get after the Incr = %q, %v; want 2: L1 kept the count from before", v, err)
	}
}

// unwrapping is a decorator with the contract's methods only, and Unwrap: a counter behind it
// is found with backend.Find.
type unwrapping struct{ backend.Store }

func (u unwrapping) Unwrap() backend.Store { return u.Store }

// TestIncrFindsL2sCounter: Incr reaches a counter behind L2's decorators, and says when there
// is none, with errors.ErrUnsupported; an Incr refused by L2 drops L1's copy all the same.
func TestIncrFindsL2sCounter(t *testing.T) {
	ctx := context.Background()
	ms, _ := memstore.New(memstore.Options{})
	s := newTiered(t, unwrapping{ms}, nil, time.Minute)
	defer s.Close()
	if n, err := s.Incr(ctx, "CACHE#n", 5, time.Minute); n != 5 || err != nil {
		t.Errorf("Incr behind a decorator = %d, %v; want 5", n, err)
	}
	if err := s.Set(ctx, "CACHE#v", []byte(`"text"`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "CACHE#v", 1, time.Minute); !errors.Is(err, backend.ErrNotCounter) {
		t.Errorf("Incr of a value = %v, want ErrNotCounter", err)
	}
	if n := s.Stats().L1Len; n != 0 {
		t.Errorf("L1 holds %d copies after a refused Incr, want none", n)
	}

	ms2, _ := memstore.New(memstore.Options{})
	plain := newTiered(t, struct{ backend.Store }{ms2}, nil, 0) // the contract's methods only
	defer plain.Close()
	if _, err := plain.Incr(ctx, "CACHE#n", 1, time.Minute); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Incr over an L2 without counters: %v, want errors.ErrUnsupported", err)
	}
}
