package cachekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
)

func TestMain(m *testing.M) {
	// The process-wide Cache lives as long as the process; close it before looking for leaks.
	testenv.VerifyNoLeaks(m, func() { _ = cacheenv.Default().Close() })
}

// newCache returns a Cache over a fresh memstore that reads clock, closed when the test ends.
func newCache(t *testing.T, clock *cachetest.Clock, opts cachekit.Options) *cachekit.Cache {
	t.Helper()
	mopts := memstore.Options{}
	if clock != nil {
		mopts.Clock = clock
	}
	s, err := memstore.New(mopts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cachekit.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type geo struct {
	City    string   `json:"city"`
	Country string   `json:"country"`
	Tags    []string `json:"tags,omitempty"`
}

func TestPrefixIsolatesCachesSharingAStore(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{Prefix: "CACHE#"})
	a := cachekit.Typed[string](c, "a:", 0)
	b := cachekit.Typed[string](c, "b:", 0)
	if err := a.Set(ctx, "k", "from a", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "k", "from b", 0); err != nil {
		t.Fatal(err)
	}
	for view, want := range map[*cachekit.View[string]]string{a: "from a", b: "from b"} {
		if got, err := view.Get(ctx, "k"); err != nil || got != want {
			t.Errorf("%s Get = %q, %v; want %q", view.Prefix(), got, err, want)
		}
	}
	// The Store sees whole keys with the prefixes applied.
	raw, err := c.Store().Get(ctx, "CACHE#a:k")
	if err != nil || string(raw) != `"from a"` {
		t.Errorf("Store Get CACHE#a:k = %q, %v; want the JSON text", raw, err)
	}
	if n, err := a.Clear(ctx); err != nil || n != 1 {
		t.Errorf("a.Clear = %d, %v; want 1", n, err)
	}
	if _, err := a.Get(ctx, "k"); !errors.Is(err, cachekit.ErrNotFound) {
		t.Errorf("a Get after Clear: %v, want ErrNotFound", err)
	}
	if got, err := b.Get(ctx, "k"); err != nil || got != "from b" {
		t.Errorf("b Get after a.Clear = %q, %v; want it untouched", got, err)
	}
}

func TestGetManyIsKeyedByCallerKeys(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{Prefix: "CACHE#geo:"})
	geos := cachekit.Typed[geo](c, "", 0)
	want := map[string]geo{"1.1.1.1": {City: "Sydney"}, "8.8.8.8": {City: "Mountain View"}}
	if err := geos.SetMany(ctx, want, 0); err != nil {
		t.Fatal(err)
	}
	got, err := geos.GetMany(ctx, []string{"8.8.8.8", "9.9.9.9", "1.1.1.1", "8.8.8.8"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["1.1.1.1"].City != "Sydney" || got["8.8.8.8"].City != "Mountain View" {
		t.Errorf("GetMany = %v, want %v", got, want)
	}
	// The duplicate key is read once; the Cache counts its view's reads and its own.
	if st, _ := geos.Stats(ctx); st.Hits != 2 || st.Misses != 1 {
		t.Errorf("view Stats hits/misses = %d/%d, want 2/1", st.Hits, st.Misses)
	}
	if st, _ := c.Stats(ctx); st.Hits != 2 || st.Misses != 1 {
		t.Errorf("Cache Stats hits/misses = %d/%d, want its view's 2/1", st.Hits, st.Misses)
	}
}

// TestCallerCannotChangeCachedValues mutates everything it passed in or got back.
func TestCallerCannotChangeCachedValues(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{})
	bs := cachekit.Typed[[]byte](c, "bytes:", 0)
	raw := cachekit.Typed[json.RawMessage](c, "raw:", 0)
	geos := cachekit.Typed[geo](c, "geo:", 0)

	in := []byte("original")
	inRaw := json.RawMessage(`{"a":1}`)
	inGeo := geo{City: "Oslo", Tags: []string{"north"}}
	if err := bs.Set(ctx, "k", in, 0); err != nil {
		t.Fatal(err)
	}
	if err := raw.Set(ctx, "k", inRaw, 0); err != nil {
		t.Fatal(err)
	}
	if err := geos.SetMany(ctx, map[string]geo{"k": inGeo}, 0); err != nil {
		t.Fatal(err)
	}
	copy(in, "XXXXXXXX")
	copy(inRaw, `{"b":2}`)
	inGeo.Tags[0] = "south"

	out, _ := bs.Get(ctx, "k")
	out[0] = 'Y'
	outRaw, _ := raw.Get(ctx, "k")
	outRaw[2] = 'z'
	outGeo, _ := geos.GetOrLoad(ctx, "k", func(context.Context, string) (geo, error) { return geo{}, errors.New("not called") })
	outGeo.Tags[0] = "east"

	if got, _ := bs.Get(ctx, "k"); string(got) != "original" {
		t.Errorf("[]byte value = %q, want original", got)
	}
	if got, _ := raw.Get(ctx, "k"); string(got) != `{"a":1}` {
		t.Errorf("RawMessage value = %s, want {\"a\":1}", got)
	}
	if got, _ := geos.Get(ctx, "k"); got.Tags[0] != "north" {
		t.Errorf("struct value tags = %v, want [north]", got.Tags)
	}
}

func TestTTLDefaultsAndRules(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock(time.Unix(1_800_000_000, 0))
	c := newCache(t, clock, cachekit.Options{TTL: 10 * time.Minute})
	cv := cachekit.Typed[int](c, "", 0)
	short := cachekit.Typed[int](c, "short:", time.Minute)
	if err := cv.Set(ctx, "k", 1, 0); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := cv.TTL(ctx, "k"); ttl != 10*time.Minute {
		t.Errorf("TTL of a write with zero TTL = %v, want the Cache's 10m", ttl)
	}
	if err := short.Set(ctx, "k", 1, 0); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := short.TTL(ctx, "k"); ttl != time.Minute {
		t.Errorf("TTL in a view with 1m = %v, want 1m", ttl)
	}
	if err := short.Expire(ctx, "k", 0); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	if ttl, _ := short.TTL(ctx, "k"); ttl != 30*time.Second {
		t.Errorf("TTL after Expire(0) and 30s = %v, want 30s", ttl)
	}
	for _, ttl := range []time.Duration{-time.Second, cachekit.MaxTTL + 1} {
		if err := cv.Set(ctx, "k", 2, ttl); !errors.Is(err, cachekit.ErrInvalidTTL) {
			t.Errorf("Set with TTL %v: %v, want ErrInvalidTTL", ttl, err)
		}
		if err := cv.Expire(ctx, "k", ttl); !errors.Is(err, cachekit.ErrInvalidTTL) {
			t.Errorf("Expire with TTL %v: %v, want ErrInvalidTTL", ttl, err)
		}
		if err := cv.SetMany(ctx, map[string]int{"k": 2}, ttl); !errors.Is(err, cachekit.ErrInvalidTTL) {
			t.Errorf("SetMany with TTL %v: %v, want ErrInvalidTTL", ttl, err)
		}
	}
	if v, err := cv.Get(ctx, "k"); err != nil || v != 1 {
		t.Errorf("Get after refused writes = %d, %v; want the first value", v, err)
	}
	if err := cv.Expire(ctx, "missing", time.Minute); !errors.Is(err, cachekit.ErrNotFound) {
		t.Errorf("Expire of a missing key: %v, want ErrNotFound", err)
	}
	if ok, _ := cv.Has(ctx, "missing"); ok {
		t.Error("Expire created an entry")
	}
	clock.Advance(10 * time.Minute)
	if ok, err := cv.Has(ctx, "k"); ok || err != nil {
		t.Errorf("Has after the TTL = %v, %v; want false", ok, err)
	}
}

func TestKeyRules(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{Prefix: "CACHE#"})
	cv := cachekit.Typed[int](c, "", 0)
	longest := strings.Repeat("k", cachekit.MaxKeyLen-len("CACHE#"))
	if err := cv.Set(ctx, longest, 1, 0); err != nil {
		t.Errorf("Set with a key of exactly MaxKeyLen bytes with its prefix: %v", err)
	}
	for name, key := range map[string]string{"empty": "", "too long": longest + "k", "bad UTF-8": "\xff"} {
		if err := cv.Set(ctx, key, 1, 0); !errors.Is(err, cachekit.ErrInvalidKey) {
			t.Errorf("Set with an %s key: %v, want ErrInvalidKey", name, err)
		}
		if _, err := cv.Get(ctx, key); !errors.Is(err, cachekit.ErrInvalidKey) {
			t.Errorf("Get with an %s key: %v, want ErrInvalidKey", name, err)
		}
		if err := cv.SetMany(ctx, map[string]int{"fine": 1, key: 2}, 0); !errors.Is(err, cachekit.ErrInvalidKey) {
			t.Errorf("SetMany with an %s key: %v, want ErrInvalidKey", name, err)
		}
		if err := cv.DeleteMany(ctx, "fine", key); !errors.Is(err, cachekit.ErrInvalidKey) {
			t.Errorf("DeleteMany with an %s key: %v, want ErrInvalidKey", name, err)
		}
		if strings.Contains(fmt.Sprint(cv.Set(ctx, key, 1, 0)), "kkkk") {
			t.Error("an error message quotes the key")
		}
	}
	if ok, _ := cv.Has(ctx, "fine"); ok {
		t.Error("SetMany wrote part of a batch that had an invalid key")
	}
}

