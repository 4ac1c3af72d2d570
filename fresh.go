package cachekit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// Freshness configures how a view keeps its values fresh across a fleet of instances that
// share one backend: serving stale values while one refresh runs, refreshing early before
// expiry, one load per key across the fleet, remembering keys the source lacks, and spreading
// expiries. Each field's zero turns its part off, so the zero Freshness is plain TTL caching.
// Give it to a view with View.With; Recommended returns the composition to start from.
//
// A view with Grace or EarlyRefresh stores each value in a backend.Envelope that carries its
// fresh-until time and its last load's duration (a DynamoDB item keeps its value attribute and
// gains one attribute; see docs/freshness.md). Any view reads both forms.
//
// Refreshes (of a stale value, or early) run on the Cache's own goroutines when the Cache has
// Options.Background: each gives up when its lease ends, or, without a lease, when the value
// it refreshes is past its grace; Close cancels them and waits for their loaders to return.
// Without Background, as under AWS Lambda, where a goroutine freezes once the invocation
// returns, the read that finds a refresh due runs it before it returns; the reads meanwhile,
// and on other instances, are served the stale value.
type Freshness struct {
	// Grace is how long after its TTL a value is still served, stale, while one refresh runs
	// in the background: stale-while-revalidate (RFC 5861). The entry is stored for TTL +
	// Grace; no read returns it after that. A refresh that fails leaves the stale value in
	// place; one whose loader reports the key gone (an error wrapping ErrNotFound, or a key a
	// BatchLoader leaves out) removes it, or replaces it with a tombstone when MissTTL is set.
	Grace time.Duration
	// EarlyRefresh is XFetch's beta (Vattani, Chierichetti and Lowenstein, VLDB 2015): each
	// read refreshes a fresh value early with a probability that grows as its expiry nears,
	// scaled by how long its last load took, so that across a fleet about one read refreshes
	// it before it expires, with no coordination. 1 is the paper's optimum; larger refreshes
	// earlier; it must be finite. A value is never refreshed early in the first half of the
	// view's TTL: with many reads a second and a TTL not much longer than a load, XFetch would
	// draw a refresh as soon as a value is stored, and refresh it without pause; and a value
	// written with Set, or loaded in under a millisecond, has no load time to scale by and is
	// not refreshed early. Zero turns early refresh off.
	EarlyRefresh float64
	// Lease makes the load of a key one per fleet rather than one per instance: the instance
	// that loads first holds a lease on the key for this long (a conditional write in the
	// backend), and the others serve the stale value they have, or wait for the holder's
	// value, polling with backoff, and load themselves if the holder lets the lease go without
	// storing one (its load failed) or its lease ends first (it died). It should exceed the
	// longest load. It needs a Store with the backend.Leaser ability (memstore, dynamostore,
	// redisstore, and tiered and resilient in front of one); on any other, and whenever taking
	// the lease fails, the view loads as without it. GetManyOrLoad takes no leases: its loads
	// and refreshes are one per instance.
	Lease time.Duration
	// MissTTL is how long the view remembers that the source lacks a key: when a Loader
	// returns an error wrapping ErrNotFound (or a BatchLoader leaves a key out), the view
	// stores a tombstone for MissTTL, and reads of the key answer ErrNotFound without calling
	// the source. A tiered L1 keeps tombstones as it keeps values. Zero remembers nothing.
	MissTTL time.Duration
	// Jitter shortens the TTL of each write by a random fraction of it, up to Jitter (0.1: up
	// to 10%), so that keys written together expire apart. It applies to MissTTL too, never
	// to Grace. Zero writes every TTL as given.
	Jitter float64
}

// Recommended returns the Freshness to start from for a view whose values live ttl: a grace
// period of half the TTL (at most ten minutes), early refresh with the paper's beta of 1, a
// ten-second lease, and 10% jitter. It remembers no misses: set MissTTL when the loader
// reports them with ErrNotFound.
func Recommended(ttl time.Duration) Freshness {
	return Freshness{
		Grace:        min(ttl/2, 10*time.Minute),
		EarlyRefresh: 1,
		Lease:        10 * time.Second,
		Jitter:       0.1,
	}
}

