package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Throttler = (*Store)(nil)

// throttleScript is GCRA's step on KEYS[1], as go-redis/redis_rate runs it, in whole
// microseconds: ARGV[1] is the cost and ARGV[2] the tolerance. Now is the server's TIME, so
// that the clocks of a fleet's instances, however far apart, do not matter; with
// Options.Clock, it is the clock's, ARGV[3], and a key the clock has expired counts as none,
// as the server keeps it until the clock's far later expiry.
//
// It answers {-1} for a value that is not a TAT (a decimal integer of at most 18 digits, so
// that it fits an int64) and for a key of another type (GET's WRONGTYPE); else {allowed (1 or 0), the TAT's lead on now, now}. The lead, under
// MaxTTL on every allowed step, stays exact in Lua's doubles where a TAT plus a far-future
// stored value may not.
const throttleScript = `local now
if ARGV[3] then
	now = tonumber(ARGV[3])
else
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' and v.err then return {-1} end
if v and ARGV[3] then
	local at = redis.call('PEXPIRETIME', KEYS[1])
	if at >= 0 and at * 1000 <= now then v = false end
end
local lead = 0
if v then
	if #v > 18 or not string.match(v, '^[%+%-]?%d+$') then return {-1} end
	lead = math.max(tonumber(v) - now, 0)
end
local cost = tonumber(ARGV[1])
if lead > tonumber(ARGV[2]) - cost then return {0, lead, now} end
local tat = now + lead + cost
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PXAT', math.ceil(tat / 1000))
return {1, lead + cost, now}`

// Throttle implements backend.Throttler with one EVAL, on the key's master on a cluster. The
// key's expiry is the TAT's millisecond rounded up, set with PXAT.
func (s *Store) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	c, err := s.use(ctx)
	if err != nil {
		return backend.Throttle{}, err
	}
	if err := backend.CheckKey(key); err != nil {
		return backend.Throttle{}, err
	}
	if err := backend.CheckThrottle(cost, tolerance); err != nil {
		return backend.Throttle{}, err
	}
	args := []string{strconv.FormatInt(cost.Microseconds(), 10), strconv.FormatInt(tolerance.Microseconds(), 10)}
	if s.o.Clock != nil {
		args = append(args, strconv.FormatInt(s.o.Clock.Now().UnixMicro(), 10))
	}
	reply, err := eval(ctx, c, throttleScript, key, args...).AsIntSlice()
	if err != nil {
		return backend.Throttle{}, wrap(ctx, "EVAL", err)
	}
	switch {
	case len(reply) == 1 && reply[0] == -1:
		return backend.Throttle{}, fmt.Errorf("redisstore: Throttle: %w: the value is not a TAT", backend.ErrNotCounter)
	case len(reply) != 3:
		return backend.Throttle{}, fmt.Errorf("redisstore: Throttle: the script answered %v", reply)
	}
	now := reply[2]
	return backend.Throttle{Allowed: reply[0] == 1, TAT: time.UnixMicro(now + reply[1]), Now: time.UnixMicro(now)}, nil
}
