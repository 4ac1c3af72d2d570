package ratelimit_test

import (
	"context"
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/ratelimit"
)

var fleetLoad = flag.Duration("ratelimit.load", 2*time.Second,
	"how long TestFleet loads each limiter; the issue's goal is stated over 10s")

const (
	fleetInstances = 8 // Stores on one shared backend, as a service's instances
	fleetCallers   = 4 // goroutines calling Allow as fast as they can, per instance
)

// TestFleet runs each algorithm on 8 instances of one backend, loaded by goroutines that call
// Allow as fast as they can for -ratelimit.load, and holds the admitted requests to the
// Limit: what the issue asks of a limiter of 100/s across 8 instances. A backend's three
// algorithms run at once, each on a fleet of its own, so that the test takes two loads' time
// however few processors run the backends' subtests in parallel.
func TestFleet(t *testing.T) {
	for backendName, open := range backends() {
		t.Run(backendName, func(t *testing.T) {
			t.Parallel()
			var fleets []fleet
			for _, alg := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.FixedWindow, ratelimit.SlidingWindow} {
				stores, prefix := open(t, fleetInstances, nil)
				fleets = append(fleets, fleet{algorithm: alg, stores: stores, prefix: prefix, key: testenv.Name("fleet")})
			}
			var wg sync.WaitGroup
			for _, f := range fleets {
				wg.Go(func() {
					if f.algorithm == ratelimit.GCRA {
						f.gcra(t)
					} else {
						f.windows(t)
					}
				})
			}
			wg.Wait()
		})
	}
}

// fleet is a test's instances, each a Store on one shared backend, and the key they limit by
// the algorithm.
type fleet struct {
	algorithm   ratelimit.Algorithm
	stores      []backend.Store
	prefix, key string
}

// load runs fleetCallers goroutines per Store for -ratelimit.load, each calling call with a
// Limiter of its own on its instance's Store (so that its clock is its own), and returns the
// time the run took, measured around it.
func (f fleet) load(t *testing.T, call func(caller int, l *ratelimit.Limiter, clock *lastClock) bool) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(*fleetLoad)
	for i, s := range f.stores {
		for j := range fleetCallers {
			clock := &lastClock{}
			l, err := ratelimit.New(s, f.prefix, ratelimit.Options{Algorithm: f.algorithm, Clock: clock})
			if err != nil {
				t.Error(err) // not Fatal: off the test's goroutine
				return 0
			}
			caller := i*fleetCallers + j
			wg.Go(func() {
				for time.Now().Before(stop) && call(caller, l, clock) {
				}
			})
		}
	}
	wg.Wait()
	return time.Since(start)
}

// lastClock is the system clock, remembering the times it told since the caller took them:
// a caller's own, so that the caller knows which window its call counted in. A window reads
// the time before asking the Store and again once it has answered: each pair of reads is an
// attempt, counted in the window of its first read, and the last attempt is the decision.
type lastClock struct{ reads []time.Time }

func (c *lastClock) Now() time.Time {
	now := time.Now()
	c.reads = append(c.reads, now)
	return now
}

// attempt is one try of a window at a decision: the times before it asked the Store and
// after the Store answered.
type attempt struct{ before, after time.Time }

// attempts returns the attempts of the call since the last take, and forgets them.
func (c *lastClock) attempts() []attempt {
	var at []attempt
	for i := 0; i+1 < len(c.reads); i += 2 {
		at = append(at, attempt{c.reads[i], c.reads[i+1]})
	}
	c.reads = c.reads[:0]
	return at
}

// gcra holds GCRA to its bound. From a key at rest, k admissions move the TAT from at
// least the time of the first (to the microsecond below) by k×T, and an admission leaves it
// at most Burst×T ahead of its time, so within a run of d: k <= Burst + (d + 1µs)/T. That is
// a count over a known span, not a timing: it holds however slow the machine. The span is
// measured around the run on this process's clock, and the Store's clock (the Redis
// server's, on the same machine) may tick faster by as much as NTP slews one, 500ppm: the
// bound allows for it.
//
// The ±1% of the issue is a lower bound too, and that one depends on speed: the load must
// keep a request waiting at every emission, or admissions are lost for good. So it is logged:
// on an idle machine the sustained rate, (admitted - Burst)/d, is within 1% of 100/s.
func (f fleet) gcra(t *testing.T) {
	limit := ratelimit.PerSecond(100)
	const interval = 10 * time.Millisecond
	admitted := make([]int, len(f.stores)*fleetCallers)
	denied := make([]int, len(admitted))
	d := f.load(t, func(caller int, l *ratelimit.Limiter, _ *lastClock) bool {
		res, err := l.Allow(context.Background(), f.key, limit)
		if err != nil {
			t.Error(err)
			return false
		}
		if res.Allowed {
			admitted[caller]++
		} else {
			denied[caller]++
		}
		return true
	})
	var total, refused int
	for i := range admitted {
		total, refused = total+admitted[i], refused+denied[i]
	}
	span := d + d/2000 + time.Microsecond
	bound := limit.Burst + int(span/interval)
	if total > bound {
		t.Errorf("gcra: admitted %d in %v, over the bound of %d (a burst of %d and one per %v)", total, d, bound, limit.Burst, interval)
	}
	if refused == 0 { // a speed, not a verdict: the bound held, but trivially
		t.Logf("gcra: no request denied in %v: the backend was too slow for the load to reach the limit", d)
	}
	rate := float64(total-limit.Burst) / d.Seconds()
	t.Logf("gcra: admitted %d, denied %d in %v: %.2f/s after the burst of %d (%+.2f%% of 100/s); bound %d",
		total, refused, d.Round(time.Millisecond), rate, limit.Burst, rate-100, bound)
}

