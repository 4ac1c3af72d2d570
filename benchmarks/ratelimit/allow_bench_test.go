package ratelimit

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/ratelimit"
)

const (
	numKeys = 1000 // the keys each limiter's calls go round
	callers = 64   // goroutines of the throughput benchmarks
)

// limit is one rate, which each library is given in its own terms.
type limit struct {
	rate, burst int
	period      time.Duration
}

func (l limit) cachekit() ratelimit.Limit {
	return ratelimit.Limit{Rate: l.rate, Period: l.period, Burst: l.burst}
}

func (l limit) redisRate() redis_rate.Limit {
	return redis_rate.Limit{Rate: l.rate, Period: l.period, Burst: l.burst}
}

// The verdicts: a limit that admits every call the benchmarks make, and one that denies them.
var verdicts = []struct {
	name  string
	limit limit
	allow bool
}{
	// A million a second per key, GCRA's finest pace in cachekit (one request a microsecond):
	// the benchmarks send a few thousand a second to each key at most.
	{"allowed", limit{rate: 1_000_000, burst: 1_000_000, period: time.Second}, true},
	// One request per longest window, spent before the timer starts: every timed call is
	// denied, and no window's edge (every 1216⅔ days since 1970) falls within a run.
	{"denied", limit{rate: 1, burst: 1, period: backend.MaxTTL / 3}, false},
}

// impl is one library's limiter on the server.
type impl struct {
	name  string
	wire  *wire
	allow func(ctx context.Context, key string, l limit) (bool, error)
}

// impls returns the limiters, redis_rate first: benchstat compares the others with it. With
// sync, cachekit's are on the client kept to one call at a time with context.Background()
// (see server).
func (s *server) impls(sync bool) []impl {
	cachekit := func(lim *ratelimit.Limiter) func(context.Context, string, limit) (bool, error) {
		return func(ctx context.Context, key string, l limit) (bool, error) {
			res, err := lim.Allow(ctx, key, l.cachekit())
			return res.Allowed, err
		}
	}
	impls := []impl{
		{"redis_rate", s.goredisWire, func(ctx context.Context, key string, l limit) (bool, error) {
			res, err := s.redisRate.Allow(ctx, key, l.redisRate())
			if err != nil {
				return false, err
			}
			return res.Allowed > 0, nil
		}},
		{"cachekit-gcra", s.rueidisWire, cachekit(s.gcra)},
		{"cachekit-fixed", s.rueidisWire, cachekit(s.fixed)},
	}
	if sync {
		impls[1] = impl{"cachekit-gcra", s.rueidisSyncWire, cachekit(s.syncGCRA)}
		impls[2] = impl{"cachekit-fixed", s.rueidisSyncWire, cachekit(s.syncFixed)}
	}
	return impls
}

// requestContext is the context of the benchmarks' calls: one that can be cancelled, as a
// request's is in a service.
func requestContext(b *testing.B) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return ctx
}

// spent records the key sets whose one request the denied verdict has used up, once per run.
var spent sync.Map

// keys returns the keys of im for a verdict, spending their quota first when it denies.
func keys(b *testing.B, im impl, verdict string, l limit, allow bool) []string {
	b.Helper()
	ks := make([]string, numKeys)
	for i := range ks {
		ks[i] = fmt.Sprintf("%s/%s/%s/k%04d", run, im.name, verdict, i)
	}
	if _, done := spent.LoadOrStore(im.name+"/"+verdict, true); allow || done {
		return ks
	}
	ctx := context.Background()
	for _, k := range ks {
		if ok, err := im.allow(ctx, k, l); err != nil || !ok {
			b.Fatalf("%s: the first request under %s = %v, %v; want it allowed", im.name, k, ok, err)
		}
	}
	return ks
}

// BenchmarkAllow runs one Allow at a time (callers=1: the latency of a decision) and from 64
// goroutines at once (callers=64: the throughput), under a limit that admits every call and
// one that denies every call, named verdict=…/callers=…/impl=… so that benchstat -col /impl
// puts the libraries side by side. Every call has a context that can be cancelled, as a
// request's.
func BenchmarkAllow(b *testing.B) {
	s := connect(b)
	for _, v := range verdicts {
		b.Run("verdict="+v.name, func(b *testing.B) {
			b.Run("callers=1", func(b *testing.B) {
				for _, im := range s.impls(false) {
					b.Run("impl="+im.name, func(b *testing.B) { benchSerial(b, im, v.name, v.limit, v.allow) })
				}
			})
			b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
				for _, im := range s.impls(false) {
					b.Run("impl="+im.name, func(b *testing.B) { benchParallel(b, im, v.name, v.limit, v.allow) })
				}
			})
		})
	}
}

