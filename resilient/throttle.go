package resilient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit/backend"
)

var (
	_ backend.Throttler = (*Breaker)(nil)
	_ backend.Throttler = (*Fallback)(nil)
)

// errThrottleSkipped is what Throttle gets while its circuit keeps calls from the backend: an
// ErrSkipped, so that a rate limiter, which sees only package backend, can tell a step not
// taken from a backend's failure, and choose to admit or refuse.
var errThrottleSkipped = fmt.Errorf("resilient: throttle step not sent: %w", backend.ErrSkipped)

// Errors of the Throttle of a Breaker and of a Fallback whose store has no Throttler.
var (
	errNoThrottle         = fmt.Errorf("resilient: the Store behind the breaker has no Throttler: %w", errors.ErrUnsupported)
	errFallbackNoThrottle = fmt.Errorf("resilient: the fallback Store has no Throttler: %w", errors.ErrUnsupported)
)

// Throttle implements backend.Throttler through the circuit of key's partition, on the
// Throttler of the Store behind (found with backend.Find); without one it reports an error
// wrapping errors.ErrUnsupported. The backend's failures count against the circuit and are
// returned, as a write's are; the caller's mistakes (a bad key, cost or tolerance, a key that
// holds no TAT: backend.ErrNotCounter) do not.
//
// While the circuit is open Throttle sends nothing and reports an error wrapping
// backend.ErrSkipped at once, counted in Stats.SkippedWrites: whether to admit requests
// while the limit cannot be checked is the rate limiter's choice. A step that failed or was
// skipped is not tracked as a stale key, as a failed write is: deleting a TAT on recovery
// would admit a whole burst at once.
func (b *Breaker) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	th, ok := backend.Find[backend.Throttler](b.next)
	if !ok {
		return backend.Throttle{}, errNoThrottle
	}
	if err := backend.CheckKey(key); err != nil {
		return backend.Throttle{}, err
	}
	if err := backend.CheckThrottle(cost, tolerance); err != nil {
		return backend.Throttle{}, err
	}
	var (
		r      backend.Throttle
		answer error // the backend's answer that the key holds no TAT, which is no failure
	)
	o, err := b.call(ctx, b.circuit(key), write, func(ctx context.Context) error {
		var err error
		r, err = th.Throttle(ctx, key, cost, tolerance)
		if errors.Is(err, backend.ErrNotCounter) {
			answer = err
			return nil
		}
		return err
	})
	switch {
	case o == wasSkipped:
		return backend.Throttle{}, errThrottleSkipped
	case answer != nil:
		return backend.Throttle{}, answer
	}
	return r, err
}

// Throttle implements backend.Throttler on the store traffic goes to now: the primary,
// through its breaker, or during an outage the fallback's Throttler, found with backend.Find
// (without one, Throttle reports an error wrapping errors.ErrUnsupported).
//
// The two stores keep their TATs apart, and a TAT written on the fallback is not among the
// outage's changes invalidated on failback: each switch of traffic reads the other store's
// TAT for the key, older or none, and may admit up to a burst more than the rate allows.
func (f *Fallback) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	th, ok := backend.Find[backend.Throttler](f.route(ctx))
	if !ok {
		return backend.Throttle{}, errFallbackNoThrottle
	}
	return th.Throttle(ctx, key, cost, tolerance)
}
