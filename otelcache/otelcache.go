package otelcache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
)

// ScopeName is the instrumentation scope of the Meter a Recorder creates its instruments on.
const ScopeName = "github.com/cachekit/cachekit/otelcache"

// The attribute keys of the measurements (see docs/metrics.md).
const (
	// ResultKey tells a read's outcome apart: hit, miss or skipped (a circuit breaker answered
	// without asking the backend).
	ResultKey = attribute.Key("cachekit.cache.result")
	// OperationKey tells a Store call's kind apart: read or write.
	OperationKey = attribute.Key("cachekit.store.operation")
	// LoadResultKey tells a load's outcome apart: success or failure.
	LoadResultKey = attribute.Key("cachekit.load.result")
	// HealthStatusKey is a health check's verdict: healthy, degraded or unhealthy.
	HealthStatusKey = attribute.Key("cachekit.health.status")
)

// DurationBuckets are the bucket boundaries, in seconds, of the duration histograms: from
// 100µs (an in-memory or local Redis call) to 10s (a call that timed out). OpenTelemetry's
// default boundaries are made for milliseconds, and would put every call in the first bucket.
var DurationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Options configures a Recorder. The zero value means every documented default.
type Options struct {
	// MeterProvider provides the Meter the instruments are created on. Nil means the global
	// one, otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Attributes are added to every measurement, to tell caches apart: for example
	// attribute.String("cachekit.cache.prefix", "CACHE#geo:"). Keep them few and of low
	// cardinality, and never secrets.
	Attributes []attribute.KeyValue
}

// Recorder is a cachekit.Recorder that records a Cache's activity on OpenTelemetry
// instruments; give it to a Cache in cachekit.Options.Metrics. Its instruments, names and
// units are in docs/metrics.md. Create it with New; it is safe for concurrent use.
type Recorder struct {
	reads, sets, deletes, errs, loads metric.Int64Counter
	stale, refreshes                  metric.Int64Counter
	checks                            metric.Int64Counter
	duration, checkDuration           metric.Float64Histogram
	breakerOpen, onFallback           metric.Int64Gauge

	// The measurement options of each attribute combination, built once so that recording
	// allocates nothing of ours.
	base                         []metric.AddOption
	hit, miss, skipped           []metric.AddOption
	loadOK, loadFailed           []metric.AddOption
	read, write                  []metric.RecordOption
	healthy, degraded, unhealthy []metric.AddOption
	gauge                        []metric.RecordOption
}

var _ cachekit.Recorder = (*Recorder)(nil)

// New returns a Recorder configured by opts, or an error when the Meter refuses an
// instrument.
func New(opts Options) (*Recorder, error) {
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(ScopeName)
	r := &Recorder{}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(DurationBuckets...))
		errs = append(errs, err)
		return h
	}
	gauge := func(name, desc string) metric.Int64Gauge {
		g, err := m.Int64Gauge(name, metric.WithUnit("1"), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	r.reads = counter("cachekit.cache.reads", "{read}", "Keys read from the cache, by result.")
	r.sets = counter("cachekit.cache.sets", "{entry}", "Entries written to the cache.")
	r.deletes = counter("cachekit.cache.deletes", "{entry}", "Keys deleted from the cache, and entries removed by Clear.")
	r.errs = counter("cachekit.cache.errors", "{error}", "Cache calls that failed for any reason other than a miss.")
	r.loads = counter("cachekit.cache.loads", "{load}", "Loader runs by GetOrLoad, by result.")
	r.stale = counter("cachekit.cache.stale_reads", "{read}", "Reads served a stale value within its grace period while it was refreshed.")
	r.refreshes = counter("cachekit.cache.refreshes", "{refresh}", "Refreshes started by views with freshness options: of stale values, or early.")
	r.duration = histogram("cachekit.store.operation.duration", "Duration of the calls to the Store, by operation.")
	r.breakerOpen = gauge("cachekit.breaker.open", "1 while the circuit breaker in front of the backend is open, else 0.")
	r.onFallback = gauge("cachekit.fallback.active", "1 while traffic goes to the fallback store, else 0.")
	r.checks = counter("cachekit.health.checks", "{check}", "Health checks of the backend, by status.")
	r.checkDuration = histogram("cachekit.health.duration", "Duration of a health check's probe.")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otelcache: %w", err)
	}

	add := func(kv ...attribute.KeyValue) []metric.AddOption {
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(append(kv, opts.Attributes...)...))}
	}
	rec := func(kv ...attribute.KeyValue) []metric.RecordOption {
		return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(append(kv, opts.Attributes...)...))}
	}
	r.base = add()
	r.hit, r.miss, r.skipped = add(ResultKey.String("hit")), add(ResultKey.String("miss")), add(ResultKey.String("skipped"))
	r.loadOK, r.loadFailed = add(LoadResultKey.String("success")), add(LoadResultKey.String("failure"))
	r.read, r.write = rec(OperationKey.String("read")), rec(OperationKey.String("write"))
	r.healthy = add(HealthStatusKey.String(string(cachekit.Healthy)))
	r.degraded = add(HealthStatusKey.String(string(cachekit.Degraded)))
	r.unhealthy = add(HealthStatusKey.String(string(cachekit.Unhealthy)))
	r.gauge = rec()
	return r, nil
}

