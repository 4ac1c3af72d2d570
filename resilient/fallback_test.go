package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
)

func TestFallbackConformance(t *testing.T) {
	cachetest.Run(t, cachetest.Harness{
		New: func(t *testing.T, clock backend.Clock) backend.Store {
			p, _ := memstore.New(memstore.Options{Clock: clock})
			fb, _ := memstore.New(memstore.Options{Clock: clock})
			b, _ := resilient.New(p, resilient.Options{Logger: quiet})
			f, err := resilient.NewFallback(b, fb, resilient.FallbackOptions{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			return f
		},
	})
}

// TestFallbackWithoutStaleReads hangs a real Redis primary (SIGSTOP keeps its data), moves
// traffic to the fallback, writes and deletes there, resumes Redis, and checks that traffic
// returns to the primary without the primary's old values coming back.
func TestFallbackWithoutStaleReads(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartRedis(t, t.TempDir(), 0)
	port := strconv.Itoa(srv.Port)
	testenv.WaitFor(t, "redis-server", 10*time.Second, func() bool { out, _ := testenv.RedisCLI("-p", port, "ping"); return out == "PONG" })
	rs, _ := redisstore.Open(fmt.Sprintf("redis://127.0.0.1:%d?cluster=false", srv.Port), redisstore.Options{})
	// An OpTimeout far above a loaded machine's local round trip: only the paused
	// server opens the breaker, and the counts below are exact.
	primary, _ := resilient.New(rs, resilient.Options{FailureThreshold: 2, OpenTimeout: 300 * time.Millisecond, OpTimeout: time.Second, Logger: quiet})
	fb, _ := memstore.New(memstore.Options{})
	f, _ := resilient.NewFallback(primary, fb, resilient.FallbackOptions{Logger: quiet})
	defer f.Close()

	for k, v := range map[string]string{"CACHE#a": "a1", "CACHE#b": "b1", "CACHE#c": "c1"} {
		if err := f.Set(ctx, k, []byte(v), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "traffic to move to the fallback", 10*time.Second, func() bool {
		_, _ = f.Get(ctx, "CACHE#a") // times out until the breaker opens; then goes to the fallback
		return f.Stats().OnFallback
	})
	// On the fallback: a miss for what only the primary has, a write, a delete.
	if _, err := f.Get(ctx, "CACHE#c"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get on the fallback of a key only the primary has: %v, want a miss", err)
	}
	if err := f.Set(ctx, "CACHE#a", []byte("a2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(ctx, "CACHE#b"); err != nil {
		t.Fatal(err)
	}
	if v, err := f.Get(ctx, "CACHE#a"); err != nil || string(v) != "a2" {
		t.Errorf("Get on the fallback = %q, %v; want a2", v, err)
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "traffic to return to the primary", 10*time.Second, func() bool {
		_, _ = f.Get(ctx, "CACHE#c")
		return !f.Stats().OnFallback
	})
	// Back on the primary: a and b were changed during the outage, so the primary's a1 and b1
	// must not come back; c was not touched and is still there.
	if v, err := f.Get(ctx, "CACHE#a"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get of a key written during the outage = %q, %v; want a miss, never the stale a1", v, err)
	}
	if v, err := f.Get(ctx, "CACHE#b"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get of a key deleted during the outage = %q, %v; want a miss, never the stale b1", v, err)
	}
	if v, err := f.Get(ctx, "CACHE#c"); err != nil || string(v) != "c1" {
		t.Errorf("Get of an untouched key = %q, %v; want c1 from the primary", v, err)
	}
	// Nor can the fallback serve its outage copy in a later outage, once the invalidation,
	// on the Fallback's goroutine, is done.
	testenv.WaitFor(t, "the outage's keys to be invalidated", 10*time.Second, func() bool { return !f.Stats().Stale })
	if _, err := fb.Get(ctx, "CACHE#a"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("the fallback still holds a key written during the outage: %v", err)
	}
	if st := f.Stats(); st.MovedOut != 1 || st.MovedBack != 1 || st.Invalidated != 2 {
		t.Errorf("Stats = %+v, want one move out, one back, 2 keys invalidated", st)
	}
}

// TestFallbackOverflowClearsTheSharedPrefix checks the bound on tracking: past MaxTracked
// changed keys, failback clears the prefix they share on both stores.
func TestFallbackOverflowClearsTheSharedPrefix(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, f := newBreaker(t) // 3 failures open it for 5s
		fb, _ := memstore.New(memstore.Options{})
		fo, _ := resilient.NewFallback(b, fb, resilient.FallbackOptions{MaxTracked: 2, Logger: quiet})
		defer fo.Close()
		for _, k := range []string{"CACHE#x:1", "CACHE#x:2", "CACHE#x:3", "CACHE#y:1"} {
			_ = fo.Set(ctx, k, []byte(`"old"`), time.Hour)
		}
		f.mode.Store(failing)
		for range 3 {
			_, _ = fo.Get(ctx, "CACHE#x:1")
		}
		for _, k := range []string{"CACHE#x:1", "CACHE#x:2", "CACHE#x:3"} {
			if err := fo.Set(ctx, k, []byte(`"new"`), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if !fo.Stats().OnFallback {
			t.Fatal("traffic did not move to the fallback")
		}
		f.mode.Store(healthy)
		time.Sleep(5*time.Second + time.Millisecond)
		for _, k := range []string{"CACHE#x:1", "CACHE#x:2", "CACHE#x:3"} {
			if v, err := fo.Get(ctx, k); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Get %s after failback = %q, %v; want a miss, never the old value", k, v, err)
			}
		}
		if v, err := fo.Get(ctx, "CACHE#y:1"); err != nil || string(v) != `"old"` {
			t.Errorf("Get of a key outside the shared prefix = %q, %v; want it kept", v, err)
		}
		synctest.Wait() // the invalidation, on the fallback's goroutine
		if n, _ := fb.Count(ctx, "CACHE#x:"); n != 0 {
			t.Errorf("the fallback still holds %d outage copies", n)
		}
		if st := fo.Stats(); st.OnFallback || st.MovedBack != 1 {
			t.Errorf("Stats = %+v, want traffic back on the primary", st)
		}
	})
}

// outage moves fo's traffic to the fallback by failing the primary until its breaker opens,
// and changes key there.
func outage(t *testing.T, fo *resilient.Fallback, f *faulty, key string) {
	t.Helper()
	ctx := context.Background()
	f.mode.Store(failing)
	for range 3 {
		_, _ = fo.Get(ctx, key)
	}
	if err := fo.Set(ctx, key, []byte(`"new"`), time.Hour); err != nil {
		t.Fatal(err)
	}
	if !fo.Stats().OnFallback {
		t.Fatal("traffic did not move to the fallback")
	}
}

// TestFailbackWaitsForAPassingHealthCheck: when the breaker lets a probe through but the
// primary still fails, traffic stays on the fallback; it returns once a check passes.
func TestFailbackWaitsForAPassingHealthCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, f := newBreaker(t) // 3 failures open it for 5s
		fb, _ := memstore.New(memstore.Options{})
		fo, _ := resilient.NewFallback(b, fb, resilient.FallbackOptions{Logger: quiet})
		defer fo.Close()
		_ = fo.Set(ctx, "CACHE#k", []byte(`"old"`), time.Hour)
		outage(t, fo, f, "CACHE#k")

		time.Sleep(5*time.Second + time.Millisecond) // half-open, the primary still down
		if v, err := fo.Get(ctx, "CACHE#k"); err != nil || string(v) != `"new"` {
			t.Errorf("Get with the primary still down = %q, %v; want the fallback's value", v, err)
		}
		if st := fo.Stats(); !st.OnFallback || st.MovedBack != 0 {
			t.Errorf("Stats = %+v, want traffic still on the fallback", st)
		}
		if st := b.Stats().State; st != "open" {
			t.Errorf("breaker after the failed check = %s, want open again", st)
		}

		f.mode.Store(healthy)
		time.Sleep(5*time.Second + time.Millisecond)
		if v, err := fo.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Get after failback = %q, %v; want a miss, never the primary's old value", v, err)
		}
		if st := fo.Stats(); st.OnFallback || st.MovedBack != 1 {
			t.Errorf("Stats = %+v, want traffic back on the primary", st)
		}
	})
}

