package emf

import (
	"maps"
	"slices"
	"time"

	"github.com/cachekit/cachekit"
)

// Metric is one metric the Writer emits: the one list that the Writer, Dashboard and Alarms
// share, so that a metric renamed here is renamed in the lines, the dashboard and the alarms.
type Metric struct {
	// Name is the metric's name in CloudWatch.
	Name string
	// Unit is its CloudWatch unit: Count, Percent, Milliseconds or None.
	Unit string
	// Kind says what its values are, and so how the values of many lines add up.
	Kind Kind
	// Statistic is the CloudWatch statistic that sums its values up over a period, across lines
	// and instances, without hiding a problem: Sum for counts, Maximum for the latencies' p99
	// and maximum and for BreakerOpen, Minimum for Healthy.
	Statistic string
	// Description says what it is, and when a line carries it.
	Description string
}

// Kind is what a Metric's values are.
type Kind string

// The kinds of Metric.
const (
	// KindCount is a number of events since the previous line: a period's Sum adds the lines
	// up.
	KindCount Kind = "count"
	// KindRatio is a percentage of the line's own counts. Lines of a few reads weigh as much
	// as lines of many in an average, so the dashboard and the alarms compute a period's ratio
	// from the counts instead.
	KindRatio Kind = "ratio"
	// KindLatency is a percentile or the maximum of the Store calls since the previous line, in
	// milliseconds. The Maximum of a percentile over many lines bounds that percentile of all
	// their calls from above: no more than 1% of each line's calls are over its p99, so no
	// more than 1% of all of them are over the largest.
	KindLatency Kind = "latency"
	// KindGauge is a state at the time of the line, such as 1 while the breaker is open.
	KindGauge Kind = "gauge"
)

// Metrics returns every metric the Writer emits, in the order of its lines.
func Metrics() []Metric {
	ms := make([]Metric, len(definitions))
	for i, d := range definitions {
		ms[i] = d.Metric
	}
	return ms
}

// definition is a Metric and how a line computes its value, when the line carries it.
type definition struct {
	Metric
	value func(iv *interval) (float64, bool)
}

// interval is what one line reports: the Writer's state now and at the previous line, and
// the Store calls' latencies in between.
type interval struct {
	now, prev     *cachekit.Stats
	reads, writes cachekit.Histogram
}

// The definitions, each in a variable of its own so that the dashboard and the alarms refer
// to a metric by the variable, never by its name spelled again.
var (
	hits       = count("Hits", "reads that found an entry", func(s *cachekit.Stats) uint64 { return s.Hits })
	misses     = count("Misses", "reads that found no entry", func(s *cachekit.Stats) uint64 { return s.Misses })
	skipped    = count("Skipped", "reads that an open breaker answered as misses without asking the backend", func(s *cachekit.Stats) uint64 { return s.Skipped })
	sets       = count("Sets", "entries written", func(s *cachekit.Stats) uint64 { return s.Sets })
	deletes    = count("Deletes", "keys deleted and entries cleared", func(s *cachekit.Stats) uint64 { return s.Deletes })
	errs       = count("Errors", "calls that failed for any reason other than a miss", func(s *cachekit.Stats) uint64 { return s.Errors })
	loads      = count("Loads", "loader runs by GetOrLoad", func(s *cachekit.Stats) uint64 { return s.Loads })
	loadErrors = count("LoadErrors", "loader runs that failed", func(s *cachekit.Stats) uint64 { return s.LoadErrors })
	staleReads = count("StaleReads", "reads served a stale value within its grace period, by views with Freshness", func(s *cachekit.Stats) uint64 { return s.Stale })
	refreshes  = count("Refreshes", "refreshes started, of stale values or early, by views with Freshness", func(s *cachekit.Stats) uint64 { return s.Refreshes })

	hitRatio = definition{
		Metric{"HitRatio", "Percent", KindRatio, "Average", "hits over reads (hits and misses), when there were reads"},
		func(iv *interval) (float64, bool) {
			h, m := iv.now.Hits-iv.prev.Hits, iv.now.Misses-iv.prev.Misses
			return 100 * float64(h) / float64(h+m), h+m > 0
		},
	}

	readP50  = latency("ReadLatencyP50", "Average", "the median read", readsOf, median)
	readP99  = latency("ReadLatencyP99", "Maximum", "the 99th percentile read", readsOf, p99)
	readMax  = latency("ReadLatencyMax", "Maximum", "the slowest read", readsOf, slowest)
	writeP50 = latency("WriteLatencyP50", "Average", "the median write", writesOf, median)
	writeP99 = latency("WriteLatencyP99", "Maximum", "the 99th percentile write", writesOf, p99)
	writeMax = latency("WriteLatencyMax", "Maximum", "the slowest write", writesOf, slowest)

	breakerOpen = definition{
		Metric{"BreakerOpen", "None", KindGauge, "Maximum", "1 while the circuit breaker is open, else 0; for a Store behind a breaker"},
		func(iv *interval) (float64, bool) { return flag(iv.now.Breaker == "open"), iv.now.Breaker != "" },
	}
	onFallback = definition{
		Metric{"OnFallback", "None", KindGauge, "Maximum", "1 while traffic goes to the fallback, else 0; for a Store with a fallback"},
		func(iv *interval) (float64, bool) { return flag(iv.now.Active == "fallback"), iv.now.Active != "" },
	}
	healthChecks = definition{
		Metric{"HealthChecks", "Count", KindCount, "Sum", "health checks run, when there were checks"},
		func(iv *interval) (float64, bool) {
			n := iv.now.HealthChecks - iv.prev.HealthChecks
			return float64(n), n > 0
		},
	}
	healthCheckFailures = definition{
		Metric{"HealthCheckFailures", "Count", KindCount, "Sum", "health checks that found the backend unhealthy, when there were checks"},
		func(iv *interval) (float64, bool) {
			return float64(iv.now.HealthFailures - iv.prev.HealthFailures), iv.now.HealthChecks > iv.prev.HealthChecks
		},
	}
	healthy = definition{
		Metric{"Healthy", "None", KindGauge, "Minimum", "1 if the last health check found the backend healthy or degraded, 0 if unhealthy; once there was a check"},
		func(iv *interval) (float64, bool) {
			h := iv.now.Health
			return flag(h != nil && h.Status != cachekit.Unhealthy), h != nil
		},
	}
	healthCheckLatency = definition{
		Metric{"HealthCheckLatency", "Milliseconds", KindGauge, "Maximum", "the last health check's probe time; once there was a check"},
		func(iv *interval) (float64, bool) {
			if h := iv.now.Health; h != nil {
				return float64(h.TotalNS) / 1e6, true
			}
			return 0, false
		},
	}
)