// tally is what the callers saw of one window.
type tally struct {
	attempts, admitted int
	setAside           int           // attempts whose answer came too late to trust, decided again
	landed             int           // admissions answered before the window ended
	lastAdmitted       time.Duration // into the window, of the admitted call read latest
}

// windows holds the windows to their quota, window by window, from what each call saw: the
// windows its Limiter read the time in, and whether it was admitted. The fixed window is
// exact: every attempt counts, the counts of a window run 1, 2, 3… across the fleet, and the
// attempts admitted are those up to the Rate, so a window admits min(attempts, Rate), no more
// (a count lost) and no fewer (a count doubled), less any attempt set aside (a stall between
// the clock and the answer: rare). The sliding window admits at most the Rate less the
// previous window's share at its last admission, counting in the previous window only the
// admissions answered before it ended: the admission of this window that saw the highest
// count saw one of at least this window's admissions, at most that far into the window, and
// a previous count of at least those; an admission at the previous window's end whose
// increment was still on its way was not in it. (That is the sliding window's own blind spot
// across a fleet: for the time an increment travels, requests of the next window miss it.)
func (f fleet) windows(t *testing.T) {
	alg := f.algorithm
	limit := ratelimit.Limit{Rate: 50, Period: 500 * time.Millisecond} // 100/s, in windows of 500ms
	tallies := make([]map[int64]*tally, len(f.stores)*fleetCallers)
	d := f.load(t, func(caller int, l *ratelimit.Limiter, clock *lastClock) bool {
		res, err := l.Allow(context.Background(), f.key, limit)
		if err != nil {
			t.Error(err)
			return false
		}
		at := clock.attempts()
		if tallies[caller] == nil {
			tallies[caller] = map[int64]*tally{}
		}
		for i, a := range at {
			ns := a.before.UnixNano()
			index, into := ns/int64(limit.Period), time.Duration(ns%int64(limit.Period))
			w := tallies[caller][index]
			if w == nil {
				w = &tally{}
				tallies[caller][index] = w
			}
			w.attempts++
			switch {
			case i < len(at)-1:
				w.setAside++
			case res.Allowed:
				w.admitted++
				w.lastAdmitted = max(w.lastAdmitted, into)
				if a.after.UnixNano() < (index+1)*int64(limit.Period) {
					w.landed++
				}
			}
		}
		return true
	})
	windows := map[int64]*tally{}
	for _, m := range tallies {
		for i, w := range m {
			all := windows[i]
			if all == nil {
				all = &tally{}
				windows[i] = all
			}
			all.attempts += w.attempts
			all.admitted += w.admitted
			all.setAside += w.setAside
			all.landed += w.landed
			all.lastAdmitted = max(all.lastAdmitted, w.lastAdmitted)
		}
	}
	var total, attempts, setAside int
	for i, w := range windows {
		total, attempts, setAside = total+w.admitted, attempts+w.attempts, setAside+w.setAside
		switch want := min(w.attempts, limit.Rate); {
		case w.admitted > limit.Rate:
			t.Errorf("%v: window %d admitted %d of %d attempts, over the Rate of %d", alg, i, w.admitted, w.attempts, limit.Rate)
		case alg == ratelimit.FixedWindow && (w.admitted > want || w.admitted < want-w.setAside):
			t.Errorf("%v: window %d admitted %d of %d attempts (%d set aside), want %d: counts lost or doubled", alg, i, w.admitted, w.attempts, w.setAside, want)
		case alg == ratelimit.SlidingWindow && w.admitted > 0:
			prev := 0
			if p := windows[i-1]; p != nil {
				prev = p.landed
			}
			weight := limit.Period - w.lastAdmitted
			share := (int64(prev)*int64(weight) + int64(limit.Period) - 1) / int64(limit.Period)
			if int64(w.admitted)+share > int64(limit.Rate) {
				t.Errorf("%v: window %d admitted %d, the last %v in, with %d answered before: over the Rate of %d by the estimate", alg, i, w.admitted, w.lastAdmitted, prev, limit.Rate)
			}
		}
	}
	t.Logf("%v: %d windows of %v: admitted %d of %d attempts (%d set aside) in %v (%.1f/s)", alg, len(windows), limit.Period, total, attempts, setAside, d.Round(time.Millisecond), float64(total)/d.Seconds())
}
