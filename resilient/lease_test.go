package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
	"github.com/cachekit/cachekit/tiered"
)

// countedLeases is a redisstore.Store that counts the lease calls reaching it, to show that
// an open circuit keeps them from the store rather than failing them there.
type countedLeases struct {
	*redisstore.Store
	calls atomic.Int32
}

func (c *countedLeases) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	c.calls.Add(1)
	return c.Store.Acquire(ctx, key, token, ttl)
}

func (c *countedLeases) Release(ctx context.Context, key, token string) error {
	c.calls.Add(1)
	return c.Store.Release(ctx, key, token)
}

// holder returns the token stored under key in s, or "nobody".
func holder(t *testing.T, s backend.Store, key string) string {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if errors.Is(err, backend.ErrNotFound) {
		return "nobody"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestLeaseThroughAClosedBreaker takes and gives back a lease on a real Redis through the
// breaker, and checks that neither a lease held by another nor the caller's mistakes count
// against the circuit, which one failure would open.
func TestLeaseThroughAClosedBreaker(t *testing.T) {
	for name, tg := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rs, err := redisstore.New(testenv.Redis(t, tg.URL, tg.Cluster), redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := resilient.New(rs, resilient.Options{FailureThreshold: 1, OpenTimeout: time.Hour, Logger: quiet})
			defer b.Close()
			key := testenv.Name("LEASE#k")
			if ok, err := b.Acquire(ctx, key, "a", time.Minute); !ok || err != nil {
				t.Fatalf("Acquire of a free lease = %v, %v; want it taken", ok, err)
			}
			if ok, err := b.Acquire(ctx, key, "b", time.Minute); ok || err != nil {
				t.Errorf("Acquire of a held lease = %v, %v; want false, no error", ok, err)
			}
			if err := b.Release(ctx, key, "b"); err != nil || holder(t, rs, key) != "a" {
				t.Errorf("Release by another token: %v, lease held by %s; want a's lease kept", err, holder(t, rs, key))
			}
			if err := b.Release(ctx, key, "a"); err != nil || holder(t, rs, key) != "nobody" {
				t.Errorf("Release by its holder: %v, lease held by %s; want it gone", err, holder(t, rs, key))
			}
			if _, err := b.Acquire(ctx, "", "a", time.Minute); !errors.Is(err, backend.ErrInvalidKey) {
				t.Errorf("Acquire of an empty key: %v, want ErrInvalidKey", err)
			}
			if _, err := b.Acquire(ctx, key, "a", 0); !errors.Is(err, backend.ErrInvalidTTL) {
				t.Errorf("Acquire for no time: %v, want ErrInvalidTTL", err)
			}
			if err := b.Release(ctx, "", "a"); !errors.Is(err, backend.ErrInvalidKey) {
				t.Errorf("Release of an empty key: %v, want ErrInvalidKey", err)
			}
			if st := b.Stats(); st.State != "closed" {
				t.Errorf("Stats = %+v, want closed: no call failed", st)
			}
		})
	}
}

// TestOpenCircuitSkipsLeases kills a redis-server of the test's own under the breaker: its
// failures open the circuit, and then lease calls report ErrSkipped without reaching the
// store, so that callers load without a lease.
func TestOpenCircuitSkipsLeases(t *testing.T) {
	ctx := context.Background()
	srv := ownRedis(t)
	rs := openOwn(t, srv)
	l := &countedLeases{Store: rs}
	b, _ := resilient.New(l, resilient.Options{FailureThreshold: 2, OpenTimeout: time.Hour, OpTimeout: time.Second, Logger: quiet})
	defer b.Close()
	if ok, err := b.Acquire(ctx, "LEASE#k", "a", time.Minute); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v; want it taken", ok, err)
	}

	srv.Kill()
	for i := range 2 {
		if _, err := b.Acquire(ctx, "LEASE#k", "b", time.Minute); err == nil || errors.Is(err, backend.ErrSkipped) {
			t.Fatalf("Acquire %d on a dead server: %v, want its failure", i, err)
		}
	}
	if st := b.Stats().State; st != "open" {
		t.Fatalf("breaker after 2 failed Acquires = %s, want open", st)
	}
	before := l.calls.Load()
	if ok, err := b.Acquire(ctx, "LEASE#k", "b", time.Minute); ok || !errors.Is(err, backend.ErrSkipped) {
		t.Errorf("Acquire while open = %v, %v; want ErrSkipped", ok, err)
	}
	if err := b.Release(ctx, "LEASE#k", "a"); !errors.Is(err, backend.ErrSkipped) {
		t.Errorf("Release while open: %v, want ErrSkipped", err)
	}
	if n := l.calls.Load() - before; n != 0 {
		t.Errorf("%d lease calls reached the store while the breaker was open", n)
	}
	if st := b.Stats(); st.SkippedLeases != 2 {
		t.Errorf("Stats = %+v, want 2 skipped lease calls", st)
	}
}

// TestLeaseCircuitIsThePartitions: on a store in parts, a part's open circuit skips the lease
// calls of its keys only.
func TestLeaseCircuitIsThePartitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		ms, _ := memstore.New(memstore.Options{})
		parts := &twoParts{Store: ms}
		b, _ := resilient.New(parts, resilient.Options{FailureThreshold: 2, OpenTimeout: time.Hour, Logger: quiet})
		defer b.Close()
		parts.downA = true
		for range 2 {
			if _, err := b.Acquire(ctx, "CACHE#a:lease", "tok", time.Minute); !errors.Is(err, errDown) {
				t.Fatalf("Acquire on a failing part: %v, want its failure", err)
			}
		}
		if _, err := b.Acquire(ctx, "CACHE#a:lease", "tok", time.Minute); !errors.Is(err, backend.ErrSkipped) {
			t.Errorf("Acquire on the open part: %v, want ErrSkipped", err)
		}
		if ok, err := b.Acquire(ctx, "CACHE#b:lease", "tok", time.Minute); !ok || err != nil {
			t.Errorf("Acquire on the other part = %v, %v; want it taken", ok, err)
		}
		if st := b.Stats(); st.OpenPartitions != 1 {
			t.Errorf("Stats = %+v, want one part open", st)
		}
	})
}

