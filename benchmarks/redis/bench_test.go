package redis

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cachekit/cachekit/benchmarks/internal/wirecount"
)

// impl is one library's way of doing each operation, on one server; an operation it lacks is
// nil, and the benchmarks of that operation leave it out.
type impl struct {
	name string
	// group is the level of the benchmark's name between the server's (and the benchmark's
	// parameter) and the impl's, such as flush=20us for one client setting; empty for none.
	group   string
	wire    *wire                                       // counts what the library sends
	keys    []string                                    // numKeys keys holding value, as the library is called with them
	get     func(ctx context.Context, key string) error // reads key, and fails unless it holds value
	set     func(ctx context.Context, key, val string) error
	getMany func(ctx context.Context, keys []string) (found int, err error)
}

// errWrongValue is a read that returned something other than value.
var errWrongValue = errors.New("read a value other than the one stored")

// same returns errWrongValue unless v is value, else err.
func same[T string | []byte](v T, err error) error {
	if err == nil && string(v) != value {
		return errWrongValue
	}
	return err
}

// Every call goes with a cancellable context, as a service's request has. rueidis runs a call
// on the caller's goroutine as long as a connection has never had two in flight and the
// context cannot be cancelled, otherwise through its pipeline's writer and reader goroutines,
// which the benchmarks then take whatever ran before them.
var callCtx, cancelCalls = context.WithCancel(context.Background())

// variant is one form of a benchmark: its parameter's level in the name (empty for none), such
// as callers=64, and the function that runs an impl.
type variant struct {
	param string
	bench func(*testing.B, impl)
}

// compare runs each variant for each of impls that keep accepts on each of the servers, named
// server=<server>[/<param>][/<group>]/impl=<name> so that benchstat -col /impl puts the
// libraries side by side.
func compare(b *testing.B, serverNames []string, variants []variant, impls func(*server) []impl, keep func(impl) bool) {
	for _, name := range serverNames {
		b.Run("server="+name, func(b *testing.B) {
			s := connect(b, name)
			var all []impl
			var groups []string
			for _, im := range impls(s) {
				if keep(im) {
					all = append(all, im)
					if !slices.Contains(groups, im.group) {
						groups = append(groups, im.group)
					}
				}
			}
			for _, v := range variants {
				each := func(b *testing.B) {
					for _, g := range groups {
						run := func(b *testing.B) {
							for _, im := range all {
								if im.group == g {
									b.Run("impl="+im.name, func(b *testing.B) { v.bench(b, im) })
								}
							}
						}
						if g == "" {
							run(b)
						} else {
							b.Run(g, run)
						}
					}
				}
				if v.param == "" {
					each(b)
				} else {
					b.Run(v.param, each)
				}
			}
		})
	}
}

func hasGet(im impl) bool     { return im.get != nil }
func hasSet(im impl) bool     { return im.set != nil }
func hasGetMany(im impl) bool { return im.getMany != nil }

// benchGet reads the keys in turn, each a hit, one call at a time.
func benchGet(b *testing.B, im impl) {
	m := start(im)
	for i := 0; b.Loop(); i++ {
		if err := im.get(callCtx, im.keys[i%len(im.keys)]); err != nil {
			b.Fatalf("%s: Get: %v", im.name, err)
		}
	}
	m.report(b)
}

// benchSet writes the keys in turn with a TTL, one call at a time.
func benchSet(b *testing.B, im impl) {
	m := start(im)
	for i := 0; b.Loop(); i++ {
		if err := im.set(callCtx, im.keys[i%len(im.keys)], value); err != nil {
			b.Fatalf("%s: Set: %v", im.name, err)
		}
	}
	m.report(b)
}

// benchGetMany reads batch keys at once, all hits, one call at a time.
func benchGetMany(b *testing.B, im impl) {
	all := batches(im.keys)
	m := start(im)
	for i := 0; b.Loop(); i++ {
		if n, err := im.getMany(callCtx, all[i%len(all)]); err != nil || n != batch {
			b.Fatalf("%s: GetMany found %d of %d keys: %v", im.name, n, batch, err)
		}
	}
	m.report(b)
}

// getParallel returns a benchmark that reads from callers goroutines at once and reports the
// reads per second of all of them together, and the mean and 99th percentile of the time each
// call took.
func getParallel(callers int) func(*testing.B, impl) {
	return func(b *testing.B, im impl) {
		p := runtime.GOMAXPROCS(0)
		b.SetParallelism((callers + p - 1) / p)
		var started atomic.Int64
		var mu sync.Mutex
		var took []time.Duration
		m := start(im)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// Spread the goroutines over the keys rather than have them read the same ones in step.
			i := int(started.Add(1)) * (numKeys / callers)
			mine := make([]time.Duration, 0, 1024)
			for pb.Next() {
				t := time.Now()
				if err := im.get(callCtx, im.keys[i%len(im.keys)]); err != nil {
					b.Errorf("%s: Get: %v", im.name, err)
					return
				}
				mine = append(mine, time.Since(t))
				i++
			}
			mu.Lock()
			took = append(took, mine...)
			mu.Unlock()
		})
		b.StopTimer()
		m.report(b)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		if len(took) > 0 {
			var sum time.Duration
			for _, d := range took {
				sum += d
			}
			slices.Sort(took)
			b.ReportMetric(float64(sum.Microseconds())/float64(len(took)), "µs/call")
			b.ReportMetric(float64(took[len(took)*99/100])/1e3, "p99-µs")
		}
	}
}

// meter is what an impl's benchmark reports beside its time: from a wire, the writes and
// commands per operation; from the kernel, the CPU time the process spent per operation, on
// every thread (the library's own goroutines, the kernel's side of its socket calls, the
// garbage collector), which does not count the time it waited, as the other columns do, and
// moves less with what else runs on the machine.
type meter struct {
	im   impl
	wire wirecount.Counts
	cpu  time.Duration
}

func start(im impl) meter {
	return meter{im: im, wire: im.wire.read(), cpu: cpuTime()}
}

func (m meter) report(b *testing.B) {
	m.im.wire.report(b, m.wire)
	b.ReportMetric(float64(cpuTime()-m.cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the CPU time the process has spent, in user and in kernel mode.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
