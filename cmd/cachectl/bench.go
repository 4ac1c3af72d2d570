package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/internal/fleet"
	"github.com/cachekit/cachekit/memstore"
)

// benchPrefix keeps bench keys apart from every other key under the cache's prefix.
const benchPrefix = "cachectl:bench:"

// maxValueSize bounds --value-size, so that a typo cannot ask for gigabytes per worker.
const maxValueSize = 64 << 20

const benchDetails = `For --duration, --concurrency workers each loop over cache-aside operations on keys
drawn from a Zipf distribution over --keys keys: a read (a --read-ratio share of the
operations) gets the key and, on a miss, sets it; every other operation sets it. Progress
goes to stderr every second; the summary gives throughput, latency percentiles ("op" is a
whole operation, "get" and "set" each call), the hit ratio and the cache's counters.
Ctrl-C stops early and still prints the summary.

Bench keys live under the prefix followed by "` + benchPrefix + `", written with --ttl and
left in place; on a remote backend the summary prints the clear command that removes them.

With --instances N over 1, bench simulates a fleet of N service instances instead, each a
Cache of its own with an L1 in memory (CACHE_L1_* sizes it) in front of its own client of the
backend, which they share, over a source of truth that takes --source-latency per call. Each
instance reads a hot key with a TTL of --hot-ttl, and with --concurrency readers (default 1)
Zipf keys (--keys, default 10000; --zipf, default 1.1) with a TTL of --ttl and keys the source
lacks, through views with the --strategy's freshness options: plain (none), lease, swr, xfetch
(each alone), or all (cachekit.Recommended with tombstones). It reads for a second's warm-up,
then --duration, and prints the source calls per expiry of the hot key, the reads that waited
for the source, latencies, stale reads and the calls for missing keys (--json: every figure,
and the hot key's latency around its expiries); docs/freshness.md says what each means. The
keys go under a prefix of the run's own below the bench prefix. The memory backend, which
each instance would have to itself, cannot be shared.`

// benchOptions are the flags of bench, but for --max-size, which sets the Config.
type benchOptions struct {
	duration    time.Duration
	keys        int
	valueSize   int
	readRatio   float64
	zipf        float64
	concurrency int

	// Fleet mode, with more than one instance.
	instances     int
	sourceLatency time.Duration
	hotTTL        time.Duration
	strategy      string
}

// The flags that only fleet mode reads, and the ones it has no use for.
var (
	fleetOnlyFlags = []string{"source-latency", "hot-ttl", "strategy"}
	notFleetFlags  = []string{"read-ratio", "value-size", "max-size"}
)

func benchFlags(fs *flag.FlagSet, o *options, cfg *cacheenv.Config) {
	o.bench = benchOptions{
		duration:    5 * time.Second,
		keys:        100_000,
		valueSize:   256,
		readRatio:   0.9,
		zipf:        1.01,
		concurrency: 2 * runtime.GOMAXPROCS(0),

		instances:     1,
		sourceLatency: 200 * time.Millisecond,
		hotTTL:        time.Second,
		strategy:      string(fleet.All),
	}
	b := &o.bench
	fs.Var(positiveDuration{&b.duration}, "duration", "run for `D`")
	fs.IntVar(&b.keys, "keys", b.keys, "draw keys from `N` distinct keys")
	fs.IntVar(&b.valueSize, "value-size", b.valueSize, "write values of `BYTES` bytes (a JSON string; at least 2)")
	fs.Float64Var(&b.readRatio, "read-ratio", b.readRatio, "the share `R` of operations that are reads, from 0 to 1")
	fs.Float64Var(&b.zipf, "zipf", b.zipf, "the skew `S` of the Zipf key distribution, over 1; higher is more skewed")
	fs.IntVar(&b.concurrency, "concurrency", b.concurrency, "run `N` workers (with --instances, N readers per instance besides the hot key's)")
	fs.IntVar(&b.instances, "instances", b.instances, "simulate a fleet of `N` instances sharing the backend, when over 1")
	fs.Var(positiveDuration{&b.sourceLatency}, "source-latency", "with --instances: each call of the source of truth takes `D`")
	fs.Var(positiveDuration{&b.hotTTL}, "hot-ttl", "with --instances: the hot key's TTL `D`")
	fs.StringVar(&b.strategy, "strategy", b.strategy, "with --instances: the freshness options `S`: plain, lease, swr, xfetch or all")
	// The memory store's size: the default is small beside --keys, so that the hit ratio
	// shows how well the eviction policy keeps the hot keys.
	if cfg.MemoryMaxSize == 0 {
		cfg.MemoryMaxSize = memstore.DefaultMaxSize
	}
	fs.IntVar(&cfg.MemoryMaxSize, "max-size", cfg.MemoryMaxSize,
		"memory backend: hold at most `N` entries; from $CACHE_MEMORY_MAX_SIZE")
}

