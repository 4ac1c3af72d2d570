package ratelimit

import (
	"fmt"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// Limit is a rate: Rate requests per Period, with bursts of up to Burst at once under GCRA.
// A Limit is passed with each call, as go-redis/redis_rate does, so that one Limiter serves
// keys of different limits (a plan per customer); a key should keep one Limit, since the
// state under it is read in the Limit's terms.
type Limit struct {
	// Rate is how many requests a Period admits. It must be positive.
	Rate int
	// Period is the time Rate is counted over: the window's length for the windows, and the
	// time GCRA takes to admit Rate requests at its steady pace. It must be positive and at
	// most backend.MaxTTL/3, since a window's counter lives up to three windows.
	Period time.Duration
	// Burst is how many requests GCRA admits at once, after a quiet spell: its quota. Zero
	// means Rate, as redis_rate's PerSecond sets it; a negative Burst is refused. The windows
	// ignore it: their quota is Rate per window.
	Burst int
}

// PerSecond returns a Limit of rate requests a second, with bursts of rate.
func PerSecond(rate int) Limit { return Limit{Rate: rate, Period: time.Second, Burst: rate} }

// PerMinute returns a Limit of rate requests a minute, with bursts of rate.
func PerMinute(rate int) Limit { return Limit{Rate: rate, Period: time.Minute, Burst: rate} }

// PerHour returns a Limit of rate requests an hour, with bursts of rate.
func PerHour(rate int) Limit { return Limit{Rate: rate, Period: time.Hour, Burst: rate} }

// String returns the Limit as "100 per 1s (burst 100)".
func (l Limit) String() string {
	return fmt.Sprintf("%d per %v (burst %d)", l.Rate, l.Period, l.burst())
}

// burst is the Limit's Burst with zero read as Rate.
func (l Limit) burst() int {
	if l.Burst == 0 {
		return l.Rate
	}
	return l.Burst
}

// check reports a Limit no algorithm can use, wrapping backend.ErrConfig.
func (l Limit) check() error {
	switch {
	case l.Rate <= 0:
		return fmt.Errorf("ratelimit: Limit.Rate %d is not positive: %w", l.Rate, backend.ErrConfig)
	case l.Period <= 0 || l.Period > backend.MaxTTL/3:
		return fmt.Errorf("ratelimit: Limit.Period %v is not within (0, %v]: %w", l.Period, backend.MaxTTL/3, backend.ErrConfig)
	case l.Burst < 0:
		return fmt.Errorf("ratelimit: Limit.Burst %d is negative: %w", l.Burst, backend.ErrConfig)
	}
	return nil
}

// interval is GCRA's emission interval, Period/Rate, rounded up to a whole microsecond: the
// stores keep a TAT in microseconds, and rounding up keeps the rate at or under the Limit's
// (100 per second is exactly 10ms; 3 per second is 333,334µs). A Limit over one request a
// microsecond, or whose burst spans more than backend.MaxTTL, is refused.
func (l Limit) interval() (time.Duration, error) {
	t := (l.Period + time.Duration(l.Rate) - 1) / time.Duration(l.Rate)
	t = (t + time.Microsecond - 1) / time.Microsecond * time.Microsecond
	switch {
	case l.Period/time.Duration(l.Rate) < time.Microsecond:
		return 0, fmt.Errorf("ratelimit: %v is over one request a microsecond, the finest GCRA keeps: %w", l, backend.ErrConfig)
	case time.Duration(l.burst()) > backend.MaxTTL/t:
		return 0, fmt.Errorf("ratelimit: %v: a burst spans over %v: %w", l, backend.MaxTTL, backend.ErrConfig)
	}
	return t, nil
}
