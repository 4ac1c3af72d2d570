package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Leaser = (*Store)(nil)

// The scripts of the leases, each on one key, so that a cluster runs it on the key's master.
// They go as EVAL, the script's text with every call: rueidis.Lua.Exec, which tries EVALSHA
// first, takes a whole rueidis.Client, more than the store's Client asks of a caller's; and
// the text, under 200 bytes, costs no round trip more, the server keeping its compiled form.
// Nor does EVAL need SHA-1 on the client, which a FIPS 140-only build refuses.
const (
	// releaseScript deletes KEYS[1] when it holds the token ARGV[1].
	releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

	// acquireByClockScript is Acquire with Options.Clock: it sets KEYS[1] to ARGV[1] until the
	// epoch millisecond ARGV[3] when the key is missing or has expired by the clock, whose
	// time is ARGV[2]; the server keeps such a key until the clock's far later expiry.
	acquireByClockScript = `local at = redis.call('PEXPIRETIME', KEYS[1])
if at == -2 or (at >= 0 and at <= tonumber(ARGV[2])) then
	redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3])
	return 1
end
return 0`
)

// Acquire implements backend.Leaser with SET key token NX PX, in one round trip, the TTL in
// whole milliseconds rounded up as for Set. Redis removes an expired key before the SET
// looks at it, so an expired entry counts as none. With Options.Clock, a script does the
// same by the clock's time.
func (s *Store) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	c, err := s.use(ctx)
	if err != nil {
		return false, err
	}
	if err := backend.CheckKey(key); err != nil {
		return false, err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return false, err
	}
	if s.o.Clock != nil {
		now := strconv.FormatInt(s.o.Clock.Now().UnixMilli(), 10)
		at := strconv.FormatInt(s.expireAt(ttl), 10)
		n, err := eval(ctx, c, acquireByClockScript, key, token, now, at).AsInt64()
		if err != nil {
			return false, wrap(ctx, "EVAL", err)
		}
		return n == 1, nil
	}
	err = do(ctx, c, c.B().Set().Key(key).Value(token).Nx().PxMilliseconds(ms(ttl)).Build()).Error()
	switch {
	case rueidis.IsRedisNil(err): // NX: the key is held
		return false, nil
	case err != nil:
		return false, wrap(ctx, "SET", err)
	}
	return true, nil
}

// Release implements backend.Leaser with a script that compares the key's value with token
// and deletes the key when they are equal, atomically, in one round trip.
func (s *Store) Release(ctx context.Context, key, token string) error {
	c, err := s.use(ctx)
	if err != nil {
		return err
	}
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	if err := eval(ctx, c, releaseScript, key, token).Error(); err != nil {
		return wrap(ctx, "EVAL", err)
	}
	return nil
}

// eval runs script on key with args, within the timeout ctx carries for each request.
func eval(ctx context.Context, c Client, script, key string, args ...string) rueidis.RedisResult {
	return do(ctx, c, c.B().Eval().Script(script).Numkeys(1).Key(key).Arg(args...).Build())
}
