package cachetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// The subtests of backend.Throttler, which run after the rest of the suite.
func init() {
	suite = append(suite, []struct {
		name string
		fn   func(t *testing.T, e *env)
		wall func(t *testing.T, e *env)
	}{
		{"Throttle", testThrottle, nil},
		{"ThrottleRecovers", testThrottleRecovers, testThrottleRecoversWall},
		{"ThrottleConcurrent", testThrottleConcurrent, nil},
		{"ThrottleRules", testThrottleRules, nil},
		{"ThrottleNotCounter", testThrottleNotCounter, nil},
		{"ThrottleClosed", testThrottleClosed, nil},
	}...)
}

// throttler returns the Store under test as a backend.Throttler, or skips the subtest for a
// Store without the ability (see ability).
func (e *env) throttler() backend.Throttler {
	e.Helper()
	return ability(e, func(th backend.Throttler, k string) error {
		_, err := th.Throttle(context.Background(), k, time.Second, time.Minute)
		return err
	})
}

// throttle calls Throttle, fails unless it succeeds, and checks what any outcome promises:
// an allowed step leaves the TAT at least cost and at most tolerance ahead of Now; a denied
// one, a TAT over tolerance - cost ahead of it. On the kit's clock, Now is the clock's.
func (e *env) throttle(th backend.Throttler, key string, cost, tolerance time.Duration) backend.Throttle {
	e.Helper()
	r, err := th.Throttle(context.Background(), key, cost, tolerance)
	if err != nil {
		e.Fatalf("Throttle %s, cost %v, tolerance %v: %v", e.short(key), cost, tolerance, err)
	}
	ahead := r.TAT.Sub(r.Now)
	switch {
	case e.clock != nil && !r.Now.Equal(e.clock.Now()):
		e.Errorf("Throttle %s ran at %v, want the kit's clock's %v", e.short(key), r.Now, e.clock.Now())
	case r.Allowed && (ahead < cost || ahead > tolerance):
		e.Errorf("Throttle %s allowed with the TAT %v ahead of now, want between the cost %v and the tolerance %v", e.short(key), ahead, cost, tolerance)
	case !r.Allowed && ahead <= tolerance-cost:
		e.Errorf("Throttle %s denied with the TAT %v ahead of now, where a cost of %v fits within the tolerance %v", e.short(key), ahead, cost, tolerance)
	}
	return r
}

// wantTAT fails unless key holds tat, as its decimal Unix microseconds.
func (e *env) wantTAT(key string, tat time.Time) {
	e.Helper()
	e.wantValue(key, strconv.FormatInt(tat.UnixMicro(), 10))
}

// burst throttles key at one instant with tolerance/cost requests, which must all be allowed,
// each TAT a cost after the one before, and one more, which must be denied and write
// nothing; it returns the TAT the burst left. On the wall clock, cost must be long enough
// that no request of the burst comes a cost after the first.
func (e *env) burst(th backend.Throttler, key string, cost, tolerance time.Duration) time.Time {
	e.Helper()
	n := int(tolerance.Microseconds() / cost.Microseconds())
	var tat time.Time
	for i := range n {
		r := e.throttle(th, key, cost, tolerance)
		if !r.Allowed {
			e.Fatalf("Throttle %s, request %d of a burst of %d (tolerance %v, cost %v): denied", e.short(key), i+1, n, tolerance, cost)
		}
		if i > 0 && !r.TAT.Equal(tat.Add(cost)) {
			e.Errorf("Throttle %s, request %d of the burst: TAT %v, want a cost after the last one, %v", e.short(key), i+1, r.TAT, tat.Add(cost))
		}
		tat = r.TAT
	}
	for range 2 {
		r := e.throttle(th, key, cost, tolerance)
		if r.Allowed {
			e.Fatalf("Throttle %s, request %d of a burst of %d (tolerance %v, cost %v): allowed", e.short(key), n+1, n, tolerance, cost)
		}
		if !r.TAT.Equal(tat) {
			e.Errorf("Throttle %s denied with the TAT %v, want the stored one, %v", e.short(key), r.TAT, tat)
		}
	}
	e.wantTAT(key, tat) // the denied requests wrote nothing
	return tat
}

