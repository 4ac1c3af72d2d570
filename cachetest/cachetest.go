package cachetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// Harness describes the store under test.
type Harness struct {
	// New returns a store that reads the time from clock, or, when WallClock is set, from
	// the wall clock (clock is then nil). The kit calls it once per subtest, and once more to
	// clean up after a subtest that closed its store, and closes each store when the subtest
	// ends, so it may return a new handle on a shared backend: the kit keeps each subtest's
	// keys under a prefix of its own.
	New func(t *testing.T, clock backend.Clock) backend.Store

	// WallClock declares that the stores New returns keep real time, as in production, with a
	// clock the kit cannot move: the backend's own expiry (a Redis key's TTL, for one) is then
	// what the kit checks. The subtests that need time to pass use short real TTLs instead (a
	// few hundred milliseconds to a few seconds) and poll, with a patience of a minute, until
	// the entry has expired; their verdicts do not depend on how fast the machine is.
	WallClock bool

	// Prefix starts every key the kit writes, before a part unique to the run and one per
	// subtest: give the prefix a staging server's key policy allows. Zero means "cachetest:".
	Prefix string
}

// Time the wall-clock subtests give the backend.
const (
	// shortTTL is the TTL of entries a wall-clock subtest waits to see expire.
	shortTTL = 300 * time.Millisecond
	// patience bounds the wait for an entry to expire: far beyond what any backend's expiry
	// takes, so that only a store that never expires the entry fails.
	patience = time.Minute
	// pollEvery is the pause between two reads of an entry that has not yet expired.
	pollEvery = 20 * time.Millisecond
)

// Run runs the conformance suite against the stores h.New returns, one subtest per behaviour.
// Every subtest deletes what it wrote when it ends, whether it passed or failed, with Clear
// on its own prefix; a failure to clean up fails the subtest.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("cachetest: Harness.New is nil")
	}
	if h.Prefix == "" {
		h.Prefix = "cachetest:"
	}
	if err := backend.CheckPrefix(h.Prefix); err != nil {
		t.Fatalf("cachetest: Harness.Prefix: %v", err)
	}
	run := runID()
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			var clock *Clock
			var c backend.Clock // nil, not a nil *Clock, for a wall-clock store
			fn := tc.fn
			if h.WallClock {
				if tc.wall != nil {
					fn = tc.wall
				}
			} else {
				clock = NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
				c = clock
			}
			s := h.New(t, c)
			prefix := fmt.Sprintf("%s%s:%s/", h.Prefix, run, tc.name)
			t.Cleanup(func() { _ = s.Close() })
			t.Cleanup(func() { h.clean(t, s, c, prefix) })
			fn(t, &env{
				T:       t,
				s:       s,
				clock:   clock,
				prefix:  prefix,
				written: map[string]time.Time{},
			})
		})
	}
}

// clean deletes everything under prefix: with the subtest's store, or with a new one when the
// subtest closed it.
func (h Harness) clean(t *testing.T, s backend.Store, clock backend.Clock, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	_, err := s.Clear(ctx, prefix)
	if errors.Is(err, backend.ErrClosed) {
		fresh := h.New(t, clock)
		defer fresh.Close()
		_, err = fresh.Clear(ctx, prefix)
	}
	if err != nil {
		t.Errorf("cachetest: deleting what the subtest wrote: Clear: %v", err)
	}
}

// env is what one subtest works with.
type env struct {
	*testing.T
	s      backend.Store
	clock  *Clock // nil for a wall-clock store
	prefix string
	// written holds when each key was last written through set or expire, for the bounds of
	// wantTTL on a wall-clock store.
	written map[string]time.Time
}

func (e *env) key(name string) string { return e.prefix + name }

// readEntries reads keys with backend.ReadEntries, keyed by key, and fails on an entry
// returned twice.
func (e *env) readEntries(keys ...string) map[string]backend.Entry {
	e.Helper()
	entries, err := backend.ReadEntries(context.Background(), e.s, keys)
	if err != nil {
		e.Fatalf("ReadEntries: %v", err)
	}
	m := make(map[string]backend.Entry, len(entries))
	for _, en := range entries {
		if _, dup := m[en.Key]; dup {
			e.Errorf("ReadEntries returned %s twice", e.short(en.Key))
		}
		m[en.Key] = en
	}
	return m
}

func (e *env) set(key string, value string, ttl time.Duration) {
	e.Helper()
	e.written[key] = time.Now()
	if err := e.s.Set(context.Background(), key, []byte(value), ttl); err != nil {
		e.Fatalf("Set: %v", err)
	}
}

// wantValue fails unless key holds want.
func (e *env) wantValue(key, want string) {
	e.Helper()
	got, err := e.s.Get(context.Background(), key)
	if err != nil {
		e.Fatalf("Get %s: %v, want %q", e.short(key), err, want)
	}
	if string(got) != want {
		e.Fatalf("Get %s = %q, want %q", e.short(key), got, want)
	}
}

// wantMiss fails unless key is a miss on every read path.
func (e *env) wantMiss(key string) {
	e.Helper()
	ctx := context.Background()
	if v, err := e.s.Get(ctx, key); !errors.Is(err, backend.ErrNotFound) {
		e.Errorf("Get %s = %q, %v; want ErrNotFound", e.short(key), v, err)
	}
	if ok, err := e.s.Has(ctx, key); ok || err != nil {
		e.Errorf("Has %s = %v, %v; want false, nil", e.short(key), ok, err)
	}
	if ttl, err := e.s.TTL(ctx, key); !errors.Is(err, backend.ErrNotFound) {
		e.Errorf("TTL %s = %v, %v; want ErrNotFound", e.short(key), ttl, err)
	}
	if m, err := e.s.GetMany(ctx, []string{key}); err != nil || len(m) != 0 {
		e.Errorf("GetMany [%s] = %v, %v; want an empty map", e.short(key), m, err)
	}
}

// wantHit fails unless key holds want on every read path.
func (e *env) wantHit(key, want string) {
	e.Helper()
	ctx := context.Background()
	e.wantValue(key, want)
	if ok, err := e.s.Has(ctx, key); !ok || err != nil {
		e.Errorf("Has %s = %v, %v; want true, nil", e.short(key), ok, err)
	}
	if ttl, err := e.s.TTL(ctx, key); err != nil || ttl <= 0 {
		e.Errorf("TTL %s = %v, %v; want a positive TTL", e.short(key), ttl, err)
	}
	m, err := e.s.GetMany(ctx, []string{key})
	if err != nil || string(m[key]) != want || len(m) != 1 {
		e.Errorf("GetMany [%s] = %q, %v; want {%q}", e.short(key), m, err, want)
	}
}

// expire calls Expire, and fails unless it succeeds.
func (e *env) expire(key string, ttl time.Duration) {
	e.Helper()
	e.written[key] = time.Now()
	if err := e.s.Expire(context.Background(), key, ttl); err != nil {
		e.Fatalf("Expire %s, %v: %v", e.short(key), ttl, err)
	}
}

// wantTTL fails unless key's remaining TTL is want, within the one second a backend may round
// by; on a wall-clock store, less the real time that has passed since key was written.
func (e *env) wantTTL(key string, want time.Duration) {
	e.Helper()
	lo, hi := want-time.Second, want+time.Second
	if e.clock == nil {
		lo -= time.Since(e.written[key])
	}
	got, err := e.s.TTL(context.Background(), key)
	if err != nil {
		e.Fatalf("TTL %s: %v", e.short(key), err)
	}
	if got < lo || got > hi {
		e.Errorf("TTL %s = %v, want %v (between %v and %v)", e.short(key), got, want, lo, hi)
	}
}

// expired writes key so that it has expired when expired returns: on the kit's clock by
// moving the clock two seconds, on the wall clock by waiting for a short TTL to pass.
func (e *env) expired(key, value string) {
	e.Helper()
	if e.clock != nil {
		e.set(key, value, time.Second)
		e.clock.Advance(2 * time.Second)
		return
	}
	e.set(key, value, shortTTL)
	e.eventuallyMiss(key)
}

