package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
)

// TestRedisKilledAndRestarted breaks a real backend: a redis-server of the test's own is
// killed under the breaker, then started again on the same port.
func TestRedisKilledAndRestarted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := testenv.StartRedis(t, dir, 0)
	port := strconv.Itoa(srv.Port)
	answers := func() bool { out, _ := testenv.RedisCLI("-p", port, "ping"); return out == "PONG" }
	testenv.WaitFor(t, "redis-server", 10*time.Second, answers)

	rs, err := redisstore.Open(fmt.Sprintf("redis://127.0.0.1:%d?dial_timeout=200ms&cluster=false", srv.Port), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := resilient.New(rs, resilient.Options{FailureThreshold: 3, OpenTimeout: 300 * time.Millisecond, OpTimeout: 300 * time.Millisecond, Logger: quiet})
	defer b.Close()
	if err := b.Set(ctx, "CACHE#k", []byte(`"before"`), time.Hour); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	var failures int
	for b.Stats().State != "open" {
		if _, err := b.Get(ctx, "CACHE#k"); err != nil && !errors.Is(err, backend.ErrNotFound) {
			failures++
		}
		if failures > 10 {
			t.Fatalf("the breaker did not open after %d failures", failures)
		}
	}
	start := time.Now()
	if _, err := b.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get with Redis down and the breaker open: %v, want a miss", err)
	}
	if err := b.Delete(ctx, "CACHE#k"); !errors.Is(err, resilient.ErrOpen) {
		t.Errorf("Delete with Redis down and the breaker open: %v, want ErrOpen", err)
	}
	t.Logf("open after %d failed calls; a read while open took %v", failures, time.Since(start))

	// The server comes back on the same port; the breaker closes by itself once a probe,
	// after OpenTimeout, finds it answering, and the data written before is there again.
	testenv.StartRedis(t, dir, srv.Port)
	testenv.WaitFor(t, "redis-server to answer again", 10*time.Second, answers)
	if err := testenv.RedisCLIErr("-p", port, "set", "CACHE#other", `"after"`); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the breaker to close", 10*time.Second, func() bool {
		v, err := b.Get(ctx, "CACHE#other")
		return err == nil && string(v) == `"after"`
	})
	// The Delete refused while open is applied once Redis answers: the value from before the
	// outage does not come back.
	if v, err := b.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get of the key whose Delete was refused while open = %q, %v; want a miss", v, err)
	}
	testenv.WaitFor(t, "the Delete refused while open to be applied", 10*time.Second, func() bool {
		out, _ := testenv.RedisCLI("-p", port, "exists", "CACHE#k")
		return out == "0"
	})
	if st := b.Stats(); st.State != "closed" {
		t.Errorf("after recovery: %+v, want closed", st)
	}
}