// TestFailbackDoesNotHoldUpOtherCalls: while one call checks the primary and invalidates the
// outage's keys, the others are served by the fallback; a write they make meanwhile is
// invalidated too before traffic returns.
func TestFailbackDoesNotHoldUpOtherCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, f := newBreaker(t)
		fb, _ := memstore.New(memstore.Options{})
		fo, _ := resilient.NewFallback(b, fb, resilient.FallbackOptions{Logger: quiet})
		defer fo.Close()
		for _, k := range []string{"CACHE#a", "CACHE#b"} {
			_ = fo.Set(ctx, k, []byte(`"old"`), time.Hour)
		}
		outage(t, fo, f, "CACHE#a")
		f.mode.Store(healthy)
		time.Sleep(5*time.Second + time.Millisecond)

		gate := make(chan struct{})
		f.gate.Store(&gate) // the primary's deletes wait: the give-back is slow
		returned := make(chan struct{})
		go func() {
			defer close(returned)
			_, _ = fo.Get(ctx, "CACHE#a") // gives traffic back
		}()
		synctest.Wait() // the give-back is blocked in a Delete
		if v, err := fo.Get(ctx, "CACHE#a"); err != nil || string(v) != `"new"` {
			t.Errorf("Get during the give-back = %q, %v; want the fallback's value at once", v, err)
		}
		if err := fo.Set(ctx, "CACHE#b", []byte(`"new"`), time.Hour); err != nil {
			t.Fatal(err)
		}
		select {
		case <-returned:
			t.Fatal("the give-back finished while its Delete was blocked")
		default:
		}
		f.gate.Store(nil)
		close(gate)
		<-returned
		_, _ = fo.Get(ctx, "CACHE#b")
		synctest.Wait() // the invalidation, on the fallback's goroutine
		if st := fo.Stats(); st.OnFallback || st.MovedBack != 1 {
			t.Fatalf("Stats = %+v, want traffic back on the primary", st)
		}
		for _, k := range []string{"CACHE#a", "CACHE#b"} {
			if v, err := fo.Get(ctx, k); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("Get %s after failback = %q, %v; want a miss, never the primary's old value", k, v, err)
			}
			if _, err := fb.Get(ctx, k); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("the fallback still holds %s, written during the outage", k)
			}
		}
	})
}