// testThrottle checks the burst, what the key holds after it, and a second key of its own. A
// cost of an hour keeps time from admitting more on a wall-clock store.
func testThrottle(t *testing.T, e *env) {
	th := e.throttler()
	k, other := e.key("throttle"), e.key("other")
	const cost, tolerance = time.Hour, 5 * time.Hour
	e.written[k] = time.Now()
	tat := e.burst(th, k, cost, tolerance)
	e.wantTTL(k, tolerance) // the key lasts until its TAT
	e.wantCount(e.prefix, 1)

	// A request heavier than the tolerance never fits, and writes nothing.
	if r := e.throttle(th, other, 2*time.Hour, time.Hour); r.Allowed {
		t.Errorf("Throttle %s with a cost over the tolerance: allowed", e.short(other))
	}
	if r := e.throttle(th, other, time.Hour, 0); r.Allowed {
		t.Errorf("Throttle %s with no tolerance: allowed", e.short(other))
	}
	e.wantMiss(other)
	// Another cost on the same key is read against the same TAT.
	if r := e.throttle(th, k, time.Minute, tolerance); r.Allowed || !r.TAT.Equal(tat) {
		t.Errorf("Throttle %s with a lesser cost after the burst = %+v, want denied at the TAT %v", e.short(k), r, tat)
	}
	if r := e.throttle(th, k, time.Minute, tolerance+time.Minute); !r.Allowed || !r.TAT.Equal(tat.Add(time.Minute)) {
		t.Errorf("Throttle %s with a minute more of tolerance = %+v, want allowed at %v", e.short(k), r, tat.Add(time.Minute))
	}
}

// testThrottleRecovers moves the kit's clock: a cost later one more request is allowed, a
// tolerance later a whole burst, and once the TAT has passed the key is gone.
func testThrottleRecovers(t *testing.T, e *env) {
	th := e.throttler()
	k := e.key("throttle")
	const cost, tolerance = time.Second, 4 * time.Second
	tat := e.burst(th, k, cost, tolerance)

	e.clock.Advance(cost - time.Microsecond)
	if r := e.throttle(th, k, cost, tolerance); r.Allowed {
		t.Errorf("Throttle %s a microsecond before a cost has passed: allowed", e.short(k))
	}
	e.clock.Advance(time.Microsecond)
	if r := e.throttle(th, k, cost, tolerance); !r.Allowed || !r.TAT.Equal(tat.Add(cost)) {
		t.Errorf("Throttle %s a cost after the burst = %+v, want allowed at %v", e.short(k), r, tat.Add(cost))
	}
	if r := e.throttle(th, k, cost, tolerance); r.Allowed {
		t.Errorf("Throttle %s twice a cost after the burst: allowed", e.short(k))
	}

	e.clock.Advance(time.Hour) // far past the TAT: the key is idle
	e.wantMiss(k)
	tat = e.burst(th, k, cost, tolerance)
	if want := e.clock.Now().Add(tolerance); !tat.Equal(want) {
		t.Errorf("a burst on an idle key left the TAT at %v, want now plus the tolerance, %v", tat, want)
	}
	e.clock.Advance(tolerance + time.Second) // past the TAT and the second a backend may round it up by
	e.wantMiss(k)
}

// testThrottleRecoversWall admits one request per short cost, as in production: a request
// within a cost of the first, when it comes that soon, is denied, and a later one is allowed
// once the cost has passed; the key then expires at its TAT.
func testThrottleRecoversWall(t *testing.T, e *env) {
	th := e.throttler()
	k := e.key("throttle")
	const cost = shortTTL
	start := time.Now()
	first := e.throttle(th, k, cost, cost)
	if !first.Allowed {
		t.Fatalf("Throttle %s, the first request: denied", e.short(k))
	}
	r := e.throttle(th, k, cost, cost)
	switch {
	case r.Allowed && time.Since(start) < cost:
		t.Fatalf("Throttle %s allowed a second request before the %v cost could pass", e.short(k), cost)
	case r.Allowed:
		t.Logf("the second request came %v after the first, past the cost: not checked", time.Since(start))
	default:
		for !r.Allowed {
			if time.Since(start) > patience {
				t.Fatalf("Throttle %s still denies %v after the cost should have passed", e.short(k), patience)
			}
			time.Sleep(pollEvery)
			r = e.throttle(th, k, cost, cost)
		}
		if !r.TAT.After(first.TAT) {
			t.Errorf("Throttle %s allowed again at the TAT %v, not after the first's %v", e.short(k), r.TAT, first.TAT)
		}
		t.Logf("allowed again %v after the first request", time.Since(start).Round(time.Millisecond))
	}
	e.eventuallyMiss(k)
}

