package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/ratelimit"
)

// t0 is on a whole hour, so that windows of a second, a minute or an hour start there.
var t0 = time.Unix(1_800_000_000, 0)

// openLimiter returns a Limiter by alg on a fresh memstore, both on one manual clock that
// starts at t0.
func openLimiter(t *testing.T, alg ratelimit.Algorithm) (*ratelimit.Limiter, *cachetest.Clock) {
	t.Helper()
	clock := cachetest.NewClock(t0)
	stores, prefix := backends()["memory"](t, 1, clock)
	l, err := ratelimit.New(stores[0], prefix, ratelimit.Options{Algorithm: alg, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return l, clock
}

// eachBackend runs test on every backend, in parallel, each with a Limiter by alg on a fresh
// Store, the two on one manual clock that starts at t0: the exact answers do not depend on
// how each store keeps the state.
func eachBackend(t *testing.T, alg ratelimit.Algorithm, test func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock)) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := cachetest.NewClock(t0)
			stores, prefix := open(t, 1, clock)
			l, err := ratelimit.New(stores[0], prefix, ratelimit.Options{Algorithm: alg, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			test(t, l, clock)
		})
	}
}

// step is one call in a sequence: after moving the clock by advance, AllowN with n (one
// when zero) must answer want.
type step struct {
	advance time.Duration
	n       int
	want    ratelimit.Result
}

func run(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock, limit ratelimit.Limit, steps []step) {
	t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		clock.Advance(s.advance)
		n := max(s.n, 1)
		got, err := l.AllowN(ctx, "k", limit, n)
		if err != nil {
			t.Fatalf("step %d (AllowN %d at +%v): %v", i, n, clock.Now().Sub(t0), err)
		}
		if got != s.want {
			t.Errorf("step %d (AllowN %d at +%v) = %+v, want %+v", i, n, clock.Now().Sub(t0), got, s.want)
		}
	}
}

func allowed(remaining int, resetAfter time.Duration) ratelimit.Result {
	return ratelimit.Result{Allowed: true, Remaining: remaining, ResetAfter: resetAfter}
}

func denied(remaining int, retryAfter, resetAfter time.Duration) ratelimit.Result {
	return ratelimit.Result{Remaining: remaining, RetryAfter: retryAfter, ResetAfter: resetAfter}
}

const ms = time.Millisecond

func TestGCRA(t *testing.T) {
	t.Run("burst then steady", func(t *testing.T) {
		eachBackend(t, ratelimit.GCRA, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			// 10 a second: one every 100ms, and 10 at once from rest.
			steps := []step{}
			for i := range 10 {
				steps = append(steps, step{want: allowed(9-i, time.Duration(i+1)*100*ms)})
			}
			steps = append(steps,
				step{want: denied(0, 100*ms, time.Second)},
				step{advance: 99 * ms, want: denied(0, ms, 901*ms)},
				step{advance: ms, want: allowed(0, time.Second)}, // one more every 100ms
				step{advance: 50 * ms, want: denied(0, 50*ms, 950*ms)},
				step{advance: 50 * ms, want: allowed(0, time.Second)},
				step{advance: 450 * ms, want: allowed(3, 650*ms)},  // 450ms of rest give back 4.5, and this takes 1
				step{advance: time.Hour, want: allowed(9, 100*ms)}, // at rest: the whole burst
			)
			run(t, l, clock, ratelimit.PerSecond(10), steps)
		})
	})
	t.Run("weights", func(t *testing.T) {
		eachBackend(t, ratelimit.GCRA, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			run(t, l, clock, ratelimit.PerSecond(10), []step{
				{n: 5, want: allowed(5, 500*ms)},
				{n: 6, want: denied(5, 100*ms, 500*ms)}, // 5 left: 6 must wait for one more
				{n: 5, want: allowed(0, time.Second)},
				{advance: 200 * ms, n: 2, want: allowed(0, time.Second)},
			})
		})
	})
	t.Run("burst apart from rate", func(t *testing.T) {
		eachBackend(t, ratelimit.GCRA, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			limit := ratelimit.Limit{Rate: 10, Period: time.Second, Burst: 2}
			run(t, l, clock, limit, []step{
				{want: allowed(1, 100*ms)},
				{want: allowed(0, 200*ms)},
				{want: denied(0, 100*ms, 200*ms)},
				{advance: 100 * ms, want: allowed(0, 200*ms)},
			})
		})
	})
	t.Run("an interval in whole microseconds", func(t *testing.T) {
		eachBackend(t, ratelimit.GCRA, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			// 3 a second is one every 333,333.33µs: rounded up to 333,334µs, never over the rate.
			const t3 = 333_334 * time.Microsecond
			limit := ratelimit.Limit{Rate: 3, Period: time.Second, Burst: 1}
			run(t, l, clock, limit, []step{
				{want: allowed(0, t3)},
				{advance: t3 - time.Microsecond, want: denied(0, time.Microsecond, time.Microsecond)},
				{advance: time.Microsecond, want: allowed(0, t3)},
			})
		})
	})
}

