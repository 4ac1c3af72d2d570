package backend

import (
	"context"
	"time"
)

// Leaser is an optional interface of a Store that holds short leases: entries written only
// where no unexpired entry is, and removed only by their holder. A view with a refresh lease
// takes one before it loads a key, so that one instance of a fleet loads it while the others
// serve what they have or wait for its value; a holder that dies loses its lease when the
// lease's TTL ends.
//
// Leases live in the Store's keyspace, under keys the caller chooses, and count in Count and
// Clear like entries. A decorator has the ability only when it passes it on itself (tiered to
// its L2, resilient through its breaker): callers assert it on the Store they call, not with
// Find, so that no lease goes around a breaker.
type Leaser interface {
	// Acquire stores token under key for ttl when no unexpired entry is stored there, in one
	// conditional write, and reports whether it did. An expired entry counts as none, however
	// late the backend removes it.
	Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// Release removes the entry under key when it holds token, in one conditional request,
	// and otherwise leaves it: a lease that expired and was taken by another holder stays
	// theirs.
	Release(ctx context.Context, key, token string) error
}
