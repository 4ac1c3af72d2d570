package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
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
	primary, _ := resilient.New(rs, resilient.Options{FailureThreshold: 2, OpenTimeout: 300 * time.Millisecond, OpTimeout: 100 * time.Millisecond, Logger: quiet})
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
	// Nor can the fallback serve its outage copy in a later outage.
	if _, err := fb.Get(ctx, "CACHE#a"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("the fallback still holds a key written during the outage: %v", err)
	}
	if st := f.Stats(); st.MovedOut != 1 || st.MovedBack != 1 || st.Invalidated != 2 {
		t.Errorf("Stats = %+v, want one move out, one back, 2 keys invalidated", st)
	}
}