// check reports what makes f unusable for a view whose TTL is ttl.
func (f Freshness) check(ttl time.Duration) error {
	switch {
	case f.Grace < 0, f.Lease < 0, f.MissTTL < 0:
		return fmt.Errorf("%w: Freshness: negative duration", ErrConfig)
	case !(f.EarlyRefresh >= 0) || math.IsInf(f.EarlyRefresh, 1):
		return fmt.Errorf("%w: Freshness.EarlyRefresh %v is not zero or a finite positive number", ErrConfig, f.EarlyRefresh)
	case !(f.Jitter >= 0 && f.Jitter < 1):
		return fmt.Errorf("%w: Freshness.Jitter %v is not in [0, 1)", ErrConfig, f.Jitter)
	case f.Grace > MaxTTL-ttl, f.MissTTL > MaxTTL, f.Lease > MaxTTL: // MaxTTL-ttl, not ttl+Grace, which can overflow
		return fmt.Errorf("%w: Freshness: a TTL over the limit of %v", ErrConfig, MaxTTL)
	}
	return nil
}

// With returns a view of the same Cache, prefix, TTL, Codec and value type whose reads and
// loads keep values fresh as f says. Its calls count in its own Stats and in v's. An unusable f makes
// every call of the returned view report an error wrapping ErrConfig.
func (v *View[V]) With(f Freshness) *View[V] {
	sub := &Cache{core: v.c.core, prefix: v.c.prefix, ttl: v.c.ttl, parent: v.c, err: v.c.err}
	if sub.err == nil {
		sub.err = f.check(sub.ttl)
	}
	return newView[V](sub, f, v.codec)
}

// Freshness returns the view's Freshness: the zero one unless the view was made by With.
func (v *View[V]) Freshness() Freshness { return v.f }

// enveloped reports whether the view's values carry a backend.Envelope: when it needs their
// fresh-until time or load duration.
func (f *Freshness) enveloped() bool { return f.Grace > 0 || f.EarlyRefresh > 0 }

// plain reports whether the view reads and writes as a view without Freshness does.
func (f *Freshness) plain() bool { return *f == Freshness{} }

// errTombstone is what a read of a tombstone answers: the source of truth lacks the key.
var errTombstone = fmt.Errorf("%w (the source of truth has no value: a tombstone)", ErrNotFound)

// errDead is what a read answers of a value past its freshness and the view's grace, which
// the backend had not removed yet (DynamoDB keeps expiry to the second).
var errDead = fmt.Errorf("%w (past its freshness and grace)", ErrNotFound)

// state is how a value read from the cache stands, for a view's reads.
type state int

const (
	fresh state = iota // serve it
	early              // serve it and refresh it: XFetch drew this read
	stale              // serve it and refresh it: in the grace period
)

// open returns the codec's bytes of what is stored under a key, and how the value stands at
// now, for the view; see Freshness.open.
func (v *View[V]) open(data []byte, now time.Time) ([]byte, state, error) {
	return v.f.open(data, now, v.c.ttl/2)
}

// open returns the codec's bytes of what is stored under a key, and how the value stands at
// now, or, when now is zero, at the time of the call (read only for an envelope: most reads
// meet none); a tombstone, or a value past its freshness and grace, is a miss. Bytes without
// an envelope are a value written without freshness, fresh while stored. An early refresh is
// drawn only within window of the value's expiry (see xfetch).
func (f *Freshness) open(data []byte, now time.Time, window time.Duration) ([]byte, state, error) {
	env, ok := backend.ParseEnvelope(data)
	if !ok {
		return data, fresh, nil
	}
	if now.IsZero() {
		now = time.Now()
	}
	switch {
	case env.NotFound && now.Before(env.FreshUntil):
		return nil, fresh, errTombstone
	case env.NotFound, !now.Before(env.FreshUntil.Add(f.Grace)):
		return nil, fresh, errDead
	case !now.Before(env.FreshUntil):
		return env.Value, stale, nil
	case f.EarlyRefresh > 0 && env.LoadTime > 0 && now.After(env.FreshUntil.Add(-window)) && xfetch(now, env, f.EarlyRefresh):
		return env.Value, early, nil
	}
	return env.Value, fresh, nil
}