func TestFixedWindow(t *testing.T) {
	t.Run("a window's quota", func(t *testing.T) {
		eachBackend(t, ratelimit.FixedWindow, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			run(t, l, clock, ratelimit.PerSecond(3), []step{
				{advance: 200 * ms, want: allowed(2, 800*ms)},
				{want: allowed(1, 800*ms)},
				{want: allowed(0, 800*ms)},
				{want: denied(0, 800*ms, 800*ms)},
				{advance: 799 * ms, want: denied(0, ms, ms)},
				{advance: ms, want: allowed(2, time.Second)}, // the next window
			})
		})
	})
	t.Run("twice the rate across an edge", func(t *testing.T) {
		eachBackend(t, ratelimit.FixedWindow, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			run(t, l, clock, ratelimit.PerSecond(2), []step{
				{advance: 999 * ms, want: allowed(1, ms)},
				{want: allowed(0, ms)},
				{advance: ms, want: allowed(1, time.Second)},
				{want: allowed(0, time.Second)}, // four within 1ms
				{want: denied(0, time.Second, time.Second)},
			})
		})
	})
	t.Run("a denied weight stays counted", func(t *testing.T) {
		eachBackend(t, ratelimit.FixedWindow, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			run(t, l, clock, ratelimit.PerSecond(3), []step{
				{n: 2, want: allowed(1, time.Second)},
				{n: 2, want: denied(0, time.Second, time.Second)},
				{want: denied(0, time.Second, time.Second)}, // one was left before the denied 2
				{advance: time.Second, n: 3, want: allowed(0, time.Second)},
			})
		})
	})
}

func TestSlidingWindow(t *testing.T) {
	t.Run("Cloudflare's example", func(t *testing.T) {
		// 50 a minute; 42 requests in the previous window and 18 in this one, 15s in: the
		// estimate is 42×45/60 + 18 = 49.5 (32 with the share rounded up), within 50.
		eachBackend(t, ratelimit.SlidingWindow, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			limit := ratelimit.PerMinute(50)
			steps := []step{}
			for i := range 42 {
				steps = append(steps, step{want: allowed(49-i, 2*time.Minute)})
			}
			steps = append(steps, step{advance: time.Minute + 15*time.Second, n: 17, want: allowed(1, 105*time.Second)})
			steps = append(steps,
				step{want: allowed(0, 105*time.Second)},
				// 32 + 19 > 50. The previous share drops to 31 once 42×(60-e)/60 <= 31: at
				// e = 60 - 31×60/42 = 15.714…s, rounded up to the nanosecond.
				step{want: denied(0, 714285715, 105*time.Second)},
				step{advance: 714285714, want: denied(0, 1, 104285714286)},
				step{advance: 1, want: allowed(0, 104285714285)},
			)
			run(t, l, clock, limit, steps)
		})
	})
	t.Run("a full window waits for the next", func(t *testing.T) {
		eachBackend(t, ratelimit.SlidingWindow, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			steps := []step{}
			for i := range 10 {
				steps = append(steps, step{want: allowed(9-i, 2*time.Second)})
			}
			steps = append(steps,
				// 10 of 10: the next window, once this one's share is 9 of its 10: 100ms in.
				step{want: denied(0, 1100*ms, 2*time.Second)},
				step{advance: 1099 * ms, want: denied(0, ms, 901*ms)}, // nothing counted here yet
				step{advance: ms, want: allowed(0, 1900*ms)},
				step{want: denied(0, 100*ms, 1900*ms)},
				// The denied request was taken off: 100ms later the share is 8, with the 1 admitted.
				step{advance: 100 * ms, want: allowed(0, 1800*ms)},
				// Two quiet windows later, nothing counts.
				step{advance: 2 * time.Second, want: allowed(9, 1800*ms)},
			)
			run(t, l, clock, ratelimit.PerSecond(10), steps)
		})
	})
	t.Run("short after a burst at a window's end", func(t *testing.T) {
		eachBackend(t, ratelimit.SlidingWindow, func(t *testing.T, l *ratelimit.Limiter, clock *cachetest.Clock) {
			run(t, l, clock, ratelimit.PerSecond(4), []step{
				{advance: 999 * ms, n: 4, want: allowed(0, 1001*ms)},
				{advance: ms, want: denied(0, 250*ms, time.Second)},
				// The estimate takes the 4 as spread over their window: 500ms later it counts 2
				// of them and admits 2 more, 6 within 501ms. A Period never holds over 2×Rate.
				{advance: 500 * ms, n: 2, want: allowed(0, 1500*ms)},
				{advance: 499 * ms, want: allowed(0, 1001*ms)},
				{want: denied(0, ms, 1001*ms)}, // 3 in this window, and a share of 1
			})
		})
	})
}

