package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/monitor"
	"github.com/cachekit/cachekit/redisstore"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// sick is a memstore whose writes fail, or whose reads are slow, as a sick backend's are;
// it counts the writes that reach it.
type sick struct {
	*memstore.Store
	failing atomic.Bool
	slow    time.Duration
	sets    atomic.Int32
}

var errDown = errors.New("connection refused")

func (s *sick) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	s.sets.Add(1)
	if s.failing.Load() {
		return errDown
	}
	return s.Store.Set(ctx, k, v, ttl)
}

func (s *sick) Get(ctx context.Context, k string) ([]byte, error) {
	if s.slow > 0 {
		time.Sleep(s.slow)
	}
	return s.Store.Get(ctx, k)
}

func newSick(t *testing.T) *sick {
	t.Helper()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return &sick{Store: ms}
}

// logs collects the lines a Checker logs.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.Write(p) }
func (l *logs) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

func TestHealthyProbeLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s := newSick(t)
	res := monitor.NewChecker(monitor.Options{Prefix: "CACHE#svc:health:"}).Check(ctx, s)
	if res.Status != cachekit.Healthy || len(res.Steps) != 3 || res.Attempts != 1 || res.ConsecutiveFailures != 0 {
		t.Errorf("Check = %+v, want healthy after 3 steps and 1 attempt", res)
	}
	if !strings.HasPrefix(res.Key, "CACHE#svc:health:") {
		t.Errorf("probe key %q is not under the prefix", res.Key)
	}
	for _, st := range res.Steps {
		if st.LatencyNS <= 0 || st.Error != "" {
			t.Errorf("step %+v", st)
		}
	}
	if n, _ := s.Count(ctx, "CACHE#svc:health:"); n != 0 {
		t.Errorf("%d probe keys left behind", n)
	}
}

func TestUnhealthyIsRetriedCountedAndLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := newSick(t)
		s.failing.Store(true)
		var out logs
		c := monitor.NewChecker(monitor.Options{Retries: 2, Logger: slog.New(slog.NewTextHandler(&out, nil))})
		for want := 1; want <= 2; want++ {
			res := c.Check(ctx, s)
			if res.Status != cachekit.Unhealthy || res.Attempts != 3 || res.ConsecutiveFailures != want ||
				!strings.Contains(res.LastError, "connection refused") {
				t.Errorf("check %d = %+v, want unhealthy after 3 attempts, %d in a row", want, res, want)
			}
		}
		if n := s.sets.Load(); n != 6 {
			t.Errorf("%d probes, want 3 per check", n)
		}
		if got := out.String(); strings.Count(got, "health check failed") != 2 || strings.Contains(got, "CACHE#health:") {
			t.Errorf("logs = %q, want two failure lines that name no key", got)
		}
		s.failing.Store(false)
		if res := c.Check(ctx, s); res.Status != cachekit.Healthy || res.ConsecutiveFailures != 0 {
			t.Errorf("check after recovery = %+v, want healthy", res)
		}
	})
}

func TestSlowIsDegraded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSick(t)
		s.slow = 300 * time.Millisecond
		if res := monitor.NewChecker(monitor.Options{}).Check(context.Background(), s); res.Status != cachekit.Degraded {
			t.Errorf("Check of a backend that reads in 300ms = %+v, want degraded", res)
		}
	})
}

func TestServeHTTP(t *testing.T) {
	s := newSick(t)
	srv := httptest.NewServer(monitor.NewChecker(monitor.Options{Retries: -1, Logger: slog.New(slog.DiscardHandler)}).Handler(s))
	defer srv.Close()
	for _, tc := range []struct {
		failing bool
		code    int
		status  cachekit.HealthStatus
	}{{false, 200, cachekit.Healthy}, {true, 503, cachekit.Unhealthy}} {
		s.failing.Store(tc.failing)
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		var res cachekit.HealthResult
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.code || res.Status != tc.status {
			t.Errorf("GET = %d %+v, %v; want %d %s", resp.StatusCode, res, err, tc.code, tc.status)
		}
	}
	srv.CloseClientConnections()
	http.DefaultClient.CloseIdleConnections()
}

// TestRealBackends checks the shared Redis as healthy, and a Redis that is not there as
// unhealthy.
func TestRealBackends(t *testing.T) {
	ctx := context.Background()
	testenv.Redis(t, testenv.RedisURL(), false)
	for url, want := range map[string]cachekit.HealthStatus{
		testenv.RedisURL(): cachekit.Healthy,
		"redis://127.0.0.1:9?dial_timeout=200ms&cluster=false": cachekit.Unhealthy,
	} {
		s, _ := redisstore.Open(url, redisstore.Options{})
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res := monitor.NewChecker(monitor.Options{Retries: 1, Backoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}).Check(cctx, s)
		cancel()
		s.Close()
		if res.Status != want && !(want == cachekit.Healthy && res.Status == cachekit.Degraded) {
			t.Errorf("Check of %s = %+v, want %s", url, res, want)
		}
	}
}

// TestCheckCutShortByTheCallerIsNotRecorded: a check that fails because the caller's
// context ended says nothing of the backend: it is returned, but neither recorded, counted
// nor logged as a failure.
func TestCheckCutShortByTheCallerIsNotRecorded(t *testing.T) {
	s := newSick(t)
	var out logs
	c := monitor.NewChecker(monitor.Options{Logger: slog.New(slog.NewTextHandler(&out, nil))})
	if res := c.Check(context.Background(), s); res.Status != cachekit.Healthy {
		t.Fatalf("first check: %+v", res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.failing.Store(true)
	res := c.Check(ctx, s)
	if res.Status != cachekit.Unhealthy || !strings.HasPrefix(res.LastError, "inconclusive: ") {
		t.Errorf("check with the caller's context done = %+v, want an inconclusive failure", res)
	}
	if last := c.Last(); last.Status != cachekit.Healthy || last.ConsecutiveFailures != 0 {
		t.Errorf("Last after the cut-short check = %+v, want the healthy one before it", last)
	}
	if checks, failures := c.Counts(); checks != 1 || failures != 0 {
		t.Errorf("Counts = %d checks, %d failures; want 1 and 0", checks, failures)
	}
	if strings.Contains(out.String(), "health check failed") {
		t.Errorf("a cut-short check was logged as a failure:\n%s", out.String())
	}
}
