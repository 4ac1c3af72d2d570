package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testenv"
)

// square is a batch source: each key's value is its number squared; keys above 100 are not
// in it. It records every call.
type square struct {
	mu    sync.Mutex
	calls [][]string
	err   error
	gate  chan struct{} // when set, calls wait for it to close
}

func (s *square) load(ctx context.Context, keys []string) (map[string]int, error) {
	s.mu.Lock()
	s.calls = append(s.calls, slices.Sorted(slices.Values(keys)))
	gate, err := s.gate, s.err
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, k := range keys {
		if n, _ := strconv.Atoi(k); n <= 100 {
			out[k] = n * n
		}
	}
	return out, nil
}

func (s *square) asked() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func TestGetManyOrLoadLoadsTheMissingKeysInOneCall(t *testing.T) {
	ctx := context.Background()
	v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "sq:", 0)
	if err := v.Set(ctx, "2", 4, 0); err != nil {
		t.Fatal(err)
	}
	src := &square{}
	got, err := v.GetManyOrLoad(ctx, []string{"1", "2", "3", "3", "500"}, src.load)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"1": 1, "2": 4, "3": 9}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GetManyOrLoad = %v, want %v (500 is not in the source)", got, want)
	}
	if calls := src.asked(); len(calls) != 1 || !slices.Equal(calls[0], []string{"1", "3", "500"}) {
		t.Errorf("the loader was asked %v; want one call with the missing keys 1, 3 and 500", calls)
	}
	// The loaded values are stored; a key the source lacks is asked again, alone.
	got, err = v.GetManyOrLoad(ctx, []string{"1", "2", "3", "500"}, src.load)
	if err != nil || len(got) != 3 {
		t.Fatalf("second GetManyOrLoad = %v, %v", got, err)
	}
	if calls := src.asked(); len(calls) != 2 || !slices.Equal(calls[1], []string{"500"}) {
		t.Errorf("the loader was asked %v; want a second call with 500 alone", calls)
	}
	if st := v.Counters(); st.Loads != 2 || st.Sets != 3 {
		t.Errorf("Counters = %d loads, %d sets; want 2 loads, and 3 sets: the first Set and the 2 values loaded", st.Loads, st.Sets)
	}
	// A loader's error reaches the caller and is not cached.
	src.err = errors.New("source down")
	if _, err := v.GetManyOrLoad(ctx, []string{"7"}, src.load); !errors.Is(err, src.err) {
		t.Errorf("GetManyOrLoad with a failing loader: %v, want its error", err)
	}
	src.err = nil
	if got, err := v.GetManyOrLoad(ctx, []string{"7"}, src.load); err != nil || got["7"] != 49 {
		t.Errorf("GetManyOrLoad after the failure = %v, %v; want 49 loaded", got, err)
	}
	if _, err := v.GetManyOrLoad(ctx, []string{"1", ""}, src.load); !errors.Is(err, cachekit.ErrInvalidKey) {
		t.Errorf("GetManyOrLoad with an empty key: %v, want ErrInvalidKey", err)
	}
}

// TestGetManyOrLoadSharesLoadsUnderWay: keys another caller is loading (one by GetOrLoad,
// others by GetManyOrLoad) are waited for, not loaded again; a caller that gives up returns
// at once while the load goes on for the others.
func TestGetManyOrLoadSharesLoadsUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "sq:", 0)
		src := &square{gate: make(chan struct{})}
		one := make(chan result, 1)
		go func() {
			n, err := v.GetOrLoad(ctx, "4", func(ctx context.Context, k string) (int, error) {
				m, err := src.load(ctx, []string{k})
				return m[k], err
			})
			one <- result{n, err}
		}()
		synctest.Wait()
		many := make(chan map[string]int, 2)
		for range 2 {
			go func() {
				got, err := v.GetManyOrLoad(ctx, []string{"4", "5", "6"}, src.load)
				if err != nil {
					t.Error(err)
				}
				many <- got
			}()
		}
		synctest.Wait()
		impatient, cancel := context.WithCancel(ctx)
		gaveUp := make(chan error, 1)
		go func() {
			_, err := v.GetManyOrLoad(impatient, []string{"5", "6"}, src.load)
			gaveUp <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-gaveUp; !errors.Is(err, context.Canceled) {
			t.Errorf("a caller that gave up: %v, want context.Canceled", err)
		}
		close(src.gate)
		if r := <-one; r.err != nil || r.v != 16 {
			t.Errorf("GetOrLoad = %d, %v; want 16", r.v, r.err)
		}
		for range 2 {
			if got := <-many; fmt.Sprint(got) != fmt.Sprint(map[string]int{"4": 16, "5": 25, "6": 36}) {
				t.Errorf("GetManyOrLoad = %v", got)
			}
		}
		calls := src.asked()
		slices.SortFunc(calls, slices.Compare)
		if fmt.Sprint(calls) != fmt.Sprint([][]string{{"4"}, {"5", "6"}}) {
			t.Errorf("the source was asked %v; want 4 once by GetOrLoad and 5, 6 once together", calls)
		}
	})
}

