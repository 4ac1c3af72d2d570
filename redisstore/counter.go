package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Counter = (*Store)(nil)

// incrScript is Incr, on the one key KEYS[1], so that a cluster runs it on the key's master;
// it goes as EVAL, as the lease scripts do (see lease.go). With no unexpired key it sets the
// key to the delta ARGV[1] with the expiry ARGV[2] ARGV[3] (PX and a TTL, or PXAT and an
// epoch millisecond); otherwise INCRBY adds the delta and leaves the TTL as it is. A key has
// expired when the server removed it, or, with Options.Clock, when its expiry is at or before
// the clock's time ARGV[4]; without one, ARGV[4] is -1, which no expiry is at or before.
//
// The script returns the count as GET reads it, a string: Lua keeps INCRBY's integer reply as
// a double, exact only up to 2^53.
//
// It is a script, not INCRBY and PEXPIRE … NX in a MULTI, which would also make one round
// trip: the script reads the expiry by the clock where the transaction could not, and it
// touches nothing when INCRBY fails, where the transaction's PEXPIRE would still run and could
// give a TTL to a value some other writer left without one.
const incrScript = `local at = redis.call('PEXPIRETIME', KEYS[1])
if at == -2 or (at >= 0 and at <= tonumber(ARGV[4])) then
	redis.call('SET', KEYS[1], ARGV[1], ARGV[2], ARGV[3])
else
	redis.call('INCRBY', KEYS[1], ARGV[1])
end
return redis.call('GET', KEYS[1])`

// Incr implements backend.Counter with a script (incrScript) in one round trip: the count is
// a string of decimal digits, which INCRBY adds to, and its TTL is set only when it is
// created, in whole milliseconds rounded up as for Set. A value that is not an integer, an
// increment past the range of int64, and a key of another type (a list, a hash) are reported
// with backend.ErrNotCounter, and left as they were.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	c, err := s.use(ctx)
	if err != nil {
		return 0, err
	}
	if err := backend.CheckKey(key); err != nil {
		return 0, err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return 0, err
	}
	d := strconv.FormatInt(delta, 10)
	expiry, now := []string{"PX", strconv.FormatInt(ms(ttl), 10)}, "-1"
	if s.o.Clock != nil {
		expiry = []string{"PXAT", strconv.FormatInt(s.expireAt(ttl), 10)}
		now = strconv.FormatInt(s.o.Clock.Now().UnixMilli(), 10)
	}
	v, err := eval(ctx, c, incrScript, key, d, expiry[0], expiry[1], now).ToString()
	if err != nil {
		if notCounter(err) {
			return 0, fmt.Errorf("redisstore: EVAL: %w: %w", backend.ErrNotCounter, err)
		}
		return 0, wrap(ctx, "EVAL", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: EVAL returned %q, not a count: %w", v, err)
	}
	return n, nil
}

// notCounter reports whether err is the server's refusal of INCRBY: a value that is not an
// integer or would overflow, or a key that holds no string.
func notCounter(err error) bool {
	var re *rueidis.RedisError
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	return strings.Contains(msg, "not an integer or out of range") ||
		strings.Contains(msg, "would overflow") ||
		strings.Contains(msg, "WRONGTYPE")
}
