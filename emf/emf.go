package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
)

// DefaultNamespace is the default of Options.Namespace.
const DefaultNamespace = "cachekit"

// Options configures a Writer. The zero value means every documented default.
type Options struct {
	// Namespace is the CloudWatch namespace of the metrics. Zero means DefaultNamespace.
	Namespace string
	// Prefix is the value of the Prefix dimension every line carries: the prefix of the
	// Cache the Writer records. Zero means cachekit.DefaultPrefix.
	Prefix string
	// Dimensions name the metrics beside Prefix: for example {"Service": "geo", "Backend":
	// "dynamodb"}. Values must not be secrets.
	Dimensions map[string]string
	// Writer receives one JSON line at each flush. Nil means os.Stdout, which AWS Lambda
	// sends to CloudWatch Logs, where the metrics are extracted with no agent and no API call.
	Writer io.Writer
	// Clock is the time source of the lines' timestamps; nil means the system clock.
	Clock backend.Clock
}

// Writer is a cachekit.Recorder that writes what it records as CloudWatch Embedded Metric
// Format lines: aggregated, one line per flush — never a line per cache call. Give it to a
// Cache in cachekit.Options.Metrics, which flushes it on its metrics interval, on
// Cache.Flush (call it at the end of a Lambda invocation) and on Close. Recording allocates
// nothing and takes no lock. Create it with New; it is safe for concurrent use.
type Writer struct {
	o Options

	hits, misses, skipped, sets, deletes, errors, loads, loadErrors, stale, refreshes atomic.Uint64
	reads, writes                                                                     cachekit.Latencies

	mu   sync.Mutex
	now  cachekit.Stats // the state recorded so far: status and health
	last cachekit.Stats // the totals at the previous flush
}

var (
	_ cachekit.Recorder = (*Writer)(nil)
	_ cachekit.Flusher  = (*Writer)(nil)
)

// New returns a Writer configured by opts.
func New(opts Options) *Writer {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Prefix == "" {
		opts.Prefix = cachekit.DefaultPrefix
	}
	if opts.Writer == nil {
		opts.Writer = os.Stdout
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	return &Writer{o: opts}
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// RecordHits implements cachekit.Recorder.
func (w *Writer) RecordHits(n int) { w.hits.Add(uint64(n)) }

// RecordMisses implements cachekit.Recorder.
func (w *Writer) RecordMisses(n int) { w.misses.Add(uint64(n)) }

// RecordSkipped implements cachekit.Recorder.
func (w *Writer) RecordSkipped(n int) { w.skipped.Add(uint64(n)) }

// RecordSets implements cachekit.Recorder.
func (w *Writer) RecordSets(n int) { w.sets.Add(uint64(n)) }

// RecordDeletes implements cachekit.Recorder.
func (w *Writer) RecordDeletes(n int) { w.deletes.Add(uint64(n)) }

// RecordErrors implements cachekit.Recorder.
func (w *Writer) RecordErrors(n int) { w.errors.Add(uint64(n)) }

// RecordLoadSuccess implements cachekit.Recorder.
func (w *Writer) RecordLoadSuccess(n int) { w.loads.Add(uint64(n)) }

// RecordLoadFailure implements cachekit.Recorder.
func (w *Writer) RecordLoadFailure(n int) {
	w.loads.Add(uint64(n))
	w.loadErrors.Add(uint64(n))
}

// RecordStale implements cachekit.Recorder.
func (w *Writer) RecordStale(n int) { w.stale.Add(uint64(n)) }

// RecordRefreshes implements cachekit.Recorder.
func (w *Writer) RecordRefreshes(n int) { w.refreshes.Add(uint64(n)) }

// RecordRead implements cachekit.Recorder.
func (w *Writer) RecordRead(d time.Duration) { w.reads.Record(d) }

// RecordWrite implements cachekit.Recorder.
func (w *Writer) RecordWrite(d time.Duration) { w.writes.Record(d) }

// RecordStatus implements cachekit.Recorder: the next lines carry BreakerOpen and OnFallback.
func (w *Writer) RecordStatus(s backend.Status) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now.Breaker, w.now.Active = s.Breaker, s.Active
}

// RecordHealth implements cachekit.Recorder: the next line counts the check, and carries
// Healthy and HealthCheckLatency of the latest.
func (w *Writer) RecordHealth(r cachekit.HealthResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now.Health = &r
	w.now.HealthChecks++
	if r.Status == cachekit.Unhealthy {
		w.now.HealthFailures++
	}
}

type metric struct {
	name, unit string
	value      float64
}

// Flush writes one line with what was recorded since the previous flush. It implements
// cachekit.Flusher.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now
	now.Hits, now.Misses, now.Skipped = w.hits.Load(), w.misses.Load(), w.skipped.Load()
	now.Sets, now.Deletes, now.Errors = w.sets.Load(), w.deletes.Load(), w.errors.Load()
	now.Loads, now.LoadErrors = w.loads.Load(), w.loadErrors.Load()
	now.Stale, now.Refreshes = w.stale.Load(), w.refreshes.Load()
	now.ReadLatency, now.WriteLatency = w.reads.Snapshot(), w.writes.Snapshot()
	err := w.write(metrics(&now, &w.last))
	w.last = now
	return err
}

// metrics returns what a line reports of the interval between the snapshots prev and now.
func metrics(now, prev *cachekit.Stats) []metric {
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
		{"StaleReads", "Count", count(now.Stale, prev.Stale)},
		{"Refreshes", "Count", count(now.Refreshes, prev.Refreshes)},
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
		ms = append(ms, metric{"Healthy", "None", flag(h.Status != cachekit.Unhealthy)},
			metric{"HealthCheckLatency", "Milliseconds", float64(h.TotalNS) / 1e6})
	}
	return ms
}

// appendLatency adds the interval's p50, p99 and maximum, when it has observations.
func appendLatency(ms []metric, name string, h cachekit.Histogram) []metric {
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
func (w *Writer) write(ms []metric) error {
	dims := slices.Sorted(maps.Keys(w.o.Dimensions))
	dims = append(dims, "Prefix")
	line := map[string]any{"Prefix": w.o.Prefix}
	for k, v := range w.o.Dimensions {
		line[k] = v
	}
	defs := make([]map[string]string, len(ms))
	for i, m := range ms {
		defs[i] = map[string]string{"Name": m.name, "Unit": m.unit}
		line[m.name] = m.value
	}
	line["_aws"] = map[string]any{
		"Timestamp": w.o.Clock.Now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  w.o.Namespace,
			"Dimensions": [][]string{dims},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("emf: a line: %w", err)
	}
	_, err = w.o.Writer.Write(append(b, '\n'))
	return err
}
