package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
)

// Defaults for the zero fields of Options.
const (
	DefaultPrefix   = "CACHE#health:"
	DefaultProbeTTL = 30 * time.Second
	DefaultRetries  = 2
	DefaultBackoff  = 100 * time.Millisecond
	DefaultSlow     = 250 * time.Millisecond
)

// Options configures a Checker. The zero value means every documented default.
type Options struct {
	// Prefix is put before each probe's random key, so that probes live under the cache's
	// prefix and an IAM policy that confines the cache to it lets them through. Zero means
	// DefaultPrefix.
	Prefix string
	// ProbeTTL is the probe key's TTL, so that a probe whose delete failed leaves nothing for
	// long. Zero means DefaultProbeTTL.
	ProbeTTL time.Duration
	// Retries is how many more attempts a failed probe gets before the check reports
	// unhealthy; Backoff is the wait before the first retry, doubled for each next one. Zero
	// means DefaultRetries and DefaultBackoff; a negative Retries means none (what a check
	// run inside a Lambda request wants: no backoff sleeps there).
	Retries int
	Backoff time.Duration
	// Slow is the probe time over which a working backend is reported degraded. Zero means
	// DefaultSlow; a negative value never reports degraded.
	Slow time.Duration
	// Logger receives an error line for each unhealthy check; it never names keys or values.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Clock is the time source of the results' CheckedAt; nil means the system clock.
	Clock backend.Clock
}

// Checker runs health checks. It is a cachekit.HealthCheck: give it to a Cache in
// cachekit.Options.Health, which runs it on its schedule; or call Check, or serve Handler,
// yourself. It is safe for concurrent use; a zero Checker is not: create it with NewChecker.
type Checker struct {
	o Options

	mu               sync.Mutex
	last             cachekit.HealthResult
	checks, failures uint64
}

var _ cachekit.HealthCheck = (*Checker)(nil)

// NewChecker returns a Checker configured by opts.
func NewChecker(opts Options) *Checker {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.ProbeTTL <= 0 {
		opts.ProbeTTL = DefaultProbeTTL
	}
	if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Slow == 0 {
		opts.Slow = DefaultSlow
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	return &Checker{o: opts}
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Check runs a health check of s now: a probe, retried with backoff while it fails and ctx
// allows. A check that fails because ctx ended is returned, marked Inconclusive, but not
// recorded: the caller's deadline says nothing of the backend.
func (c *Checker) Check(ctx context.Context, s backend.Store) cachekit.HealthResult {
	var res cachekit.HealthResult
	backoff := c.o.Backoff
	for attempt := 0; ; attempt++ {
		res = c.probe(ctx, s)
		res.Attempts = attempt + 1
		if res.Status != cachekit.Unhealthy || attempt >= c.o.Retries || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		backoff *= 2
	}
	if res.Status == cachekit.Unhealthy && ctx.Err() != nil {
		// Cut short by the caller, the check says nothing of the backend.
		res.LastError = "inconclusive: " + res.LastError
		res.Inconclusive = true
		return res
	}
	c.mu.Lock()
	c.checks++
	res.ConsecutiveFailures = 0
	if res.Status == cachekit.Unhealthy {
		c.failures++
		res.ConsecutiveFailures = c.last.ConsecutiveFailures + 1
	}
	c.last = res
	c.mu.Unlock()
	if res.Status == cachekit.Unhealthy {
		c.o.Logger.Error("cachekit: health check failed", "attempts", res.Attempts,
			"consecutive_failures", res.ConsecutiveFailures, "error", res.LastError)
	}
	return res
}

// probe writes a key no one else uses, reads it back, compares and deletes it, timing each
// step. The delete runs even when an earlier step failed, to leave nothing behind.
func (c *Checker) probe(ctx context.Context, s backend.Store) cachekit.HealthResult {
	token := fmt.Sprintf("%016x", rand.Uint64())
	key := c.o.Prefix + token
	want, _ := json.Marshal(map[string]any{"probe": token, "at": c.o.Clock.Now().Unix()})
	res := cachekit.HealthResult{Status: cachekit.Healthy, Key: key, CheckedAt: c.o.Clock.Now()}
	step := func(name string, f func() error) bool {
		start := time.Now()
		err := f()
		st := cachekit.HealthStep{Step: name, LatencyNS: int64(time.Since(start))}
		if err != nil {
			st.Error = err.Error()
			res.Status, res.LastError = cachekit.Unhealthy, name+": "+err.Error()
		}
		res.Steps = append(res.Steps, st)
		res.TotalNS += st.LatencyNS
		return err == nil
	}
	if step("set", func() error { return s.Set(ctx, key, want, c.o.ProbeTTL) }) {
		step("get", func() error {
			got, err := s.Get(ctx, key)
			switch {
			case errors.Is(err, backend.ErrNotFound):
				return fmt.Errorf("the probe key was not found right after it was set (%w)", err)
			case err != nil:
				return err
			case !bytes.Equal(got, want):
				return errors.New("read back a different value than was written")
			}
			return nil
		})
	}
	step("delete", func() error { return s.Delete(ctx, key) })
	if res.Status == cachekit.Healthy && c.o.Slow > 0 && time.Duration(res.TotalNS) > c.o.Slow {
		res.Status = cachekit.Degraded
	}
	return res
}

// Last returns the result of the latest check, or a zero Result before the first.
func (c *Checker) Last() cachekit.HealthResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Counts returns how many checks have run, and how many of them failed.
func (c *Checker) Counts() (checks, failures uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checks, c.failures
}

// Handler returns an http.Handler that runs a check of s, bounded by the request's
// context, and answers with the result as JSON: 200 when healthy or degraded, 503 when
// unhealthy. For services with a health endpoint.
func (c *Checker) Handler(s backend.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := c.Check(r.Context(), s)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if res.Status == cachekit.Unhealthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(res)
	})
}
