package benchmarks

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// The workloads' sizes. Trace and key-set lengths are powers of two so that a benchmark loop
// wraps its index with a mask, not a division.
const (
	capacity   = 10_000  // the bound of every cache, but in BenchmarkGetHit
	hotKeys    = 10_000  // the keys BenchmarkGetHit stores and reads
	zipfKeys   = 100_000 // the key space of the Zipf traces
	zipfS      = 1.01    // the Zipf exponent; rank 0 is the most requested key
	traceLen   = 1 << 20 // requests in the Zipf trace
	allKeysLen = 1 << 20 // keys in all, and what BenchmarkSet cycles through
	valueLen   = 64
	traceSeed  = 1 // the trace is the same on every run
)

// value is what every write stores. Sharing one slice keeps the harness from allocating; the
// engines keep a reference to it, not a copy.
var value = make([]byte, valueLen)

// allKeys returns the key of every index, built once so that no benchmark loop builds a key.
var allKeys = sync.OnceValue(func() []string {
	keys := make([]string, allKeysLen)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%08d", i)
	}
	return keys
})

// zipfTrace returns traceLen indices into allKeys drawn from Zipf(zipfS) over zipfKeys keys,
// from a fixed seed, drawn once so that no benchmark loop pays for the random numbers.
var zipfTrace = sync.OnceValue(func() []int32 {
	r := rand.New(rand.NewPCG(traceSeed, traceSeed))
	z := rand.NewZipf(r, zipfS, 1, zipfKeys-1)
	trace := make([]int32, traceLen)
	for i := range trace {
		trace[i] = int32(z.Uint64())
	}
	return trace
})

// hotOrder returns a read order of the hotKeys keys: each of them once or twice, shuffled, in a
// power-of-two length.
var hotOrder = sync.OnceValue(func() []string {
	keys := allKeys()[:hotKeys]
	r := rand.New(rand.NewPCG(traceSeed, traceSeed+1))
	perm := r.Perm(hotKeys)
	order := make([]string, 1<<14)
	for i := range order {
		order[i] = keys[perm[i%hotKeys]]
	}
	return order
})

// replay runs trace against e cache-aside: a Get, and a Set on a miss. It returns the share of
// the Gets that hit. An engine that applies writes later is waited for after each one, so
// that the ratio measures its policy, not its buffer.
func replay(e engine, trace []int32) float64 {
	keys := allKeys()
	w, _ := e.(waiter)
	hits := 0
	for _, i := range trace {
		k := keys[i]
		if _, ok := e.Get(k); ok {
			hits++
			continue
		}
		e.Set(k, value)
		if w != nil {
			w.Wait()
		}
	}
	return float64(hits) / float64(len(trace))
}
