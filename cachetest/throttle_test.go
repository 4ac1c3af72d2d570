package cachetest_test

import (
	"context"
	"strconv"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
)

// Stores whose Throttle breaks a promise of backend.Throttler, beside the other broken ones.
func init() {
	add := func(name, caught string, wrap func(*memstore.Store) backend.Store) {
		b := broken[name]
		b.wrap, b.caught = wrap, caught
		broken[name] = b
	}
	add("throttle writes when denied", "Throttle", func(s *memstore.Store) backend.Store { return throttleWritesWhenDenied{s} })
	add("throttle reads then writes", "ThrottleConcurrent", func(s *memstore.Store) backend.Store { return throttleReadsThenWrites{s} })
	add("throttle overwrites entries", "ThrottleNotCounter", func(s *memstore.Store) backend.Store { return throttleOverwritesEntries{s} })
}

// throttleWritesWhenDenied moves the TAT on by the cost even when it denies, as a limiter that
// counts refused requests against the caller would.
type throttleWritesWhenDenied struct{ *memstore.Store }

func (s throttleWritesWhenDenied) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	r, err := s.Store.Throttle(ctx, key, cost, tolerance)
	if err == nil && !r.Allowed {
		_ = s.Set(ctx, key, []byte(strconv.FormatInt(r.TAT.Add(cost).UnixMicro(), 10)), r.TAT.Add(cost).Sub(r.Now))
	}
	return r, err
}

// throttleReadsThenWrites runs the step as a Get and a Set, with a pause between them, so that
// concurrent steps read the same TAT.
type throttleReadsThenWrites struct{ *memstore.Store }

func (s throttleReadsThenWrites) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	now := time.Now()
	tat := now
	if v, err := s.Get(ctx, key); err == nil {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && time.UnixMicro(n).After(now) {
			tat = time.UnixMicro(n)
		}
	}
	time.Sleep(time.Millisecond) // the window a second request falls in
	if tat.Add(cost).Sub(now) > tolerance {
		return backend.Throttle{TAT: tat, Now: now}, nil
	}
	tat = tat.Add(cost)
	return backend.Throttle{Allowed: true, TAT: tat, Now: now}, s.Set(ctx, key, []byte(strconv.FormatInt(tat.UnixMicro(), 10)), tat.Sub(now))
}

// throttleOverwritesEntries takes any entry that is not a TAT as none, and replaces it.
type throttleOverwritesEntries struct{ *memstore.Store }

func (s throttleOverwritesEntries) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	if v, err := s.Get(ctx, key); err == nil {
		if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
			_ = s.Delete(ctx, key)
		}
	}
	return s.Store.Throttle(ctx, key, cost, tolerance)
}
