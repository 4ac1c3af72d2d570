package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	// "dynamodb"}, as cacheenv gives them. Every line carries one dimension set, these and
	// Prefix, which a dashboard or an alarm must name whole: give DashboardOptions and
	// AlarmOptions the same. New reads the map once; a "Prefix" key is ignored. Values must
	// not be secrets.
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
	o    Options
	dims []Dimension // every line's, fixed at New

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
	return &Writer{o: opts, dims: dimensions(opts.Dimensions, opts.Prefix)}
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
	iv := interval{
		now: &now, prev: &w.last,
		reads:  now.ReadLatency.Since(&w.last.ReadLatency),
		writes: now.WriteLatency.Since(&w.last.WriteLatency),
	}
	err := w.write(&iv)
	w.last = now
	return err
}

// write writes one EMF line: the _aws metadata, the dimensions and the values of the metrics
// the interval has.
func (w *Writer) write(iv *interval) error {
	line := make(map[string]any, len(w.dims)+len(definitions)+1)
	names := make([]string, len(w.dims))
	for i, d := range w.dims {
		names[i] = d.Name
		line[d.Name] = d.Value
	}
	defs := make([]map[string]string, 0, len(definitions))
	for _, d := range definitions {
		if v, ok := d.value(iv); ok {
			defs = append(defs, map[string]string{"Name": d.Name, "Unit": d.Unit})
			line[d.Name] = v
		}
	}
	line["_aws"] = map[string]any{
		"Timestamp": w.o.Clock.Now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  w.o.Namespace,
			"Dimensions": [][]string{names},
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
