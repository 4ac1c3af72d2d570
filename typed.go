package cachekit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// View is a Cache seen through one value type V, under a further key prefix, with a TTL and a
// Codec of its own. Its calls count in its own Stats and in its Cache's. Make one with Typed.
type View[V any] struct {
	c     *Cache
	f     Freshness // the zero Freshness unless made by With
	codec Codec
	// raw is set when codec is Raw and V a type it passes through: the view then copies bytes
	// itself, without boxing values for the Codec interface.
	raw bool
}

// Typed returns a view of c for values of type V, with keys under c's prefix followed by
// prefix (empty, or ending with one of PrefixSeparators, as "geo:") and ttl as the TTL of
// writes that give none (zero means c's). c counts and clears the view's entries with its own.
//
// The view encodes values with c's Codec (Options.Codec); WithCodec gives it another.
//
// Typed does no I/O and cannot fail, so that views can be package-level variables; an invalid
// prefix or ttl makes every call of the view report the error.
func Typed[V any](c *Cache, prefix string, ttl time.Duration) *View[V] {
	if c.err != nil {
		return newView[V](c, Freshness{}, nil)
	}
	sub := &Cache{core: c.core, prefix: c.prefix + prefix, ttl: c.ttl, parent: c}
	switch {
	case ttl < 0 || ttl > MaxTTL:
		sub.err = fmt.Errorf("%w: Typed TTL: %w", ErrConfig, backend.CheckTTL(ttl))
	case ttl > 0:
		sub.ttl = ttl
	}
	if err := CheckPrefix(sub.prefix); err != nil {
		sub.err = fmt.Errorf("%w: Typed prefix: %w", ErrConfig, err)
	}
	return newView[V](sub, Freshness{}, c.core.codec)
}

// newView returns the view of c for values of type V with f and codec; a nil codec is JSON.
func newView[V any](c *Cache, f Freshness, codec Codec) *View[V] {
	if codec == nil {
		codec = JSON
	}
	return &View[V]{c: c, f: f, codec: codec, raw: codec == Raw && passThrough[V]()}
}

// WithCodec returns a view of the same Cache, prefix, TTL, Freshness and value type that
// encodes values with codec instead of v's; nil means the Cache's Codec (Options.Codec). The
// view is v's namespace read another way: its calls count in v's Stats. Values written with
// one codec are read back with the same one; another codec reports ErrDecode, or, between
// codecs that accept each other's bytes (Raw reads anything into a []byte), returns them as
// they are.
func (v *View[V]) WithCodec(codec Codec) *View[V] {
	if codec == nil {
		codec = v.c.core.codec
	}
	return newView[V](v.c, v.f, codec)
}

// Codec returns the Codec the view encodes values with.
func (v *View[V]) Codec() Codec { return v.codec }

// Prefix returns the whole prefix the view puts before every key.
func (v *View[V]) Prefix() string { return v.c.prefix }

// Get returns the value stored under key, or ErrNotFound. On a view with Freshness.Grace, it
// returns a stale value within its grace period too (it has no loader to refresh it with); a
// tombstone is ErrNotFound.
func (v *View[V]) Get(ctx context.Context, key string) (V, error) {
	data, err := v.c.getRaw(ctx, key)
	if err == nil {
		data, _, err = v.open(data, time.Time{})
	}
	if err != nil {
		var zero V
		return zero, err
	}
	return v.value(data)
}

// GetMany returns the values found for keys, keyed by the caller's keys. Missing keys are
// absent from the map; a missing key is never an error. On a view with Freshness, it returns
// stale values within their grace period, as Get does, and leaves tombstones out.
func (v *View[V]) GetMany(ctx context.Context, keys []string) (map[string]V, error) {
	full, found, err := v.c.getManyRaw(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]V, len(found))
	var now time.Time // the zero time: each open reads the clock if it meets an envelope
	if v.f.enveloped() {
		now = time.Now()
	}
	var vals []V // what a codec decodes into: one allocation for all the values
	if !v.raw {
		vals = make([]V, len(found))
	}
	for i, k := range keys {
		data, ok := found[full[i]]
		if !ok {
			continue
		}
		if _, repeated := out[k]; repeated {
			continue
		}
		data, _, err := v.open(data, now)
		if err != nil {
			continue // a tombstone, or past its grace
		}
		if v.raw {
			out[k], _ = v.value(data) // Raw takes any bytes
			continue
		}
		val := &vals[len(out)]
		if err := v.decodeInto(data, val); err != nil {
			return nil, err
		}
		out[k] = *val
	}
	return out, nil
}