// testThrottleConcurrent sends many requests on one key at once, from many goroutines:
// exactly the burst is admitted, however they interleave. A cost of an hour keeps time from
// admitting more on a wall-clock store.
func testThrottleConcurrent(t *testing.T, e *env) {
	th := e.throttler()
	const goroutines, each, burst = 16, 8, 40
	const cost = time.Hour
	for i := range 3 {
		k := e.key(fmt.Sprint("throttle-", i))
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range each {
					r, err := th.Throttle(context.Background(), k, cost, burst*cost)
					if err != nil {
						t.Errorf("Throttle %s: %v", e.short(k), err)
						return
					}
					if r.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != burst {
			t.Fatalf("%d goroutines sent %d requests each on %s, and %d were allowed; want exactly the burst, %d", goroutines, each, e.short(k), n, burst)
		}
		if r := e.throttle(th, k, cost, burst*cost); r.Allowed {
			t.Errorf("Throttle %s after the burst: allowed", e.short(k))
		} else {
			e.wantTAT(k, r.TAT)
		}
	}
}

// testThrottleRules checks that Throttle takes the key rules and CheckThrottle's before
// sending anything, so that a refused call writes nothing, and that the limits themselves are
// accepted.
func testThrottleRules(t *testing.T, e *env) {
	th := e.throttler()
	ctx := context.Background()
	k := e.key("throttle")
	longest := e.key("")
	longest += strings.Repeat("k", backend.MaxKeyLen-len(longest))
	for name, bad := range map[string]string{"empty": "", "over 1024 bytes": longest + "k", "invalid UTF-8": e.key("\xc3\x28")} {
		if r, err := th.Throttle(ctx, bad, time.Second, time.Minute); r.Allowed || !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Throttle with an %s key = %+v, %v; want ErrInvalidKey", name, r, err)
		}
	}
	for _, c := range []struct{ cost, tolerance time.Duration }{
		{0, time.Minute},
		{-time.Second, time.Minute},
		{time.Microsecond - 1, time.Minute},
		{backend.MaxTTL + time.Second, backend.MaxTTL},
		{time.Second, -time.Nanosecond},
		{time.Second, backend.MaxTTL + time.Second},
	} {
		if r, err := th.Throttle(ctx, k, c.cost, c.tolerance); r.Allowed || !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Throttle with cost %v, tolerance %v = %+v, %v; want ErrInvalidTTL", c.cost, c.tolerance, r, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if r, err := th.Throttle(cancelled, k, time.Second, time.Minute); r.Allowed || !errors.Is(err, context.Canceled) {
		t.Errorf("Throttle with a cancelled context = %+v, %v; want context.Canceled", r, err)
	}
	e.wantMiss(k)
	e.wantCount(e.prefix, 0)

	// The limits are accepted: a cost of a microsecond, a cost and tolerance of MaxTTL.
	if r := e.throttle(th, k, time.Microsecond, time.Microsecond); !r.Allowed {
		t.Errorf("Throttle with a cost and tolerance of a microsecond: denied")
	}
	e.written[longest] = time.Now()
	if r := e.throttle(th, longest, backend.MaxTTL, backend.MaxTTL); !r.Allowed {
		t.Errorf("Throttle of the longest key with a cost and tolerance of MaxTTL: denied")
	}
	e.wantTTL(longest, backend.MaxTTL)
}

// testThrottleNotCounter checks that Throttle leaves an entry that is not a TAT alone, and
// takes an expired one as none.
func testThrottleNotCounter(t *testing.T, e *env) {
	th := e.throttler()
	ctx := context.Background()
	for name, v := range map[string]string{"text": `"v"`, "fraction": `1.5`, "empty": ``, "digits then text": `12ab`} {
		k := e.key(name)
		e.set(k, v, time.Minute)
		if r, err := th.Throttle(ctx, k, time.Second, time.Minute); r.Allowed || !errors.Is(err, backend.ErrNotCounter) {
			t.Errorf("Throttle of an entry holding %q = %+v, %v; want ErrNotCounter", v, r, err)
		}
		e.wantHit(k, v)
	}
	k := e.key("expired")
	e.expired(k, `"v"`) // an expired entry counts as none, however late the backend removes it
	r := e.throttle(th, k, time.Minute, time.Hour)
	if !r.Allowed {
		t.Errorf("Throttle of an expired entry: denied")
	}
	e.wantTAT(k, r.TAT)
}

func testThrottleClosed(t *testing.T, e *env) {
	th := e.throttler()
	k := e.key("throttle")
	e.throttle(th, k, time.Second, time.Minute)
	if err := e.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r, err := th.Throttle(context.Background(), k, time.Second, time.Minute); r.Allowed || !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Throttle after Close = %+v, %v; want ErrClosed", r, err)
	}
}