func TestCodec(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{Codec: upperCodec{}})
	cv := cachekit.Typed[string](c, "", 0)
	if err := cv.Set(ctx, "k", "hello", 0); err != nil {
		t.Fatal(err)
	}
	if raw, _ := c.Store().Get(ctx, "CACHE#k"); string(raw) != "HELLO" {
		t.Errorf("stored %q, want the custom codec's HELLO", raw)
	}
	if s, err := cv.Get(ctx, "k"); err != nil || s != "hello" {
		t.Errorf("Get = %q, %v", s, err)
	}

	j := newCache(t, nil, cachekit.Options{})
	jv := cachekit.Typed[any](j, "", 0)
	if err := jv.Set(ctx, "bad", make(chan int), 0); !errors.Is(err, cachekit.ErrEncode) {
		t.Errorf("Set of a channel: %v, want ErrEncode", err)
	}
	if ok, _ := jv.Has(ctx, "bad"); ok {
		t.Error("a value that could not be encoded was written")
	}
	if err := jv.Set(ctx, "str", "text", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := cachekit.Typed[int](j, "", 0).Get(ctx, "str"); !errors.Is(err, cachekit.ErrDecode) {
		t.Errorf("Get of a string into an int: %v, want ErrDecode", err)
	}
}

// upperCodec stores strings upper-cased, to show that the Cache uses the codec it is given.
type upperCodec struct{}

