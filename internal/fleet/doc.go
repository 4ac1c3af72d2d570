// Package fleet simulates a fleet of service instances that share one cache backend in front
// of a slow source of truth, to show what a view's cachekit.Freshness does at fleet scale.
//
// Each instance is a cachekit.Cache of its own (with Options.Background) over a tiered store
// of its own: an L1 in memory in front of the instance's own client of the one shared backend,
// which Options.Open opens. Every instance reads, for a while, a hot key with a short TTL, keys
// drawn from a Zipf distribution with a long one, and keys the source of truth lacks, each
// through GetOrLoad on a view with the Freshness of the Strategy under test. The source sleeps
// for its latency on every call, counts its calls per key, and stamps each value with the time
// it was loaded, so that a read knows how stale what it was served is.
//
// Run returns a Report of figures: source calls per expiry of the hot key, reads that waited
// for the source, latency percentiles, stale reads and their age, source calls for missing
// keys, and a time series of the hot key's read latency around its expiries. It judges
// nothing: the callers (cachectl bench, the fleet benchmark) print and compare the figures.
// docs/freshness.md defines each figure and shows what a run measured.
package fleet
