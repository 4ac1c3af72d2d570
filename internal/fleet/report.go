package fleet

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/tiered"
)

// Report is what a Run measured. Reads are the measured ones, started after the warm-up;
// source calls count over the whole run.
type Report struct {
	Strategy Strategy `json:"strategy"`
	// Backend names the shared backend; Run leaves it empty for its caller to fill.
	Backend   string `json:"backend,omitempty"`
	Instances int    `json:"instances"`
	// The settings the run used, defaults filled in.
	SourceLatency time.Duration `json:"source_latency_ns"`
	HotTTL        time.Duration `json:"hot_ttl_ns"`
	TTL           time.Duration `json:"ttl_ns"`
	MissTTL       time.Duration `json:"miss_ttl_ns"`
	Keys          int           `json:"keys"`
	Zipf          float64       `json:"zipf"`
	MissingKeys   int           `json:"missing_keys"`
	Readers       int           `json:"readers"` // per instance
	Warmup        time.Duration `json:"warmup_ns"`
	Elapsed       time.Duration `json:"elapsed_ns"` // warm-up included
	Interrupted   bool          `json:"interrupted"`

	// Errors counts the reads that failed, but for the ErrNotFound of missing keys.
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// Wrong counts the reads served another key's value, or a value for a missing key: a
	// bug wherever it is not zero.
	Wrong int `json:"wrong"`

	Hot     HotStats     `json:"hot"`     // the hot key
	All     ReadStats    `json:"all"`     // every measured read, of every kind
	Missing MissingStats `json:"missing"` // the keys the source lacks
	Cache   CacheStats   `json:"cache"`   // the instances' counters, summed

	// Series is the hot key's read latency around its expiries, bucket by bucket, the
	// expiries laid over each other (see Bucket).
	Series []Bucket `json:"series"`
}

// ReadStats describes a set of reads.
type ReadStats struct {
	Reads int `json:"reads"`
	// Waited counts the reads that waited for the source: whose latency exceeds half the
	// source's, which no read served by the cache comes near, unless the backend itself is
	// that slow. WaitedForLoad counts those of them served a value the source loaded after
	// the read began: they waited for a load, their own or another instance's, rather than
	// for a slow backend.
	Waited        int     `json:"waited"`
	WaitedForLoad int     `json:"waited_for_load"`
	Latency       Latency `json:"latency"`
	// Stale counts the reads served a value older than its TTL, from the time the source
	// answered, and MaxStaleAge is the most a value was past its TTL.
	Stale       int           `json:"stale"`
	MaxStaleAge time.Duration `json:"max_stale_age_ns"`
}

