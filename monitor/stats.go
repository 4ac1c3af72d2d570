package monitor

// Stats is a snapshot of a cache's activity since it was created: what cachekit's Cache
// reports (as cachekit.Stats) and what EMF turns into metrics. A view of a Cache counts its
// own calls, and the Cache counts them too.
type Stats struct {
	Prefix string // the prefix the cache puts before every key

	Hits       uint64 // reads that found an entry; GetMany counts each key
	Misses     uint64 // reads that found none
	Skipped    uint64 // reads a circuit breaker answered as misses without asking the backend: while open, or of a key left stale by an outage
	Sets       uint64 // entries written
	Deletes    uint64 // keys deleted, and entries removed by Clear
	Errors     uint64 // calls that failed for any reason other than a miss
	Loads      uint64 // loader runs by GetOrLoad
	LoadErrors uint64 // loader runs that returned an error

	// Keys is the number of unexpired entries under the prefix, counted by the Store, or -1
	// when it was not counted.
	Keys int
	// HitRatio is Hits / (Hits + Misses), or 0 before the first read.
	HitRatio float64

	// ReadLatency and WriteLatency are the latencies of the calls to the Store: reads (Get,
	// GetMany, Has, TTL) and writes (Set, SetMany, Delete, Expire).
	ReadLatency, WriteLatency Histogram

	// Breaker is the state of the circuit breaker in front of the backend: "closed",
	// "half-open" or "open"; empty when the Store has none.
	Breaker string
	// Active is "primary" or "fallback" for a Store with a fallback (where traffic goes now);
	// empty otherwise.
	Active string

	// Health is the result of the last health check, or nil when none has run.
	Health *Result
	// HealthChecks and HealthFailures count the health checks run and those that failed.
	HealthChecks, HealthFailures uint64
}
