package redis

import (
	"context"
	"sync/atomic"
	"testing"
)

// impl is one library's way of doing each operation, on one server; getMany is nil for a
// library that has no batch read.
type impl struct {
	name    string
	wire    *wire    // counts what the library sends
	keys    []string // numKeys keys holding value, as the library is called with them
	get     func(ctx context.Context, key string) (string, error)
	set     func(ctx context.Context, key, val string) error
	getMany func(ctx context.Context, keys []string) (found int, err error)
}

// compare runs bench for each of impls on each of the servers, named
// server=<server>[/<param>]/impl=<name> so that benchstat -col /impl puts the libraries side by
// side.
func compare(b *testing.B, serverNames []string, param string, impls func(*server) []impl, bench func(*testing.B, impl)) {
	for _, name := range serverNames {
		b.Run("server="+name, func(b *testing.B) {
			s := connect(b, name)
			each := func(b *testing.B) {
				for _, im := range impls(s) {
					b.Run("impl="+im.name, func(b *testing.B) { bench(b, im) })
				}
			}
			if param == "" {
				each(b)
			} else {
				b.Run(param, each)
			}
		})
	}
}

// withGetMany keeps the impls that have a batch read.
func withGetMany(impls func(*server) []impl) func(*server) []impl {
	return func(s *server) []impl {
		var out []impl
		for _, im := range impls(s) {
			if im.getMany != nil {
				out = append(out, im)
			}
		}
		return out
	}
}

// benchGet reads the keys in turn, each a hit, one call at a time.
func benchGet(b *testing.B, im impl) {
	ctx := context.Background()
	before := im.wire.read()
	for i := 0; b.Loop(); i++ {
		if v, err := im.get(ctx, im.keys[i%len(im.keys)]); err != nil || v != value {
			b.Fatalf("%s: Get returned %q, %v; want the value stored", im.name, v, err)
		}
	}
	im.wire.report(b, before)
}

// benchSet writes the keys in turn with a TTL, one call at a time.
func benchSet(b *testing.B, im impl) {
	ctx := context.Background()
	before := im.wire.read()
	for i := 0; b.Loop(); i++ {
		if err := im.set(ctx, im.keys[i%len(im.keys)], value); err != nil {
			b.Fatalf("%s: Set: %v", im.name, err)
		}
	}
	im.wire.report(b, before)
}

// benchGetMany reads batch keys at once, all hits, one call at a time.
func benchGetMany(b *testing.B, im impl) {
	ctx := context.Background()
	all := batches(im.keys)
	before := im.wire.read()
	for i := 0; b.Loop(); i++ {
		if n, err := im.getMany(ctx, all[i%len(all)]); err != nil || n != batch {
			b.Fatalf("%s: GetMany found %d of %d keys: %v", im.name, n, batch, err)
		}
	}
	im.wire.report(b, before)
}

// benchGetParallel reads from callers goroutines at once and reports the reads per second of
// all of them together.
func benchGetParallel(b *testing.B, im impl) {
	ctx := context.Background()
	b.SetParallelism(parallelism())
	var started atomic.Int64
	before := im.wire.read()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Spread the goroutines over the keys rather than have them read the same ones in step.
		i := int(started.Add(1)) * (numKeys / callers)
		for pb.Next() {
			if v, err := im.get(ctx, im.keys[i%len(im.keys)]); err != nil || v != value {
				b.Errorf("%s: Get returned %q, %v; want the value stored", im.name, v, err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	im.wire.report(b, before)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
