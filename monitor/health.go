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

	"github.com/cachekit/cachekit/backend"
)

// Status is a health check's verdict.
type Status string

// The verdicts of a health check.
const (
	Healthy   Status = "healthy"   // every step worked, within Options.Slow
	Degraded  Status = "degraded"  // every step worked, but the probe took longer than Options.Slow
	Unhealthy Status = "unhealthy" // a step failed on every attempt
)

// Step is one timed step of a probe: set, get or delete.
type Step struct {
	Step      string `json:"step"`
	LatencyNS int64  `json:"latency_ns"`
	Error     string `json:"error,omitempty"`
}

// Result is the outcome of a health check: its last attempt's steps.
type Result struct {
	Status              Status    `json:"status"`
	Key                 string    `json:"key"` // the probe key of the last attempt
	Steps               []Step    `json:"steps"`
	TotalNS             int64     `json:"total_ns"`
	Attempts            int       `json:"attempts"`
	ConsecutiveFailures int       `json:"consecutive_failures"` // unhealthy checks in a row, this one included
	LastError           string    `json:"last_error,omitempty"`
	CheckedAt           time.Time `json:"checked_at"`
}

// Defaults for the zero fields of Options.
const (
	DefaultPrefix   = "CACHE#health:"
	DefaultProbeTTL = 30 * time.Second
	DefaultRetries  = 2
	DefaultBackoff  = 100 * time.Millisecond
	DefaultSlow     = 250 * time.Millisecond
	DefaultInterval = time.Minute
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
	// means DefaultRetries and DefaultBackoff; a negative Retries means none.
	Retries int
	Backoff time.Duration
	// Slow is the probe time over which a working backend is reported degraded. Zero means
	// DefaultSlow.
	Slow time.Duration
	// Interval is how often checks run: Start's goroutine runs one per Interval, and
	// CheckIfDue runs one when the last is older. Zero means DefaultInterval.
	Interval time.Duration
	// Logger receives an error line for each unhealthy check; it never names keys or values.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Now is the time source for due checks; nil means time.Now.
	Now func() time.Time
}

// Probed is what a health check calls: a backend.Store has these methods, and so has
// anything that forwards them to one.
type Probed interface {
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, keys ...string) error
}

// Checker runs health checks against one Store. It is safe for concurrent use; a zero
// Checker is not: create it with NewChecker.
type Checker struct {
	store Probed
	o     Options

	mu               sync.Mutex
	last             Result
	checks, failures uint64
	checking         chan struct{} // closed when the check under way ends; nil when none is
	checker          loop
}

// NewChecker returns a Checker of store, configured by opts.
func NewChecker(store Probed, opts Options) *Checker {
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
	if opts.Slow <= 0 {
		opts.Slow = DefaultSlow
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Checker{store: store, o: opts}
}

// Check runs a health check now: a probe, retried with backoff while it fails and ctx allows.
// A check that fails because ctx ended is returned but not recorded: the caller's deadline
// says nothing of the backend.
func (c *Checker) Check(ctx context.Context) Result {
	var res Result
	backoff := c.o.Backoff
	for attempt := 0; ; attempt++ {
		res = c.probe(ctx)
		res.Attempts = attempt + 1
		if res.Status != Unhealthy || attempt >= c.o.Retries || ctx.Err() != nil {
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
	if res.Status == Unhealthy && ctx.Err() != nil {
		// Cut short by the caller, the check says nothing of the backend.
		res.LastError = "inconclusive: " + res.LastError
		return res
	}
	c.mu.Lock()
	c.checks++
	res.ConsecutiveFailures = 0
	if res.Status == Unhealthy {
		c.failures++
		res.ConsecutiveFailures = c.last.ConsecutiveFailures + 1
	}
	c.last = res
	c.mu.Unlock()
	if res.Status == Unhealthy {
		c.o.Logger.Error("cachekit: health check failed", "attempts", res.Attempts,
			"consecutive_failures", res.ConsecutiveFailures, "error", res.LastError)
	}
	return res
}

// probe writes a key no one else uses, reads it back, compares and deletes it, timing each
// step. The delete runs even when an earlier step failed, to leave nothing behind.
func (c *Checker) probe(ctx context.Context) Result {
	token := fmt.Sprintf("%016x", rand.Uint64())
	key := c.o.Prefix + token
	want, _ := json.Marshal(map[string]any{"probe": token, "at": c.o.Now().Unix()})
	res := Result{Status: Healthy, Key: key, CheckedAt: c.o.Now()}
	step := func(name string, f func() error) bool {
		start := time.Now()
		err := f()
		s := Step{Step: name, LatencyNS: int64(time.Since(start))}
		if err != nil {
			s.Error = err.Error()
			res.Status, res.LastError = Unhealthy, name+": "+err.Error()
		}
		res.Steps = append(res.Steps, s)
		res.TotalNS += s.LatencyNS
		return err == nil
	}
	if step("set", func() error { return c.store.Set(ctx, key, want, c.o.ProbeTTL) }) {
		step("get", func() error {
			got, err := c.store.Get(ctx, key)
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
	step("delete", func() error { return c.store.Delete(ctx, key) })
	if res.Status == Healthy && time.Duration(res.TotalNS) > c.o.Slow {
		res.Status = Degraded
	}
	return res
}

// Last returns the result of the latest check, or a zero Result before the first.
func (c *Checker) Last() Result {
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

// CheckIfDue runs a check when the latest is older than Options.Interval, and returns the
// latest result either way. Callers that run it as a cache is used get checks where
// goroutines freeze between requests (AWS Lambda): a function thawed after an hour checks on
// its first call. Concurrent callers share one check.
func (c *Checker) CheckIfDue(ctx context.Context) Result {
	c.mu.Lock()
	if !c.last.CheckedAt.IsZero() && c.o.Now().Sub(c.last.CheckedAt) < c.o.Interval {
		defer c.mu.Unlock()
		return c.last
	}
	ch := c.checking
	if ch == nil {
		ch = make(chan struct{})
		c.checking = ch
		c.mu.Unlock()
		c.Check(ctx)
		c.mu.Lock()
		c.checking = nil
		close(ch)
		defer c.mu.Unlock()
		return c.last
	}
	c.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return c.Last()
}

// Start runs a check every Options.Interval on a goroutine of the Checker's own, until Close.
// Where goroutines freeze between requests, use CheckIfDue instead.
func (c *Checker) Start() {
	c.checker.start(c.o.Interval, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, c.o.Interval) // Close cancels it too
		defer cancel()
		c.Check(ctx)
	})
}

// Close stops Start's goroutine and waits for it. It is idempotent; the Store stays open.
func (c *Checker) Close() error {
	c.checker.halt()
	return nil
}

// ServeHTTP runs a check, bounded by the request's context, and answers with the Result as
// JSON: 200 when healthy or degraded, 503 when unhealthy.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res := c.Check(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if res.Status == Unhealthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(res)
}
