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
)

// TestThrottleGoesToL2 checks that Throttle is L2's, and that L1 keeps no copy of the key,
// not even one a read made before.
func TestThrottleGoesToL2(t *testing.T) {
	onEachL2(t, func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string) {
		ctx := context.Background()
		s := newTiered(t, l2.open(t, clock), clock, time.Hour)
		t.Cleanup(func() { // the key leaves the backend before the store closes
			_ = s.Delete(context.Background(), key)
			_ = s.Close()
		})
		r, err := s.Throttle(ctx, key, time.Second, time.Minute)
		if err != nil || !r.Allowed {
			t.Fatalf("Throttle = %+v, %v; want allowed", r, err)
		}
		if n := s.Stats().L1Len; n != 0 {
			t.Errorf("L1 holds %d copies after a Throttle, want none", n)
		}
		want(t, s, key, strconv.FormatInt(r.TAT.UnixMicro(), 10)) // a read copies the key into L1
		if r, err = s.Throttle(ctx, key, time.Second, time.Minute); err != nil || !r.Allowed {
			t.Fatalf("second Throttle = %+v, %v; want allowed", r, err)
		}
		if n := s.Stats().L1Len; n != 0 {
			t.Errorf("L1 holds %d copies after a Throttle on a copied key, want none", n)
		}
		want(t, s, key, strconv.FormatInt(r.TAT.UnixMicro(), 10))
	})
}

// TestThrottleNeedsAThrottlerL2: over an L2 without the ability, Throttle says so.
func TestThrottleNeedsAThrottlerL2(t *testing.T) {
	ms, _ := memstore.New(memstore.Options{})
	s := newTiered(t, struct{ backend.Store }{ms}, nil, 0) // the contract's methods only
	defer s.Close()
	if _, err := s.Throttle(context.Background(), "RATE#k", time.Second, time.Minute); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Throttle over a memstore without the ability: %v, want errors.ErrUnsupported", err)
	}
}
