package resilient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// errLeaseSkipped is what a lease call gets while its circuit keeps calls from the backend.
// It is an ErrSkipped, the error that says a Store failing open did not ask the backend, so
// that a caller, which sees only package backend, takes no lease and loads without one.
var errLeaseSkipped = fmt.Errorf("resilient: lease call not sent: %w", backend.ErrSkipped)

// Errors of the lease calls of a Breaker and of a Fallback whose store holds no leases.
var (
	errNoLeases         = fmt.Errorf("resilient: the Store behind the breaker holds no leases: %w", errors.ErrUnsupported)
	errFallbackNoLeases = fmt.Errorf("resilient: the fallback Store holds no leases: %w", errors.ErrUnsupported)
)

// Acquire implements backend.Leaser through the circuit of key's partition, when the Store
// behind is a Leaser; otherwise it reports an error wrapping errors.ErrUnsupported. While the
// circuit is open it reports an error wrapping backend.ErrSkipped at once, without asking the
// backend, so that the caller loads without a lease. The backend's failures count against the
// circuit, as a write's do; a lease another holder has (false, no error) is an answer.
func (b *Breaker) Acquire(ctx context.Context, key, token string, ttl time.Duration) (taken bool, err error) {
	l, ok := b.next.(backend.Leaser)
	if !ok {
		return false, errNoLeases
	}
	if err := backend.CheckEntries([]backend.Entry{{Key: key, TTL: ttl}}); err != nil {
		return false, err
	}
	_, err = b.call(ctx, b.circuit(key), lease, func(ctx context.Context) error {
		taken, err = l.Acquire(ctx, key, token, ttl)
		return err
	})
	return taken, err
}

// Release implements backend.Leaser through the circuit of key's partition, as Acquire does.
//
// A Release refused while open, or that failed, is not kept to be retried once the backend
// answers, as a refused Delete is: the lease ends by itself within its TTL, which is short,
// so a retry would come when there is nothing left to release, and until then the others
// wait for the lease no longer than its holder could have held it.
func (b *Breaker) Release(ctx context.Context, key, token string) error {
	l, ok := b.next.(backend.Leaser)
	if !ok {
		return errNoLeases
	}
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	_, err := b.call(ctx, b.circuit(key), lease, func(ctx context.Context) error {
		return l.Release(ctx, key, token)
	})
	return err
}

// leaser returns the Leaser lease calls go to now: the primary's Breaker, or the fallback
// when traffic is on it and it is a Leaser.
func (f *Fallback) leaser(ctx context.Context) (backend.Leaser, error) {
	l, ok := f.route(ctx).(backend.Leaser)
	if !ok {
		return nil, errFallbackNoLeases
	}
	return l, nil
}

// Acquire implements backend.Leaser on the store traffic goes to now: the primary, through
// its breaker, or during an outage the fallback, when it is a Leaser (otherwise the call
// reports an error wrapping errors.ErrUnsupported). A lease taken on the fallback is not
// among the outage's changes invalidated on failback: it ends by itself within its TTL, and
// while it lasts another instance, on the primary again, may load the key too.
func (f *Fallback) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	l, err := f.leaser(ctx)
	if err != nil {
		return false, err
	}
	return l.Acquire(ctx, key, token, ttl)
}

// Release implements backend.Leaser on the store traffic goes to now, as Acquire does. A
// lease taken on the other store is left to its TTL.
func (f *Fallback) Release(ctx context.Context, key, token string) error {
	l, err := f.leaser(ctx)
	if err != nil {
		return err
	}
	return l.Release(ctx, key, token)
}
