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

// countedIncr is a redisstore.Store that counts the Incr calls reaching it, to show that an
// open circuit keeps them from the store rather than failing them there.
type countedIncr struct {
	*redisstore.Store
	calls atomic.Int32
}

func (c *countedIncr) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	c.calls.Add(1)
	return c.Store.Incr(ctx, key, delta, ttl)
}

// count returns the count stored under key in s, or -1 when there is none.
func count(t *testing.T, s backend.Store, key string) int64 {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if errors.Is(err, backend.ErrNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		t.Fatalf("%s holds %q, not a count", key, v)
	}
	return n
}

// TestIncrThroughAClosedBreaker counts on a real Redis, a server and a cluster, through the
// breaker, and checks that the caller's mistakes never count against the circuit, which one
// failure would open.
func TestIncrThroughAClosedBreaker(t *testing.T) {
	for name, tg := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rs, err := redisstore.New(testenv.Redis(t, tg.URL, tg.Cluster), redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := resilient.New(rs, resilient.Options{FailureThreshold: 1, OpenTimeout: time.Hour, Logger: quiet})
			defer b.Close()
			key := testenv.Name("CACHE#n")
			for _, step := range []struct{ delta, want int64 }{{1, 1}, {2, 3}, {-3, 0}, {0, 0}} {
				if n, err := b.Incr(ctx, key, step.delta, time.Minute); n != step.want || err != nil {
					t.Fatalf("Incr(%d) = %d, %v; want %d", step.delta, n, err, step.want)
				}
			}
			if n := count(t, rs, key); n != 0 {
				t.Errorf("Redis holds %d, want 0", n)
			}

			text := testenv.Name("CACHE#text")
			if err := b.Set(ctx, text, []byte(`"text"`), time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Incr(ctx, text, 1, time.Minute); !errors.Is(err, backend.ErrNotCounter) {
				t.Errorf("Incr of a value that is no count: %v, want ErrNotCounter", err)
			}
			if _, err := b.Incr(ctx, "", 1, time.Minute); !errors.Is(err, backend.ErrInvalidKey) {
				t.Errorf("Incr of an empty key: %v, want ErrInvalidKey", err)
			}
			if _, err := b.Incr(ctx, key, 1, 0); !errors.Is(err, backend.ErrInvalidTTL) {
				t.Errorf("Incr for no time: %v, want ErrInvalidTTL", err)
			}
			if st := b.Stats(); st.State != "closed" || st.SkippedCounts != 0 {
				t.Errorf("Stats = %+v, want closed: no call failed", st)
			}
		})
	}
}

// TestOpenCircuitAndCounters kills a redis-server of the test's own under two breakers, one
// per policy. Under both, the Incrs the dead server fails return their error and open the
// circuit; then Incr sends nothing, and answers a zero count by default, or ErrSkipped with
// FailCountersClosed.
func TestOpenCircuitAndCounters(t *testing.T) {
	ctx := context.Background()
	srv := ownRedis(t)
	type rig struct {
		b *resilient.Breaker
		c *countedIncr
	}
	rigs := map[string]rig{}
	for _, closed := range []bool{false, true} {
		rs := openOwn(t, srv)
		c := &countedIncr{Store: rs}
		b, _ := resilient.New(c, resilient.Options{
			FailureThreshold: 2, OpenTimeout: time.Hour, OpTimeout: time.Second, FailCountersClosed: closed, Logger: quiet,
		})
		defer b.Close()
		rigs[fmt.Sprintf("FailCountersClosed=%v", closed)] = rig{b, c}
	}
	for name, r := range rigs {
		if n, err := r.b.Incr(ctx, "CACHE#n:"+name, 1, time.Minute); n != 1 || err != nil {
			t.Fatalf("%s: Incr = %d, %v; want 1", name, n, err)
		}
	}

	srv.Kill()
	for name, r := range rigs {
		t.Run(name, func(t *testing.T) {
			key := "CACHE#n:" + name
			for i := range 2 {
				if n, err := r.b.Incr(ctx, key, 1, time.Minute); err == nil || errors.Is(err, backend.ErrSkipped) || n != 0 {
					t.Fatalf("Incr %d on a dead server = %d, %v; want its failure", i, n, err)
				}
			}
			if st := r.b.Stats().State; st != "open" {
				t.Fatalf("breaker after 2 failed Incrs = %s, want open", st)
			}
			before := r.c.calls.Load()
			n, err := r.b.Incr(ctx, key, 1, time.Minute)
			if r.b.Stats().SkippedCounts != 1 {
				t.Errorf("Stats = %+v, want 1 skipped count", r.b.Stats())
			}
			if name == "FailCountersClosed=true" {
				if !errors.Is(err, backend.ErrSkipped) || n != 0 {
					t.Errorf("Incr while open = %d, %v; want ErrSkipped", n, err)
				}
			} else if n != 0 || err != nil {
				t.Errorf("Incr while open = %d, %v; want a zero count, no error", n, err)
			}
			if _, err := r.b.Incr(ctx, "", 1, time.Minute); !errors.Is(err, backend.ErrInvalidKey) {
				t.Errorf("Incr of an empty key while open: %v, want ErrInvalidKey", err)
			}
			if calls := r.c.calls.Load() - before; calls != 0 {
				t.Errorf("%d Incr calls reached the store while the breaker was open", calls)
			}
		})
	}
}

