package ratelimit

import (
	"context"
	"fmt"
	"runtime"
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
	// denied, and no window's edge (every five years since 1970) falls within a run.
	{"denied", limit{rate: 1, burst: 1, period: backend.MaxTTL / 2}, false},
}

// impl is one library's limiter on the server.
type impl struct {
	name  string
	wire  *wire
	allow func(ctx context.Context, key string, l limit) (bool, error)
}

// impls returns the limiters, redis_rate first: benchstat compares the others with it.
func (s *server) impls() []impl {
	cachekit := func(lim *ratelimit.Limiter) func(context.Context, string, limit) (bool, error) {
		return func(ctx context.Context, key string, l limit) (bool, error) {
			res, err := lim.Allow(ctx, key, l.cachekit())
			return res.Allowed, err
		}
	}
	return []impl{
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
// puts the libraries side by side.
func BenchmarkAllow(b *testing.B) {
	s := connect(b)
	for _, v := range verdicts {
		b.Run("verdict="+v.name, func(b *testing.B) {
			b.Run("callers=1", func(b *testing.B) {
				for _, im := range s.impls() {
					b.Run("impl="+im.name, func(b *testing.B) { benchSerial(b, im, v.name, v.limit, v.allow) })
				}
			})
			b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
				for _, im := range s.impls() {
					b.Run("impl="+im.name, func(b *testing.B) { benchParallel(b, im, v.name, v.limit, v.allow) })
				}
			})
		})
	}
}

// benchSerial asks for the keys in turn, one call at a time, and checks each verdict.
func benchSerial(b *testing.B, im impl, verdict string, l limit, allow bool) {
	ctx := context.Background()
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
	ctx := context.Background()
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