// eventuallyMiss waits, on a wall-clock store, until Get of key misses, then checks that it
// misses on every read path.
func (e *env) eventuallyMiss(key string) {
	e.Helper()
	start := time.Now()
	for {
		_, err := e.s.Get(context.Background(), key)
		if errors.Is(err, backend.ErrNotFound) {
			break
		}
		if err != nil {
			e.Fatalf("Get %s: %v", e.short(key), err)
		}
		if time.Since(start) > patience {
			e.Fatalf("Get %s still hits %v after its TTL should have passed", e.short(key), patience)
		}
		time.Sleep(pollEvery)
	}
	e.Logf("%s expired %v after the wait began", e.short(key), time.Since(start).Round(time.Millisecond))
	e.wantMiss(key)
}

// wantHitIfFresh reads key, written no earlier than start with ttl, on a wall-clock store: a
// read that ends before ttl has passed since start must hit, since the entry cannot have
// expired yet; a later one proves nothing, whatever it returns.
func (e *env) wantHitIfFresh(key, want string, start time.Time, ttl time.Duration) {
	e.Helper()
	got, err := e.s.Get(context.Background(), key)
	if elapsed := time.Since(start); elapsed >= ttl {
		e.Logf("Get %s came %v after the write, past its %v TTL: not checked", e.short(key), elapsed, ttl)
		return
	}
	if err != nil || string(got) != want {
		e.Errorf("Get %s before its %v TTL could pass = %q, %v; want %q", e.short(key), ttl, got, err, want)
	}
}

func (e *env) wantCount(prefix string, want int) {
	e.Helper()
	n, err := e.s.Count(context.Background(), prefix)
	if err != nil || n != want {
		e.Errorf("Count %s = %d, %v; want %d", e.short(prefix), n, err, want)
	}
}

// short drops the subtest's prefix from key, for messages.
func (e *env) short(key string) string {
	if rest, ok := strings.CutPrefix(key, e.prefix); ok {
		return "…" + rest
	}
	if len(key) > 40 {
		return fmt.Sprintf("%.40q… (%d bytes)", key, len(key))
	}
	return fmt.Sprintf("%q", key)
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// suite lists the subtests: fn runs on the kit's clock, and on the wall clock too unless the
// subtest has a wall version, for the subtests that move time.
var suite = []struct {
	name string
	fn   func(t *testing.T, e *env)
	wall func(t *testing.T, e *env)
}{
	{"SetGet", testSetGet, nil},
	{"Values", testValues, nil},
	{"ExpiryOnEveryReadPath", testExpiry, testExpiryWall},
	{"ExpireExtendsAndShortens", testExpire, testExpireWall},
	{"ExpireMissingNeverCreates", testExpireMissing, nil},
	{"TTLRemaining", testTTL, nil},
	{"SubSecondTTL", testSubSecondTTL, testSubSecondTTLWall},
	{"GetMany", testGetMany, nil},
	{"SetMany", testSetMany, nil},
	{"SetManyRefusesWholeBatch", testSetManyInvalid, nil},
	{"Delete", testDelete, nil},
	{"CountAndClearScoped", testClearScoped, nil},
	{"ClearPrefixWithGlobCharacters", testClearGlob, nil},
	{"KeyRules", testKeyRules, nil},
	{"TTLRules", testTTLRules, nil},
	{"CancelledContext", testCancelled, nil},
	{"Closed", testClosed, nil},
	{"Concurrent", testConcurrent, nil},
	{"EntriesWithTimeLeft", testEntries, testEntriesWall},
	{"EnvelopesUnchanged", testEnvelopes, nil},
	{"Lease", testLease, nil},
	{"LeaseExpires", testLeaseExpiry, testLeaseExpiryWall},
	{"LeaseConcurrent", testLeaseConcurrent, nil},
	{"LeaseRules", testLeaseRules, nil},
	{"LeaseClosed", testLeaseClosed, nil},
	{"Counter", testCounter, nil},
	{"CounterExpires", testCounterExpiry, testCounterExpiryWall},
	{"CounterConcurrent", testCounterConcurrent, nil},
	{"CounterNotACounter", testCounterNotACounter, nil},
	{"CounterRules", testCounterRules, nil},
	{"CounterClosed", testCounterClosed, nil},
}

func testSetGet(t *testing.T, e *env) {
	k := e.key("a")
	e.wantMiss(k)
	e.set(k, `"one"`, time.Minute)
	e.wantHit(k, `"one"`)
	e.set(k, `"two"`, time.Minute)
	e.wantHit(k, `"two"`)
	e.wantMiss(e.key("b"))
}

func testValues(t *testing.T, e *env) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	cases := map[string][]byte{
		"empty":      {},
		"json":       []byte(`{"city":"Zürich","n":[1,2.5,null],"ok":true}`),
		"binary":     binary,
		"64KiB":      bytes.Repeat([]byte("x"), 64<<10),
		"newline":    []byte("a\nb\r\n\x00c"),
		"compressed": compressed,
	}
	ctx := context.Background()
	for name, v := range cases {
		if err := e.s.Set(ctx, e.key(name), v, time.Minute); err != nil {
			t.Fatalf("Set %s value: %v", name, err)
		}
	}
	for name, want := range cases {
		got, err := e.s.Get(ctx, e.key(name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Get %s value: %d bytes, %v; want the %d bytes set", name, len(got), err, len(want))
		}
	}
}

// compressed is a value as package compress writes it: its marker (0xC1 'c' 'k' 0x02), the
// algorithm's byte (0x01, zstd), then a zstd frame of 1,846 bytes of JSON. Bytes that are not
// UTF-8, which a Store must keep as they are (DynamoDB in a B attribute), alone and in an
// envelope.
var compressed = []byte{
	0xc1, 0x63, 0x6b, 0x02, 0x01, 0x28, 0xb5, 0x2f, 0xfd, 0x64, 0x36, 0x06, 0xf5, 0x01, 0x00, 0x44,
	0x03, 0x5b, 0x7b, 0x22, 0x63, 0x69, 0x74, 0x79, 0x22, 0x3a, 0x22, 0x5a, 0xc3, 0xbc, 0x72, 0x69,
	0x63, 0x68, 0x22, 0x2c, 0x22, 0x6e, 0x22, 0x3a, 0x5b, 0x31, 0x2c, 0x32, 0x2e, 0x35, 0x2c, 0x6e,
	0x75, 0x6c, 0x6c, 0x5d, 0x2c, 0x22, 0x6f, 0x6b, 0x22, 0x3a, 0x74, 0x72, 0x75, 0x65, 0x7d, 0x2c,
	0x6e, 0x75, 0x6c, 0x6c, 0x5d, 0x01, 0x54, 0x17, 0x05, 0x2e, 0xff, 0x37, 0x06, 0xde, 0xd5, 0xdc,
	0x47,
}

func testExpiry(t *testing.T, e *env) {
	k, other := e.key("short"), e.key("long")
	e.set(k, `1`, 10*time.Second)
	e.set(other, `2`, time.Hour)
	e.clock.Advance(8 * time.Second)
	e.wantHit(k, `1`)
	e.wantCount(e.prefix, 2)
	e.clock.Advance(3 * time.Second)
	e.wantMiss(k)
	e.wantCount(e.prefix, 1)
	if err := e.s.Expire(context.Background(), k, time.Hour); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Expire of an expired entry: %v, want ErrNotFound", err)
	}
	e.wantMiss(k)
	m, err := e.s.GetMany(context.Background(), []string{k, other})
	if err != nil || len(m) != 1 || string(m[other]) != `2` {
		t.Errorf("GetMany of an expired and a live key = %q, %v; want only the live one", m, err)
	}
	// A new write brings the key back with its own TTL.
	e.set(k, `3`, 10*time.Second)
	e.wantHit(k, `3`)
}