// TestCounterCircuitIsThePartitions: on a store in parts, a part's open circuit skips the
// increments of its keys only.
func TestCounterCircuitIsThePartitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		ms, _ := memstore.New(memstore.Options{})
		parts := &twoParts{Store: ms}
		b, _ := resilient.New(parts, resilient.Options{FailureThreshold: 2, OpenTimeout: time.Hour, Logger: quiet})
		defer b.Close()
		parts.downA = true
		for range 2 {
			if _, err := b.Incr(ctx, "CACHE#a:n", 1, time.Minute); !errors.Is(err, errDown) {
				t.Fatalf("Incr on a failing part: %v, want its failure", err)
			}
		}
		if n, err := b.Incr(ctx, "CACHE#a:n", 1, time.Minute); n != 0 || err != nil {
			t.Errorf("Incr on the open part = %d, %v; want a zero count", n, err)
		}
		if n, err := b.Incr(ctx, "CACHE#b:n", 1, time.Minute); n != 1 || err != nil {
			t.Errorf("Incr on the other part = %d, %v; want 1", n, err)
		}
		if st := b.Stats(); st.OpenPartitions != 1 || st.SkippedCounts != 1 {
			t.Errorf("Stats = %+v, want one part open, one count skipped", st)
		}
	})
}

// TestCountersNeedACounter: over a store without counters, directly or behind a tier, Incr
// reports errors.ErrUnsupported, which is no failure of the backend; a counter behind a
// decorator is found.
func TestCountersNeedACounter(t *testing.T) {
	ctx := context.Background()
	for name, b := range breakersWithoutAbilities(t) {
		if _, err := b.Incr(ctx, "CACHE#n", 1, time.Minute); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Incr over a %s without counters: %v, want errors.ErrUnsupported", name, err)
		}
		if st := b.Stats(); st.State != "closed" || st.SkippedCounts != 0 {
			t.Errorf("breaker over a %s without counters = %+v, want closed", name, st)
		}
	}

	ms, _ := memstore.New(memstore.Options{})
	tier, err := tiered.New(ms, tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := resilient.New(tier, resilient.Options{Logger: quiet})
	defer b.Close()
	if n, err := b.Incr(ctx, "CACHE#n", 2, time.Minute); n != 2 || err != nil {
		t.Errorf("Incr over a tier over a counter = %d, %v; want 2", n, err)
	}
}

// TestFallbackCountsFollowTraffic: Incr counts on the primary, during an outage on the
// fallback from its own count, and after failback on the primary again, from the count it had:
// the fallback's counts are neither merged into the primary's nor invalidated. During an
// outage over a fallback without counters, Incr reports errors.ErrUnsupported.
func TestFallbackCountsFollowTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		incr := func(fo *resilient.Fallback, want int64) {
			t.Helper()
			if n, err := fo.Incr(ctx, "CACHE#n", 1, time.Hour); n != want || err != nil {
				t.Fatalf("Incr = %d, %v; want %d", n, err, want)
			}
		}

		fbStore, _ := memstore.New(memstore.Options{})
		fo, f, primary := newFaultyFallback(t, fbStore)
		defer fo.Close()
		incr(fo, 1)
		incr(fo, 2)
		outage(t, fo, f, "CACHE#k")
		incr(fo, 1) // the fallback's own count
		incr(fo, 2)
		if p, fb := count(t, primary, "CACHE#n"), count(t, fbStore, "CACHE#n"); p != 2 || fb != 2 {
			t.Errorf("counts during the outage: primary %d, fallback %d; want 2 and 2", p, fb)
		}

		f.mode.Store(healthy)
		time.Sleep(5*time.Second + time.Millisecond)
		incr(fo, 3) // gives traffic back; the primary's count goes on
		if st := fo.Stats(); st.OnFallback || st.MovedBack != 1 {
			t.Fatalf("Stats = %+v, want traffic back on the primary", st)
		}
		if v, err := fo.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Get of the key the outage changed = %q, %v; want a miss", v, err)
		}
		synctest.Wait() // the read started the invalidation of the outage's keys
		if st := fo.Stats(); st.Stale || st.Invalidated != 1 {
			t.Errorf("Stats = %+v, want the outage's one changed key invalidated", st)
		}
		if p, fb := count(t, primary, "CACHE#n"), count(t, fbStore, "CACHE#n"); p != 3 || fb != 2 {
			t.Errorf("counts after failback: primary %d, fallback %d; want 3 and 2, kept apart", p, fb)
		}

		ms, _ := memstore.New(memstore.Options{})
		fo2, f2, _ := newFaultyFallback(t, struct{ backend.Store }{ms}) // the contract's methods only
		defer fo2.Close()
		outage(t, fo2, f2, "CACHE#k")
		if _, err := fo2.Incr(ctx, "CACHE#n", 1, time.Hour); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Incr during an outage, on a fallback without counters: %v, want errors.ErrUnsupported", err)
		}
	})
}