// benchSerial asks for the keys in turn, one call at a time, and checks each verdict.
func benchSerial(b *testing.B, im impl, verdict string, l limit, allow bool) {
	ctx := requestContext(b)
	ks := keys(b, im, verdict, l, allow)
	before := im.wire.read()
	for i := 0; b.Loop(); i++ {
		if ok, err := im.allow(ctx, ks[i%numKeys], l); err != nil || ok != allow {
			b.Fatalf("%s: Allow = %v, %v; want %v", im.name, ok, err, allow)
		}
	}
	im.wire.report(b, before)
}

// benchParallel asks from callers goroutines at once and reports the decisions per second of
// all of them together.
func benchParallel(b *testing.B, im impl, verdict string, l limit, allow bool) {
	ctx := requestContext(b)
	ks := keys(b, im, verdict, l, allow)
	p := runtime.GOMAXPROCS(0)
	b.SetParallelism((callers + p - 1) / p)
	var started atomic.Int64
	before := im.wire.read()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Spread the goroutines over the keys rather than have them ask for the same ones in step.
		i := int(started.Add(1)) * (numKeys / callers)
		for pb.Next() {
			if ok, err := im.allow(ctx, ks[i%numKeys], l); err != nil || ok != allow {
				b.Errorf("%s: Allow = %v, %v; want %v", im.name, ok, err, allow)
				return
			}
			i++
		}
	})
	b.StopTimer()
	im.wire.report(b, before)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkAllowPaired puts each of cachekit's limiters beside redis_rate call by call: each
// iteration runs one Allow of each, in turn, in alternating order, and times both. On a
// machine whose speed drifts (other work, idle CPUs waking), the two then see the same
// conditions, and their ratio holds steadier than sec/op across separate runs does. It
// reports each one's median latency (p50-ns, base-p50-ns for redis_rate) and the ratio of the
// medians (ratio-p50) and of the means (ratio-mean), cachekit over redis_rate: under 1.10 is
// within 10%.
//
// ctx=request calls with a context that can be cancelled, as BenchmarkAllow does;
// ctx=background with context.Background(), on a rueidis client that never has two calls in
// flight, which runs each call on the caller's goroutine (see server): a batch job's case.
func BenchmarkAllowPaired(b *testing.B) {
	s := connect(b)
	for _, mode := range []struct {
		name string
		sync bool
		ctx  func(*testing.B) context.Context
	}{
		{"request", false, requestContext},
		{"background", true, func(*testing.B) context.Context { return context.Background() }},
	} {
		b.Run("ctx="+mode.name, func(b *testing.B) {
			impls := s.impls(mode.sync)
			for _, v := range verdicts {
				b.Run("verdict="+v.name, func(b *testing.B) {
					for _, im := range impls[1:] {
						b.Run("impl="+im.name, func(b *testing.B) {
							benchPaired(b, mode.ctx(b), impls[0], im, v.name, v.limit, v.allow)
						})
					}
				})
			}
		})
	}
}

func benchPaired(b *testing.B, ctx context.Context, base, im impl, verdict string, l limit, allow bool) {
	pair := [2]impl{base, im}
	var ks [2][]string
	var took [2][]time.Duration
	for j, p := range pair {
		ks[j] = keys(b, p, verdict, l, allow)
	}
	for i := 0; b.Loop(); i++ {
		for k := range 2 {
			j := (i + k) % 2 // base first on even iterations, im first on odd ones
			start := time.Now()
			ok, err := pair[j].allow(ctx, ks[j][i%numKeys], l)
			took[j] = append(took[j], time.Since(start))
			if err != nil || ok != allow {
				b.Fatalf("%s: Allow = %v, %v; want %v", pair[j].name, ok, err, allow)
			}
		}
	}
	p50 := [2]time.Duration{median(took[0]), median(took[1])}
	b.ReportMetric(float64(p50[0].Nanoseconds()), "base-p50-ns")
	b.ReportMetric(float64(p50[1].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(p50[1])/float64(p50[0]), "ratio-p50")
	b.ReportMetric(float64(sum(took[1]))/float64(sum(took[0])), "ratio-mean")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func sum(ds []time.Duration) (total time.Duration) {
	for _, d := range ds {
		total += d
	}
	return total
}
