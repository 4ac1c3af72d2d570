package ratelimit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/ratelimit"
	"github.com/cachekit/cachekit/resilient"
)

// flaky is a Store whose counting fails while down is set, as a backend's would in an outage.
type flaky struct {
	backend.Store
	down *atomic.Bool
}

var errDown = errors.New("connection refused")

func (f flaky) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if f.down.Load() {
		return 0, errDown
	}
	return f.Store.(backend.Counter).Incr(ctx, key, delta, ttl)
}

func (f flaky) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	if f.down.Load() {
		return backend.Throttle{}, errDown
	}
	return f.Store.(backend.Throttler).Throttle(ctx, key, cost, tolerance)
}

// TestBreaker runs each algorithm behind a resilient.Breaker through an outage, under the
// four settings of the two switches: the backend's failure is returned while the circuit is
// closed; once it is open, the request is admitted unless both switches say closed, and for
// GCRA unless the Limiter's does (docs/ratelimit.md has the table).
func TestBreaker(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.FixedWindow, ratelimit.SlidingWindow} {
		for _, c := range []struct {
			countersClosed, limiterClosed bool
			admitted                      bool // while open
		}{
			{false, false, true},
			{true, false, true},
			{false, true, alg != ratelimit.GCRA}, // a zero count looks like a real one
			{true, true, false},
		} {
			store, err := memstore.New(memstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			var down atomic.Bool
			breaker, err := resilient.New(flaky{store, &down}, resilient.Options{
				FailureThreshold:   1,
				OpenTimeout:        time.Hour,
				FailCountersClosed: c.countersClosed,
				Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			l, err := ratelimit.New(breaker, "rl:", ratelimit.Options{Algorithm: alg, FailClosed: c.limiterClosed})
			if err != nil {
				t.Fatal(err)
			}
			limit := ratelimit.PerSecond(2)
			if res, err := l.Allow(ctx, "k", limit); err != nil || !res.Allowed {
				t.Fatalf("%v before the outage: %+v, %v", alg, res, err)
			}

			down.Store(true)
			if res, err := l.Allow(ctx, "k", limit); !errors.Is(err, errDown) || res.Allowed {
				t.Errorf("%v, circuit closed, backend down: %+v, %v; want its error, denied", alg, res, err)
			}
			if st := breaker.Status(); st.Breaker != "open" {
				t.Fatalf("breaker %q after a failure, want open", st.Breaker)
			}
			for range 3 { // over the limit, were it counted
				res, err := l.Allow(ctx, "k", limit)
				want := "admitted"
				if !c.admitted {
					want = "an error wrapping ErrSkipped"
				}
				if c.admitted && (err != nil || !res.Allowed) || !c.admitted && (!errors.Is(err, backend.ErrSkipped) || res.Allowed) {
					t.Errorf("%v, FailCountersClosed %v, FailClosed %v, circuit open: %+v, %v; want %s",
						alg, c.countersClosed, c.limiterClosed, res, err, want)
				}
			}
		}
	}
}
