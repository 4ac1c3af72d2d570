package cachekit

import (
	"context"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// Recorder receives what a Cache does as it does it, for a metrics system: package emf
// writes CloudWatch Embedded Metric Format lines of it, package otelcache OpenTelemetry
// instruments. The Cache calls the counting and latency methods on its request path, from
// many goroutines at once: they must be safe for concurrent use, cheap, and must not block.
// The state methods are called from the Cache's schedule (see Options.MetricsInterval) and
// from Flush. Embed NopRecorder to implement only some of them, and to keep compiling when
// the interface grows.
type Recorder interface {
	// RecordHits, RecordMisses and RecordSkipped count reads that found an entry, found
	// none, and that a circuit breaker answered as misses without asking the backend.
	RecordHits(n int)
	RecordMisses(n int)
	RecordSkipped(n int)
	// RecordSets and RecordDeletes count entries written and keys deleted (Clear included).
	RecordSets(n int)
	RecordDeletes(n int)
	// RecordErrors counts calls that failed for any reason other than a miss.
	RecordErrors(n int)
	// RecordLoadSuccess and RecordLoadFailure count loader runs by GetOrLoad that returned a
	// value, and that returned an error.
	RecordLoadSuccess(n int)
	RecordLoadFailure(n int)
	// RecordStale counts reads that a view with a grace period served a stale value, and
	// RecordRefreshes the refreshes views started (of stale values, or early).
	RecordStale(n int)
	RecordRefreshes(n int)
	// RecordRead and RecordWrite take the latency of one call to the Store: reads (Get,
	// GetMany, Has, TTL) and writes (Set, SetMany, Delete, Expire).
	RecordRead(d time.Duration)
	RecordWrite(d time.Duration)
	// RecordStatus takes where a Store that fails open stands (its breaker, and whether it
	// serves from its fallback), on each metrics tick and Flush; a Store without a breaker
	// reports nothing.
	RecordStatus(s backend.Status)
	// RecordHealth takes the result of each conclusive health check.
	RecordHealth(r HealthResult)
}

// Flusher is an optional interface of a Recorder that buffers what it records (EMF lines):
// the Cache calls Flush on its metrics schedule, from Cache.Flush and on Close.
type Flusher interface {
	Flush() error
}

// NopRecorder is a Recorder that does nothing: embed it in a Recorder that implements only
// some of the methods.
type NopRecorder struct{}

var _ Recorder = NopRecorder{}

// RecordHits does nothing.
func (NopRecorder) RecordHits(int) {}

// RecordStale does nothing.
func (NopRecorder) RecordStale(int) {}

// RecordRefreshes does nothing.
func (NopRecorder) RecordRefreshes(int) {}

// RecordMisses does nothing.
func (NopRecorder) RecordMisses(int) {}

// RecordSkipped does nothing.
func (NopRecorder) RecordSkipped(int) {}

// RecordSets does nothing.
func (NopRecorder) RecordSets(int) {}

// RecordDeletes does nothing.
func (NopRecorder) RecordDeletes(int) {}

// RecordErrors does nothing.
func (NopRecorder) RecordErrors(int) {}

// RecordLoadSuccess does nothing.
func (NopRecorder) RecordLoadSuccess(int) {}

// RecordLoadFailure does nothing.
func (NopRecorder) RecordLoadFailure(int) {}

// RecordRead does nothing.
func (NopRecorder) RecordRead(time.Duration) {}

// RecordWrite does nothing.
func (NopRecorder) RecordWrite(time.Duration) {}

// RecordStatus does nothing.
func (NopRecorder) RecordStatus(backend.Status) {}

// RecordHealth does nothing.
func (NopRecorder) RecordHealth(HealthResult) {}

// HealthStatus is a health check's verdict.
type HealthStatus string

// The verdicts of a health check.
const (
	Healthy   HealthStatus = "healthy"   // every step worked, in good time
	Degraded  HealthStatus = "degraded"  // every step worked, but slowly
	Unhealthy HealthStatus = "unhealthy" // a step failed on every attempt
)

// HealthStep is one timed step of a probe: set, get or delete.
type HealthStep struct {
	Step      string `json:"step"`
	LatencyNS int64  `json:"latency_ns"`
	Error     string `json:"error,omitempty"`
}

// HealthResult is the outcome of a health check: its last attempt's steps.
type HealthResult struct {
	Status              HealthStatus `json:"status"`
	Key                 string       `json:"key"` // the probe key of the last attempt
	Steps               []HealthStep `json:"steps"`
	TotalNS             int64        `json:"total_ns"`
	Attempts            int          `json:"attempts"`
	ConsecutiveFailures int          `json:"consecutive_failures"` // unhealthy checks in a row, this one included
	LastError           string       `json:"last_error,omitempty"`
	CheckedAt           time.Time    `json:"checked_at"`
	// Inconclusive marks a check cut short by its caller's context: it says nothing of the
	// backend, and a Cache neither keeps nor counts it.
	Inconclusive bool `json:"inconclusive,omitempty"`
}

// HealthCheck checks a Store's health; monitor.Checker is one. A Cache given one in
// Options.Health runs it on its schedule against the Store it uses at the time (the remote
// tier behind an in-memory L1), keeps the last conclusive result (Cache.Health, Stats) and
// reports it to its Recorder.
type HealthCheck interface {
	Check(ctx context.Context, s Store) HealthResult
}
