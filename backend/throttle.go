package backend

import (
	"context"
	"time"
)

// Throttler is an optional interface of a Store that runs the step of GCRA, the generic cell
// rate algorithm (as go-redis/redis_rate does), atomically on a key: what a rate limiter needs
// to admit requests at a steady rate across a fleet with one request per decision. Callers
// find it with Find, through decorators; a breaker implements it itself, and a tier passes it
// on without keeping copies.
//
// The key holds a theoretical arrival time (TAT): its value is the TAT's decimal Unix
// microseconds, and its TTL ends at the TAT, when the key has nothing left to say.
type Throttler interface {
	// Throttle asks to admit a request that costs cost (the emission interval times the
	// request's weight) with tolerance (how far ahead of now the TAT may run: the burst).
	// At the Store's now, with tat the stored TAT or now when there is none (or it has
	// passed), the request is allowed when max(tat, now) + cost - tolerance <= now; then the
	// key is set to max(tat, now) + cost, in the same atomic step. Nothing is written when
	// it is denied. An entry under key that is not a TAT is left alone and reported with
	// ErrNotCounter.
	Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (Throttle, error)
}

// Throttle is the outcome of one Throttler step.
type Throttle struct {
	// Allowed reports whether the request was admitted.
	Allowed bool
	// TAT is the key's theoretical arrival time after the step: the new one when allowed,
	// the stored one when denied.
	TAT time.Time
	// Now is the time the step ran at, by the Store's clock (the Redis server's, for one),
	// against which TAT is to be read.
	Now time.Time
}
