package resilient_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
)

// countedThrottle is a redisstore.Store that counts the Throttle calls reaching it, to show
// that an open circuit keeps them from the store rather than failing them there.
type countedThrottle struct {
	*redisstore.Store
	calls atomic.Int32
}

func (c *countedThrottle) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	c.calls.Add(1)
	return c.Store.Throttle(ctx, key, cost, tolerance)
}

// TestThrottleThroughAClosedBreaker throttles a key on a real Redis through the breaker, and
// checks that neither a denial nor the caller's mistakes count against the circuit, which
// one failure would open.
func TestThrottleThroughAClosedBreaker(t *testing.T) {
	for name, tg := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rs, err := redisstore.New(testenv.Redis(t, tg.URL, tg.Cluster), redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := resilient.New(rs, resilient.Options{FailureThreshold: 1, OpenTimeout: time.Hour, Logger: quiet})
			defer b.Close()
			key, text := testenv.Name("RATE#k"), testenv.Name("RATE#text")
			t.Cleanup(func() { _ = rs.Delete(context.Background(), key, text) })
			if r, err := b.Throttle(ctx, key, time.Hour, time.Hour); !r.Allowed || err != nil {
				t.Fatalf("Throttle of an idle key = %+v, %v; want allowed", r, err)
			}
			if r, err := b.Throttle(ctx, key, time.Hour, time.Hour); r.Allowed || err != nil {
				t.Errorf("Throttle over the tolerance = %+v, %v; want denied, no error", r, err)
			}
			if err := rs.Set(ctx, text, []byte(`"v"`), time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Throttle(ctx, text, time.Second, time.Minute); !errors.Is(err, backend.ErrNotCounter) {
				t.Errorf("Throttle of a key that holds text: %v, want ErrNotCounter", err)
			}
			if _, err := b.Throttle(ctx, "", time.Second, time.Minute); !errors.Is(err, backend.ErrInvalidKey) {
				t.Errorf("Throttle of an empty key: %v, want ErrInvalidKey", err)
			}
			if _, err := b.Throttle(ctx, key, 0, time.Minute); !errors.Is(err, backend.ErrInvalidTTL) {
				t.Errorf("Throttle at no cost: %v, want ErrInvalidTTL", err)
			}
			if st := b.Stats(); st.State != "closed" {
				t.Errorf("Stats = %+v, want closed: no call failed", st)
			}
		})
	}
}

// TestOpenCircuitSkipsThrottle kills a redis-server of the test's own under the breaker: its
// failures open the circuit, and then Throttle reports ErrSkipped without reaching the store.
func TestOpenCircuitSkipsThrottle(t *testing.T) {
	ctx := context.Background()
	srv := ownRedis(t)
	rs := openOwn(t, srv)
	th := &countedThrottle{Store: rs}
	b, _ := resilient.New(th, resilient.Options{FailureThreshold: 2, OpenTimeout: time.Hour, OpTimeout: time.Second, Logger: quiet})
	defer b.Close()
	if r, err := b.Throttle(ctx, "RATE#k", time.Second, time.Minute); !r.Allowed || err != nil {
		t.Fatalf("Throttle = %+v, %v; want allowed", r, err)
	}

	srv.Kill()
	for i := range 2 {
		if _, err := b.Throttle(ctx, "RATE#k", time.Second, time.Minute); err == nil || errors.Is(err, backend.ErrSkipped) {
			t.Fatalf("Throttle %d on a dead server: %v, want its failure", i, err)
		}
	}
	if st := b.Stats().State; st != "open" {
		t.Fatalf("breaker after 2 failed Throttle calls = %s, want open", st)
	}
	before := th.calls.Load()
	if r, err := b.Throttle(ctx, "RATE#k", time.Second, time.Minute); r.Allowed || !errors.Is(err, backend.ErrSkipped) {
		t.Errorf("Throttle while open = %+v, %v; want ErrSkipped", r, err)
	}
	if n := th.calls.Load() - before; n != 0 {
		t.Errorf("%d Throttle calls reached the store while the breaker was open", n)
	}
	if st := b.Stats(); st.SkippedWrites != 1 || st.Stale != 0 {
		t.Errorf("Stats = %+v, want 1 skipped write and no stale key", st)
	}
}

// TestThrottleNeedsAThrottler: over a store without the ability, directly or behind a tier,
// Throttle reports errors.ErrUnsupported, which is no failure of the backend.
func TestThrottleNeedsAThrottler(t *testing.T) {
	ctx := context.Background()
	for name, b := range breakersWithoutAbilities(t) {
		if _, err := b.Throttle(ctx, "RATE#k", time.Second, time.Minute); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Throttle over a %s without the ability: %v, want errors.ErrUnsupported", name, err)
		}
		if st := b.Stats().State; st != "closed" {
			t.Errorf("breaker over a %s without the ability = %s, want closed", name, st)
		}
	}
}

// TestFallbackThrottleFollowsTraffic: Throttle goes to the primary, then during an outage to
// the fallback, whose TAT is its own, and reports errors.ErrUnsupported when the fallback has
// no Throttler.
func TestFallbackThrottleFollowsTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		throttled := func(s backend.Store) bool {
			t.Helper()
			ok, err := s.Has(ctx, "RATE#k")
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}

		fbStore, _ := memstore.New(memstore.Options{})
		fo, f, primary := newFaultyFallback(t, fbStore)
		defer fo.Close()
		if r, err := fo.Throttle(ctx, "RATE#k", time.Minute, time.Minute); !r.Allowed || err != nil {
			t.Fatalf("Throttle on the primary = %+v, %v; want allowed", r, err)
		}
		if !throttled(primary) || throttled(fbStore) {
			t.Errorf("after a Throttle on the primary, the primary has the TAT: %v, the fallback: %v; want the primary's alone", throttled(primary), throttled(fbStore))
		}
		outage(t, fo, f, "CACHE#k")
		if r, err := fo.Throttle(ctx, "RATE#k", time.Minute, time.Minute); !r.Allowed || err != nil {
			t.Fatalf("Throttle during the outage = %+v, %v; want allowed on the fallback, which has no TAT for the key", r, err)
		}
		if !throttled(fbStore) {
			t.Error("after a Throttle during the outage, the fallback has no TAT")
		}

		ms, _ := memstore.New(memstore.Options{})
		fo2, f2, _ := newFaultyFallback(t, struct{ backend.Store }{ms}) // the contract's methods only
		defer fo2.Close()
		outage(t, fo2, f2, "CACHE#k")
		if _, err := fo2.Throttle(ctx, "RATE#k", time.Minute, time.Minute); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Throttle during an outage, on a fallback without the ability: %v, want errors.ErrUnsupported", err)
		}
	})
}