// TestGetManyOrLoadOncePerKeyOnRealBackends: 16 goroutines ask for overlapping batches of 30
// keys; every key is loaded once.
func TestGetManyOrLoadOncePerKeyOnRealBackends(t *testing.T) {
	for name, open := range realStores() {
		t.Run(name, func(t *testing.T) {
			c, err := cachekit.New(open(t), cachekit.Options{Prefix: testenv.Name("CACHE#many") + ":"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = c.Clear(context.Background())
				_ = c.Close()
			})
			v := cachekit.Typed[int](c, "", 0)
			var loads [30]atomic.Int32
			load := func(ctx context.Context, keys []string) (map[string]int, error) {
				out := map[string]int{}
				for _, k := range keys {
					i, _ := strconv.Atoi(k)
					loads[i].Add(1)
					out[k] = i * i
				}
				return out, nil
			}
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					var keys []string
					for j := range 10 {
						keys = append(keys, strconv.Itoa((g*3+j)%30))
					}
					got, err := v.GetManyOrLoad(context.Background(), keys, load)
					if err != nil || len(got) != len(keys) {
						t.Errorf("GetManyOrLoad = %d values, %v; want %d", len(got), err, len(keys))
					}
				})
			}
			wg.Wait()
			for i := range loads {
				if n := loads[i].Load(); n != 1 {
					t.Errorf("key %d loaded %d times, want once", i, n)
				}
			}
		})
	}
}

// TestBatchKeyIsNotLoadedTwiceWhenItsCallerGivesUp: X loads a and b in one batch and gives
// up while Y still waits for a. The batch goes on for Y, so a GetOrLoad of b meanwhile joins
// it rather than loading b a second time beside it.
func TestBatchKeyIsNotLoadedTwiceWhenItsCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "sq:", 0)
		src := &square{gate: make(chan struct{})}
		single := func(ctx context.Context, k string) (int, error) {
			m, err := src.load(ctx, []string{k})
			return m[k], err
		}
		xctx, giveUp := context.WithCancel(ctx)
		x := make(chan error, 1)
		go func() { _, err := v.GetManyOrLoad(xctx, []string{"1", "2"}, src.load); x <- err }()
		synctest.Wait()
		y := make(chan result, 1)
		go func() { n, err := v.GetOrLoad(ctx, "1", single); y <- result{n, err} }()
		synctest.Wait()
		giveUp()
		if err := <-x; !errors.Is(err, context.Canceled) {
			t.Errorf("X, who gave up: %v, want context.Canceled", err)
		}
		z := make(chan result, 1)
		go func() { n, err := v.GetOrLoad(ctx, "2", single); z <- result{n, err} }()
		synctest.Wait()
		close(src.gate)
		if r := <-y; r.err != nil || r.v != 1 {
			t.Errorf("Y = %d, %v; want 1", r.v, r.err)
		}
		if r := <-z; r.err != nil || r.v != 4 {
			t.Errorf("Z = %d, %v; want 4", r.v, r.err)
		}
		if calls := src.asked(); len(calls) != 1 {
			t.Errorf("the source was asked %v; want one batch of 1 and 2, which Y and Z shared", calls)
		}
	})
}

// TestGetOrLoadLoadsAKeyTheJoinedBatchLacked: a GetOrLoad that joins a batch whose source has
// no such key runs its own loader, rather than returning nothing.
func TestGetOrLoadLoadsAKeyTheJoinedBatchLacked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "sq:", 0)
		src := &square{gate: make(chan struct{})}
		go func() { _, _ = v.GetManyOrLoad(ctx, []string{"500"}, src.load) }() // 500 is not in it
		synctest.Wait()
		y := make(chan result, 1)
		go func() {
			n, err := v.GetOrLoad(ctx, "500", func(context.Context, string) (int, error) { return 7, nil })
			y <- result{n, err}
		}()
		synctest.Wait()
		close(src.gate)
		if r := <-y; r.err != nil || r.v != 7 {
			t.Errorf("GetOrLoad after a batch that lacked the key = %d, %v; want 7 from its own loader", r.v, r.err)
		}
	})
}

// TestInvalidCacheReportsItsErrorOnLoads: GetOrLoad and GetManyOrLoad on a Cache from Invalid
// report its error and never reach a loader.
func TestInvalidCacheReportsItsErrorOnLoads(t *testing.T) {
	boom := errors.New("boom")
	v := cachekit.Typed[int](cachekit.Invalid(boom), "x:", 0)
	if _, err := v.GetOrLoad(context.Background(), "k", func(context.Context, string) (int, error) {
		t.Error("the loader ran")
		return 1, nil
	}); !errors.Is(err, boom) {
		t.Errorf("GetOrLoad on an invalid Cache: %v, want its error", err)
	}
	if _, err := v.GetManyOrLoad(context.Background(), []string{"k"}, func(context.Context, []string) (map[string]int, error) {
		t.Error("the loader ran")
		return nil, nil
	}); !errors.Is(err, boom) {
		t.Errorf("GetManyOrLoad on an invalid Cache: %v, want its error", err)
	}
}
