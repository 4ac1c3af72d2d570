package ratelimit

import (
	"context"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// gcra runs GCRA's step on the Store, in one request, with the terms of go-redis/redis_rate's
// allowN: an emission interval T of Period/Rate, a cost of T×n and a tolerance of T×Burst, so
// that a key at rest admits Burst requests at once and then one every T. The request is
// admitted when max(TAT, now) + cost - tolerance <= now.
//
// The Result is read from the TAT and the Store's now, as redis_rate does, with one
// difference: Remaining rounds down where redis_rate rounds to the nearest, so that it never
// promises a request the next call would deny.
func (l *Limiter) gcra(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if err := backend.CheckKey(key); err != nil {
		return Result{}, err
	}
	t, err := limit.interval()
	if err != nil {
		return Result{}, err
	}
	cost, tolerance := t*time.Duration(n), t*time.Duration(limit.burst())
	step, err := l.throttler.Throttle(ctx, key, cost, tolerance)
	if err != nil {
		return Result{}, err
	}
	now, tat := step.Now, step.TAT
	if tat.Before(now) {
		tat = now // a TAT in the past is a key at rest
	}
	res := Result{
		Allowed: step.Allowed,
		// What the TAT leaves of the tolerance, in whole requests: each takes T of it.
		Remaining:  int(min(max(now.Add(tolerance).Sub(tat)/t, 0), time.Duration(limit.burst()))),
		ResetAfter: tat.Sub(now),
	}
	if !step.Allowed {
		res.RetryAfter = tat.Add(cost - tolerance).Sub(now)
	}
	return res, nil
}