// TestConcurrent holds every algorithm to its quota with many callers at one instant: no
// increment lost, none counted twice.
func TestConcurrent(t *testing.T) {
	for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.FixedWindow, ratelimit.SlidingWindow} {
		t.Run(alg.String(), func(t *testing.T) {
			eachBackend(t, alg, func(t *testing.T, l *ratelimit.Limiter, _ *cachetest.Clock) {
				var admitted atomic.Int64
				var wg sync.WaitGroup
				for range 200 {
					wg.Go(func() {
						res, err := l.Allow(context.Background(), "hot", ratelimit.PerMinute(50))
						if err != nil {
							t.Error(err)
						}
						if res.Allowed {
							admitted.Add(1)
						}
					})
				}
				wg.Wait()
				if got := admitted.Load(); got != 50 {
					t.Errorf("admitted %d of 200 at one instant, want the quota, 50", got)
				}
			})
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock(t0)
	stores, _ := backends()["memory"](t, 1, clock)
	store := stores[0]
	for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.FixedWindow, ratelimit.SlidingWindow} {
		l, err := ratelimit.New(store, "errors:", ratelimit.Options{Algorithm: alg, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			key   string
			limit ratelimit.Limit
			n     int
			want  error
		}{
			{"k", ratelimit.Limit{Rate: 0, Period: time.Second}, 1, backend.ErrConfig},
			{"k", ratelimit.Limit{Rate: 1, Period: 0}, 1, backend.ErrConfig},
			{"k", ratelimit.Limit{Rate: 1, Period: backend.MaxTTL / 2}, 1, backend.ErrConfig}, // a counter lives up to 3 Periods
			{"k", ratelimit.Limit{Rate: 1, Period: time.Second, Burst: -1}, 1, backend.ErrConfig},
			{"k", ratelimit.PerSecond(10), 0, ratelimit.ErrInvalidN},
			{"k", ratelimit.PerSecond(10), -1, ratelimit.ErrInvalidN},
			{"k", ratelimit.PerSecond(10), 11, ratelimit.ErrInvalidN},
			{"", ratelimit.PerSecond(10), 1, backend.ErrInvalidKey},
			{strings.Repeat("k", backend.MaxKeyLen), ratelimit.PerSecond(10), 1, backend.ErrInvalidKey},
		} {
			res, err := l.AllowN(ctx, c.key, c.limit, c.n)
			if !errors.Is(err, c.want) || res != (ratelimit.Result{}) {
				t.Errorf("%v: AllowN(%.10q, %v, %d) = %+v, %v; want a zero Result and %v", alg, c.key, c.limit, c.n, res, err, c.want)
			}
		}
	}
	// GCRA keeps time in microseconds: a faster rate cannot be kept.
	l, _ := ratelimit.New(store, "errors:", ratelimit.Options{})
	if _, err := l.Allow(ctx, "k", ratelimit.Limit{Rate: 2_000_000, Period: time.Second}); !errors.Is(err, backend.ErrConfig) {
		t.Errorf("2,000,000 a second under GCRA: %v, want ErrConfig", err)
	}
	if _, err := l.Allow(ctx, "k", ratelimit.Limit{Rate: 1_000_000, Period: time.Second}); err != nil {
		t.Errorf("1,000,000 a second under GCRA: %v", err)
	}
	// Burst 0 is Rate.
	if q := l.Quota(ratelimit.Limit{Rate: 7, Period: time.Second}); q != 7 {
		t.Errorf("Quota of a zero Burst = %d, want the Rate, 7", q)
	}
}

func TestNew(t *testing.T) {
	stores, _ := backends()["memory"](t, 1, cachetest.NewClock(t0))
	store := stores[0]
	for _, c := range []struct {
		name   string
		store  backend.Store
		prefix string
		opts   ratelimit.Options
		want   error
	}{
		{"nil store", nil, "rl:", ratelimit.Options{}, backend.ErrConfig},
		{"empty prefix", store, "", ratelimit.Options{}, backend.ErrInvalidKey},
		{"prefix without a separator", store, "rl", ratelimit.Options{}, backend.ErrConfig},
		{"unknown algorithm", store, "rl:", ratelimit.Options{Algorithm: 7}, backend.ErrConfig},
		{"GCRA on a store without Throttle", plainStore{store}, "rl:", ratelimit.Options{}, errors.ErrUnsupported},
		{"a window on a store without Incr", plainStore{store}, "rl:", ratelimit.Options{Algorithm: ratelimit.FixedWindow}, errors.ErrUnsupported},
	} {
		if _, err := ratelimit.New(c.store, c.prefix, c.opts); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Found through a decorator that unwraps.
	for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.FixedWindow, ratelimit.SlidingWindow} {
		l, err := ratelimit.New(wrapper{plainStore{store}, store}, "rl:", ratelimit.Options{Algorithm: alg})
		if err != nil {
			t.Fatalf("%v through a wrapper: %v", alg, err)
		}
		if l.Algorithm() != alg {
			t.Errorf("Algorithm() = %v, want %v", l.Algorithm(), alg)
		}
	}
}

// plainStore hides every ability of the Store it holds.
type plainStore struct{ backend.Store }

// wrapper is a user's decorator without the abilities, which unwraps to a Store that has them.
type wrapper struct {
	backend.Store
	next backend.Store
}

func (w wrapper) Unwrap() backend.Store { return w.next }

// failing answers every Incr, Throttle and Get with err.
type failing struct {
	backend.Store
	err error
}

func (f failing) Get(context.Context, string) ([]byte, error) { return nil, f.err }
func (f failing) Incr(context.Context, string, int64, time.Duration) (int64, error) {
	return 0, f.err
}
func (f failing) Throttle(context.Context, string, time.Duration, time.Duration) (backend.Throttle, error) {
	return backend.Throttle{}, f.err
}

func TestFailure(t *testing.T) {
	ctx := context.Background()
	skipped := fmt.Errorf("resilient: not sent: %w", backend.ErrSkipped)
	broken := errors.New("connection refused")
	for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.FixedWindow, ratelimit.SlidingWindow} {
		for _, c := range []struct {
			err        error
			failClosed bool
			want       ratelimit.Result
			wantErr    error
		}{
			{skipped, false, ratelimit.Result{Allowed: true, Remaining: 5}, nil},
			{skipped, true, ratelimit.Result{}, backend.ErrSkipped},
			{broken, false, ratelimit.Result{}, broken},
			{broken, true, ratelimit.Result{}, broken},
		} {
			l, err := ratelimit.New(failing{err: c.err}, "rl:", ratelimit.Options{Algorithm: alg, FailClosed: c.failClosed})
			if err != nil {
				t.Fatal(err)
			}
			res, err := l.Allow(ctx, "k", ratelimit.PerSecond(5))
			if res != c.want || !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Errorf("%v, FailClosed %v, Store error %q: %+v, %v; want %+v, %v", alg, c.failClosed, c.err, res, err, c.want, c.wantErr)
			}
		}
	}
}

