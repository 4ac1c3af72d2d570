package memstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Throttler = (*Store)(nil)

// Throttle implements backend.Throttler: the step runs under the entry's lock, where the
// engine counts an expired entry as absent, at the store's clock's now, read under that lock
// so that the steps on one key see time in the order they ran.
func (s *Store) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	if err := s.usable(ctx); err != nil {
		return backend.Throttle{}, err
	}
	if err := backend.CheckKey(key); err != nil {
		return backend.Throttle{}, err
	}
	if err := backend.CheckThrottle(cost, tolerance); err != nil {
		return backend.Throttle{}, err
	}
	var (
		t          backend.Throttle
		notCounter bool
	)
	s.cache.Compute(key, func(old item, found bool) (item, otter.ComputeOp) {
		nowNano := s.clock.NowNano()
		now := nowNano / int64(time.Microsecond)
		tat := now
		if found {
			stored, err := strconv.ParseInt(string(old.value), 10, 64)
			if err != nil {
				notCounter = true
				return old, otter.CancelOp
			}
			tat = max(tat, stored)
		}
		t.Now = time.UnixMicro(now)
		// The rule max(tat, now) + cost - tolerance <= now, in a form that no stored
		// value, however large, overflows.
		if tat-now > tolerance.Microseconds()-cost.Microseconds() {
			t.TAT = time.UnixMicro(tat)
			return old, otter.CancelOp
		}
		tat += cost.Microseconds()
		t.Allowed, t.TAT = true, time.UnixMicro(tat)
		return item{value: strconv.AppendInt(nil, tat, 10), ttl: time.Duration(tat*int64(time.Microsecond) - nowNano)}, otter.WriteOp
	})
	if notCounter {
		return backend.Throttle{}, fmt.Errorf("memstore: Throttle: %w: the entry is not a TAT", backend.ErrNotCounter)
	}
	return t, nil
}