// Set stores val under key for ttl; a zero ttl means the view's. On a view with Freshness,
// the value is fresh for ttl less its jitter, and kept for its grace period beyond.
func (v *View[V]) Set(ctx context.Context, key string, val V, ttl time.Duration) error {
	data, err := v.encode(val)
	if err == nil {
		data, ttl, err = v.wrap(data, ttl, 0)
	}
	if err != nil {
		return v.c.count(&counters{errors: 1}, err)
	}
	return v.c.setRaw(ctx, key, data, ttl)
}

// SetMany stores every value of vals under its key for ttl; a zero ttl means the view's.
// Every key and value is checked and encoded before anything is written.
func (v *View[V]) SetMany(ctx context.Context, vals map[string]V, ttl time.Duration) error {
	entries := make([]Entry, 0, len(vals))
	for k, val := range vals {
		data, err := v.encode(val)
		e := Entry{Key: k}
		if err == nil {
			e.Value, e.TTL, err = v.wrap(data, ttl, 0)
		}
		if err != nil {
			return v.c.count(&counters{errors: 1}, err)
		}
		entries = append(entries, e)
	}
	return v.c.setManyRaw(ctx, entries)
}

// Loader fetches the value for key from the source of truth, for GetOrLoad.
type Loader[V any] func(ctx context.Context, key string) (V, error)

// GetOrLoad returns the value stored under key. On a miss it runs load, stores its value for
// the view's TTL and returns it.
//
// However many goroutines of the process ask for the same key at once, load runs once and
// they all get its value; a caller whose read missed while another caller's load of the key
// was storing its value reads again rather than loading again (the Store must let a read see
// a finished write: DynamoDB needs ConsistentRead for that). Each caller waits only as long
// as its own context allows: one that gives up returns its context's error at once, while the
// load goes on for the others; the load's context is cancelled only when no caller is left,
// or the Cache is closed. A load error is returned to every waiting caller and is not cached.
//
// On a view with Freshness (see View.With), a stale value within its grace period, or one
// drawn for an early refresh, is returned at once while one refresh runs; with a lease, one
// instance of the fleet loads a key while the others serve what they have or wait for its
// value; and a load that returns an error wrapping ErrNotFound is remembered as a tombstone
// for MissTTL, during which GetOrLoad answers ErrNotFound without calling load. Without
// Options.Background, the read that runs the refresh waits for it as long as its context
// allows, and returns the new value, or the value it found when the refresh fails or the
// caller gives up: a stale value is an answer, which a deadline does not take back.
//
// The cache never stands between the caller and the source of truth: when the backend fails,
// or holds a value that no longer decodes into V, GetOrLoad loads as on a miss (and counts
// the error in Stats). It reports errors of the caller's own making at once: an invalid key,
// a closed Cache, or a done context.
func (v *View[V]) GetOrLoad(ctx context.Context, key string, load Loader[V]) (V, error) {
	var val V
	if load == nil {
		return val, fmt.Errorf("%w: GetOrLoad with a nil loader", ErrConfig)
	}
	if v.c.err != nil {
		return val, v.c.err
	}
	mark := v.c.core.flight.mark(v.c.prefix, key)
	data, err := v.c.getRaw(ctx, key)
	if err == nil {
		value, st, oerr := v.open(data, time.Time{})
		var derr error
		if oerr == nil {
			val, derr = v.value(value)
		}
		switch {
		case errors.Is(oerr, errTombstone):
			return val, oerr
		case oerr == nil && derr == nil:
			if st == fresh {
				return val, nil
			}
			if st == stale {
				v.c.count(&counters{stale: 1}, nil)
			}
			if newer := v.refresh(ctx, key, data, load); newer != nil {
				if value, _, err := v.open(newer, time.Time{}); err == nil {
					if nv, err := v.value(value); err == nil {
						return nv, nil
					}
				}
			}
			return val, nil
		}
		err = cmp.Or(oerr, derr) // past its grace, or undecodable: load as on a miss
	} else if !mayLoad(ctx, err) {
		return val, err
	}
	missed := errors.Is(err, ErrNotFound)
	full := v.c.prefix + key
	data, err = v.c.core.flight.do(ctx, v.c.core.closing, full, mark, func(lctx context.Context, reread bool) ([]byte, error) {
		return v.fill(lctx, key, nil, reread && missed, load)
	})
	if err != nil {
		return val, err
	}
	value, _, err := v.open(data, time.Time{})
	if errors.Is(err, errDead) {
		// A refresh under way answered with the value it served, which has passed its grace
		// since, or a load's value did while a slow backend stored it: load for this caller
		// alone, and answer what that finds as it stood when the caller asked, however long
		// storing it took.
		asked := time.Now()
		if data, err = v.fill(ctx, key, nil, false, load); err != nil {
			return val, err
		}
		value, _, err = v.open(data, asked)
	}
	if err != nil {
		return val, err
	}
	// Each caller decodes its own copy, so that no two callers share a map or slice.
	return v.value(value)
}