// definitions are the metrics in the order of a line.
var definitions = []*definition{
	&hits, &misses, &skipped, &sets, &deletes, &errs, &loads, &loadErrors, &staleReads, &refreshes,
	&hitRatio,
	&readP50, &readP99, &readMax, &writeP50, &writeP99, &writeMax,
	&breakerOpen, &onFallback,
	&healthChecks, &healthCheckFailures, &healthy, &healthCheckLatency,
}

// count defines a count that every line carries: the change of a counter of cachekit.Stats.
func count(name, desc string, counter func(*cachekit.Stats) uint64) definition {
	return definition{
		Metric{name, "Count", KindCount, "Sum", desc},
		func(iv *interval) (float64, bool) { return float64(counter(iv.now) - counter(iv.prev)), true },
	}
}

// latency defines a statistic of one of the interval's histograms, which a line carries when
// the histogram has observations.
func latency(name, statistic, desc string, of func(*interval) *cachekit.Histogram, stat func(*cachekit.Histogram) time.Duration) definition {
	desc += " of the Store calls since the previous line, from a log-linear histogram within 6.25%, when there were calls"
	return definition{
		Metric{name, "Milliseconds", KindLatency, statistic, desc},
		func(iv *interval) (float64, bool) {
			h := of(iv)
			return float64(stat(h)) / 1e6, h.Count() > 0
		},
	}
}

func readsOf(iv *interval) *cachekit.Histogram  { return &iv.reads }
func writesOf(iv *interval) *cachekit.Histogram { return &iv.writes }

func median(h *cachekit.Histogram) time.Duration  { return h.Quantile(0.5) }
func p99(h *cachekit.Histogram) time.Duration     { return h.Quantile(0.99) }
func slowest(h *cachekit.Histogram) time.Duration { return h.Max() }

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Dimension is a CloudWatch dimension: a name and its value. Its JSON is that of the
// CloudWatch API and of CloudFormation.
type Dimension struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// prefixDimension names the dimension that carries the Writer's Prefix.
const prefixDimension = "Prefix"

// dimensions returns the one dimension set of every line a Writer writes with the dimensions
// dims and the prefix: dims sorted by name, then Prefix. CloudWatch tells metrics apart by
// their whole dimension set, so the dashboard and the alarms ask for this very set.
func dimensions(dims map[string]string, prefix string) []Dimension {
	var ds []Dimension
	for _, name := range slices.Sorted(maps.Keys(dims)) {
		if name != prefixDimension { // the Prefix option names the prefix
			ds = append(ds, Dimension{name, dims[name]})
		}
	}
	return append(ds, Dimension{prefixDimension, prefix})
}