// xfetch is XFetch's draw: refresh at now when now - LoadTime·beta·ln(U) has passed the
// value's expiry, for U uniform in (0, 1] (so that the log is never of zero). The nearer the
// expiry and the longer a load takes, the likelier; across many readers, about one refreshes
// before the expiry. (The first of r reads a second draws about LoadTime·beta·ln(r·LoadTime·
// beta) before it: open confines the draws to the second half of the TTL, which that lead may
// exceed.) The comparison is in floats: a large beta makes the product overflow a Duration.
func xfetch(now time.Time, env backend.Envelope, beta float64) bool {
	gap := -float64(env.LoadTime) * beta * math.Log(1-rand.Float64())
	return gap > float64(env.FreshUntil.Sub(now))
}

// ttl returns the TTL of a write given ttl (zero: the view's), shortened by the view's jitter.
func (v *View[V]) ttl(ttl time.Duration) (time.Duration, error) {
	ttl, err := v.c.resolveTTL(ttl)
	if err != nil || v.f.Jitter == 0 {
		return ttl, err
	}
	cut := time.Duration(rand.Float64() * v.f.Jitter * float64(ttl))
	return max(ttl-cut, time.Millisecond), nil
}

// wrap returns what the view stores for the codec's bytes data, loaded in took, when written
// with ttl (zero: the view's), and the TTL to store it for: with the view's jitter, and in an
// envelope, kept for its grace period beyond its TTL, when the view needs one.
func (v *View[V]) wrap(data []byte, ttl, took time.Duration) ([]byte, time.Duration, error) {
	ttl, err := v.ttl(ttl)
	if err != nil || !v.f.enveloped() {
		return data, ttl, err
	}
	env := backend.Envelope{Value: data, FreshUntil: time.Now().Add(ttl), LoadTime: took}
	return env.Append(make([]byte, 0, 17+len(data))), ttl + v.f.Grace, nil
}

// tombstone returns what the view stores for a key the source lacks, and for how long.
func (v *View[V]) tombstone() ([]byte, time.Duration) {
	ttl, _ := v.ttl(v.f.MissTTL)
	return backend.Envelope{NotFound: true, FreshUntil: time.Now().Add(ttl)}.Append(nil), ttl
}

// leaseSuffix ends the key of a key's refresh lease: a control character no printable key
// ends with, under the view's prefix so that Clear removes leases with the entries.
const leaseSuffix = "\x00lease"

// Polls for a lease holder's value start this far apart and double up to the cap.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// lead decides, for a load of key that the flight runs once in this process, whether this
// instance loads: it takes the key's lease when it can, and returns a release for it. When
// another instance holds the lease, it returns what to answer instead: have, the value the
// caller already serves (a refresh), or else the holder's value once it is stored, polled for
// with backoff until the holder lets the lease go or its lease must have ended, when it tries
// to take it again.
// Without a Leaser, or when the backend cannot answer, it leaves this instance to load.
func (v *View[V]) lead(ctx context.Context, key string, have []byte) (found []byte, release func(), err error) {
	c := v.c
	s := c.core.store.Load().Store
	l, ok := s.(backend.Leaser)
	lkey := c.prefix + key + leaseSuffix
	if !ok || backend.CheckKey(lkey) != nil {
		return nil, nil, nil
	}
	token := strconv.FormatUint(rand.Uint64(), 36)
	poll := firstPoll
	for {
		got, err := l.Acquire(ctx, lkey, token, v.f.Lease)
		switch {
		case got: // even when ctx ended as it was taken: it is released all the same
			release = func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.f.Lease)
				defer cancel()
				_ = l.Release(rctx, lkey, token)
			}
			if err := backend.ContextErr(ctx); err != nil {
				release()
				return nil, nil, err
			}
			// The last holder may have stored its value after the caller's read.
			if data, ok := v.peek(ctx, key); ok && !bytes.Equal(data, have) {
				release()
				return data, nil, nil
			}
			return nil, release, nil
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("cachekit: %w", ctx.Err())
		case err != nil:
			return nil, nil, nil // fail open: load as without a lease
		case have != nil:
			c.core.busy.hold(lkey, time.Now().Add(v.f.Lease))
			return have, nil, nil
		}
		for end := time.Now().Add(v.f.Lease); time.Now().Before(end); {
			if err := pause(ctx, &poll); err != nil {
				return nil, nil, err
			}
			if data, ok := v.peek(ctx, key); ok {
				return data, nil, nil
			}
			// A holder whose load failed, or found nothing to remember, lets the lease go
			// without storing anything: take it then, rather than when it would have ended.
			if held, err := s.Has(ctx, lkey); err == nil && !held {
				break
			}
		}
	}
}