func (upperCodec) Marshal(v any) ([]byte, error) { return []byte(strings.ToUpper(v.(string))), nil }
func (upperCodec) Unmarshal(data []byte, v any) error {
	*v.(*string) = strings.ToLower(string(data))
	return nil
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{})
	cv := cachekit.Typed[int](c, "", 0)
	v := cachekit.Typed[int](c, "v:", 0)
	_ = cv.Set(ctx, "a", 1, 0)
	_ = v.SetMany(ctx, map[string]int{"x": 1, "y": 2}, 0)
	_, _ = cv.Get(ctx, "a")
	_, _ = cv.Get(ctx, "b")
	_, _ = v.Get(ctx, "x")
	_ = v.Delete(ctx, "y")
	_ = cv.Set(ctx, "", 1, 0)

	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := cachekit.Stats{Prefix: "CACHE#", Hits: 2, Misses: 1, Sets: 3, Deletes: 1, Errors: 1, Keys: 2, HitRatio: 2.0 / 3}
	wantView := cachekit.Stats{Prefix: "CACHE#v:", Hits: 1, Sets: 2, Deletes: 1, Keys: 1, HitRatio: 1}
	// Latency: one observation per Store call (the invalid key made none), the view's in
	// its Cache's too.
	check := func(what string, got, want cachekit.Stats, reads, writes uint64) {
		t.Helper()
		if n := got.ReadLatency.Count(); n != reads {
			t.Errorf("%s: %d read latencies, want %d", what, n, reads)
		}
		if n := got.WriteLatency.Count(); n != writes {
			t.Errorf("%s: %d write latencies, want %d", what, n, writes)
		}
		got.ReadLatency, got.WriteLatency = cachekit.Histogram{}, cachekit.Histogram{}
		if got != want {
			t.Errorf("%s = %+v\nwant %+v", what, got, want)
		}
	}
	check("Cache Stats", st, want, 3, 3)
	vst, _ := v.Stats(ctx)
	check("view Stats", vst, wantView, 1, 2)
	// Counters gives the same counters without asking the Store, which a closed one would refuse.
	c.Store().Close()
	want.Keys, wantView.Keys = -1, -1
	check("Cache Counters", c.Counters(), want, 3, 3)
	check("view Counters", v.Counters(), wantView, 1, 2)
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	s, _ := memstore.New(memstore.Options{})
	c, _ := cachekit.New(s, cachekit.Options{})
	cv := cachekit.Typed[int](c, "", 0)
	v := cachekit.Typed[int](c, "v:", 0)
	_ = cv.Set(ctx, "k", 1, 0)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Get(ctx, "CACHE#k"); !errors.Is(err, cachekit.ErrClosed) {
		t.Errorf("the Store after Cache.Close: %v, want ErrClosed", err)
	}
	if _, err := cv.Get(ctx, "k"); !errors.Is(err, cachekit.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := v.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 1, nil }); !errors.Is(err, cachekit.ErrClosed) {
		t.Errorf("GetOrLoad after Close: %v, want ErrClosed", err)
	}
	if _, err := c.SetStore(s); !errors.Is(err, cachekit.ErrClosed) {
		t.Errorf("SetStore after Close: %v, want ErrClosed", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	s, _ := memstore.New(memstore.Options{})
	defer s.Close()
	for name, opts := range map[string]cachekit.Options{
		"negative TTL":    {TTL: -time.Second},
		"prefix too long": {Prefix: strings.Repeat("p", cachekit.MaxKeyLen)},
		"bad UTF-8":       {Prefix: "\xff"},
	} {
		if _, err := cachekit.New(s, opts); !errors.Is(err, cachekit.ErrConfig) {
			t.Errorf("New with %s: %v, want ErrConfig", name, err)
		}
	}
	if _, err := cachekit.New(nil, cachekit.Options{}); !errors.Is(err, cachekit.ErrConfig) {
		t.Errorf("New with a nil Store: %v, want ErrConfig", err)
	}
	c, _ := cachekit.New(s, cachekit.Options{})
	bad := cachekit.Typed[int](c, "\xff", 0)
	if err := bad.Set(context.Background(), "k", 1, 0); !errors.Is(err, cachekit.ErrConfig) {
		t.Errorf("Set on a view with a bad prefix: %v, want ErrConfig", err)
	}
	negative := cachekit.Typed[int](c, "n:", -time.Second)
	if _, err := negative.Get(context.Background(), "k"); !errors.Is(err, cachekit.ErrConfig) {
		t.Errorf("Get on a view with a negative TTL: %v, want ErrConfig", err)
	}
}

// TestSetStoreUnderLoad swaps the Store while goroutines use the Cache; the race detector and
// the absence of errors other than misses are the assertions.
func TestSetStoreUnderLoad(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{})
	v := cachekit.Typed[int](c, "", 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprint(i % 16)
				if err := v.Set(ctx, key, w, 0); err != nil {
					errs <- err
					return
				}
				if _, err := v.Get(ctx, key); err != nil && !errors.Is(err, cachekit.ErrNotFound) {
					errs <- err
					return
				}
			}
		})
	}
	var olds []cachekit.Store
	for range 50 {
		s, _ := memstore.New(memstore.Options{})
		old, err := c.SetStore(s)
		if err != nil {
			t.Fatal(err)
		}
		olds = append(olds, old)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range olds {
		_ = s.Close()
	}
	if err := v.Set(ctx, "after", 1, 0); err != nil {
		t.Errorf("Set after the swaps: %v", err)
	}
	if _, err := c.Store().Get(ctx, "CACHE#after"); err != nil {
		t.Errorf("the write did not reach the Store now in use: %v", err)
	}
}