// Latency sums up the latencies of reads.
type Latency struct {
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// HotStats describes the hot key.
//
// Its source calls fall into generations: a generation is a run of calls each of which
// started within half the hot key's TTL of the one before, so that the calls one expiry
// causes (early refreshes included) count together, and the next expiry's, a TTL or so
// later, apart. The calls that start within half the TTL of the first call are the first
// fill, and count in no expiry. Every later generation is one expiry, or, when it spans more
// than the TTL, as refreshes that never pause make it (each instance refreshing early on a
// schedule of its own), one per TTL it spans, rounded up.
type HotStats struct {
	ReadStats
	SourceCalls int `json:"source_calls"` // every call, the first fill's included
	FillCalls   int `json:"fill_calls"`   // the first fill's calls
	Generations int `json:"generations"`  // after the first fill
	Expiries    int `json:"expiries"`
	// CallsPerExpiry is the calls after the first fill per expiry: one when the fleet loads
	// the key once per expiry, the fleet's size when each instance loads it.
	CallsPerExpiry float64 `json:"calls_per_expiry"`
	// MaxCalls is the most calls of one expiry: of a generation, divided by its expiries.
	MaxCalls int `json:"max_calls"`
	// CallsPerTTL is the calls that started in the measured time per TTL of it: about
	// CallsPerExpiry when the key is loaded once a TTL, more when it is refreshed early.
	CallsPerTTL float64 `json:"calls_per_ttl"`
}

// MissingStats describes the reads of keys the source lacks.
type MissingStats struct {
	Reads       int `json:"reads"`        // measured reads
	Keys        int `json:"keys"`         // distinct keys the source was asked for
	SourceCalls int `json:"source_calls"` // over the whole run
	// WithinTTL counts the source calls for a missing key that started within MissTTL (less
	// the strategy's jitter) of the end of the key's call before: the calls a tombstone of
	// the last answer would have saved. All should make none.
	WithinTTL int `json:"within_ttl"`
}

// CacheStats are the instances' counters, summed.
type CacheStats struct {
	Stale     uint64 `json:"stale"`     // cachekit.Stats.Stale: stale values served while they refreshed
	Refreshes uint64 `json:"refreshes"` // cachekit.Stats.Refreshes
	Loads     uint64 `json:"loads"`     // cachekit.Stats.Loads
	L2Reads   uint64 `json:"l2_reads"`  // tiered.Stats.L2Reads: keys L1 did not hold, asked of the backend
}

// Bucket is one bucket of the time series: the hot key's reads that started in [Offset,
// Offset+width) from an expiry, over every expiry of the run. An expiry is when the first
// value the generation before loaded passes its TTL, from the time the source answered it,
// or, when the backend kept the entry longer (DynamoDB expires items to the second), when
// the generation's first call started; and one more each TTL later in a generation of
// several expiries. A strategy that refreshes early starts the generation before it.
type Bucket struct {
	Offset time.Duration `json:"offset_ns"`
	Reads  int           `json:"reads"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
}

// report builds the Report of a run that took elapsed.
func (o *Options) report(readers []*reader, calls map[string][]call, counters []cachekit.Stats, tiers []tiered.Stats, elapsed time.Duration) *Report {
	rep := &Report{
		Strategy: o.Strategy, Instances: o.Instances, SourceLatency: o.SourceLatency,
		HotTTL: o.HotTTL, TTL: o.TTL, MissTTL: o.MissTTL, Keys: o.Keys, Zipf: o.Zipf,
		MissingKeys: o.MissingKeys, Readers: o.Readers, Warmup: o.Warmup, Elapsed: elapsed,
	}
	var hot, all []read
	for _, r := range readers {
		rep.Errors += r.errors
		rep.Wrong += r.wrong
		if r.firstErr != nil && rep.FirstError == "" {
			rep.FirstError = r.firstErr.Error()
		}
		for _, rd := range r.reads {
			if rd.at < o.Warmup {
				continue
			}
			all = append(all, rd)
			switch rd.kind {
			case readHot:
				hot = append(hot, rd)
			case readMissing:
				rep.Missing.Reads++
			}
		}
	}
	wait := o.SourceLatency / 2
	rep.All = readStats(all, wait)
	rep.Hot.ReadStats = readStats(hot, wait)

	fill, gens := generations(calls[hotKey], o.HotTTL)
	rep.Hot.FillCalls = len(fill)
	rep.Hot.SourceCalls = len(fill)
	rep.Hot.Generations = len(gens)
	var ends []time.Duration // the expiries, for the series
	prev := fill
	for _, g := range gens {
		n := expiriesOf(g, o.HotTTL)
		rep.Hot.SourceCalls += len(g)
		rep.Hot.Expiries += n
		rep.Hot.MaxCalls = max(rep.Hot.MaxCalls, (len(g)+n-1)/n)
		if first, ok := firstEnd(prev); ok {
			e := max(first+o.HotTTL, g[0].start)
			for i := range n {
				ends = append(ends, e+o.HotTTL*time.Duration(i))
			}
		}
		prev = g
	}
	if rep.Hot.Expiries > 0 {
		rep.Hot.CallsPerExpiry = float64(rep.Hot.SourceCalls-rep.Hot.FillCalls) / float64(rep.Hot.Expiries)
	}
	rep.Series = o.series(hot, ends)
	measured := 0
	for _, c := range calls[hotKey] {
		if c.start >= o.Warmup {
			measured++
		}
	}
	if span := elapsed - o.Warmup; span > 0 {
		rep.Hot.CallsPerTTL = float64(measured) / (float64(span) / float64(o.HotTTL))
	}

	window := time.Duration(float64(o.MissTTL) * (1 - o.Strategy.Freshness(o.HotTTL, o.MissTTL).Jitter))
	for k, cs := range calls {
		if !strings.HasPrefix(k, missPrefix) {
			continue
		}
		rep.Missing.Keys++
		rep.Missing.SourceCalls += len(cs)
		rep.Missing.WithinTTL += withinTTL(cs, window)
	}

	for _, st := range counters {
		rep.Cache.Stale += st.Stale
		rep.Cache.Refreshes += st.Refreshes
		rep.Cache.Loads += st.Loads
	}
	for _, st := range tiers {
		rep.Cache.L2Reads += st.L2Reads
	}
	return rep
}

// readStats sums up reads; a read waited for the source when it took longer than wait.
func readStats(reads []read, wait time.Duration) ReadStats {
	st := ReadStats{Reads: len(reads)}
	took := make([]time.Duration, len(reads))
	for i, rd := range reads {
		took[i] = rd.took
		if rd.took > wait {
			st.Waited++
			if rd.load {
				st.WaitedForLoad++
			}
		}
		if rd.stale > 0 {
			st.Stale++
			st.MaxStaleAge = max(st.MaxStaleAge, rd.stale)
		}
	}
	slices.Sort(took)
	st.Latency = Latency{P50: quantile(took, 0.5), P99: quantile(took, 0.99), Max: quantile(took, 1)}
	return st
}

// quantile returns the q quantile of sorted xs, the smallest x with at least q of xs at or
// below it; zero for none.
func quantile(xs []time.Duration, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	i := int(q*float64(len(xs))+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// generations splits the hot key's calls, in the order they started, into the first fill and
// the generations after it (see HotStats).
func generations(calls []call, ttl time.Duration) (fill []call, gens [][]call) {
	gap := ttl / 2
	n := 0
	for n < len(calls) && calls[n].start-calls[0].start <= gap {
		n++
	}
	for i := n; i < len(calls); i++ {
		if i == n || calls[i].start-calls[i-1].start > gap {
			gens = append(gens, nil)
		}
		gens[len(gens)-1] = append(gens[len(gens)-1], calls[i])
	}
	return calls[:n], gens
}

// expiriesOf returns how many expiries a generation counts as: one, or one per ttl it spans.
func expiriesOf(gen []call, ttl time.Duration) int {
	span := gen[len(gen)-1].start - gen[0].start
	return max(1, int((span+ttl-1)/ttl))
}

// firstEnd returns the end of the call of gen that answered first.
func firstEnd(gen []call) (time.Duration, bool) {
	first := time.Duration(-1)
	for _, c := range gen {
		if c.end > 0 && (first < 0 || c.end < first) {
			first = c.end
		}
	}
	return first, first >= 0
}

// series lays the hot reads over each other around every expiry, from Before it to After.
func (o *Options) series(hot []read, expiries []time.Duration) []Bucket {
	n := int((o.Before + o.After + o.Bucket - 1) / o.Bucket)
	took := make([][]time.Duration, n)
	for _, e := range expiries {
		for _, rd := range hot {
			off := rd.at - e + o.Before
			if off < 0 || off >= o.Before+o.After {
				continue
			}
			i := int(off / o.Bucket)
			took[i] = append(took[i], rd.took)
		}
	}
	out := make([]Bucket, n)
	for i, xs := range took {
		slices.Sort(xs)
		out[i] = Bucket{Offset: time.Duration(i)*o.Bucket - o.Before, Reads: len(xs), P99: quantile(xs, 0.99), Max: quantile(xs, 1)}
	}
	return out
}

// withinTTL counts the calls that started within window of the end of the key's call before.
func withinTTL(calls []call, window time.Duration) int {
	n := 0
	var last time.Duration = -1 // the latest end of an answered call so far
	for _, c := range calls {
		if last >= 0 && c.start >= last && c.start-last < window {
			n++
		}
		if c.end > 0 {
			last = max(last, c.end)
		}
	}
	return n
}

// Write prints the report as text, its third line being "source calls per expiry: X".
func (r *Report) Write(w io.Writer) error {
	backend := ""
	if r.Backend != "" {
		backend = " on " + r.Backend
	}
	readers := "reader"
	if r.Readers != 1 {
		readers += "s"
	}
	fmt.Fprintf(w, "fleet: strategy %s, %d instances%s, each with a hot-key reader and %d other %s; source latency %v; hot key TTL %v; %d keys (zipf s=%g) TTL %v; %d missing keys (tombstones %v)\n",
		r.Strategy, r.Instances, backend, r.Readers, readers, r.SourceLatency, r.HotTTL, r.Keys, r.Zipf, r.TTL, r.MissingKeys, r.MissTTL)
	status := ""
	if r.Interrupted {
		status = " (interrupted)"
	}
	fmt.Fprintf(w, "ran %.2fs%s, measured after a %v warm-up: %d reads, %d errors, %d wrong values\n",
		r.Elapsed.Seconds(), status, r.Warmup, r.All.Reads, r.Errors, r.Wrong)
	fmt.Fprintf(w, "source calls per expiry: %.2f\n", r.Hot.CallsPerExpiry)
	fmt.Fprintf(w, "hot key: %d source calls in %d expiries after the first fill (at most %d in one) of %d generations; %d calls in all, %.2f per TTL measured\n\n",
		r.Hot.SourceCalls-r.Hot.FillCalls, r.Hot.Expiries, r.Hot.MaxCalls, r.Hot.Generations, r.Hot.SourceCalls, r.Hot.CallsPerTTL)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "reads \tcount\twaited (over %s)\tof them, for a load\tp50\tp99\tmax\tstale\tmax stale age\t\n", short(r.SourceLatency/2))
	for _, row := range []struct {
		name string
		s    ReadStats
	}{{"hot key", r.Hot.ReadStats}, {"all", r.All}} {
		fmt.Fprintf(tw, "%-8s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%s\t\n", row.name, row.s.Reads, row.s.Waited, row.s.WaitedForLoad,
			short(row.s.Latency.P50), short(row.s.Latency.P99), short(row.s.Latency.Max), row.s.Stale, short(row.s.MaxStaleAge))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	m := r.Missing
	fmt.Fprintf(w, "\nmissing keys: %d reads, %d source calls for %d keys, %d of them within the tombstone TTL of the last\n",
		m.Reads, m.SourceCalls, m.Keys, m.WithinTTL)
	c := r.Cache
	_, err := fmt.Fprintf(w, "caches: %d loads, %d refreshes, %d stale values served, %d L2 reads\n",
		c.Loads, c.Refreshes, c.Stale, c.L2Reads)
	if r.FirstError != "" && err == nil {
		_, err = fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
	return err
}

// short formats d with three significant digits or so.
func short(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