// peek reads what is stored under key for lead, without counting it in the statistics, and
// reports whether it is an answer (see usable): not a value that no longer decodes, which the
// caller's read may have missed for. It reads the remote tier behind an L1, where the holder
// of the lease writes: this instance's copy in memory may be the value a read found due,
// still fresh when the refresh was early. Only a tier the Cache calls directly is looked
// behind (not one found through Unwrap), so that a peek never goes around a breaker in front
// of the tier.
func (v *View[V]) peek(ctx context.Context, key string) ([]byte, bool) {
	s := v.c.core.store.Load().Store
	if t, ok := s.(backend.Tier); ok {
		s = t.L2()
	}
	data, err := s.Get(ctx, v.c.prefix+key)
	if err != nil {
		return nil, false
	}
	return data, v.usable(data)
}

// pause waits *d, give or take a quarter, and doubles *d up to maxPoll.
func pause(ctx context.Context, d *time.Duration) error {
	wait := *d - *d/4 + time.Duration(rand.Int64N(int64(*d)/2+1))
	*d = min(2**d, maxPoll)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cachekit: %w", ctx.Err())
	}
}

// busyKeys remembers, per lease key, until when another instance holds it, so that reads of a
// stale value do not each try the lease while its holder refreshes. Guarded by mu; bounded by
// pruning the ended holds when it grows.
type busyKeys struct {
	mu    sync.Mutex
	until map[string]time.Time
}

const maxBusy = 4096

func (b *busyKeys) hold(key string, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until == nil {
		b.until = make(map[string]time.Time)
	}
	if len(b.until) >= maxBusy {
		now := time.Now()
		maps.DeleteFunc(b.until, func(_ string, t time.Time) bool { return !now.Before(t) })
		if len(b.until) >= maxBusy {
			clear(b.until)
		}
	}
	b.until[key] = until
}

func (b *busyKeys) held(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[key]
	return ok && now.Before(t)
}

// refresh refreshes the value stored under key, which a read found due (stale, or drawn for
// an early refresh), unless a refresh of it is under way in this process, or another
// instance's lease on it is known to be held: the read that claims it is the one that
// refreshes, and the others serve what they found. have is what the read found. With
// Options.Background the refresh runs on a goroutine of the Cache's own, and refresh returns
// nil; else it runs in the caller's call and returns the value it stored, or nil.
func (v *View[V]) refresh(ctx context.Context, key string, have []byte, load Loader[V]) []byte {
	co := v.c.core
	full := v.c.prefix + key
	if co.busy.held(full+leaseSuffix, time.Now()) || !co.claim(full) {
		return nil
	}
	v.c.count(&counters{refreshes: 1}, nil)
	run := func(ctx context.Context) ([]byte, error) {
		defer co.unclaim(full)
		return co.flight.do(ctx, co.closing, full, co.flight.mark(full, ""), func(lctx context.Context, _ bool) ([]byte, error) {
			if !co.enter() {
				return nil, ErrClosed
			}
			defer co.detached.Done()
			return v.fill(lctx, key, have, false, load)
		})
	}
	if co.background {
		bound := v.f.Lease // a load that outlives the lease may be another instance's too
		if bound == 0 {
			bound = v.f.left(have)
		}
		if !co.detach(func(ctx context.Context) {
			defer v.c.absorb()
			_, _ = run(ctx)
		}, bound) {
			co.unclaim(full)
		}
		return nil
	}
	data, err := run(ctx)
	if err != nil || bytes.Equal(data, have) {
		return nil
	}
	return data
}

// left returns how long the stored bytes data have left to be served, at least a millisecond:
// what bounds a background refresh without a lease, which has nothing to keep fresh after that
// (misses load the key then, each as long as its caller waits), and which would otherwise keep
// a load whose source hangs, and with it the key's claim, until Close.
func (f *Freshness) left(data []byte) time.Duration {
	env, _ := backend.ParseEnvelope(data)
	return max(time.Until(env.FreshUntil.Add(f.Grace)), time.Millisecond)
}

