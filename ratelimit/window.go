package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// window is where now falls among the windows of length period aligned on the Unix epoch:
// the window's index and how far into it now is.
func window(now time.Time, period time.Duration) (index int64, elapsed time.Duration) {
	ns := now.UnixNano()
	index, rem := ns/int64(period), ns%int64(period)
	if rem < 0 { // before 1970: floor, not truncation
		index, rem = index-1, rem+int64(period)
	}
	return index, time.Duration(rem)
}

// windowKey is the key of a window's counter: the limited key, a colon and the window's index.
func windowKey(key string, index int64) string {
	return key + ":" + strconv.FormatInt(index, 10)
}

// counterTTL is the TTL a window's counter is created with. Its answers are trusted until two
// windows past the start of the window they were asked for (see windowed), and it must live
// that long: two windows for the fixed window, three for the sliding window, whose requests
// read the previous window's counter too.
func (l *Limiter) counterTTL(period time.Duration) time.Duration {
	if l.algorithm == SlidingWindow {
		return 3 * period
	}
	return 2 * period
}

// windowed decides a request by one of the windows, at the time the Limiter's clock tells.
//
// A window's counters live a bounded time, so an answer from the Store is trusted only while
// the counters it read must still be alive: until two windows past the start of the
// request's window. Between reading the clock and the Store's answer the process may stall
// (a pause, a CPU quota spent, a frozen sandbox) for longer; the answer may then come from a
// counter that expired and started again from zero, and admitting on it would let a stalled
// fleet through twice. So an answer that comes back later is set aside and the request
// decided again, at the new time; if that one comes back too late as well, the request is
// denied, with RetryAfter zero. The instances of a fleet read the time each from its own
// clock, too: one whose clock runs behind by up to a window still counts into live counters.
func (l *Limiter) windowed(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	decide := l.fixedWindow
	if l.algorithm == SlidingWindow {
		decide = l.slidingWindow
	}
	for range 2 {
		now := l.clock.Now()
		res, err := decide(ctx, key, limit, n, now)
		if err != nil {
			return Result{}, err
		}
		_, elapsed := window(now, limit.Period)
		if l.clock.Now().Before(now.Add(2*limit.Period - elapsed)) {
			return res, nil
		}
	}
	return Result{}, nil
}

// fixedWindow counts the request in its window's counter, in one request to the Store, and
// admits it while the count is within Rate. A denied request stays counted: undoing it would
// take a second request, and it changes nothing for requests of weight one, denied anyway
// until the window ends; a denied AllowN(n) does use up the rest of the window's quota.
func (l *Limiter) fixedWindow(ctx context.Context, key string, limit Limit, n int, now time.Time) (Result, error) {
	index, elapsed := window(now, limit.Period)
	k := windowKey(key, index)
	if err := backend.CheckKey(k); err != nil {
		return Result{}, err
	}
	count, err := l.counter.Incr(ctx, k, int64(n), l.counterTTL(limit.Period))
	if err != nil {
		return Result{}, err
	}
	rate := int64(limit.Rate)
	res := Result{
		Allowed:    count <= rate,
		Remaining:  int(min(max(rate-count, 0), rate)),
		ResetAfter: limit.Period - elapsed,
	}
	if !res.Allowed {
		res.RetryAfter = res.ResetAfter // n <= Rate: the next window admits it
	}
	return res, nil
}