func testExpire(t *testing.T, e *env) {
	ctx := context.Background()
	longer, shorter := e.key("longer"), e.key("shorter")
	e.set(longer, `"L"`, 10*time.Second)
	e.set(shorter, `"S"`, time.Hour)
	e.clock.Advance(5 * time.Second)
	if err := e.s.Expire(ctx, longer, time.Minute); err != nil {
		t.Fatalf("Expire: %v", err)
	}
	if err := e.s.Expire(ctx, shorter, 10*time.Second); err != nil {
		t.Fatalf("Expire: %v", err)
	}
	e.wantTTL(longer, time.Minute)
	e.wantTTL(shorter, 10*time.Second)
	e.clock.Advance(15 * time.Second)
	e.wantHit(longer, `"L"`) // past its first TTL, kept by Expire, value unchanged
	e.wantMiss(shorter)
	e.clock.Advance(time.Minute)
	e.wantMiss(longer)
}

func testExpireMissing(t *testing.T, e *env) {
	k := e.key("never")
	if err := e.s.Expire(context.Background(), k, time.Minute); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Expire of a missing key: %v, want ErrNotFound", err)
	}
	e.wantMiss(k)
	e.wantCount(e.prefix, 0)
}

func testTTL(t *testing.T, e *env) {
	k := e.key("k")
	e.set(k, `0`, 90*time.Second)
	e.wantTTL(k, 90*time.Second)
	if e.clock != nil {
		e.clock.Advance(30 * time.Second)
		e.wantTTL(k, time.Minute)
	}
	e.set(k, `1`, 2*time.Hour) // a write replaces the TTL with its own
	e.wantTTL(k, 2*time.Hour)
	e.set(k, `2`, backend.MaxTTL)
	e.wantTTL(k, backend.MaxTTL)
}

// testSubSecondTTL checks the granularity every backend keeps: an entry lives at least its
// TTL, and less than a second more (DynamoDB's expiry is a whole epoch second, rounded up).
func testSubSecondTTL(t *testing.T, e *env) {
	a, b := e.key("a"), e.key("b")
	e.set(a, `1`, 1500*time.Millisecond)
	e.clock.Advance(1400 * time.Millisecond)
	e.wantHit(a, `1`)
	e.clock.Advance(1100 * time.Millisecond) // 2.5s: past the TTL and the second after it
	e.wantMiss(a)

	e.set(b, `2`, 300*time.Millisecond)
	if ttl, err := e.s.TTL(context.Background(), b); err != nil || ttl <= 0 || ttl > 1300*time.Millisecond {
		t.Errorf("TTL of a 300ms entry = %v, %v; want (0, 1.3s]", ttl, err)
	}
	e.clock.Advance(1300 * time.Millisecond)
	e.wantMiss(b)

	e.set(b, `3`, time.Minute)
	if err := e.s.Expire(context.Background(), b, 200*time.Millisecond); err != nil {
		t.Fatalf("Expire with 200ms: %v", err)
	}
	e.clock.Advance(1200 * time.Millisecond)
	e.wantMiss(b)
}

func testGetMany(t *testing.T, e *env) {
	ctx := context.Background()
	a, b, missing := e.key("a"), e.key("b"), e.key("missing")
	e.set(a, `"A"`, time.Minute)
	e.set(b, `"B"`, time.Minute)
	got, err := e.s.GetMany(ctx, []string{a, missing, b, a, missing})
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	want := map[string]string{a: `"A"`, b: `"B"`}
	if len(got) != len(want) {
		t.Errorf("GetMany returned %d entries, want %d", len(got), len(want))
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("GetMany[%s] = %q, want %q", e.short(k), got[k], v)
		}
	}
	for _, keys := range [][]string{nil, {}} {
		got, err := e.s.GetMany(ctx, keys)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("GetMany(%#v) = %#v, %v; want an empty map", keys, got, err)
		}
	}
	// A batch larger than any backend's single request.
	var many []string
	var entries []backend.Entry
	for i := range 250 {
		k := e.key(fmt.Sprintf("bulk-%03d", i))
		many = append(many, k)
		if i%2 == 0 {
			entries = append(entries, backend.Entry{Key: k, Value: []byte(fmt.Sprint(i)), TTL: time.Minute})
		}
	}
	if err := e.s.SetMany(ctx, entries); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	got, err = e.s.GetMany(ctx, many)
	if err != nil || len(got) != len(entries) {
		t.Fatalf("GetMany of 250 keys = %d entries, %v; want %d", len(got), err, len(entries))
	}
	for _, en := range entries {
		if !bytes.Equal(got[en.Key], en.Value) {
			t.Errorf("GetMany[%s] = %q, want %q", e.short(en.Key), got[en.Key], en.Value)
		}
	}
}

func testSetMany(t *testing.T, e *env) {
	ctx := context.Background()
	a, b := e.key("a"), e.key("b")
	e.written[a], e.written[b] = time.Now(), time.Now()
	err := e.s.SetMany(ctx, []backend.Entry{
		{Key: a, Value: []byte(`1`), TTL: 10 * time.Second},
		{Key: b, Value: []byte(`2`), TTL: time.Hour},
		{Key: a, Value: []byte(`3`), TTL: time.Minute}, // the last write for a key wins
	})
	if err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	e.wantHit(a, `3`)
	e.wantHit(b, `2`)
	e.wantTTL(a, time.Minute)
	e.wantTTL(b, time.Hour)
	for _, entries := range [][]backend.Entry{nil, {}} {
		if err := e.s.SetMany(ctx, entries); err != nil {
			t.Errorf("SetMany(%#v): %v, want nil", entries, err)
		}
	}
	if e.clock != nil { // a wall-clock store would take minutes: ExpiryOnEveryReadPath covers it
		e.clock.Advance(2 * time.Minute)
		e.wantMiss(a)
		e.wantHit(b, `2`)
	}
}

