package benchmarks

import (
	"sync/atomic"
	"testing"
)

// goroutineStride spaces the start of each RunParallel goroutine in its key order, so that the
// goroutines do not read the same keys in step.
const goroutineStride = 4099

// open makes spec's engine bounded to capacity, failing b if it cannot.
func open(b *testing.B, spec engineSpec, capacity int) engine {
	b.Helper()
	e, err := spec.new(capacity)
	if err != nil {
		b.Fatalf("%s: %v", spec.name, err)
	}
	return e
}

// fill writes keys to e and waits for an engine that applies writes later.
func fill(e engine, keys []string) {
	for _, k := range keys {
		e.Set(k, value)
	}
	if w, ok := e.(waiter); ok {
		w.Wait()
	}
}

// BenchmarkGetHit reads, from every CPU, keys that are all in the cache. The capacity is twice
// the keys stored, so that no engine's admission policy may refuse one.
func BenchmarkGetHit(b *testing.B) {
	keys := allKeys()[:hotKeys]
	order := hotOrder()
	mask := len(order) - 1
	for _, spec := range engines {
		b.Run("engine="+spec.name, func(b *testing.B) {
			e := open(b, spec, 2*hotKeys)
			defer e.Close()
			fill(e, keys)
			for _, k := range keys {
				if _, ok := e.Get(k); !ok {
					b.Fatalf("%s lost key %q of %d written under its capacity", spec.name, k, len(keys))
				}
			}
			var goroutines, misses atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(goroutines.Add(1)) * goroutineStride
				var missed int64
				for pb.Next() {
					if _, ok := e.Get(order[i&mask]); !ok {
						missed++
					}
					i++
				}
				misses.Add(missed)
			})
			if n := misses.Load(); n > 0 {
				b.Errorf("%s missed %d reads of keys it holds", spec.name, n)
			}
		})
	}
}

// BenchmarkMixed runs 90% Gets and 10% Sets from every CPU, with keys from the Zipf trace, on a
// cache filled with the most requested keys. The unbounded engines grow to the whole key space.
func BenchmarkMixed(b *testing.B) {
	keys := allKeys()
	trace := zipfTrace()
	mask := len(trace) - 1
	for _, spec := range engines {
		b.Run("engine="+spec.name, func(b *testing.B) {
			e := open(b, spec, capacity)
			defer e.Close()
			fill(e, keys[:capacity])
			var goroutines atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(goroutines.Add(1)) * goroutineStride
				for pb.Next() {
					k := keys[trace[i&mask]]
					if i%10 == 0 {
						e.Set(k, value)
					} else {
						e.Get(k)
					}
					i++
				}
			})
		})
	}
}

// BenchmarkSet writes, from every CPU, keys cycling through allKeysLen keys, so that the bounded
// engines, at capacity after the first capacity writes, evict on almost every write. The
// unbounded engines grow to allKeysLen keys and then overwrite.
func BenchmarkSet(b *testing.B) {
	keys := allKeys()
	mask := len(keys) - 1
	for _, spec := range engines {
		b.Run("engine="+spec.name, func(b *testing.B) {
			e := open(b, spec, capacity)
			defer e.Close()
			var goroutines atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(goroutines.Add(1)) * goroutineStride
				for pb.Next() {
					e.Set(keys[i&mask], value)
					i++
				}
			})
		})
	}
}

// BenchmarkHitRatio replays the Zipf trace cache-aside on a new cache of each bounded engine
// per op, on one goroutine, and reports the hit ratio of a replay as hit%. An op is a whole
// replay of traceLen requests. The FIFO map is the baseline.
func BenchmarkHitRatio(b *testing.B) {
	allKeys() // built here, not in the first replay's time
	trace := zipfTrace()
	for _, spec := range append(boundedEngines(), fifoSpec) {
		b.Run("engine="+spec.name, func(b *testing.B) {
			var ratio float64
			b.ReportAllocs()
			for range b.N {
				e := open(b, spec, capacity)
				ratio = replay(e, trace)
				e.Close()
			}
			b.ReportMetric(ratio*100, "hit%")
		})
	}
}

// boundedEngines returns the engines that evict, each policy once.
func boundedEngines() []engineSpec {
	var bounded []engineSpec
	for _, spec := range engines {
		if !spec.unbounded && spec.policyOf == "" {
			bounded = append(bounded, spec)
		}
	}
	return bounded
}
