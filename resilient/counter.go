package resilient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// errCountSkipped is what Incr gets while its circuit keeps calls from the backend, under
// Options.FailCountersClosed: an ErrSkipped, so that a caller that sees only package backend
// can tell a count not made from a backend's failure.
var errCountSkipped = fmt.Errorf("resilient: increment not sent: %w", backend.ErrSkipped)

// Errors of the Incr of a Breaker and of a Fallback whose store keeps no counters.
var (
	errNoCounter         = fmt.Errorf("resilient: the Store behind the breaker keeps no counters: %w", errors.ErrUnsupported)
	errFallbackNoCounter = fmt.Errorf("resilient: the fallback Store keeps no counters: %w", errors.ErrUnsupported)
)

// Incr implements backend.Counter through the circuit of key's partition, on the counter of
// the Store behind (found with backend.Find); without one it reports an error wrapping
// errors.ErrUnsupported. The backend's failures count against the circuit and are returned,
// as a write's are; the caller's mistakes (a bad key or TTL, backend.ErrNotCounter) do not.
//
// While the circuit is open Incr sends nothing, and by default answers a count of zero with
// no error: a rate limiter built on counters then admits requests during an outage, with no
// code of its own. With Options.FailCountersClosed it reports an error wrapping
// backend.ErrSkipped instead. Either way, the increment is lost: it is not kept to be sent
// when the backend answers again, since its window may be over by then.
//
// A failed Incr is not tracked as a stale key, as a failed write is: the backend may or may
// not have counted it, and deleting the counter on recovery would restart its window from
// zero, which loses more counts than it corrects.
func (b *Breaker) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (n int64, err error) {
	c, ok := backend.Find[backend.Counter](b.next)
	if !ok {
		return 0, errNoCounter
	}
	if err := backend.CheckEntries([]backend.Entry{{Key: key, TTL: ttl}}); err != nil {
		return 0, err
	}
	_, err = b.call(ctx, b.circuit(key), incr, func(ctx context.Context) error {
		n, err = c.Incr(ctx, key, delta, ttl)
		return err
	})
	return n, err
}

// Incr implements backend.Counter on the store traffic goes to now: the primary, through its
// breaker, or during an outage the fallback's counter, found with backend.Find (without one,
// Incr reports an error wrapping errors.ErrUnsupported).
//
// The two stores count apart: the counts made on the fallback during an outage are not added
// to the primary's when traffic returns, nor are they among the outage's changes invalidated
// then, so a window that spans a failover or a failback starts again from the other store's
// count and may admit up to twice its limit. A counter's key that was Set or deleted during
// the outage is invalidated as any other changed key, and its count restarts.
func (f *Fallback) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	c, ok := backend.Find[backend.Counter](f.route(ctx))
	if !ok {
		return 0, errFallbackNoCounter
	}
	return c.Incr(ctx, key, delta, ttl)
}