func testSetManyInvalid(t *testing.T, e *env) {
	ctx := context.Background()
	good := backend.Entry{Key: e.key("good"), Value: []byte(`1`), TTL: time.Minute}
	for _, tc := range []struct {
		name string
		bad  backend.Entry
		want error
	}{
		{"empty key", backend.Entry{Key: "", Value: []byte(`1`), TTL: time.Minute}, backend.ErrInvalidKey},
		{"long key", backend.Entry{Key: e.key(strings.Repeat("k", backend.MaxKeyLen)), Value: []byte(`1`), TTL: time.Minute}, backend.ErrInvalidKey},
		{"zero TTL", backend.Entry{Key: e.key("bad"), Value: []byte(`1`)}, backend.ErrInvalidTTL},
		{"negative TTL", backend.Entry{Key: e.key("bad"), Value: []byte(`1`), TTL: -time.Second}, backend.ErrInvalidTTL},
	} {
		err := e.s.SetMany(ctx, []backend.Entry{good, tc.bad})
		if !errors.Is(err, tc.want) {
			t.Errorf("SetMany with %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	e.wantMiss(good.Key)
	e.wantCount(e.prefix, 0)
}

func testDelete(t *testing.T, e *env) {
	ctx := context.Background()
	a, b, c, keep := e.key("a"), e.key("b"), e.key("c"), e.key("keep")
	for _, k := range []string{a, b, c, keep} {
		e.set(k, `1`, time.Minute)
	}
	if err := e.s.Delete(ctx, a); err != nil {
		t.Fatalf("Delete one: %v", err)
	}
	e.wantMiss(a)
	if err := e.s.Delete(ctx, b, e.key("missing"), c, b); err != nil {
		t.Fatalf("Delete many with missing and duplicate keys: %v", err)
	}
	e.wantMiss(b)
	e.wantMiss(c)
	if err := e.s.Delete(ctx); err != nil {
		t.Errorf("Delete of no keys: %v", err)
	}
	if err := e.s.Delete(ctx, a); err != nil {
		t.Errorf("Delete of a deleted key: %v", err)
	}
	e.wantHit(keep, `1`)
	var keys []string
	for i := range 60 {
		k := e.key(fmt.Sprintf("bulk-%02d", i))
		keys = append(keys, k)
		e.set(k, `1`, time.Minute)
	}
	if err := e.s.Delete(ctx, keys...); err != nil {
		t.Fatalf("Delete of 60 keys: %v", err)
	}
	e.wantCount(e.prefix, 1)
}

// testClearScoped puts keys just inside and just outside the prefix and checks that Count and
// Clear see exactly the inside ones.
func testClearScoped(t *testing.T, e *env) {
	ctx := context.Background()
	p := e.key("geo:")
	inside := []string{p + "a", p + "b", p + "sub:c", p + ":", p + "ü"}
	outside := []string{
		e.key("geo"),     // the prefix without its last byte
		e.key("geo;x"),   // the next byte after ':'
		e.key("geo9x"),   // the byte before ':'
		e.key("GEO:a"),   // another case
		e.key("x:geo:a"), // the prefix further in
		e.key("ge"),
	}
	for _, k := range inside {
		e.set(k, `"in"`, time.Minute)
	}
	for _, k := range outside {
		e.set(k, `"out"`, time.Minute)
	}
	e.expired(p+"expired", `"in"`)
	e.wantCount(p, len(inside))
	e.wantCount(e.prefix, len(inside)+len(outside))
	n, err := e.s.Clear(ctx, p)
	if err != nil {
		t.Fatalf("Clear: %v", err)
	}
	// An expired entry the backend has not yet removed may be counted as removed.
	if n != len(inside) && n != len(inside)+1 {
		t.Errorf("Clear removed %d entries, want %d", n, len(inside))
	}
	for _, k := range inside {
		e.wantMiss(k)
	}
	for _, k := range outside {
		e.wantHit(k, `"out"`)
	}
	e.wantCount(p, 0)
	if n, err := e.s.Clear(ctx, p); err != nil || n != 0 {
		t.Errorf("Clear of an empty prefix range = %d, %v; want 0, nil", n, err)
	}
	for _, bad := range []string{"", "\xff"} {
		if _, err := e.s.Clear(ctx, bad); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Clear(%q): %v, want ErrInvalidKey", bad, err)
		}
		if _, err := e.s.Count(ctx, bad); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Count(%q): %v, want ErrInvalidKey", bad, err)
		}
	}
	for _, k := range outside {
		e.wantHit(k, `"out"`)
	}
}

// testClearGlob checks that characters special to glob patterns (Redis SCAN MATCH) or to
// expressions stand for themselves in a prefix.
func testClearGlob(t *testing.T, e *env) {
	ctx := context.Background()
	p := e.key(`[geo]*?\:`)
	in := p + "k"
	lookalikes := []string{e.key("g*?\\:k"), e.key(`[geo]xx\:k`), e.key(`[geo]*?:k`), e.key("o*?\\:k")}
	e.set(in, `1`, time.Minute)
	for _, k := range lookalikes {
		e.set(k, `2`, time.Minute)
	}
	e.wantCount(p, 1)
	if n, err := e.s.Clear(ctx, p); err != nil || n != 1 {
		t.Errorf("Clear = %d, %v; want 1, nil", n, err)
	}
	e.wantMiss(in)
	for _, k := range lookalikes {
		e.wantHit(k, `2`)
	}
}

func testKeyRules(t *testing.T, e *env) {
	ctx := context.Background()
	longest := e.key("")
	longest += strings.Repeat("é", (backend.MaxKeyLen-len(longest))/2)
	longest += strings.Repeat("k", backend.MaxKeyLen-len(longest))
	for _, k := range []string{longest, e.key("日本語 キー"), e.key("with space\tand\nnewline"), e.key("CACHE#geo:1.2.3.4"), e.key("emoji 🎉")} {
		e.set(k, `"ok"`, time.Minute)
		e.wantHit(k, `"ok"`)
	}
	bad := map[string]string{
		"empty":           "",
		"over 1024 bytes": longest + "k",
		"invalid UTF-8":   e.key("\xc3\x28"),
	}
	for name, k := range bad {
		calls := map[string]func() error{
			"Get":     func() error { _, err := e.s.Get(ctx, k); return err },
			"GetMany": func() error { _, err := e.s.GetMany(ctx, []string{e.key("fine"), k}); return err },
			"Set":     func() error { return e.s.Set(ctx, k, []byte(`1`), time.Minute) },
			"SetMany": func() error {
				return e.s.SetMany(ctx, []backend.Entry{{Key: k, Value: []byte(`1`), TTL: time.Minute}})
			},
			"Delete": func() error { return e.s.Delete(ctx, e.key("fine"), k) },
			"Has":    func() error { _, err := e.s.Has(ctx, k); return err },
			"Expire": func() error { return e.s.Expire(ctx, k, time.Minute) },
			"TTL":    func() error { _, err := e.s.TTL(ctx, k); return err },
		}
		for _, call := range slices.Sorted(maps.Keys(calls)) {
			if err := calls[call](); !errors.Is(err, backend.ErrInvalidKey) {
				t.Errorf("%s with an %s key: %v, want ErrInvalidKey", call, name, err)
			}
		}
	}
	e.wantCount(e.prefix, 5)
}

func testTTLRules(t *testing.T, e *env) {
	ctx := context.Background()
	k := e.key("k")
	e.set(k, `"kept"`, time.Minute)
	for _, ttl := range []time.Duration{0, -time.Nanosecond, -time.Hour, backend.MaxTTL + time.Second} {
		if err := e.s.Set(ctx, k, []byte(`"lost"`), ttl); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Set with TTL %v: %v, want ErrInvalidTTL", ttl, err)
		}
		if err := e.s.Expire(ctx, k, ttl); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Expire with TTL %v: %v, want ErrInvalidTTL", ttl, err)
		}
		if err := e.s.Set(ctx, e.key("new"), []byte(`1`), ttl); !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Set of a new key with TTL %v: %v, want ErrInvalidTTL", ttl, err)
		}
	}
	e.wantHit(k, `"kept"`)
	e.wantTTL(k, time.Minute)
	e.wantMiss(e.key("new"))
}

func testCancelled(t *testing.T, e *env) {
	k, kept := e.key("k"), e.key("kept")
	e.set(kept, `"kept"`, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"Get":     func() error { _, err := e.s.Get(ctx, kept); return err },
		"GetMany": func() error { _, err := e.s.GetMany(ctx, []string{kept}); return err },
		"Set":     func() error { return e.s.Set(ctx, k, []byte(`1`), time.Minute) },
		"SetMany": func() error {
			return e.s.SetMany(ctx, []backend.Entry{{Key: k, Value: []byte(`1`), TTL: time.Minute}})
		},
		"Delete": func() error { return e.s.Delete(ctx, kept) },
		"Has":    func() error { _, err := e.s.Has(ctx, kept); return err },
		"Expire": func() error { return e.s.Expire(ctx, kept, time.Hour) },
		"TTL":    func() error { _, err := e.s.TTL(ctx, kept); return err },
		"Count":  func() error { _, err := e.s.Count(ctx, e.prefix); return err },
		"Clear":  func() error { _, err := e.s.Clear(ctx, e.prefix); return err },
	}
	for _, call := range slices.Sorted(maps.Keys(calls)) {
		if err := calls[call](); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", call, err)
		}
	}
	e.wantMiss(k)
	e.wantHit(kept, `"kept"`)
	e.wantTTL(kept, time.Minute)
}