// TestLeasesNeedALeaser: over a store that holds no leases, directly or behind a tier, lease
// calls report errors.ErrUnsupported, which is no failure of the backend.
func TestLeasesNeedALeaser(t *testing.T) {
	ctx := context.Background()
	for name, b := range breakersWithoutAbilities(t) {
		if _, err := b.Acquire(ctx, "LEASE#k", "tok", time.Minute); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Acquire over a %s without leases: %v, want errors.ErrUnsupported", name, err)
		}
		if err := b.Release(ctx, "LEASE#k", "tok"); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Release over a %s without leases: %v, want errors.ErrUnsupported", name, err)
		}
		if st := b.Stats().State; st != "closed" {
			t.Errorf("breaker over a %s without leases = %s, want closed", name, st)
		}
	}
}

// TestFallbackLeasesFollowTraffic: lease calls go to the primary, then during an outage to
// the fallback when it holds leases, and report errors.ErrUnsupported when it does not.
func TestFallbackLeasesFollowTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()

		fbStore, _ := memstore.New(memstore.Options{})
		fo, f, primary := newFaultyFallback(t, fbStore)
		defer fo.Close()
		if ok, err := fo.Acquire(ctx, "LEASE#k", "before", time.Minute); !ok || err != nil {
			t.Fatalf("Acquire on the primary = %v, %v; want it taken", ok, err)
		}
		if got := holder(t, primary, "LEASE#k"); got != "before" {
			t.Errorf("the primary's lease is held by %s, want before", got)
		}
		outage(t, fo, f, "CACHE#k")
		if ok, err := fo.Acquire(ctx, "LEASE#k", "during", time.Minute); !ok || err != nil {
			t.Fatalf("Acquire during the outage = %v, %v; want it taken on the fallback", ok, err)
		}
		if got := holder(t, fbStore, "LEASE#k"); got != "during" {
			t.Errorf("the fallback's lease is held by %s, want during", got)
		}
		if err := fo.Release(ctx, "LEASE#k", "during"); err != nil || holder(t, fbStore, "LEASE#k") != "nobody" {
			t.Errorf("Release during the outage: %v, fallback's lease held by %s; want it gone", err, holder(t, fbStore, "LEASE#k"))
		}

		ms, _ := memstore.New(memstore.Options{})
		fo2, f2, _ := newFaultyFallback(t, struct{ backend.Store }{ms}) // the contract's methods only
		defer fo2.Close()
		outage(t, fo2, f2, "CACHE#k")
		if _, err := fo2.Acquire(ctx, "LEASE#k", "during", time.Minute); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Acquire during an outage, on a fallback without leases: %v, want errors.ErrUnsupported", err)
		}
	})
}

// ownRedis starts a redis-server of the test's own, which the test may kill, and waits until
// it answers.
func ownRedis(t *testing.T) *testenv.RedisServer {
	t.Helper()
	srv := testenv.StartRedis(t, t.TempDir(), 0)
	testenv.WaitFor(t, "redis-server", 10*time.Second, func() bool {
		out, _ := testenv.RedisCLI("-p", strconv.Itoa(srv.Port), "ping")
		return out == "PONG"
	})
	return srv
}

// openOwn opens a redisstore on srv that gives up dialling quickly once srv is dead.
func openOwn(t *testing.T, srv *testenv.RedisServer) *redisstore.Store {
	t.Helper()
	rs, err := redisstore.Open(fmt.Sprintf("redis://127.0.0.1:%d?dial_timeout=200ms&cluster=false", srv.Port), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// breakersWithoutAbilities returns breakers, closed when t ends, over a memory store stripped
// of every ability beyond backend.Store: "store" directly, "tier" behind a tier.
func breakersWithoutAbilities(t *testing.T) map[string]*resilient.Breaker {
	t.Helper()
	plain := func() backend.Store { ms, _ := memstore.New(memstore.Options{}); return struct{ backend.Store }{ms} }
	tier, err := tiered.New(plain(), tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	breakers := make(map[string]*resilient.Breaker)
	for name, s := range map[string]backend.Store{"store": plain(), "tier": tier} {
		b, _ := resilient.New(s, resilient.Options{FailureThreshold: 1, Logger: quiet})
		t.Cleanup(func() { b.Close() })
		breakers[name] = b
	}
	return breakers
}

// newFaultyFallback returns a Fallback from a breaker over a faulty memory store (three
// failures open it for five seconds) to fallback, with the faulty store and the memory store
// behind it.
func newFaultyFallback(t *testing.T, fallback backend.Store) (*resilient.Fallback, *faulty, backend.Store) {
	t.Helper()
	ms, _ := memstore.New(memstore.Options{})
	f := &faulty{Store: ms}
	b, _ := resilient.New(f, resilient.Options{
		FailureThreshold: 3, OpenTimeout: 5 * time.Second, OpTimeout: 100 * time.Millisecond, Logger: quiet,
	})
	fo, err := resilient.NewFallback(b, fallback, resilient.FallbackOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return fo, f, ms
}
