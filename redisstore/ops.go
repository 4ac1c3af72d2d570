package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/backend"
)

// Get implements backend.Store with GET.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	c, err := s.use(ctx)
	if err != nil {
		return nil, err
	}
	if err := backend.CheckKey(key); err != nil {
		return nil, err
	}
	v, err := do(ctx, c, c.B().Get().Key(key).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, backend.ErrNotFound
	}
	if err != nil {
		return nil, wrap(ctx, "GET", err)
	}
	if dead, err := s.expiredByClock(ctx, c, []string{key}); err != nil || dead[key] {
		return nil, errors.Join(err, notFoundUnless(err))
	}
	return v, nil
}

// notFoundUnless returns ErrNotFound when err is nil, for the reads that the clock expired.
func notFoundUnless(err error) error {
	if err != nil {
		return nil
	}
	return backend.ErrNotFound
}

// GetMany implements backend.Store with MGET, grouped by hash slot on a cluster (a slot with
// one of the keys reads it with GET): one round trip per node.
func (s *Store) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	c, err := s.use(ctx)
	if err != nil {
		return nil, err
	}
	if err := backend.CheckKeys(keys); err != nil {
		return nil, err
	}
	found := make(map[string][]byte, len(keys))
	if len(keys) == 0 {
		return found, nil
	}
	if err := mget(ctx, c, keys, found); err != nil {
		return nil, wrap(ctx, "MGET", err)
	}
	return found, s.dropExpired(ctx, c, found)
}

// GetEntries implements backend.ExpiryReader with GET and PTTL for each key, pipelined: one
// round trip on a standalone server, one per node on a cluster (the pair of a key goes to
// its node together).
func (s *Store) GetEntries(ctx context.Context, keys []string) ([]backend.Entry, error) {
	c, err := s.use(ctx)
	if err != nil {
		return nil, err
	}
	if err := backend.CheckKeys(keys); err != nil {
		return nil, err
	}
	keys = backend.UniqueKeys(keys)
	ttlCmd := "PTTL"
	if s.o.Clock != nil {
		ttlCmd = "PEXPIRETIME"
	}
	cmds := make(rueidis.Commands, 0, 2*len(keys))
	for _, k := range keys {
		cmds = append(cmds, c.B().Get().Key(k).Build())
		if s.o.Clock != nil {
			cmds = append(cmds, c.B().Pexpiretime().Key(k).Build())
		} else {
			cmds = append(cmds, c.B().Pttl().Key(k).Build())
		}
	}
	res := doMulti(ctx, c, cmds...)
	entries := make([]backend.Entry, 0, len(keys))
	for i, k := range keys {
		v, err := res[2*i].AsBytes()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return nil, wrap(ctx, "GET", err)
		}
		n, err := res[2*i+1].AsInt64()
		if err != nil {
			return nil, wrap(ctx, ttlCmd, err)
		}
		ttl := time.Duration(n) * time.Millisecond
		switch {
		case n == -2: // expired between the two commands
			continue
		case n == -1:
			ttl = backend.MaxTTL // a key some other writer left without expiry
		case s.o.Clock != nil:
			ttl = time.UnixMilli(n).Sub(s.o.Clock.Now())
		}
		if ttl <= 0 {
			continue
		}
		entries = append(entries, backend.Entry{Key: k, Value: v, TTL: ttl})
	}
	return entries, nil
}

var _ backend.ExpiryReader = (*Store)(nil)

// Set implements backend.Store with SET … PX, the TTL in whole milliseconds rounded up.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	c, err := s.use(ctx)
	if err != nil {
		return err
	}
	if err := checkEntry(key, value, ttl); err != nil {
		return err
	}
	if err := do(ctx, c, s.set(c, key, value, ttl)).Error(); err != nil {
		return wrap(ctx, "SET", err)
	}
	return nil
}

// checkEntry applies the key, TTL and value rules to one entry.
func checkEntry(key string, value []byte, ttl time.Duration) error {
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return err
	}
	return checkValue(value)
}