// slidingWindow estimates the requests of the last Period, as Cloudflare described it: the
// current window's count plus the previous window's, weighted by the share of the previous
// window that a Period ending now still covers (all of it as a window begins, none as it
// ends), as if the previous window's requests had come evenly. The request is admitted while
// the estimate is within Rate.
//
// It reads the previous count (a Get), then counts the request (an Incr): two requests to
// the Store. A denied request is taken off the count again (a third request, only on
// denial), so that a client's denied requests do not hold it back in the next window: the
// Limiter admits Rate per Period whatever the client sends. If that undo fails, the request
// stays counted, which errs on the strict side.
//
// The estimate is exact for evenly spread requests. Since the weight is never negative, a
// window never admits more than Rate, as a FixedWindow; the estimate runs short only when the
// previous window's requests came at its end, and then a Period spanning the two windows
// admits at most Rate more than a window ending at the edge held, and at most 2×Rate. Across
// a fleet, the previous count is read as it stands: a request early in a window misses the
// increments of the previous window's last admissions still on their way to the Store.
func (l *Limiter) slidingWindow(ctx context.Context, key string, limit Limit, n int, now time.Time) (Result, error) {
	index, elapsed := window(now, limit.Period)
	k := windowKey(key, index)
	if err := backend.CheckKey(k); err != nil {
		return Result{}, err
	}
	prev, err := l.count(ctx, windowKey(key, index-1))
	if err != nil {
		return Result{}, err
	}
	count, err := l.counter.Incr(ctx, k, int64(n), l.counterTTL(limit.Period))
	if err != nil {
		return Result{}, err
	}
	period, rate := uint64(limit.Period), int64(limit.Rate)
	// The previous window's share, rounded up: admitting while share + count <= Rate is then
	// admitting while prev×(Period-elapsed)/Period + count <= Rate, with no float.
	share := int64(mulDivCeil(uint64(max(prev, 0)), period-uint64(elapsed), period))
	res := Result{Allowed: share+count <= rate}
	if !res.Allowed {
		// Undone with the context of the call: a caller gone leaves the count high, on the
		// strict side.
		_, _ = l.counter.Incr(ctx, k, -int64(n), l.counterTTL(limit.Period))
		count -= int64(n)
	}
	count = max(count, 0)
	res.Remaining = int(min(max(rate-share-count, 0), rate))
	// Back to the full quota once neither window counts: the previous one's weight is gone at
	// the end of this window, and this one's at the end of the next.
	res.ResetAfter = limit.Period - elapsed
	if count > 0 {
		res.ResetAfter += limit.Period
	}
	if !res.Allowed {
		res.RetryAfter = slidingRetry(limit, elapsed, prev, count, int64(n))
	}
	return res, nil
}

// slidingRetry is how long until a request of weight n, denied elapsed into a window with
// prev requests in the window before and count in this one, would be admitted if no other
// came: when the previous window's share has shrunk enough, in this window if this window's
// count leaves room for n, else in the next one, where this window is the previous.
func slidingRetry(limit Limit, elapsed time.Duration, prev, count, n int64) time.Duration {
	period, rate := uint64(limit.Period), int64(limit.Rate)
	// at is how far into its window the share of before, out of room, fits: the earliest e
	// with ceil(before×(period-e)/period) <= room, that is e >= period - room×period/before.
	at := func(before, room int64) time.Duration {
		if before <= room {
			return 0
		}
		return time.Duration(period - mulDivFloor(uint64(room), period, uint64(before)))
	}
	if room := rate - count - n; room >= 0 {
		return at(prev, room) - elapsed
	}
	return limit.Period - elapsed + at(count, rate-n)
}

// count reads a window's counter through the Store: zero when there is none, as when it has
// expired (or a breaker skipped the backend: that miss is an ErrNotFound too).
func (l *Limiter) count(ctx context.Context, key string) (int64, error) {
	data, err := l.store.Get(ctx, key)
	if errors.Is(err, backend.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ratelimit: the previous window's entry is %w", backend.ErrNotCounter)
	}
	return n, nil
}

// mulDivFloor returns floor(a×b/d) for a×b/d < 2^64, without overflow in a×b.
func mulDivFloor(a, b, d uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, d)
	return q
}

// mulDivCeil returns ceil(a×b/d) for a×b/d < 2^64, without overflow in a×b.
func mulDivCeil(a, b, d uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, r := bits.Div64(hi, lo, d)
	if r != 0 {
		q++
	}
	return q
}
