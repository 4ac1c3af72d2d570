package cachekit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// The operations on encoded values that views run, each counted in the statistics of the
// view and of its Cache.

// getRaw reads key's encoded value and counts the hit, miss or error.
func (c *Cache) getRaw(ctx context.Context, key string) ([]byte, error) {
	full, err := c.fullKey(key)
	start := mono() // one reading for the periodic tasks and the Store's latency
	var s Store
	if err == nil {
		s, err = c.useAt(ctx, &start)
	}
	if err != nil {
		return nil, c.count(&counters{errors: 1}, err)
	}
	data, err := s.Get(ctx, full)
	c.timed(false, start)
	c.countRead(err)
	return data, err
}

// getManyRaw reads the encoded values of keys: it returns the whole key of each of keys, in
// their order, and the values found, by whole key. The whole keys come back with any error
// but an invalid key's.
func (c *Cache) getManyRaw(ctx context.Context, keys []string) ([]string, map[string][]byte, error) {
	full, err := c.fullKeys(keys)
	if err != nil {
		return nil, nil, c.count(&counters{errors: 1}, err)
	}
	start := mono()
	s, err := c.useAt(ctx, &start)
	if err != nil {
		return full, nil, c.count(&counters{errors: 1}, err)
	}
	if len(full) == 0 {
		return full, map[string][]byte{}, nil
	}
	found, err := s.GetMany(ctx, full) // a Store reads a repeated key once
	c.timed(false, start)
	if err != nil {
		return full, nil, c.count(&counters{errors: 1}, err)
	}
	asked := len(full)
	if len(found) < asked {
		asked = len(backend.UniqueKeys(full)) // only now can a repeated key make a difference
	}
	c.count(&counters{hits: uint64(len(found)), misses: uint64(asked - len(found))}, nil)
	return full, found, nil
}

// encode returns the bytes the view stores for val, wrapping the codec's error in ErrEncode.
func (v *View[V]) encode(val V) ([]byte, error) {
	if v.c.err != nil {
		return nil, v.c.err
	}
	if v.raw {
		return rawBytes(&val), nil
	}
	data, err := v.codec.Marshal(val)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return data, nil
}

// value decodes the codec's bytes data into a new V, wrapping the codec's error in ErrDecode
// and counting it; on an error it returns the zero V, not what the codec had filled in.
func (v *View[V]) value(data []byte) (V, error) {
	if v.raw {
		// Apart from the V below, which escapes to the heap through the Codec interface:
		// this one stays on the stack.
		var val V
		rawValue(data, &val)
		return val, nil
	}
	var val V
	err := v.decodeInto(data, &val)
	return val, err
}

// decodeInto is value for a V the caller provides, so that a batch decodes into one slice,
// one allocation for all its values; on an error it leaves *dst the zero V.
func (v *View[V]) decodeInto(data []byte, dst *V) error {
	if v.raw {
		rawValue(data, dst)
		return nil
	}
	if err := v.codec.Unmarshal(data, dst); err != nil {
		v.c.count(&counters{errors: 1}, nil)
		var zero V
		*dst = zero
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return nil
}

// decodes reports whether the codec's bytes data decode into a V.
func (v *View[V]) decodes(data []byte) bool {
	return v.raw || v.codec.Unmarshal(data, new(V)) == nil
}

// target returns what a call on one key works on: the Store and the whole key.
func (c *Cache) target(ctx context.Context, key string) (Store, string, error) {
	full, err := c.fullKey(key)
	if err != nil {
		return nil, "", err
	}
	s, err := c.use(ctx)
	return s, full, err
}

// targetTTL is target for a call that writes a TTL: the Store, the whole key and the TTL,
// a zero one resolved to the default, or why the call cannot go on.
func (c *Cache) targetTTL(ctx context.Context, key string, ttl time.Duration) (Store, string, time.Duration, error) {
	ttl, err := c.resolveTTL(ttl)
	if err != nil {
		return nil, "", 0, err
	}
	s, full, err := c.target(ctx, key)
	return s, full, ttl, err
}

// setRaw writes an encoded value.
func (c *Cache) setRaw(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	s, full, ttl, err := c.targetTTL(ctx, key, ttl)
	if err == nil {
		start := mono()
		err = s.Set(ctx, full, data, ttl)
		c.timed(true, start)
	}
	if err != nil {
		return c.count(&counters{errors: 1}, err)
	}
	c.count(&counters{sets: 1}, nil)
	return nil
}

// setManyRaw writes encoded entries, keyed by the caller's keys; a zero TTL means the
// Cache's. It sorts entries by key, so that a batch is written in a stable order.
func (c *Cache) setManyRaw(ctx context.Context, entries []Entry) error {
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	for i, e := range entries {
		full, err := c.fullKey(e.Key)
		if err == nil {
			e.TTL, err = c.resolveTTL(e.TTL)
		}
		if err != nil {
			return c.count(&counters{errors: 1}, err)
		}
		entries[i].Key, entries[i].TTL = full, e.TTL
	}
	s, err := c.use(ctx)
	if err == nil && len(entries) > 0 {
		start := mono()
		err = s.SetMany(ctx, entries)
		c.timed(true, start)
	}
	if err != nil {
		return c.count(&counters{errors: 1}, backend.MapBatchKeys(err, c.callerKey))
	}
	c.count(&counters{sets: uint64(len(entries))}, nil)
	return nil
}

// deleteMany removes the entries under keys; missing keys are not an error.
func (c *Cache) deleteMany(ctx context.Context, keys []string) error {
	full, err := c.fullKeys(backend.UniqueKeys(keys))
	var s Store
	if err == nil {
		s, err = c.use(ctx)
	}
	if err == nil && len(full) > 0 {
		start := mono()
		err = s.Delete(ctx, full...)
		c.timed(true, start)
	}
	if err != nil {
		return c.count(&counters{errors: 1}, backend.MapBatchKeys(err, c.callerKey))
	}
	c.count(&counters{deletes: uint64(len(full))}, nil)
	return nil
}

// callerKey turns a Store's whole key back into the key the caller gave, for a BatchError.
func (c *Cache) callerKey(full string) string { return strings.TrimPrefix(full, c.prefix) }

// has reports whether an unexpired entry is stored under key, without reading its value.
func (c *Cache) has(ctx context.Context, key string) (bool, error) {
	s, full, err := c.target(ctx, key)
	if err != nil {
		return false, c.count(&counters{errors: 1}, err)
	}
	start := mono()
	ok, err := s.Has(ctx, full)
	c.timed(false, start)
	return ok, c.count(&counters{}, err)
}

// expire gives the existing entry under key a new TTL, counted from now.
func (c *Cache) expire(ctx context.Context, key string, ttl time.Duration) error {
	s, full, ttl, err := c.targetTTL(ctx, key, ttl)
	if err == nil {
		start := mono()
		err = s.Expire(ctx, full, ttl)
		c.timed(true, start)
	}
	return c.count(&counters{}, err)
}

// timeLeft returns the time the entry under key has left, or ErrNotFound.
func (c *Cache) timeLeft(ctx context.Context, key string) (time.Duration, error) {
	s, full, err := c.target(ctx, key)
	if err != nil {
		return 0, c.count(&counters{errors: 1}, err)
	}
	start := mono()
	ttl, err := s.TTL(ctx, full)
	c.timed(false, start)
	return ttl, c.count(&counters{}, err)
}
