package backend

import (
	"context"
	"fmt"
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
	// it is denied. From an idle key, tolerance/cost requests are admitted at once (the
	// burst), then one per cost as time passes. An expired entry counts as none; an entry
	// under key that is not a TAT (not a decimal integer) is left alone and reported with
	// ErrNotCounter. Cost and tolerance follow CheckThrottle.
	Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (Throttle, error)
}

// Throttle is the outcome of one Throttler step.
type Throttle struct {
	// Allowed reports whether the request was admitted.
	Allowed bool
	// TAT is the key's theoretical arrival time after the step: the new one when allowed,
	// the stored one when denied (Now when there is none, or it has passed). TAT - Now is
	// how far the key runs ahead: at most the tolerance after an allowed step.
	TAT time.Time
	// Now is the time the step ran at, by the Store's clock (the Redis server's, for one),
	// against which TAT is to be read.
	Now time.Time
}

// CheckThrottle reports whether cost and tolerance are ones a Throttler takes: a cost of at
// least a microsecond, the unit of a TAT, and a tolerance of zero or more, both at most
// MaxTTL, since they set the key's TTL. Errors wrap ErrInvalidTTL. A Throttler counts both in
// whole microseconds, dropping what is finer. A tolerance under the cost is valid: the key then
// admits nothing, as a request heavier than the burst never fits.
func CheckThrottle(cost, tolerance time.Duration) error {
	switch {
	case cost < time.Microsecond:
		return fmt.Errorf("%w: a throttle's cost of %v is under a microsecond", ErrInvalidTTL, cost)
	case cost > MaxTTL:
		return fmt.Errorf("%w: a throttle's cost of %v is over the limit of %v", ErrInvalidTTL, cost, MaxTTL)
	case tolerance < 0:
		return fmt.Errorf("%w: a throttle's tolerance of %v is negative", ErrInvalidTTL, tolerance)
	case tolerance > MaxTTL:
		return fmt.Errorf("%w: a throttle's tolerance of %v is over the limit of %v", ErrInvalidTTL, tolerance, MaxTTL)
	}
	return nil
}
