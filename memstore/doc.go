// Package memstore is cachekit's in-process backend: sub-microsecond, volatile, bounded by a
// maximum number of entries, with a TTL per entry.
//
// Use it for tests, for data computed once per AWS Lambda invocation or warm instance, and as
// the first tier in front of a remote store. Its engine is otter (W-TinyLFU eviction), chosen
// because it kept the best hit ratio on a Zipf workload at capacity and the fastest reads of
// the caches measured side by side (see docs/benchmarks.md).
//
// Expired entries are never returned. They are removed as the store is used and by CleanUp,
// which a cachekit.Cache calls on its schedule: the store runs no goroutine of its own.
//
// The store is a backend.Leaser: Acquire and Release check and write under the entry's own
// lock, so that of racing holders one wins, and an expired entry counts as none. It is a
// backend.Counter: Incr reads and writes the count under the entry's lock too, keeping the
// expiry the counter was created with.
package memstore
