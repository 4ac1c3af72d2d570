package backend

import "fmt"

// The optional abilities a Store may have, beyond the contract: each is an interface a caller
// finds with Find, through any decorators in front of the Store. ExpiryReader, Partitioner
// and RequestBounder are declared beside the contract; these are the rest.

// Unwrapper is the interface of a decorator: a Store in front of another (a breaker, a
// fallback, a tier). Unwrap returns the Store it sends calls to, so that Find can reach the
// abilities behind it, as errors.Unwrap reaches the errors behind a wrapper. A decorator with
// two Stores behind it returns the one that serves when all is well.
type Unwrapper interface {
	Unwrap() Store
}

// Sweeper is an optional interface of a Store that keeps expired entries in memory until a
// sweep removes them (memstore, and a tier's in-memory L1). A Cache under AWS Lambda, where
// no goroutine runs between invocations, calls CleanUp from within calls when a sweep is due.
type Sweeper interface {
	// CleanUp removes the expired entries now.
	CleanUp()
}

// Status is where a resilient Store stands, for a cache's statistics.
type Status struct {
	// Breaker is the circuit breaker's state: "closed", "half-open" or "open" (for a Store
	// in parts, the worst of its parts').
	Breaker string
	// Active is "primary" or "fallback" for a Store with a fallback, where traffic goes
	// now; empty otherwise.
	Active string
}

// StatusReporter is an optional interface of a Store that fails open (a circuit breaker, a
// fallback), so that a cache can report where it stands.
type StatusReporter interface {
	Status() Status
}

// Tier is an optional interface of a Store that answers from copies it keeps of another
// Store's entries: an in-memory L1 in front of a remote L2. A health check probes L2, since a
// copy in memory says nothing of the backend's health.
type Tier interface {
	L2() Store
}

// Find returns the first Store along s's chain of decorators (s, then what Unwrap returns,
// and so on) that has the ability T, and whether there is one. T is one of the ability
// interfaces, such as Sweeper or StatusReporter.
func Find[T any](s Store) (T, bool) {
	for range maxChain {
		if t, ok := s.(T); ok {
			return t, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			break
		}
		if s = u.Unwrap(); s == nil {
			break
		}
	}
	var zero T
	return zero, false
}

// maxChain bounds Find's walk, so that a decorator that unwraps to itself cannot loop it.
const maxChain = 64

// ErrSkipped is the miss a read gets when a Store that fails open (a circuit breaker while
// open, or a key an outage left stale) answers without asking the backend. It wraps
// ErrNotFound, so that callers treat it as the miss it is, and lets a cache count it apart
// from real misses. A Leaser that fails open wraps it in the error of an Acquire or Release it
// did not send: the caller then goes on without a lease. A Counter that fails closed wraps it
// in the error of an Incr it did not send.
var ErrSkipped = fmt.Errorf("%w (circuit breaker open: the backend was not asked)", ErrNotFound)