// BatchLoader fetches the values for keys from the source of truth, for GetManyOrLoad: in one
// request to the source where it can (one SQL query with IN, one BatchGetItem). A key it
// leaves out of the map is not in the source: GetManyOrLoad leaves it out too, stores nothing
// for it (a tombstone on a view with Freshness.MissTTL) and asks again on the next call (once
// the tombstone has ended), and a refresh removes the key's stale value.
type BatchLoader[V any] func(ctx context.Context, keys []string) (map[string]V, error)

// GetManyOrLoad returns the values for keys, keyed by the caller's keys: the ones the cache
// holds, and for the rest, one call of load with the missing keys, whose values it stores
// for the view's TTL (in one SetMany) and returns. Repeated keys count once.
//
// It keeps GetOrLoad's promises key by key: a key another caller is loading meanwhile (with
// GetOrLoad or GetManyOrLoad) is waited for, not loaded again; a caller that gives up returns
// at once, and a load is cancelled only when none of its keys has a caller left, or the Cache
// is closed. A load's error is returned and not cached. When the backend fails, every key is
// loaded as on a miss.
func (v *View[V]) GetManyOrLoad(ctx context.Context, keys []string, load BatchLoader[V]) (map[string]V, error) {
	if load == nil {
		return nil, fmt.Errorf("%w: GetManyOrLoad with a nil loader", ErrConfig)
	}
	if v.c.err != nil {
		return nil, v.c.err
	}
	keys = backend.UniqueKeys(keys)
	marks := make([]uint64, len(keys))
	for i, k := range keys {
		marks[i] = v.c.core.flight.mark(v.c.prefix, k)
	}
	out := make(map[string]V, len(keys))
	full, found, err := v.c.getManyRaw(ctx, keys)
	if err != nil && !mayLoad(ctx, err) {
		return nil, err
	}
	var missing []string
	var missingMarks []uint64
	due := map[string][]byte{} // the keys to refresh, and what each has now
	now := time.Now()
	for i, k := range keys {
		if data, ok := found[full[i]]; ok {
			value, st, oerr := v.open(data, now)
			if errors.Is(oerr, errTombstone) {
				continue
			}
			var val V
			if oerr == nil {
				val, oerr = v.value(value)
			}
			if oerr == nil {
				out[k] = val
				if st != fresh {
					due[k] = data
				}
				if st == stale {
					v.c.count(&counters{stale: 1}, nil)
				}
				continue
			}
		}
		missing = append(missing, full[i])
		missingMarks = append(missingMarks, marks[i])
	}
	if len(due) > 0 {
		for k, data := range v.refreshMany(ctx, due, load) {
			// A failed decode leaves the value served.
			if value, _, err := v.open(data, time.Time{}); err == nil {
				if val, err := v.value(value); err == nil {
					out[k] = val
				}
			}
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	readFailed := err != nil // the backend failed: reading again would only fail again
	loaded, err := v.c.core.flight.doMany(ctx, v.c.core.closing, missing, missingMarks, func(lctx context.Context, full []string, reread []bool) (map[string][]byte, error) {
		if readFailed {
			reread = nil
		}
		return v.loadMany(lctx, full, reread, load)
	})
	if err != nil {
		return nil, err
	}
	now = time.Now()
	for full, data := range loaded {
		value, _, err := v.open(data, now)
		if err != nil {
			continue // a tombstone: the source lacks the key
		}
		val, err := v.value(value) // each caller decodes its own copy
		if err != nil {
			return nil, err
		}
		out[full[len(v.c.prefix):]] = val
	}
	return out, nil
}

// refreshMany refreshes the values of due (caller's keys, with the bytes each has now), in one
// load of the keys no refresh of this process has under way, as refresh does for one key: on a
// goroutine of the Cache's own with Options.Background, returning nothing, else in the
// caller's call, returning the stored bytes of the values it loaded, by caller's key. A batch
// takes no leases.
func (v *View[V]) refreshMany(ctx context.Context, due map[string][]byte, load BatchLoader[V]) map[string][]byte {
	co := v.c.core
	var full []string
	var bound time.Duration // see Freshness.left; a batch takes no lease to bound it
	for k, data := range due {
		if f := v.c.prefix + k; co.claim(f) {
			full = append(full, f)
			bound = max(bound, v.f.left(data))
		}
	}
	if len(full) == 0 {
		return nil
	}
	slices.Sort(full)
	v.c.count(&counters{refreshes: uint64(len(full))}, nil)
	marks := make([]uint64, len(full))
	for i, f := range full {
		marks[i] = co.flight.mark(f, "")
	}
	unclaim := func() {
		for _, f := range full {
			co.unclaim(f)
		}
	}
	run := func(ctx context.Context) (map[string][]byte, error) {
		defer unclaim()
		return co.flight.doMany(ctx, co.closing, full, marks, func(lctx context.Context, keys []string, _ []bool) (map[string][]byte, error) {
			if !co.enter() {
				return nil, ErrClosed
			}
			defer co.detached.Done()
			loaded, err := v.loadMany(lctx, keys, nil, load)
			if err == nil && v.f.MissTTL == 0 {
				// The keys load left out are no longer in the source: their stale values go.
				var lost []string
				for _, k := range keys {
					if _, ok := loaded[k]; !ok {
						lost = append(lost, k[len(v.c.prefix):])
					}
				}
				if len(lost) > 0 {
					_ = v.c.deleteMany(lctx, lost)
				}
			}
			return loaded, err
		})
	}
	if co.background {
		if !co.detach(func(ctx context.Context) {
			defer v.c.absorb()
			_, _ = run(ctx)
		}, bound) {
			unclaim()
		}
		return nil
	}
	loaded, err := run(ctx)
	if err != nil {
		return nil
	}
	out := make(map[string][]byte, len(loaded))
	for f, data := range loaded {
		out[f[len(v.c.prefix):]] = data
	}
	return out
}

// loadMany is the load of GetManyOrLoad: the keys whose shard saw a load end since the
// caller's read are read again (see flight.do), and the rest go to load in one call, whose
// values are stored in one SetMany, with a tombstone for each key load leaves out when the
// view remembers misses. It returns the stored bytes by whole key.
func (v *View[V]) loadMany(ctx context.Context, full []string, reread []bool, load BatchLoader[V]) (map[string][]byte, error) {
	out := make(map[string][]byte, len(full))
	var again []string
	for i, k := range full {
		if i < len(reread) && reread[i] {
			again = append(again, k[len(v.c.prefix):])
		}
	}
	if len(again) > 0 {
		if _, found, err := v.c.getManyRaw(ctx, again); err == nil {
			for k, data := range found {
				if v.usable(data) {
					out[k] = data
				}
			}
		}
	}
	var ask []string
	for _, k := range full {
		if _, ok := out[k]; !ok {
			ask = append(ask, k[len(v.c.prefix):])
		}
	}
	if len(ask) == 0 {
		return out, nil
	}
	start := time.Now()
	vals, err := load(ctx, ask)
	took := time.Since(start)
	if err != nil {
		v.c.count(&counters{loads: 1, loadErrors: 1}, nil)
		return nil, err
	}
	v.c.count(&counters{loads: 1}, nil)
	entries := make([]Entry, 0, len(ask))
	for _, k := range ask {
		val, ok := vals[k]
		var e Entry
		switch {
		case ok:
			data, err := v.encode(val)
			if err == nil {
				data, e.TTL, err = v.wrap(data, 0, took)
			}
			if err != nil {
				return nil, v.c.count(&counters{errors: 1}, err)
			}
			e.Value = data
		case v.f.MissTTL > 0:
			e.Value, e.TTL = v.tombstone()
		default:
			continue // not in the source, and not remembered
		}
		e.Key = k
		entries = append(entries, e)
		out[v.c.prefix+k] = e.Value
	}
	// A failed write costs only later misses; the error is counted in Stats.
	_ = v.c.setManyRaw(ctx, entries)
	return out, nil
}

// mayLoad reports whether GetOrLoad may go to the source of truth after the cache read failed
// with err: on a miss or a backend failure, but not on the caller's own mistakes nor once the
// caller's context is done.
func mayLoad(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	return !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrConfig)
}

// Delete removes the entry under key; a missing key is not an error.
func (v *View[V]) Delete(ctx context.Context, key string) error {
	return v.c.deleteMany(ctx, []string{key})
}

// DeleteMany removes the entries under keys; missing keys are not an error. When it fails
// part-way, a *BatchError says which keys were deleted.
func (v *View[V]) DeleteMany(ctx context.Context, keys ...string) error {
	return v.c.deleteMany(ctx, keys)
}

// Has reports whether an unexpired entry is stored under key, without reading its value. On a
// view with Freshness, where a tombstone or a value past its grace is no entry, it reads the
// value.
func (v *View[V]) Has(ctx context.Context, key string) (bool, error) {
	if v.f.plain() {
		return v.c.has(ctx, key)
	}
	s, full, err := v.c.target(ctx, key)
	if err != nil {
		return false, v.c.count(&counters{errors: 1}, err)
	}
	start := mono()
	data, err := s.Get(ctx, full) // counted as Has is, not as a read
	v.c.timed(false, start)
	if err == nil {
		_, _, err = v.open(data, time.Time{})
	}
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, v.c.count(&counters{}, err)
}

// Expire gives the existing entry under key a new TTL, counted from now, without changing its
// value; a zero ttl means the view's. It reports ErrNotFound, and creates nothing, when there
// is no entry. Sliding expiration is Expire on every read. On a view with Grace or
// EarlyRefresh, the value's fresh-until time stays what its write set: Expire changes how long
// the entry is kept, not how long it is fresh (Set it again for that).
func (v *View[V]) Expire(ctx context.Context, key string, ttl time.Duration) error {
	return v.c.expire(ctx, key, ttl)
}

// TTL returns the time the entry under key has left, or ErrNotFound. On a view with
// Freshness, that is how long the entry is kept: a value's grace period included, and a
// tombstone's time left (TTL does not read the value, which tells the two apart).
func (v *View[V]) TTL(ctx context.Context, key string) (time.Duration, error) {
	return v.c.timeLeft(ctx, key)
}

// Clear removes every entry under the view's prefix, and nothing else.
func (v *View[V]) Clear(ctx context.Context) (int, error) { return v.c.Clear(ctx) }

// Stats returns the view's counters and the number of entries under its prefix, which the
// Store counts (a scan on remote backends; see Cache.Stats).
func (v *View[V]) Stats(ctx context.Context) (Stats, error) { return v.c.Stats(ctx) }

// Counters returns the view's counters without asking the Store anything: Keys is -1.
func (v *View[V]) Counters() Stats { return v.c.Counters() }
