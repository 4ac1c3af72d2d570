package tiered

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Throttler = (*Store)(nil)

// errNoThrottle is what Throttle reports over an L2 without a backend.Throttler.
var errNoThrottle = fmt.Errorf("tiered: L2 has no Throttler: %w", errors.ErrUnsupported)

// Throttle implements backend.Throttler on L2's Throttler (found with backend.Find, through
// L2's decorators), since a rate must hold across the fleet; it reports an error wrapping
// errors.ErrUnsupported when L2 has none. L1 keeps no copy of the key: one that a read made
// goes, as it would after a write.
func (s *Store) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	th, ok := backend.Find[backend.Throttler](s.l2)
	if !ok {
		return backend.Throttle{}, errNoThrottle
	}
	r, err := th.Throttle(ctx, key, cost, tolerance)
	s.forget(key)
	return r, err
}
