package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"
)

// Counted is what EMF reads its numbers from: a *cachekit.Cache or a view of one.
type Counted interface {
	Counters() Stats
}

// DefaultFlushInterval is the default of EMFOptions.Interval.
const DefaultFlushInterval = time.Minute

// EMFOptions configures an EMF writer. The zero value means every documented default.
type EMFOptions struct {
	// Namespace is the CloudWatch namespace of the metrics. Zero means "cachekit".
	Namespace string
	// Dimensions name the metrics beside Prefix, which every line carries: for example
	// {"Service": "geo", "Backend": "dynamodb"}. Values must not be secrets.
	Dimensions map[string]string
	// Writer receives one JSON line per watched cache at each flush. Nil means os.Stdout,
	// which AWS Lambda sends to CloudWatch Logs, where the metrics are extracted with no agent
	// and no API call.
	Writer io.Writer
	// Interval is how often Start's goroutine flushes, and how old the last flush must be for
	// FlushIfDue to flush. Zero means DefaultFlushInterval.
	Interval time.Duration
	// Now is the time source of the lines' timestamps; nil means time.Now.
	Now func() time.Time
}

// EMF writes caches' statistics as CloudWatch Embedded Metric Format lines: aggregated, one
// line per watched cache per flush — never a line per cache call. Flush at the end of a
// Lambda invocation, on an interval with Start in a long-running service, and on Close.
type EMF struct {
	o EMFOptions

	mu      sync.Mutex
	watched []*watched
	flushed time.Time // when the last flush ran, or NewEMF
	closed  bool
	flusher loop
}

type watched struct {
	c    Counted
	last Stats // the counters at the previous flush
}

// NewEMF returns an EMF writer configured by opts.
func NewEMF(opts EMFOptions) *EMF {
	if opts.Namespace == "" {
		opts.Namespace = "cachekit"
	}
	if opts.Writer == nil {
		opts.Writer = os.Stdout
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultFlushInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &EMF{o: opts, flushed: opts.Now()}
}

// Watch adds a cache or view whose counters each flush reports, as deltas since the previous.
func (e *EMF) Watch(c Counted) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.watched = append(e.watched, &watched{c: c, last: c.Counters()})
}

type metric struct {
	name, unit string
	value      float64
}

// Flush writes one line per watched cache with what happened since the previous flush.
func (e *EMF) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flush()
}

// FlushIfDue flushes when the last flush is at least Options.Interval old: what a cache
// calls on demand where goroutines freeze between requests.
func (e *EMF) FlushIfDue() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.o.Now().Sub(e.flushed) < e.o.Interval {
		return nil
	}
	return e.flush()
}

// flush is Flush with e.mu held.
func (e *EMF) flush() error {
	e.flushed = e.o.Now()
	for _, w := range e.watched {
		now := w.c.Counters()
		if err := e.write(now.Prefix, metrics(&now, &w.last)); err != nil {
			return err
		}
		w.last = now
	}
	return nil
}

// metrics returns what a line reports of the interval between the snapshots prev and now.
func metrics(now, prev *Stats) []metric {
	count := func(cur, old uint64) float64 { return float64(cur - old) }
	ms := []metric{
		{"Hits", "Count", count(now.Hits, prev.Hits)},
		{"Misses", "Count", count(now.Misses, prev.Misses)},
		{"Skipped", "Count", count(now.Skipped, prev.Skipped)},
		{"Sets", "Count", count(now.Sets, prev.Sets)},
		{"Deletes", "Count", count(now.Deletes, prev.Deletes)},
		{"Errors", "Count", count(now.Errors, prev.Errors)},
		{"Loads", "Count", count(now.Loads, prev.Loads)},
		{"LoadErrors", "Count", count(now.LoadErrors, prev.LoadErrors)},
	}
	if reads := ms[0].value + ms[1].value; reads > 0 {
		ms = append(ms, metric{"HitRatio", "Percent", 100 * ms[0].value / reads})
	}
	ms = appendLatency(ms, "ReadLatency", now.ReadLatency.Since(&prev.ReadLatency))
	ms = appendLatency(ms, "WriteLatency", now.WriteLatency.Since(&prev.WriteLatency))
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	if now.Breaker != "" {
		ms = append(ms, metric{"BreakerOpen", "None", flag(now.Breaker == "open")})
	}
	if now.Active != "" {
		ms = append(ms, metric{"OnFallback", "None", flag(now.Active == "fallback")})
	}
	if checks := count(now.HealthChecks, prev.HealthChecks); checks > 0 {
		ms = append(ms, metric{"HealthChecks", "Count", checks},
			metric{"HealthCheckFailures", "Count", count(now.HealthFailures, prev.HealthFailures)})
	}
	if h := now.Health; h != nil {
		ms = append(ms, metric{"Healthy", "None", flag(h.Status != Unhealthy)},
			metric{"HealthCheckLatency", "Milliseconds", float64(h.TotalNS) / 1e6})
	}
	return ms
}

// appendLatency adds the interval's p50, p99 and maximum, when it has observations.
func appendLatency(ms []metric, name string, h Histogram) []metric {
	if h.Count() == 0 {
		return ms
	}
	ms2 := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return append(ms,
		metric{name + "P50", "Milliseconds", ms2(h.Quantile(0.5))},
		metric{name + "P99", "Milliseconds", ms2(h.Quantile(0.99))},
		metric{name + "Max", "Milliseconds", ms2(h.Max())})
}

// write writes one EMF line: the _aws metadata, the dimensions and the metrics' values.
func (e *EMF) write(prefix string, ms []metric) error {
	dims := slices.Sorted(maps.Keys(e.o.Dimensions))
	dims = append(dims, "Prefix")
	line := map[string]any{"Prefix": prefix}
	for k, v := range e.o.Dimensions {
		line[k] = v
	}
	defs := make([]map[string]string, len(ms))
	for i, m := range ms {
		defs[i] = map[string]string{"Name": m.name, "Unit": m.unit}
		line[m.name] = m.value
	}
	line["_aws"] = map[string]any{
		"Timestamp": e.o.Now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  e.o.Namespace,
			"Dimensions": [][]string{dims},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("monitor: EMF line: %w", err)
	}
	_, err = e.o.Writer.Write(append(b, '\n'))
	return err
}

// Start flushes every Options.Interval on a goroutine of the EMF's own, until Close.
func (e *EMF) Start() {
	e.flusher.start(e.o.Interval, func(context.Context) { _ = e.Flush() })
}

// Close stops Start's goroutine and flushes what is left. It is idempotent: a second Close
// writes nothing.
func (e *EMF) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.flusher.halt()
	return e.Flush()
}
