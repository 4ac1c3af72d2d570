package resilient_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
)

// Behaviours the fault matrix (faults_test.go) ran into on real backends, pinned down on
// the bubble's clock. All three failed at c3f094f.

// newRemote is a faulty store that answers after a round trip, as a backend on the network
// does, as far as the breaker and the fallback can tell.
func newRemote(t *testing.T, rtt time.Duration) *faulty {
	t.Helper()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &faulty{Store: ms, rtt: rtt}
}

// TestSkippedSetIsNotReadStale: a Set that the open breaker skips still reports success, so
// the value it replaced must not be read once the breaker closes. An overwriting Set
// invalidates the old value just as a Delete does, which the breaker refuses while open for
// this very reason.
func TestSkippedSetIsNotReadStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newRemote(t, time.Millisecond)
		b, err := resilient.New(p, resilient.Options{FailureThreshold: 3, OpenTimeout: time.Second, OpTimeout: 100 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		c, err := cachekit.New(b, cachekit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		v := cachekit.Typed[string](c, "", 0)
		if err := v.Set(ctx, "profile:1", "old", 0); err != nil {
			t.Fatal(err)
		}
		p.mode.Store(failing)
		for range 3 {
			_, _ = v.Get(ctx, "profile:1")
		}
		if st := b.Stats().State; st != "open" {
			t.Fatalf("breaker = %s, want open", st)
		}
		if err := v.Set(ctx, "profile:1", "new", 0); err != nil {
			return // the caller was told the write did not happen: nothing stale follows
		}
		p.mode.Store(healthy)
		time.Sleep(time.Second + time.Millisecond) // past OpenTimeout
		if got, err := v.Get(ctx, "profile:1"); err == nil && got == "old" {
			t.Errorf(`Get after Set("new") succeeded while the breaker was open = %q: the value that Set replaced`, got)
		}
	})
}

// TestHalfOpenSkippedSetIsNotReadStale: with a Fallback, a breaker that opened and saw no
// call during its whole OpenTimeout is half-open with traffic still on the primary; a Set
// that comes while the probe is under way is skipped, reports success, and the value it
// replaced must not be read afterwards.
func TestHalfOpenSkippedSetIsNotReadStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newRemote(t, 2*time.Millisecond)
		b, err := resilient.New(p, resilient.Options{FailureThreshold: 3, OpenTimeout: time.Second, OpTimeout: 100 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		spare, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fo, err := resilient.NewFallback(b, spare, resilient.FallbackOptions{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer fo.Close()
		if err := fo.Set(ctx, "CACHE#k", []byte(`"old"`), time.Hour); err != nil {
			t.Fatal(err)
		}
		p.mode.Store(failing)
		for range 3 {
			_, _ = fo.Get(ctx, "CACHE#other")
		}
		p.mode.Store(healthy)
		time.Sleep(time.Second + time.Millisecond) // no call until the breaker is half-open
		if st := fo.Stats(); st.OnFallback {
			t.Fatalf("traffic is on the fallback (%+v): no call came while the breaker was open", st)
		}

		var calls sync.WaitGroup
		calls.Go(func() { _, _ = fo.Get(ctx, "CACHE#other") }) // the breaker's probe
		var setErr error
		calls.Go(func() {
			time.Sleep(time.Millisecond) // while the probe's round trip is under way
			setErr = fo.Set(ctx, "CACHE#k", []byte(`"new"`), time.Hour)
		})
		calls.Wait()
		if setErr != nil {
			return // the caller was told the write did not happen: nothing stale follows
		}
		if v, err := fo.Get(ctx, "CACHE#k"); err == nil && string(v) == `"old"` {
			t.Errorf(`Get after Set("new") succeeded while the breaker was half-open = %s: the value that Set replaced (breaker %+v)`, v, b.Stats())
		}
	})
}

// TestFailbackUnderSteadyWrites: traffic returns to a healthy primary even while writes keep
// landing on the fallback. At c3f094f it returned only after an invalidation pass during
// which no write landed; when every pass took longer than the gap between writes (here a
// 2ms round trip to the primary against a write every millisecond from each of 4 callers),
// it never returned, and every attempt sent a health check and three invalidation batches to
// the primary. On DynamoDB Local the fault matrix measured 0.4 to 2.3s of this after every
// repair, against about OpenTimeout on Redis, whose passes are quicker.
func TestFailbackUnderSteadyWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newRemote(t, 2*time.Millisecond)
		b, err := resilient.New(p, resilient.Options{FailureThreshold: 3, OpenTimeout: time.Second, OpTimeout: 100 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		spare, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fo, err := resilient.NewFallback(b, spare, resilient.FallbackOptions{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer fo.Close()
		p.mode.Store(failing)
		for range 4 {
			_, _ = fo.Get(ctx, "CACHE#k")
		}
		if !fo.Stats().OnFallback {
			t.Fatal("traffic did not move to the fallback")
		}

		stop := make(chan struct{})
		var writers sync.WaitGroup
		for w := range 4 {
			writers.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_ = fo.Set(ctx, fmt.Sprintf("CACHE#w:%d:%d", w, i%100), []byte(`"v"`), time.Hour)
					time.Sleep(time.Millisecond)
				}
			})
		}
		p.mode.Store(healthy)
		time.Sleep(time.Second + time.Millisecond) // past OpenTimeout: the primary is healthy
		deadline := time.Now().Add(10 * time.Second)
		for fo.Stats().OnFallback && time.Now().Before(deadline) {
			_, _ = fo.Get(ctx, "CACHE#k")
			time.Sleep(10 * time.Millisecond)
		}
		st := fo.Stats()
		close(stop)
		writers.Wait()
		if st.OnFallback {
			t.Errorf("10s after the primary recovered, under a write per millisecond per caller, traffic is still on the fallback: %+v, breaker %+v", st, b.Stats())
		}
	})
}
