package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cachekit/cachekit"
)

// Counted is what EMF reads its numbers from: a *cachekit.Cache or a *cachekit.View.
type Counted interface {
	Counters() cachekit.Stats
	Prefix() string
}

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
	// Interval is how often Start's goroutine flushes. Zero means one minute.
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
	health  *Checker
	closed  bool
	flusher loop
}

type watched struct {
	c    Counted
	last cachekit.Stats // the counters at the previous flush
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
		opts.Interval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &EMF{o: opts}
}

// Watch adds a cache or view whose counters each flush reports, as deltas since the previous.
func (e *EMF) Watch(c Counted) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.watched = append(e.watched, &watched{c: c, last: c.Counters()})
}

// WatchHealth adds the latest result of a Checker to every line: Healthy is 1 when the last
// check was healthy or degraded, 0 when unhealthy; HealthCheckLatency its probe time.
func (e *EMF) WatchHealth(c *Checker) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.health = c
}

// metric is one metric of a line: its name, unit and value.
type metric struct {
	name, unit string
	value      float64
}

// Flush writes one line per watched cache with what happened since the previous flush.
func (e *EMF) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, w := range e.watched {
		now := w.c.Counters()
		d := func(cur, prev uint64) float64 { return float64(cur - prev) }
		ms := []metric{
			{"Hits", "Count", d(now.Hits, w.last.Hits)},
			{"Misses", "Count", d(now.Misses, w.last.Misses)},
			{"Sets", "Count", d(now.Sets, w.last.Sets)},
			{"Deletes", "Count", d(now.Deletes, w.last.Deletes)},
			{"Errors", "Count", d(now.Errors, w.last.Errors)},
			{"Loads", "Count", d(now.Loads, w.last.Loads)},
			{"LoadErrors", "Count", d(now.LoadErrors, w.last.LoadErrors)},
		}
		if reads := ms[0].value + ms[1].value; reads > 0 {
			ms = append(ms, metric{"HitRatio", "Percent", 100 * ms[0].value / reads})
		}
		if e.health != nil {
			if r := e.health.Last(); !r.CheckedAt.IsZero() {
				healthy := 0.0
				if r.Status != Unhealthy {
					healthy = 1
				}
				ms = append(ms, metric{"Healthy", "None", healthy},
					metric{"HealthCheckLatency", "Milliseconds", float64(r.TotalNS) / 1e6})
			}
		}
		if err := e.write(w.c.Prefix(), ms); err != nil {
			return err
		}
		w.last = now
	}
	return nil
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
	e.flusher.start(e.o.Interval, func() { _ = e.Flush() })
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