func testClosed(t *testing.T, e *env) {
	ctx := context.Background()
	k := e.key("k")
	e.set(k, `1`, time.Minute)
	if err := e.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	calls := map[string]func() error{
		"Get":     func() error { _, err := e.s.Get(ctx, k); return err },
		"GetMany": func() error { _, err := e.s.GetMany(ctx, []string{k}); return err },
		"Set":     func() error { return e.s.Set(ctx, k, []byte(`1`), time.Minute) },
		"SetMany": func() error {
			return e.s.SetMany(ctx, []backend.Entry{{Key: k, Value: []byte(`1`), TTL: time.Minute}})
		},
		"Delete": func() error { return e.s.Delete(ctx, k) },
		"Has":    func() error { _, err := e.s.Has(ctx, k); return err },
		"Expire": func() error { return e.s.Expire(ctx, k, time.Hour) },
		"TTL":    func() error { _, err := e.s.TTL(ctx, k); return err },
		"Count":  func() error { _, err := e.s.Count(ctx, e.prefix); return err },
		"Clear":  func() error { _, err := e.s.Clear(ctx, e.prefix); return err },
	}
	for _, call := range slices.Sorted(maps.Keys(calls)) {
		if err := calls[call](); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", call, err)
		}
	}
}

// testConcurrent races writers, readers and deleters over a few keys; the race detector and
// the check that every value read is one that was written do the asserting.
func testConcurrent(t *testing.T, e *env) {
	ctx := context.Background()
	const workers, rounds = 8, 50
	keys := []string{e.key("0"), e.key("1"), e.key("2")}
	valid := map[string]bool{}
	for w := range workers {
		for i := range rounds {
			valid[fmt.Sprintf(`"%d-%d"`, w, i)] = true
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				k := keys[(w+i)%len(keys)]
				v := fmt.Sprintf(`"%d-%d"`, w, i)
				var err error
				switch i % 4 {
				case 0, 1:
					err = e.s.Set(ctx, k, []byte(v), time.Minute)
				case 2:
					var got map[string][]byte
					got, err = e.s.GetMany(ctx, keys)
					for _, b := range got {
						if !valid[string(b)] {
							err = fmt.Errorf("GetMany read %q, which no writer wrote", b)
						}
					}
				case 3:
					var got []byte
					got, err = e.s.Get(ctx, k)
					if err == nil && !valid[string(got)] {
						err = fmt.Errorf("Get read %q, which no writer wrote", got)
					}
					if errors.Is(err, backend.ErrNotFound) {
						err = nil
					}
					if w == 0 {
						err = errors.Join(err, e.s.Delete(ctx, k))
					}
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testEntries checks backend.ReadEntries, through the Store's ExpiryReader when it has one:
// the values found with the time each has left, which a tier in front relies on so that its
// copy never outlives the entry.
func testEntries(t *testing.T, e *env) {
	ctx := context.Background()
	long, short, missing := e.key("long"), e.key("short"), e.key("missing")
	e.set(long, `1`, time.Hour)
	e.set(short, `2`, 10*time.Second)
	e.clock.Advance(4 * time.Second)
	read := func() map[string]backend.Entry { return e.readEntries(long, short, missing, long) }
	m := read()
	if len(m) != 2 || string(m[long].Value) != `1` || string(m[short].Value) != `2` {
		t.Fatalf("ReadEntries = %v, want the two entries set", m)
	}
	// Within the second a backend may round expiry up by, never longer than the entry has.
	for key, want := range map[string]time.Duration{long: time.Hour - 4*time.Second, short: 6 * time.Second} {
		if got := m[key].TTL; got < want-time.Second || got > want+time.Second {
			t.Errorf("ReadEntries %s: TTL %v, want %v (±1s)", e.short(key), got, want)
		}
	}
	e.clock.Advance(8 * time.Second)
	if m := read(); len(m) != 1 || string(m[long].Value) != `1` {
		t.Errorf("ReadEntries after the short entry expired = %v, want only the long one", m)
	}
	if entries, err := backend.ReadEntries(ctx, e.s, nil); err != nil || len(entries) != 0 {
		t.Errorf("ReadEntries of no keys = %v, %v; want nothing", entries, err)
	}
}

// The wall-clock versions of the subtests that move time. Each checks freshness with a read
// that ends before the TTL could pass, or with a TTL far longer than any run, and expiry by
// waiting for a short TTL, so that no verdict depends on the machine's speed.

func testExpiryWall(t *testing.T, e *env) {
	ctx := context.Background()
	k, other := e.key("short"), e.key("long")
	start := time.Now()
	e.set(k, `1`, shortTTL)
	e.set(other, `2`, time.Hour)
	e.wantHitIfFresh(k, `1`, start, shortTTL)
	e.eventuallyMiss(k)
	e.wantHit(other, `2`)
	e.wantCount(e.prefix, 1)
	if err := e.s.Expire(ctx, k, time.Hour); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Expire of an expired entry: %v, want ErrNotFound", err)
	}
	e.wantMiss(k)
	m, err := e.s.GetMany(ctx, []string{k, other})
	if err != nil || len(m) != 1 || string(m[other]) != `2` {
		t.Errorf("GetMany of an expired and a live key = %q, %v; want only the live one", m, err)
	}
	// A new write brings the key back with its own TTL.
	e.set(k, `3`, time.Hour)
	e.wantHit(k, `3`)
}

func testExpireWall(t *testing.T, e *env) {
	ctx := context.Background()
	longer, shorter, marker := e.key("longer"), e.key("shorter"), e.key("marker")
	const first = 2 * time.Second
	// Expire must come before the first TTL ends; on a machine too slow for that, try again.
	for attempt := 1; ; attempt++ {
		e.set(longer, `"L"`, first)
		err := e.s.Expire(ctx, longer, time.Hour)
		if err == nil {
			break
		}
		if !errors.Is(err, backend.ErrNotFound) || attempt == 5 {
			t.Fatalf("Expire %s within its %v TTL: %v", e.short(longer), first, err)
		}
		t.Logf("Expire came after the %v TTL had passed; trying again", first)
	}
	// Written after longer with the same TTL: expires no earlier than longer's first TTL.
	e.set(marker, `"M"`, first)
	e.set(shorter, `"S"`, time.Hour)
	e.expire(shorter, shortTTL)
	e.eventuallyMiss(shorter)
	e.eventuallyMiss(marker)
	e.wantHit(longer, `"L"`) // past its first TTL, kept by Expire, value unchanged
	e.wantTTL(longer, time.Hour)
}

func testSubSecondTTLWall(t *testing.T, e *env) {
	ctx := context.Background()
	a, b := e.key("a"), e.key("b")
	start := time.Now()
	e.set(a, `1`, 1500*time.Millisecond)
	e.wantHitIfFresh(a, `1`, start, 1500*time.Millisecond)
	e.eventuallyMiss(a)

	start = time.Now()
	e.set(b, `2`, shortTTL)
	ttl, err := e.s.TTL(ctx, b)
	switch {
	case errors.Is(err, backend.ErrNotFound) && time.Since(start) >= shortTTL:
		// read after the TTL passed: a miss is right
	case err != nil || ttl <= 0 || ttl > shortTTL+time.Second:
		t.Errorf("TTL of a %v entry = %v, %v; want (0, %v]", shortTTL, ttl, err, shortTTL+time.Second)
	}
	e.eventuallyMiss(b)

	e.set(b, `3`, time.Hour)
	e.expire(b, 200*time.Millisecond)
	e.eventuallyMiss(b)
}

func testEntriesWall(t *testing.T, e *env) {
	ctx := context.Background()
	long, short, missing := e.key("long"), e.key("short"), e.key("missing")
	const shortLife = 2 * time.Second
	start := time.Now()
	e.set(long, `1`, time.Hour)
	e.set(short, `2`, shortLife)
	read := func() map[string]backend.Entry { return e.readEntries(long, short, missing, long) }
	m := read()
	elapsed := time.Since(start)
	if string(m[long].Value) != `1` || len(m) > 2 {
		t.Fatalf("ReadEntries = %v, want the two entries set", m)
	}
	if got := m[long].TTL; got < time.Hour-elapsed-time.Second || got > time.Hour+time.Second {
		t.Errorf("ReadEntries %s: TTL %v, want an hour less the %v since it was written (±1s)", e.short(long), got, elapsed)
	}
	switch en, ok := m[short]; {
	case !ok && elapsed < shortLife:
		t.Errorf("ReadEntries left out %s before its %v TTL could pass", e.short(short), shortLife)
	case ok && (string(en.Value) != `2` || en.TTL <= 0 || en.TTL > shortLife+time.Second):
		t.Errorf("ReadEntries %s = %q with TTL %v, want %q with (0, %v]", e.short(short), en.Value, en.TTL, `2`, shortLife+time.Second)
	}
	e.eventuallyMiss(short)
	if m := read(); len(m) != 1 || string(m[long].Value) != `1` {
		t.Errorf("ReadEntries after the short entry expired = %v, want only the long one", m)
	}
	if entries, err := backend.ReadEntries(ctx, e.s, nil); err != nil || len(entries) != 0 {
		t.Errorf("ReadEntries of no keys = %v, %v; want nothing", entries, err)
	}
}

// testEnvelopes checks that envelopes come back byte for byte on every read path, whether the
// Store keeps their bytes as they are or splits them into attributes (DynamoDB); and that
// bytes which only resemble an envelope come back as they are too.
func testEnvelopes(t *testing.T, e *env) {
	ctx := context.Background()
	fresh := time.Date(2030, 1, 2, 3, 5, 6, 789_000_000, time.UTC)
	lookalike := backend.Envelope{Value: []byte(`1`), FreshUntil: fresh}.Append(nil)
	lookalike[4] = 0x02 // a flag no envelope sets
	cases := map[string][]byte{
		"value":      backend.Envelope{Value: []byte(`{"city":"Zürich"}`), FreshUntil: fresh, LoadTime: 42 * time.Millisecond}.Append(nil),
		"tombstone":  backend.Envelope{FreshUntil: fresh, LoadTime: time.Second, NotFound: true}.Append(nil),
		"binary":     backend.Envelope{Value: []byte{0xff, 0x00, 0xfe}, FreshUntil: fresh}.Append(nil),
		"compressed": backend.Envelope{Value: compressed, FreshUntil: fresh, LoadTime: time.Millisecond}.Append(nil),
		"extremes":   backend.Envelope{Value: []byte(`"x"`), FreshUntil: time.UnixMilli(-1), LoadTime: (1<<32 - 1) * time.Millisecond}.Append(nil),
		"zero":       backend.Envelope{}.Append(nil),
		"lookalike":  lookalike,
		"truncated":  lookalike[:10],
	}
	var keys []string
	var batch []backend.Entry
	want := map[string][]byte{}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		v := cases[name]
		one, many := e.key("set/"+name), e.key("setmany/"+name)
		if err := e.s.Set(ctx, one, v, time.Minute); err != nil {
			t.Fatalf("Set %s envelope: %v", name, err)
		}
		batch = append(batch, backend.Entry{Key: many, Value: v, TTL: time.Minute})
		keys = append(keys, one, many)
		want[one], want[many] = v, v
	}
	if err := e.s.SetMany(ctx, batch); err != nil {
		t.Fatalf("SetMany of envelopes: %v", err)
	}
	for _, k := range keys {
		if got, err := e.s.Get(ctx, k); err != nil || !bytes.Equal(got, want[k]) {
			t.Errorf("Get %s = %x, %v; want %x", e.short(k), got, err, want[k])
		}
	}
	got, err := e.s.GetMany(ctx, keys)
	if err != nil || len(got) != len(keys) {
		t.Fatalf("GetMany of %d envelopes = %d entries, %v", len(keys), len(got), err)
	}
	for _, k := range keys {
		if !bytes.Equal(got[k], want[k]) {
			t.Errorf("GetMany[%s] = %x, want %x", e.short(k), got[k], want[k])
		}
	}
	// All at once, and one by one: a Store may read a single key another way.
	entries := e.readEntries(keys...)
	for _, k := range keys {
		for _, m := range []map[string]backend.Entry{entries, e.readEntries(k)} {
			if en, ok := m[k]; !ok || !bytes.Equal(en.Value, want[k]) {
				t.Errorf("ReadEntries %s = %x (found: %v), want %x", e.short(k), en.Value, ok, want[k])
			}
		}
	}
}

// ability returns the Store under test as an A, the interface of an optional ability, or
// skips the subtest for a Store without it. It asserts on the Store itself, as a caller must:
// a decorator has the ability only when it passes it on itself.
//
// Passing it on is not having it, though: a decorator that passes abilities on (tiered.Store,
// resilient.Breaker) has their methods by its method set, whatever the store it wraps, and
// over a store without the ability answers with an error wrapping errors.ErrUnsupported. The
// type assertion cannot tell, so ability also asks once, with try on a key of its own, which
// it deletes after, and skips on that answer: the ability is not there to check, and a
// decorator that says so has kept the contract. try is a call the rules accept, since a
// decorator may check a key or TTL before it looks for the ability. Any other error of try
// fails the subtest.
func ability[A any](e *env, try func(a A, key string) error) A {
	e.Helper()
	name := reflect.TypeFor[A]()
	a, ok := e.s.(A)
	if !ok {
		e.Skipf("the store, a %T, is not a %v", e.s, name)
	}
	k := e.key("ability")
	err := try(a, k)
	if errors.Is(err, errors.ErrUnsupported) {
		e.Skipf("the store, a %T, has the methods of a %v, but not the ability: %v", e.s, name, err)
	}
	if err != nil {
		e.Fatalf("trying the store's %v on %s: %v", name, e.short(k), err)
	}
	if err := e.s.Delete(context.Background(), k); err != nil {
		e.Fatalf("Delete %s: %v", e.short(k), err)
	}
	return a
}

// leaser returns the Store under test as a backend.Leaser, or skips the subtest for a Store
// without the ability (see ability).
func (e *env) leaser() backend.Leaser {
	e.Helper()
	return ability(e, func(l backend.Leaser, k string) error {
		_, err := l.Acquire(context.Background(), k, "cachetest", time.Minute)
		return err
	})
}

// acquire calls Acquire and fails unless it reports want.
func (e *env) acquire(l backend.Leaser, key, token string, ttl time.Duration, want bool) {
	e.Helper()
	if ok, err := l.Acquire(context.Background(), key, token, ttl); ok != want || err != nil {
		e.Fatalf("Acquire %s for %s = %v, %v; want %v, nil", e.short(key), token, ok, err, want)
	}
}

// release calls Release and fails unless it succeeds.
func (e *env) release(l backend.Leaser, key, token string) {
	e.Helper()
	if err := l.Release(context.Background(), key, token); err != nil {
		e.Fatalf("Release %s for %s: %v", e.short(key), token, err)
	}
}

func testLease(t *testing.T, e *env) {
	l := e.leaser()
	k := e.key("lease")
	e.acquire(l, k, "a", time.Minute, true)
	e.wantHit(k, "a") // the lease is an entry holding its token
	e.acquire(l, k, "b", time.Minute, false)
	e.acquire(l, k, "a", time.Minute, false) // not even for its holder
	e.wantValue(k, "a")
	e.release(l, k, "b")
	e.wantHit(k, "a")
	e.release(l, k, "a")
	e.wantMiss(k)
	e.release(l, k, "a") // nothing left to release
	e.acquire(l, k, "b", time.Minute, true)
	e.wantValue(k, "b")
	e.release(l, e.key("missing"), "a")
	e.wantMiss(e.key("missing"))

	// An entry that Set wrote is as good as a lease: Acquire leaves it.
	entry := e.key("entry")
	e.set(entry, `"v"`, time.Minute)
	e.acquire(l, entry, "a", time.Minute, false)
	e.release(l, entry, "a")
	e.wantHit(entry, `"v"`)
	e.wantCount(e.prefix, 2)
}

func testLeaseExpiry(t *testing.T, e *env) {
	l := e.leaser()
	k, sub, entry := e.key("lease"), e.key("sub-second"), e.key("entry")
	e.acquire(l, k, "a", 10*time.Second, true)
	e.clock.Advance(8 * time.Second)
	e.acquire(l, k, "b", time.Minute, false)
	e.clock.Advance(3 * time.Second) // past the TTL, and the second a backend may round it up by
	e.acquire(l, k, "b", time.Minute, true)
	e.release(l, k, "a") // the expired holder's release leaves the new holder's lease
	e.acquire(l, k, "c", time.Minute, false)
	e.wantValue(k, "b")

	e.acquire(l, sub, "a", 300*time.Millisecond, true)
	e.clock.Advance(1300 * time.Millisecond)
	e.acquire(l, sub, "b", time.Minute, true)

	e.expired(entry, `"v"`) // an expired entry counts as none, however late the backend removes it
	e.acquire(l, entry, "a", time.Minute, true)
	e.wantValue(entry, "a")
}

func testLeaseExpiryWall(t *testing.T, e *env) {
	l := e.leaser()
	k, entry := e.key("lease"), e.key("entry")
	start := time.Now()
	e.acquire(l, k, "a", shortTTL, true)
	ok, err := l.Acquire(context.Background(), k, "b", time.Hour)
	switch {
	case err != nil:
		t.Fatalf("Acquire %s: %v", e.short(k), err)
	case ok && time.Since(start) < shortTTL:
		t.Fatalf("Acquire %s succeeded before the %v lease could expire", e.short(k), shortTTL)
	case !ok:
		e.eventuallyAcquire(l, k, "b")
	}
	e.release(l, k, "a") // the expired holder's release leaves the new holder's lease
	e.acquire(l, k, "c", time.Minute, false)
	e.wantValue(k, "b")

	e.expired(entry, `"v"`) // an expired entry counts as none, however late the backend removes it
	e.acquire(l, entry, "a", time.Minute, true)
	e.wantValue(entry, "a")
}

// testLeaseConcurrent races holders for the same keys: one Acquire of each key wins, and the
// key holds the winner's token.
func testLeaseConcurrent(t *testing.T, e *env) {
	l := e.leaser()
	const holders, keys = 8, 5
	for i := range keys {
		k := e.key(fmt.Sprint("lease-", i))
		var mu sync.Mutex
		var winners []string
		var wg sync.WaitGroup
		for h := range holders {
			token := fmt.Sprint("holder-", h)
			wg.Go(func() {
				ok, err := l.Acquire(context.Background(), k, token, time.Minute)
				if err != nil {
					t.Errorf("Acquire %s: %v", e.short(k), err)
				}
				if ok {
					mu.Lock()
					winners = append(winners, token)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("%d holders raced for %s and %v acquired it, want exactly one", holders, e.short(k), winners)
		}
		e.wantValue(k, winners[0])
	}
}

// eventuallyAcquire waits, on a wall-clock store, until Acquire of key for token succeeds.
func (e *env) eventuallyAcquire(l backend.Leaser, key, token string) {
	e.Helper()
	start := time.Now()
	for {
		ok, err := l.Acquire(context.Background(), key, token, time.Hour)
		if err != nil {
			e.Fatalf("Acquire %s: %v", e.short(key), err)
		}
		if ok {
			break
		}
		if time.Since(start) > patience {
			e.Fatalf("Acquire %s still fails %v after the lease's TTL should have passed", e.short(key), patience)
		}
		time.Sleep(pollEvery)
	}
	e.Logf("%s was acquired again %v after the wait began", e.short(key), time.Since(start).Round(time.Millisecond))
}

// testLeaseRules checks that a lease takes the key and TTL rules of every write, and that a
// refused Acquire or Release writes nothing.
func testLeaseRules(t *testing.T, e *env) {
	l := e.leaser()
	k, held := e.key("k"), e.key("held")
	e.acquire(l, held, "a", time.Minute, true)
	longest := e.key("")
	longest += strings.Repeat("k", backend.MaxKeyLen-len(longest))
	for name, bad := range map[string]string{"empty": "", "over 1024 bytes": longest + "k", "invalid UTF-8": e.key("\xc3\x28")} {
		if ok, err := l.Acquire(context.Background(), bad, "a", time.Minute); ok || !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Acquire with an %s key = %v, %v; want false, ErrInvalidKey", name, ok, err)
		}
		if err := l.Release(context.Background(), bad, "a"); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Release with an %s key: %v, want ErrInvalidKey", name, err)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Nanosecond, -time.Hour, backend.MaxTTL + time.Second} {
		if ok, err := l.Acquire(context.Background(), k, "a", ttl); ok || !errors.Is(err, backend.ErrInvalidTTL) {
			t.Errorf("Acquire with TTL %v = %v, %v; want false, ErrInvalidTTL", ttl, ok, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := l.Acquire(ctx, k, "a", time.Minute); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with a cancelled context = %v, %v; want false, context.Canceled", ok, err)
	}
	if err := l.Release(ctx, held, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Release with a cancelled context: %v, want context.Canceled", err)
	}
	e.wantMiss(k)
	e.wantHit(held, "a")
	e.wantCount(e.prefix, 1)
	e.written[longest] = time.Now()
	e.acquire(l, longest, "a", backend.MaxTTL, true) // the limits themselves are accepted
	e.wantTTL(longest, backend.MaxTTL)
}

func testLeaseClosed(t *testing.T, e *env) {
	l := e.leaser()
	k := e.key("k")
	e.acquire(l, k, "a", time.Minute, true)
	if err := e.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ok, err := l.Acquire(context.Background(), e.key("other"), "a", time.Minute); ok || !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Acquire after Close = %v, %v; want false, ErrClosed", ok, err)
	}
	if err := l.Release(context.Background(), k, "a"); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("Release after Close: %v, want ErrClosed", err)
	}
}

// counter returns the Store under test as a backend.Counter, or skips the subtest for a Store
// without the ability (see ability). A decorator counts through its own Incr, which must keep
// what it serves in step with the counts, or not at all.
func (e *env) counter() backend.Counter {
	e.Helper()
	return ability(e, func(c backend.Counter, k string) error {
		_, err := c.Incr(context.Background(), k, 0, time.Minute)
		return err
	})
}

// incr calls Incr and fails unless it returns want.
func (e *env) incr(c backend.Counter, key string, delta int64, ttl time.Duration, want int64) {
	e.Helper()
	if n, err := c.Incr(context.Background(), key, delta, ttl); n != want || err != nil {
		e.Fatalf("Incr %s by %d = %d, %v; want %d, nil", e.short(key), delta, n, err, want)
	}
}

func testCounter(t *testing.T, e *env) {
	c := e.counter()
	k, zero := e.key("count"), e.key("zero")
	e.written[k] = time.Now()
	e.incr(c, k, 5, time.Minute, 5) // created at zero, then added to
	e.wantHit(k, `5`)               // a counter is an entry holding its decimal digits
	e.wantTTL(k, time.Minute)
	e.incr(c, k, 0, time.Minute, 5)
	e.incr(c, k, -7, time.Minute, -2)
	e.incr(c, k, 1, time.Minute, -1)
	e.wantHit(k, `-1`)
	if m := e.readEntries(k); string(m[k].Value) != `-1` {
		t.Errorf("ReadEntries %s = %q, want %q", e.short(k), m[k].Value, `-1`)
	}
	e.incr(c, zero, 0, time.Minute, 0) // a zero delta creates the counter too
	e.wantHit(zero, `0`)
	e.wantCount(e.prefix, 2)

	// The extremes of int64 are counts like any other.
	top, bottom := e.key("top"), e.key("bottom")
	e.incr(c, top, math.MaxInt64, time.Minute, math.MaxInt64)
	e.wantValue(top, "9223372036854775807")
	e.incr(c, bottom, math.MinInt64, time.Minute, math.MinInt64)
	e.incr(c, bottom, 0, time.Minute, math.MinInt64)
	e.wantValue(bottom, "-9223372036854775808")

	// A deleted counter starts again from zero.
	if err := e.s.Delete(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	e.incr(c, k, 3, time.Minute, 3)
	e.wantValue(k, `3`)
}

// testCounterExpiry checks that a counter keeps the TTL it was created with, however it is
// incremented, and starts again from zero once that TTL has passed, however late the backend
// removes it; and that an expired entry of any kind counts as none.
func testCounterExpiry(t *testing.T, e *env) {
	c := e.counter()
	k, sub, entry := e.key("count"), e.key("sub-second"), e.key("entry")
	e.incr(c, k, 1, 10*time.Second, 1)
	e.clock.Advance(8 * time.Second)
	e.incr(c, k, 1, time.Hour, 2) // the TTL given to an increment is not the counter's
	e.wantTTL(k, 2*time.Second)
	e.clock.Advance(3 * time.Second) // past the TTL, and the second a backend may round it up by
	e.wantMiss(k)
	e.incr(c, k, 1, time.Minute, 1) // starts again from zero, with its own TTL
	e.wantTTL(k, time.Minute)
	e.wantHit(k, `1`)

	e.incr(c, sub, 5, 300*time.Millisecond, 5)
	e.clock.Advance(1300 * time.Millisecond)
	e.incr(c, sub, 5, time.Minute, 5)

	e.expired(entry, `"v"`) // an expired entry counts as none, whatever its value
	e.incr(c, entry, 2, time.Minute, 2)
	e.wantValue(entry, `2`)
}

func testCounterExpiryWall(t *testing.T, e *env) {
	c := e.counter()
	k, entry := e.key("count"), e.key("entry")
	start := time.Now()
	e.incr(c, k, 1, shortTTL, 1)
	// Increments with a long TTL do not keep the counter past its own: it starts again.
	for want := int64(2); ; want++ {
		n, err := c.Incr(context.Background(), k, 1, time.Hour)
		if err != nil {
			t.Fatalf("Incr %s: %v", e.short(k), err)
		}
		if n == 1 {
			break
		}
		if n != want {
			t.Fatalf("Incr %s = %d, want %d, or 1 once its %v TTL has passed", e.short(k), n, want, shortTTL)
		}
		if time.Since(start) > patience {
			t.Fatalf("Incr %s still counts on %v after its %v TTL should have passed", e.short(k), patience, shortTTL)
		}
		time.Sleep(pollEvery)
	}
	if time.Since(start) < shortTTL {
		t.Fatalf("Incr %s started again from zero before its %v TTL could pass", e.short(k), shortTTL)
	}
	e.written[k] = time.Now()
	e.wantTTL(k, time.Hour) // the TTL of the Incr that created it again

	e.expired(entry, `"v"`) // an expired entry counts as none, however late the backend removes it
	e.incr(c, entry, 2, time.Minute, 2)
	e.wantValue(entry, `2`)
}

// testCounterConcurrent races increments of one key: none is lost or counted twice, so the
// counts returned are exactly 1 to the number of increments, once each.
func testCounterConcurrent(t *testing.T, e *env) {
	c := e.counter()
	const workers, rounds = 8, 100
	k := e.key("count")
	got := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				n, err := c.Incr(context.Background(), k, 1, time.Minute)
				if err != nil {
					t.Errorf("Incr %s: %v", e.short(k), err)
					return
				}
				got[w] = append(got[w], n)
			}
		})
	}
	wg.Wait()
	all := slices.Sorted(slices.Values(slices.Concat(got...)))
	for i, n := range all {
		if n != int64(i+1) {
			t.Fatalf("the %d increments returned %v…, want each of 1 to %d once", len(all), all[max(0, i-2):min(len(all), i+3)], workers*rounds)
		}
	}
	e.wantValue(k, fmt.Sprint(workers*rounds))
}

// testCounterNotACounter checks that Incr reports ErrNotCounter for an entry that is not a
// counter, or one the increment would take past int64, and leaves it as it was.
func testCounterNotACounter(t *testing.T, e *env) {
	c := e.counter()
	ctx := context.Background()
	for name, v := range map[string]string{
		"text":         `"ten"`,
		"JSON string":  `"10"`,
		"fraction":     `1.5`,
		"exponent":     `1e3`,
		"object":       `{"n":1}`,
		"binary":       "\xff\x00",
		"int64 + 1":    "9223372036854775808",
		"empty":        ``,
		"leading zero": `007`,
		"plus sign":    `+7`,
	} {
		k := e.key(name)
		e.set(k, v, time.Minute)
		if n, err := c.Incr(ctx, k, 1, time.Hour); !errors.Is(err, backend.ErrNotCounter) {
			t.Errorf("Incr of %s %q = %d, %v; want ErrNotCounter", name, v, n, err)
		}
		e.wantHit(k, v)
		e.wantTTL(k, time.Minute)
	}
	top, bottom := e.key("top"), e.key("bottom")
	e.written[top], e.written[bottom] = time.Now(), time.Now()
	e.incr(c, top, math.MaxInt64-1, time.Minute, math.MaxInt64-1)
	e.incr(c, bottom, math.MinInt64+1, time.Minute, math.MinInt64+1)
	for _, tc := range []struct {
		key   string
		delta int64
		want  string
	}{
		{top, 2, "9223372036854775806"},
		{top, math.MaxInt64, "9223372036854775806"},
		{bottom, -2, "-9223372036854775807"},
		{bottom, math.MinInt64, "-9223372036854775807"},
	} {
		if n, err := c.Incr(ctx, tc.key, tc.delta, time.Minute); !errors.Is(err, backend.ErrNotCounter) {
			t.Errorf("Incr of %s by %d = %d, %v; want ErrNotCounter for the overflow", tc.want, tc.delta, n, err)
		}
		e.wantHit(tc.key, tc.want)
	}
	e.incr(c, top, 1, time.Minute, math.MaxInt64) // up to the limit itself
	e.incr(c, bottom, -1, time.Minute, math.MinInt64)
	e.wantTTL(top, time.Minute)
}

// testCounterRules checks that Incr takes the key and TTL rules of every write, and that a
// refused Incr writes nothing.
func testCounterRules(t *testing.T, e *env) {
	c := e.counter()
	k, kept := e.key("k"), e.key("kept")
	e.written[kept] = time.Now()
	e.incr(c, kept, 1, time.Minute, 1)
	longest := e.key("")
	longest += strings.Repeat("k", backend.MaxKeyLen-len(longest))
	for name, bad := range map[string]string{"empty": "", "over 1024 bytes": longest + "k", "invalid UTF-8": e.key("\xc3\x28")} {
		if n, err := c.Incr(context.Background(), bad, 1, time.Minute); n != 0 || !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Incr with an %s key = %d, %v; want 0, ErrInvalidKey", name, n, err)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Nanosecond, -time.Hour, backend.MaxTTL + time.Second} {
		for _, key := range []string{k, kept} {
			if n, err := c.Incr(context.Background(), key, 1, ttl); n != 0 || !errors.Is(err, backend.ErrInvalidTTL) {
				t.Errorf("Incr %s with TTL %v = %d, %v; want 0, ErrInvalidTTL", e.short(key), ttl, n, err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := c.Incr(ctx, kept, 1, time.Minute); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Incr with a cancelled context = %d, %v; want 0, context.Canceled", n, err)
	}
	e.wantMiss(k)
	e.wantHit(kept, `1`)
	e.wantTTL(kept, time.Minute)
	e.wantCount(e.prefix, 1)
	e.written[longest] = time.Now()
	e.incr(c, longest, 1, backend.MaxTTL, 1) // the limits themselves are accepted
	e.wantTTL(longest, backend.MaxTTL)
}

func testCounterClosed(t *testing.T, e *env) {
	c := e.counter()
	k := e.key("k")
	e.incr(c, k, 1, time.Minute, 1)
	if err := e.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, key := range []string{k, e.key("other")} {
		if n, err := c.Incr(context.Background(), key, 1, time.Minute); n != 0 || !errors.Is(err, backend.ErrClosed) {
			t.Errorf("Incr %s after Close = %d, %v; want 0, ErrClosed", e.short(key), n, err)
		}
	}
}
