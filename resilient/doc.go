// Package resilient keeps a failing backend from hurting the service: Breaker is a
// backend.Store that wraps another behind a circuit breaker (sony/gobreaker v2) and bounds
// every call by a per-operation timeout.
//
// While the breaker is open the Store fails open: reads report a miss without touching the
// backend, so that GetOrLoad goes to the source of truth, and writes are skipped. An
// invalidation — Delete, Expire, Clear — cannot be skipped, or stale data would come back
// when the breaker closes: it reports ErrOpen instead. A miss and the caller's own
// cancellation never count as failures; timeouts and connection errors do. After
// Options.OpenTimeout the breaker lets probes through, and closes by itself when they succeed.
//
// Fallback sends traffic to a second Store while a Breaker's is open, and gives it back once
// a health check of the primary passes and the keys changed during the outage are
// invalidated on both, so that no stale value is read after failback.
package resilient