// validate reports the first flag of o, or of cfg, that bench cannot run with.
func (o benchOptions) validate(cfg cacheenv.Config) error {
	switch {
	case o.keys < 1:
		return usagef("--keys %d: want at least 1", o.keys)
	case o.valueSize < 2 || o.valueSize > maxValueSize:
		return usagef("--value-size %d: want from 2 to %d bytes", o.valueSize, maxValueSize)
	case !(o.readRatio >= 0 && o.readRatio <= 1):
		return usagef("--read-ratio %v: want from 0 to 1", o.readRatio)
	case !(o.zipf > 1) || math.IsInf(o.zipf, 0):
		return usagef("--zipf %v: want a skew over 1, such as 1.01 or 1.2", o.zipf)
	case o.concurrency < 1:
		return usagef("--concurrency %d: want at least 1", o.concurrency)
	case cfg.MemoryMaxSize < 1:
		return usagef("--max-size %d: want at least 1", cfg.MemoryMaxSize)
	case o.instances < 1:
		return usagef("--instances %d: want at least 1", o.instances)
	}
	return nil
}

// validateMode reports a flag given that the mode, one instance or a fleet, does not read.
func (o benchOptions) validateMode(given map[string]bool) error {
	wrong, mode := fleetOnlyFlags, "needs --instances over 1"
	if o.instances > 1 {
		wrong, mode = notFleetFlags, "does not apply with --instances"
	}
	for _, name := range wrong {
		if given[name] {
			return usagef("--%s %s", name, mode)
		}
	}
	return nil
}

// benchWorker runs operations in one goroutine and keeps their counts and latencies to itself,
// so that the hot path shares no memory with other workers but the ops counter, which the
// progress reporter reads.
type benchWorker struct {
	ops atomic.Uint64
	_   [56]byte // keeps each worker's ops counter on a cache line of its own

	reads, hits, writes, fills, errors uint64
	firstErr                           error
	op, get, set                       histogram
}

// benchLoad is what every worker shares, read-only.
type benchLoad struct {
	view      *cachekit.View[json.RawMessage]
	keys      []string
	value     json.RawMessage
	zipf      float64
	readRatio float64
}

// run loops until stop is done. Calls get ctx, which the end of the run does not cancel, so
// that the last operation of each worker completes rather than failing.
func (w *benchWorker) run(stop, ctx context.Context, load *benchLoad, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	zipf := rand.NewZipf(rng, load.zipf, 1, uint64(len(load.keys)-1))
	for stop.Err() == nil {
		key := load.keys[zipf.Uint64()]
		read := rng.Float64() < load.readRatio
		start := time.Now()
		if read {
			w.reads++
			_, err := load.view.Get(ctx, key)
			got := time.Now()
			w.get.record(got.Sub(start))
			switch {
			case err == nil:
				w.hits++
			case errors.Is(err, cachekit.ErrNotFound):
				err = load.view.Set(ctx, key, load.value, 0)
				w.set.record(time.Since(got))
				if err == nil {
					w.fills++
				} else {
					w.fail(err)
				}
			default:
				w.fail(err)
			}
		} else {
			w.writes++
			err := load.view.Set(ctx, key, load.value, 0)
			w.set.record(time.Since(start))
			if err != nil {
				w.fail(err)
			}
		}
		w.op.record(time.Since(start))
		w.ops.Add(1)
	}
}

