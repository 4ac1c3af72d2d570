package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

// TestCloseLeavesNothing checks that Close leaves no goroutine behind once connection
// attempts have failed: to a port nobody listens on, as a single server and as a cluster's
// seeds, and to a server of the test's own killed after the store used it.
func TestCloseLeavesNothing(t *testing.T) {
	nobody := func() string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) }
	killed := func() (string, func()) {
		srv := testenv.StartRedis(t, t.TempDir(), 0)
		testenv.WaitFor(t, "redis-server", 10*time.Second, func() bool {
			out, _ := testenv.RedisCLI("-p", strconv.Itoa(srv.Port), "ping")
			return out == "PONG"
		})
		return "redis://127.0.0.1:" + strconv.Itoa(srv.Port), srv.Kill
	}
	for _, tc := range []struct {
		name string
		url  func() (url string, kill func())
	}{
		{"unreachable", func() (string, func()) { return "redis://" + nobody(), nil }},
		{"unreachable single", func() (string, func()) { return "redis://" + nobody() + "?cluster=false", nil }},
		{"unreachable cluster seeds", func() (string, func()) {
			return fmt.Sprintf("redis://%s?addr=%s&addr=%s", nobody(), nobody(), nobody()), nil
		}},
		{"killed", func() (string, func()) { return killed() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Only the goroutines of other tests' clients, which end on their own, are
			// left out of the check: every rueidis goroutine this store starts is in it.
			others := goleak.IgnoreCurrent()
			url, kill := tc.url()
			s, err := redisstore.Open(url+sep(url)+"dial_timeout=500ms", redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if kill != nil {
				if err := s.Set(context.Background(), "CACHE#close:k", []byte("1"), time.Minute); err != nil {
					t.Fatal(err)
				}
				kill()
			}
			for range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if _, err := s.Get(ctx, "CACHE#close:k"); err == nil {
					t.Error("Get from an unreachable server succeeded")
				}
				cancel()
			}
			s.Close()
			goleak.VerifyNone(t, others)
		})
	}
}

func sep(url string) string {
	for _, c := range url {
		if c == '?' {
			return "&"
		}
	}
	return "?"
}