// The Recorder's methods record with a background context: the Cache reports after the
// fact, with no request context to hand, and no exemplar needs one.
var bg = context.Background()

// RecordHits implements cachekit.Recorder.
func (r *Recorder) RecordHits(n int) { r.reads.Add(bg, int64(n), r.hit...) }

// RecordMisses implements cachekit.Recorder.
func (r *Recorder) RecordMisses(n int) { r.reads.Add(bg, int64(n), r.miss...) }

// RecordSkipped implements cachekit.Recorder.
func (r *Recorder) RecordSkipped(n int) { r.reads.Add(bg, int64(n), r.skipped...) }

// RecordSets implements cachekit.Recorder.
func (r *Recorder) RecordSets(n int) { r.sets.Add(bg, int64(n), r.base...) }

// RecordDeletes implements cachekit.Recorder.
func (r *Recorder) RecordDeletes(n int) { r.deletes.Add(bg, int64(n), r.base...) }

// RecordErrors implements cachekit.Recorder.
func (r *Recorder) RecordErrors(n int) { r.errs.Add(bg, int64(n), r.base...) }

// RecordLoadSuccess implements cachekit.Recorder.
func (r *Recorder) RecordLoadSuccess(n int) { r.loads.Add(bg, int64(n), r.loadOK...) }

// RecordLoadFailure implements cachekit.Recorder.
func (r *Recorder) RecordLoadFailure(n int) { r.loads.Add(bg, int64(n), r.loadFailed...) }

// RecordStale implements cachekit.Recorder.
func (r *Recorder) RecordStale(n int) { r.stale.Add(bg, int64(n), r.base...) }

// RecordRefreshes implements cachekit.Recorder.
func (r *Recorder) RecordRefreshes(n int) { r.refreshes.Add(bg, int64(n), r.base...) }

// RecordRead implements cachekit.Recorder.
func (r *Recorder) RecordRead(d time.Duration) { r.duration.Record(bg, d.Seconds(), r.read...) }

// RecordWrite implements cachekit.Recorder.
func (r *Recorder) RecordWrite(d time.Duration) { r.duration.Record(bg, d.Seconds(), r.write...) }

// RecordStatus implements cachekit.Recorder.
func (r *Recorder) RecordStatus(s backend.Status) {
	if s.Breaker != "" {
		r.breakerOpen.Record(bg, flag(s.Breaker == "open"), r.gauge...)
	}
	if s.Active != "" {
		r.onFallback.Record(bg, flag(s.Active == "fallback"), r.gauge...)
	}
}

// RecordHealth implements cachekit.Recorder.
func (r *Recorder) RecordHealth(h cachekit.HealthResult) {
	opts := r.healthy
	switch h.Status {
	case cachekit.Degraded:
		opts = r.degraded
	case cachekit.Unhealthy:
		opts = r.unhealthy
	}
	r.checks.Add(bg, 1, opts...)
	r.checkDuration.Record(bg, time.Duration(h.TotalNS).Seconds(), r.gauge...)
}

func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