// claim makes the caller the one that refreshes the whole key, unless another is: it reports
// whether it did. unclaim ends the claim.
func (co *core) claim(full string) bool {
	_, taken := co.refreshing.LoadOrStore(full, struct{}{})
	return !taken
}

func (co *core) unclaim(full string) { co.refreshing.Delete(full) }

// absorb, deferred by a refresh on a goroutine of the Cache's own, keeps a loader's panic from
// ending the process, where no caller could recover it: the stale value stays, and the panic
// counts as a failed load. (A caller that joined the refresh's load gets the panic itself.)
func (c *Cache) absorb() {
	if recover() != nil {
		c.count(&counters{loads: 1, loadErrors: 1}, nil)
	}
}

// detach runs fn on a goroutine that Close cancels and waits for, with a context that ends
// then, or after bound when bound is positive, and reports whether it did: not once the Cache
// is closed.
func (co *core) detach(fn func(context.Context), bound time.Duration) bool {
	if !co.enter() {
		return false
	}
	go func() {
		defer co.detached.Done()
		ctx, cancel := co.closing, context.CancelFunc(func() {})
		if bound > 0 {
			ctx, cancel = context.WithTimeout(ctx, bound)
		}
		defer cancel()
		fn(ctx)
	}()
	return true
}

// enter counts a goroutine that Close waits for (it calls co.detached.Done when it ends),
// and reports whether it did: not once the Cache is closed. A refresh's load enters too, on
// the flight's goroutine, since a refresh that gives up at its bound or at Close leaves its
// load to end by itself, which Close must wait for: the load still writes its value and
// releases its lease, on the Store that Close then closes.
func (co *core) enter() bool {
	co.detachMu.Lock()
	defer co.detachMu.Unlock()
	if co.closed.Load() {
		return false
	}
	co.detached.Add(1)
	return true
}

// fill is the load of a key, run once per process by the flight, for a miss (have is nil) or
// a refresh (have is the value being served). With reread, it first reads the key again (see
// flight.do). With a lease, it loads only when this instance holds the key's lease (see
// lead). It stores and returns the value's stored bytes; a load that reports ErrNotFound
// stores a tombstone when the view remembers misses, and otherwise removes the value a
// refresh had; any other error stores nothing, so that a failed refresh never replaces a good
// value.
func (v *View[V]) fill(ctx context.Context, key string, have []byte, reread bool, load Loader[V]) ([]byte, error) {
	c := v.c
	if reread {
		// Another load of this shard ended after the caller's read: when it was this key's,
		// its value is stored now, and loading it again would break "once per key".
		if data, err := c.getRaw(ctx, key); err == nil && v.usable(data) {
			return data, nil
		}
	}
	if v.f.Lease > 0 {
		found, release, err := v.lead(ctx, key, have)
		if err != nil || found != nil {
			return found, err
		}
		if release != nil {
			defer release()
		}
	}
	start := time.Now()
	loaded, err := load(ctx, key)
	took := time.Since(start)
	if err != nil {
		lost := errors.Is(err, ErrNotFound)
		if lost && v.f.MissTTL > 0 {
			v.c.count(&counters{loads: 1}, nil)
			tomb, ttl := v.tombstone()
			_ = c.setRaw(ctx, key, tomb, ttl) // a failed write costs only a later load
			return nil, err
		}
		c.count(&counters{loads: 1, loadErrors: 1}, nil)
		if lost && have != nil {
			// A refresh: the source no longer has the key, so its stale value goes.
			_ = c.deleteMany(ctx, []string{key})
		}
		return nil, err
	}
	c.count(&counters{loads: 1}, nil)
	data, err := v.encode(loaded)
	if err != nil {
		return nil, c.count(&counters{errors: 1}, err)
	}
	stored, ttl, err := v.wrap(data, 0, took)
	if err != nil {
		return nil, c.count(&counters{errors: 1}, err)
	}
	// A failed write costs only a later miss; the error is counted in Stats.
	_ = c.setRaw(ctx, key, stored, ttl)
	return stored, nil
}

// usable reports whether stored bytes answer a read: a live value that decodes into V, or a
// tombstone.
func (v *View[V]) usable(data []byte) bool {
	value, _, err := v.open(data, time.Time{})
	if err != nil {
		return errors.Is(err, errTombstone)
	}
	return v.decodes(value)
}