// set builds the SET of one entry: with PX, or in clock mode PXAT from the Options.Clock.
func (s *Store) set(c Client, key string, value []byte, ttl time.Duration) rueidis.Completed {
	set := c.B().Set().Key(key).Value(rueidis.BinaryString(value))
	if s.o.Clock != nil {
		return set.PxatMillisecondsTimestamp(s.expireAt(ttl)).Build()
	}
	return set.PxMilliseconds(ms(ttl)).Build()
}

// SetMany implements backend.Store with SETs pipelined per node, the last write of a key kept,
// in pipelines of at most maxPipeline commands and about maxPipelineBytes of values, one after
// another, so that the timeout of one request bounds each. A failure once sending has begun
// is a *backend.BatchError.
func (s *Store) SetMany(ctx context.Context, entries []backend.Entry) error {
	c, err := s.use(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := checkEntry(e.Key, e.Value, e.TTL); err != nil {
			return err
		}
	}
	last := make(map[string]int, len(entries))
	for i, e := range entries {
		last[e.Key] = i
	}
	keys := make([]string, 0, len(last))
	sizes := make([]int, 0, len(last))
	cmds := make(rueidis.Commands, 0, len(last))
	for i, e := range entries {
		if last[e.Key] != i {
			continue
		}
		keys = append(keys, e.Key)
		sizes = append(sizes, len(e.Key)+len(e.Value))
		cmds = append(cmds, s.set(c, e.Key, e.Value, e.TTL))
	}
	return pipeline(ctx, c, "SET", keys, sizes, cmds, func(r rueidis.RedisResult) error { return r.Error() })
}

// Limits of one pipelined request of a batch write.
const (
	maxPipeline      = 512
	maxPipelineBytes = 1 << 20
)

// pipeline sends a batch write's commands, cmds[i] writing keys[i] with sizes[i] bytes, in
// pipelines within maxPipeline and maxPipelineBytes, and checks each reply with check. It
// stops at the first pipeline with a failed command, and its BatchError says which keys
// were written, which were refused or never sent, and which went without an answer.
func pipeline(ctx context.Context, c Client, name string, keys []string, sizes []int, cmds rueidis.Commands, check func(rueidis.RedisResult) error) error {
	b := backend.NewBatch(keys)
	var first error
	for start := 0; start < len(cmds) && first == nil; {
		end, bytes := start, 0
		for end < len(cmds) && end-start < maxPipeline && (end == start || bytes+sizes[end] <= maxPipelineBytes) {
			bytes += sizes[end]
			end++
		}
		if err := backend.ContextErr(ctx); err != nil {
			first = err // the rest stays unsent
			break
		}
		for i, r := range doMulti(ctx, c, cmds[start:end]...) {
			err := check(r)
			var re *rueidis.RedisError
			switch {
			case err == nil:
				b.Written(keys[start+i])
			case errors.As(err, &re):
				b.NotWritten(keys[start+i]) // the server answered, and refused it
			default:
				b.Unknown(keys[start+i])
			}
			if err != nil && first == nil {
				first = wrap(ctx, name, err)
			}
		}
		start = end
	}
	return b.Err(first)
}

// expireAt is the epoch millisecond, by the Options.Clock, at which an entry written now for
// ttl expires, rounded up.
func (s *Store) expireAt(ttl time.Duration) int64 {
	t := s.o.Clock.Now().Add(ttl).UnixNano()
	return (t + int64(time.Millisecond) - 1) / int64(time.Millisecond)
}

// Delete implements backend.Store with UNLINKs pipelined per node, as SetMany sends SETs.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	c, err := s.use(ctx)
	if err != nil {
		return err
	}
	if err := backend.CheckKeys(keys); err != nil {
		return err
	}
	keys = backend.UniqueKeys(keys)
	sizes := make([]int, len(keys))
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		sizes[i] = len(k)
		cmds[i] = c.B().Unlink().Key(k).Build()
	}
	return pipeline(ctx, c, "UNLINK", keys, sizes, cmds, func(r rueidis.RedisResult) error {
		_, err := r.AsInt64()
		return err
	})
}