func (w *benchWorker) fail(err error) {
	w.errors++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// benchValue returns a JSON string of exactly size bytes, size being at least 2.
func benchValue(size int) json.RawMessage {
	return json.RawMessage(`"` + strings.Repeat("x", size-2) + `"`)
}

func runBench(ctx context.Context, inv *invocation) error {
	o := inv.opts.bench
	if err := o.validate(inv.cfg); err != nil {
		return err
	}
	if err := o.validateMode(inv.given); err != nil {
		return err
	}
	if o.instances > 1 {
		return runFleet(ctx, inv)
	}
	load := &benchLoad{
		view:      cachekit.Typed[json.RawMessage](inv.cache, benchPrefix, 0),
		keys:      make([]string, o.keys),
		value:     benchValue(o.valueSize),
		zipf:      o.zipf,
		readRatio: o.readRatio,
	}
	for i := range load.keys {
		load.keys[i] = strconv.Itoa(i)
	}

	stop, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	opCtx := context.WithoutCancel(ctx)
	workers := make([]*benchWorker, o.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := new(benchWorker)
		workers[i] = w
		seed := rand.Uint64()
		wg.Go(func() { w.run(stop, opCtx, load, seed) })
	}
	var progress sync.WaitGroup
	done := make(chan struct{})
	if !inv.json {
		progress.Go(func() { inv.reportProgress(done, start, workers) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	progress.Wait()

	res := summarize(workers, elapsed)
	res.Backend = inv.cfg.Backend()
	res.Prefix = load.view.Prefix()
	res.Interrupted = ctx.Err() != nil
	res.Config = benchConfigJSON{
		DurationSeconds: o.duration.Seconds(), Keys: o.keys, ValueSize: o.valueSize,
		ReadRatio: o.readRatio, Zipf: o.zipf, Concurrency: o.concurrency,
		TTLSeconds: inv.cfg.DefaultTTL.Seconds(),
	}
	if res.Backend == cacheenv.StorageMemory {
		res.Config.MaxSize = inv.cfg.MemoryMaxSize
	}
	// The run's context may be done (Ctrl-C); the summary still needs the counts.
	statsCtx, cancelStats := context.WithTimeout(opCtx, 10*time.Second)
	defer cancelStats()
	st, err := load.view.Stats(statsCtx)
	if err != nil {
		fmt.Fprintf(inv.stderr, "cachectl: bench: counting keys: %v\n", err)
	}
	res.Stats = newStatsJSON(st)

	if inv.json {
		err = inv.printJSON(res)
	} else {
		err = res.write(inv.stdout)
	}
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		fmt.Fprintf(inv.stderr, "cachectl: bench: %d operations failed; the first: %s\n", res.Errors, res.FirstError)
		if res.Errors >= res.Ops {
			return errors.New("every operation failed")
		}
	}
	return nil
}

// reportProgress writes a progress line to stderr every progressEvery until done is closed:
// on a terminal one line that rewrites itself, elsewhere a line each time.
func (inv *invocation) reportProgress(done <-chan struct{}, start time.Time, workers []*benchWorker) {
	t := time.NewTicker(inv.progressEvery)
	defer t.Stop()
	var lastOps uint64
	last := start
	for {
		select {
		case <-done:
			if inv.tty {
				fmt.Fprint(inv.stderr, "\r\x1b[K")
			}
			return
		case <-t.C:
			now := time.Now()
			var ops uint64
			for _, w := range workers {
				ops += w.ops.Load()
			}
			line := progressLine(now.Sub(start), ops, float64(ops-lastOps)/now.Sub(last).Seconds())
			lastOps, last = ops, now
			if inv.tty {
				fmt.Fprintf(inv.stderr, "\r%s\x1b[K", line)
			} else {
				fmt.Fprintln(inv.stderr, line)
			}
		}
	}
}

// progressLine is one progress report: the time elapsed, the operations so far and the rate
// since the last report.
func progressLine(elapsed time.Duration, ops uint64, rate float64) string {
	return fmt.Sprintf("bench: %6.1fs %12d ops %12.0f ops/s", elapsed.Seconds(), ops, rate)
}

// benchResult is the summary of a bench run, as "bench --json" prints it.
type benchResult struct {
	Backend        string          `json:"backend"`
	Prefix         string          `json:"prefix"` // the bench keys' prefix
	Interrupted    bool            `json:"interrupted"`
	Config         benchConfigJSON `json:"config"`
	ElapsedSeconds float64         `json:"elapsed_seconds"`
	Ops            uint64          `json:"ops"`
	OpsPerSec      float64         `json:"ops_per_sec"`
	Reads          uint64          `json:"reads"`
	Hits           uint64          `json:"hits"` // reads that found the key
	HitRatio       float64         `json:"hit_ratio"`
	Writes         uint64          `json:"writes"` // sets that were not fills
	Fills          uint64          `json:"fills"`  // sets after a miss
	Errors         uint64          `json:"errors"`
	FirstError     string          `json:"first_error,omitempty"`
	Latency        struct {
		Op  latencyJSON `json:"op"`  // a whole operation: get, and set on a miss
		Get latencyJSON `json:"get"` // each Get call
		Set latencyJSON `json:"set"` // each Set call
	} `json:"latency"`
	Stats statsJSON `json:"stats"` // the bench view's counters, and its keys
}

type benchConfigJSON struct {
	DurationSeconds float64 `json:"duration_seconds"`
	Keys            int     `json:"keys"`
	ValueSize       int     `json:"value_size"`
	ReadRatio       float64 `json:"read_ratio"`
	Zipf            float64 `json:"zipf"`
	Concurrency     int     `json:"concurrency"`
	TTLSeconds      float64 `json:"ttl_seconds"`
	MaxSize         int     `json:"max_size,omitempty"` // memory only
}

type latencyJSON struct {
	Count  uint64 `json:"count"`
	MeanNS int64  `json:"mean_ns"`
	P50NS  int64  `json:"p50_ns"`
	P99NS  int64  `json:"p99_ns"`
	P999NS int64  `json:"p999_ns"`
	MaxNS  int64  `json:"max_ns"`
}

func newLatencyJSON(h *histogram) latencyJSON {
	return latencyJSON{
		Count:  h.count(),
		MeanNS: int64(h.mean()),
		P50NS:  int64(h.quantile(0.5)),
		P99NS:  int64(h.quantile(0.99)),
		P999NS: int64(h.quantile(0.999)),
		MaxNS:  int64(h.maximum()),
	}
}

// summarize merges the workers' counts and histograms.
func summarize(workers []*benchWorker, elapsed time.Duration) benchResult {
	var (
		res          benchResult
		op, get, set histogram
	)
	for _, w := range workers {
		res.Ops += w.ops.Load()
		res.Reads += w.reads
		res.Hits += w.hits
		res.Writes += w.writes
		res.Fills += w.fills
		res.Errors += w.errors
		if w.firstErr != nil && res.FirstError == "" {
			res.FirstError = w.firstErr.Error()
		}
		op.merge(&w.op)
		get.merge(&w.get)
		set.merge(&w.set)
	}
	res.ElapsedSeconds = elapsed.Seconds()
	if elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	}
	if res.Reads > 0 {
		res.HitRatio = float64(res.Hits) / float64(res.Reads)
	}
	res.Latency.Op = newLatencyJSON(&op)
	res.Latency.Get = newLatencyJSON(&get)
	res.Latency.Set = newLatencyJSON(&set)
	return res
}

// write prints the summary as text tables.
func (r *benchResult) write(w io.Writer) error {
	c := r.Config
	workers := "workers"
	if c.Concurrency == 1 {
		workers = "worker"
	}
	fmt.Fprintf(w, "backend %s, %d %s, %d keys (zipf s=%g), %d-byte values, %.0f%% reads",
		r.Backend, c.Concurrency, workers, c.Keys, c.Zipf, c.ValueSize, c.ReadRatio*100)
	if c.MaxSize > 0 {
		fmt.Fprintf(w, ", max size %d", c.MaxSize)
	}
	fmt.Fprintln(w)
	status := ""
	if r.Interrupted {
		status = " (interrupted)"
	}
	fmt.Fprintf(w, "ran %.2fs%s: %d ops, %.0f ops/s, hit ratio %.3f, %d errors\n\n",
		r.ElapsedSeconds, status, r.Ops, r.OpsPerSec, r.HitRatio, r.Errors)

	// Right-aligned numbers; the names are padded to one width so that they line up left.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency \tcount\tmean\tp50\tp99\tp99.9\tmax\t")
	for _, row := range []struct {
		name string
		l    latencyJSON
	}{{"op", r.Latency.Op}, {"get", r.Latency.Get}, {"set", r.Latency.Set}} {
		fmt.Fprintf(tw, "%-8s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", row.name, row.l.Count, fmtLatency(row.l.MeanNS),
			fmtLatency(row.l.P50NS), fmtLatency(row.l.P99NS), fmtLatency(row.l.P999NS), fmtLatency(row.l.MaxNS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\noperations: %d reads (%d hits, %d fills after a miss), %d writes, %d errors\n",
		r.Reads, r.Hits, r.Fills, r.Writes, r.Errors)
	s := r.Stats
	_, err := fmt.Fprintf(w, "cache stats: hits %d, misses %d, sets %d, errors %d, keys %d, hit ratio %.3f\n",
		s.Hits, s.Misses, s.Sets, s.Errors, s.Keys, s.HitRatio)
	if err != nil {
		return err
	}
	if r.Backend != cacheenv.StorageMemory {
		_, err = fmt.Fprintf(w, "\nbench keys are under %q; remove them with: cachectl clear --prefix '%s' --yes\n", r.Prefix, r.Prefix)
		return err
	}
	return nil
}

// fmtLatency formats nanoseconds with three significant digits or so.
func fmtLatency(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