// stalling is a Store whose Incr answers only after the clock has moved by stall, as when the
// process stalls between reading the clock and the Store's answer, for its first stalls
// increments.
type stalling struct {
	backend.Store
	clock  *cachetest.Clock
	stall  time.Duration
	stalls int
	incrs  int
}

func (s *stalling) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	n, err := s.Store.(backend.Counter).Incr(ctx, key, delta, ttl)
	if s.incrs++; s.incrs <= s.stalls {
		s.clock.Advance(s.stall)
	}
	return n, err
}

// TestStalledAnswer sets aside a window's answer that came back two windows after the start
// of its window, when its counter may have expired and started again from zero, and decides
// the request again at the new time; late twice, the request is denied, to be asked again.
func TestStalledAnswer(t *testing.T) {
	for _, alg := range []ratelimit.Algorithm{ratelimit.FixedWindow, ratelimit.SlidingWindow} {
		// Decided at the start of a window: back to the full quota at its end, or the end of
		// the next for the sliding window.
		reset := time.Second
		if alg == ratelimit.SlidingWindow {
			reset = 2 * time.Second
		}
		for _, c := range []struct {
			stall  time.Duration
			stalls int
			incrs  int
			want   ratelimit.Result
		}{
			{1999 * ms, 1, 1, allowed(1, reset)},        // late, but within two windows: trusted
			{2 * time.Second, 1, 2, allowed(1, reset)},  // decided again, two windows on
			{2 * time.Second, 2, 2, ratelimit.Result{}}, // late twice: denied
		} {
			clock := cachetest.NewClock(t0)
			stores, prefix := backends()["memory"](t, 1, clock)
			s := &stalling{Store: stores[0], clock: clock, stall: c.stall, stalls: c.stalls}
			l, err := ratelimit.New(s, prefix, ratelimit.Options{Algorithm: alg, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			res, err := l.Allow(context.Background(), "k", ratelimit.PerSecond(2))
			if err != nil || res != c.want || s.incrs != c.incrs {
				t.Errorf("%v, a stall of %v on %d increments: %+v, %v after %d increments; want %+v after %d",
					alg, c.stall, c.stalls, res, err, s.incrs, c.want, c.incrs)
			}
		}
	}
}
