package resilient_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
)

// logLines is a slog.Handler that keeps the level and message of every line, for tests that
// count them.
type logLines struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (h *logLines) Enabled(context.Context, slog.Level) bool { return true }

func (h *logLines) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, r.Clone())
	return nil
}

func (h *logLines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logLines) WithGroup(string) slog.Handler      { return h }

// count returns how many lines of level have a message that contains part.
func (h *logLines) count(level slog.Level, part string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.lines {
		if r.Level == level && strings.Contains(r.Message, part) {
			n++
		}
	}
	return n
}

func (h *logLines) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for i, r := range h.lines {
		if i == 20 {
			b.WriteString("\n\t…")
			break
		}
		b.WriteString("\n\t" + r.Level.String() + " " + r.Message)
	}
	return b.String()
}

// While the breaker is half open and a caller's call is the probe, every read of a key whose
// invalidation is pending starts the invalidation again, and the breaker refuses it: that
// refusal is the breaker doing its job, not a failure of the backend. It must not log a line
// per read, and RefusedInvalidations counts the callers' invalidations the breaker refused,
// not its own retries. On real Redis, through toxiproxy: the probe is a Set whose answer the
// proxy holds back for two seconds, while reads of the pending keys go on.
func TestHalfOpenRetriesAreQuietAndUncounted(t *testing.T) {
	ctx := context.Background()
	testenv.Redis(t, testenv.RedisURL(), false) // fails or skips when it does not answer
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.Toxiproxy(t).NewProxy(t, "quiet", u.Host)
	open := func(addr string) *redisstore.Store {
		at := *u
		at.Host = addr
		q := at.Query()
		q.Set("cluster", "false")
		at.RawQuery = q.Encode()
		s, err := redisstore.Open(at.String(), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	prefix := testenv.Name("quiet") + "#"
	direct := open(u.Host)
	t.Cleanup(func() {
		_, _ = direct.Clear(context.Background(), prefix)
		direct.Close()
	})
	proxied := open(proxy.Addr())
	logs := &logLines{}
	// The probe's answer comes after the proxy's latency: OpTimeout leaves it ample room on a
	// slow machine.
	b, err := resilient.New(proxied, resilient.Options{
		FailureThreshold: 1, OpenTimeout: 100 * time.Millisecond, OpTimeout: 30 * time.Second, Logger: slog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const keys = 10
	key := func(i int) string { return prefix + "k" + strconv.Itoa(i) }
	for i := range keys {
		if err := b.Set(ctx, key(i), []byte(`"old"`), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// The backend goes down: the first Delete fails and opens the breaker, which refuses the
	// others. All ten keys are pending.
	proxy.Down(t)
	refused := 0
	for i := range keys {
		switch err := b.Delete(ctx, key(i)); {
		case errors.Is(err, resilient.ErrOpen):
			refused++
		case err == nil:
			t.Fatalf("Delete with the proxy down succeeded")
		}
	}
	if st := b.Stats(); st.State != "open" || refused == 0 {
		t.Fatalf("after the Deletes with the proxy down: %+v, %d refused; want open and some refused", st, refused)
	}

	// The backend is back, slow: the connection is made again below the breaker, so that
	// only the probe's answer waits for the latency.
	proxy.Up(t)
	testenv.WaitFor(t, "the connection to come back", 10*time.Second, func() bool {
		_, err := proxied.Has(ctx, prefix+"warm")
		return err == nil
	})
	proxy.Latency(t, 2*time.Second)
	// A caller's Set is the probe: it has passed the breaker once the server holds its value.
	// The client may send it on a connection the outage broke and has not replaced yet: it
	// fails, the breaker opens again, and the next half-open period gets another probe.
	probed := make(chan error, 1)
	var probeErr error
	probeEnded := false
	reached := func() bool { ok, _ := direct.Has(ctx, prefix+"probe"); return ok }
	for attempt := 1; !reached(); attempt++ {
		if attempt > 5 {
			t.Fatalf("5 probes failed before reaching the server; the last: %v", probeErr)
		}
		testenv.WaitFor(t, "the breaker to be half open", 10*time.Second, func() bool { return b.Stats().State == "half-open" })
		probeEnded = false
		go func() { probed <- b.Set(ctx, prefix+"probe", []byte(`1`), time.Hour) }()
		testenv.WaitFor(t, "the probe to reach the server, or to end", 10*time.Second, func() bool {
			if reached() {
				return true
			}
			select {
			case probeErr = <-probed:
				probeEnded = true
				t.Logf("probe %d ended before it reached the server: %v", attempt, probeErr)
				return true
			default:
				return false
			}
		})
	}
	reads, start := 0, time.Now()
	for b.Stats().State != "closed" {
		if time.Since(start) > time.Minute {
			t.Fatalf("the breaker did not close within a minute of the probe: %+v", b.Stats())
		}
		if _, err := b.Get(ctx, key(reads%keys)); !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("Get of a pending key while half open: %v, want a miss", err)
		}
		reads++
		time.Sleep(time.Millisecond) // pace: a busy service, not a benchmark
	}
	if !probeEnded {
		probeErr = <-probed
	}
	if probeErr != nil {
		t.Fatalf("the probe: %v", probeErr)
	}
	halfOpen := time.Since(start)

	proxy.Clear(t)
	testenv.WaitFor(t, "the pending keys to be invalidated", 30*time.Second, func() bool {
		_, _ = b.Get(ctx, key(0)) // a read starts the invalidation
		return b.Stats().Stale == 0
	})
	for i := range keys {
		if ok, err := direct.Has(ctx, key(i)); ok || err != nil {
			t.Errorf("%s after the invalidation: present %v, %v; want gone", key(i), ok, err)
		}
	}

	st := b.Stats()
	warns := logs.count(slog.LevelWarn, "")
	t.Logf("%d reads of pending keys in %v half open; %d WARN lines; breaker %+v", reads, halfOpen, warns, st)
	// Open, half open: the breaker's own changes. A line per refused retry would be hundreds.
	if warns > 4 {
		t.Errorf("%d WARN lines during one outage and a half-open period of %d reads, want a handful:%s", warns, reads, logs)
	}
	if st.RefusedInvalidations != uint64(refused) {
		t.Errorf("RefusedInvalidations = %d, want the %d Deletes the breaker refused its caller", st.RefusedInvalidations, refused)
	}
}

// While the backend stays down, the breaker's invalidation of the pending keys fails at every
// half-open probe, and the breaker opens again: each is logged at the first failure, then at
// most once a minute while it goes on, and once more, at INFO, when the breaker closes and the
// keys are invalidated at last. On the bubble's clock.
func TestFailingInvalidationIsLoggedOnceAMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newRemote(t, time.Millisecond)
		logs := &logLines{}
		b, _ := resilient.New(p, resilient.Options{FailureThreshold: 1, OpenTimeout: time.Second, OpTimeout: 100 * time.Millisecond, Logger: slog.New(logs)})
		defer b.Close()
		p.mode.Store(failing)
		_ = b.Set(ctx, "CACHE#k", []byte(`1`), time.Hour) // fails: opens the breaker, CACHE#k pending
		const outage = 10 * time.Minute
		for start := time.Now(); time.Since(start) < outage; {
			time.Sleep(100 * time.Millisecond)
			_, _ = b.Get(ctx, "CACHE#k") // starts the invalidation whenever the breaker lets it
		}
		failed := logs.count(slog.LevelWarn, "invalidat")
		changes := logs.count(slog.LevelWarn, "changed state")
		p.mode.Store(healthy)
		for b.Stats().Stale > 0 {
			time.Sleep(100 * time.Millisecond)
			_, _ = b.Get(ctx, "CACHE#k")
		}
		synctest.Wait()
		done := logs.count(slog.LevelInfo, "invalidated")
		closed := logs.count(slog.LevelInfo, "changed state")
		t.Logf("%v down: %d WARN lines of the invalidation, %d of the breaker's state for %d state changes",
			outage, failed, changes, b.Stats().StateChanges)
		if failed < 1 || failed > 11 {
			t.Errorf("%d WARN lines of the failing invalidation over %v, want the first and at most one a minute:%s", failed, outage, logs)
		}
		if changes < 1 || changes > 12 {
			t.Errorf("%d WARN lines of the breaker's state over %v, want the opening and at most one a minute:%s", changes, outage, logs)
		}
		if done != 1 || closed != 1 {
			t.Errorf("%d INFO lines once the keys are invalidated and %d once the breaker closes, want 1 each:%s", done, closed, logs)
		}
	})
}
