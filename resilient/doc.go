// Package resilient keeps a failing backend from hurting the service: Breaker is a
// backend.Store that wraps another behind a circuit breaker (sony/gobreaker v2) and bounds
// every backend request by a timeout (Options.OpTimeout): a single-key call whole, each
// request of a batch when the Store behind is a backend.RequestBounder.
//
// While the breaker is open the Store fails open: reads report a miss without touching the
// backend (ErrSkipped, an ErrNotFound), so that GetOrLoad goes to the source of truth, and
// writes are skipped. An invalidation — Delete, Expire, Clear — reports ErrOpen, so that the
// caller knows it did not happen. A miss, the caller's own cancellation and the caller's
// mistakes (ErrInvalidKey, ErrInvalidTTL, ErrValueTooLarge, also when the server found them)
// never count as failures; timeouts and connection errors do. After Options.OpenTimeout the breaker lets
// probes through, and closes by itself when they succeed.
//
// Breaker and Fallback are backend.Leasers when the Store behind them is (otherwise their
// lease calls report an error wrapping errors.ErrUnsupported). Acquire and Release go through
// the circuit of the key's partition, as writes do: the backend's failures count, a lease held
// by another is an answer, and while the circuit is open they report an error wrapping
// backend.ErrSkipped without asking the backend, so that the caller loads without a lease. A
// Fallback sends them to the store traffic goes to now.
//
// Breaker and Fallback are backend.Counters when a Store behind them is (found with
// backend.Find). Incr goes through the circuit of the key's partition too: the backend's
// failures count and are returned, the caller's mistakes (backend.ErrNotCounter among them)
// do not. While the circuit is open Incr fails open by default, with a count of zero and no
// error, so that a rate limiter admits requests during an outage; Options.FailCountersClosed
// makes it report an error wrapping backend.ErrSkipped instead. A Fallback counts on the store
// traffic goes to now, and the two stores' counts are never merged.
//
// A Store that is a backend.Partitioner, such as a Redis cluster's, gets one circuit per
// partition: while one partition's circuit is open, its keys fail open as above and the
// other partitions' keys are served. Batches are split by partition; Count and Clear, which
// span them all, are refused with ErrOpen while any partition's circuit is open.
//
// No stale value comes back when the breaker closes. A write that was skipped, refused or
// failed may have left in the backend the value it was to replace, so the breaker remembers
// its keys (up to Options.MaxTracked, past which the prefixes they share): it invalidates them
// in the backend once the backend answers again, on a goroutine of its own, and this process
// reads them as misses until then. The memory is the process's: other processes read the
// backend as it is, and a process that ends first leaves those values to their TTL.
//
// Fallback sends traffic to a second Store while a Breaker's is open, and gives it back once
// a health check of the primary passes. The keys changed on the fallback during the outage
// are then invalidated on both stores, and read as misses until they are, so that no stale
// value is read after failback, nor in a later outage — by this process, as above.
package resilient