// unlink removes keys, pipelined per node, and returns how many were there.
func (s *Store) unlink(ctx context.Context, c Client, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Unlink().Key(k).Build()
	}
	n := 0
	for _, r := range doMulti(ctx, c, cmds...) {
		removed, err := r.AsInt64()
		if err != nil {
			return n, wrap(ctx, "UNLINK", err)
		}
		n += int(removed)
	}
	return n, nil
}

// Has implements backend.Store with EXISTS.
func (s *Store) Has(ctx context.Context, key string) (bool, error) {
	c, err := s.use(ctx)
	if err != nil {
		return false, err
	}
	if err := backend.CheckKey(key); err != nil {
		return false, err
	}
	n, err := do(ctx, c, c.B().Exists().Key(key).Build()).AsInt64()
	if err != nil {
		return false, wrap(ctx, "EXISTS", err)
	}
	if n == 0 {
		return false, nil
	}
	dead, err := s.expiredByClock(ctx, c, []string{key})
	return err == nil && !dead[key], err
}

// Expire implements backend.Store with PEXPIRE, which never creates a key.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) error {
	c, err := s.use(ctx)
	if err != nil {
		return err
	}
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return err
	}
	cmd := c.B().Pexpire().Key(key).Milliseconds(ms(ttl)).Build()
	if s.o.Clock != nil {
		if dead, err := s.expiredByClock(ctx, c, []string{key}); err != nil || dead[key] {
			return errors.Join(err, notFoundUnless(err))
		}
		cmd = c.B().Pexpireat().Key(key).MillisecondsTimestamp(s.expireAt(ttl)).Build()
	}
	n, err := do(ctx, c, cmd).AsInt64()
	if err != nil {
		return wrap(ctx, "PEXPIRE", err)
	}
	if n == 0 {
		return backend.ErrNotFound
	}
	return nil
}

// TTL implements backend.Store with PTTL.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	c, err := s.use(ctx)
	if err != nil {
		return 0, err
	}
	if err := backend.CheckKey(key); err != nil {
		return 0, err
	}
	if s.o.Clock != nil {
		at, err := do(ctx, c, c.B().Pexpiretime().Key(key).Build()).AsInt64()
		switch {
		case err != nil:
			return 0, wrap(ctx, "PEXPIRETIME", err)
		case at == -2:
			return 0, backend.ErrNotFound
		case at == -1:
			return backend.MaxTTL, nil
		}
		left := time.UnixMilli(at).Sub(s.o.Clock.Now())
		if left <= 0 {
			return 0, backend.ErrNotFound
		}
		return left, nil
	}
	left, err := do(ctx, c, c.B().Pttl().Key(key).Build()).AsInt64()
	switch {
	case err != nil:
		return 0, wrap(ctx, "PTTL", err)
	case left == -2:
		return 0, backend.ErrNotFound
	case left == -1:
		return backend.MaxTTL, nil // a key some other writer left without expiry
	}
	return time.Duration(left) * time.Millisecond, nil
}

// expiredByClock reports which of keys have expired by the Options.Clock, or nothing without
// one. Missing keys count as expired.
func (s *Store) expiredByClock(ctx context.Context, c Client, keys []string) (map[string]bool, error) {
	if s.o.Clock == nil || len(keys) == 0 {
		return nil, nil
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Pexpiretime().Key(k).Build()
	}
	now := s.o.Clock.Now().UnixMilli()
	dead := make(map[string]bool)
	for i, r := range doMulti(ctx, c, cmds...) {
		at, err := r.AsInt64()
		if err != nil {
			return nil, wrap(ctx, "PEXPIRETIME", err)
		}
		if at == -2 || at >= 0 && at <= now {
			dead[keys[i]] = true
		}
	}
	return dead, nil
}

// dropExpired removes from found the entries the Options.Clock has expired.
func (s *Store) dropExpired(ctx context.Context, c Client, found map[string][]byte) error {
	if s.o.Clock == nil || len(found) == 0 {
		return nil
	}
	keys := make([]string, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	dead, err := s.expiredByClock(ctx, c, keys)
	for k := range dead {
		delete(found, k)
	}
	return err
}
