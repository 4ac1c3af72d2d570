package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
)

type result struct {
	v   int
	err error
}

func TestGetOrLoadRunsTheLoaderOncePerKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "n:", 0)
		var calls atomic.Int32
		release := make(chan struct{})
		load := func(ctx context.Context, key string) (int, error) {
			calls.Add(1)
			<-release
			return len(key), nil
		}
		const callers = 20
		results := make(chan result, callers)
		for range callers {
			go func() {
				n, err := v.GetOrLoad(ctx, "four", load)
				results <- result{n, err}
			}()
		}
		synctest.Wait() // every caller is waiting on the one load
		close(release)
		for range callers {
			if r := <-results; r.err != nil || r.v != 4 {
				t.Errorf("GetOrLoad = %d, %v; want 4", r.v, r.err)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("the loader ran %d times, want once", n)
		}
		if n, err := v.GetOrLoad(ctx, "four", load); err != nil || n != 4 || calls.Load() != 1 {
			t.Errorf("GetOrLoad after the load = %d, %v with %d loads; want a hit", n, err, calls.Load())
		}
		st, _ := v.Stats(ctx)
		if st.Loads != 1 || st.Hits != 1 || st.Misses != callers {
			t.Errorf("Stats = %+v, want 1 load, 1 hit, %d misses", st, callers)
		}
	})
}

func TestGetOrLoadWaiterGivesUpAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "", 0)
		release := make(chan struct{})
		var loadCtx context.Context
		load := func(ctx context.Context, key string) (int, error) {
			loadCtx = ctx
			<-release
			return 7, nil
		}
		patient := make(chan result, 1)
		go func() {
			n, err := v.GetOrLoad(context.Background(), "k", load)
			patient <- result{n, err}
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		impatient := make(chan result, 1)
		go func() {
			n, err := v.GetOrLoad(ctx, "k", load)
			impatient <- result{n, err}
		}()
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case r := <-impatient:
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("the cancelled caller got %d, %v; want context.Canceled", r.v, r.err)
			}
		default:
			t.Fatal("the cancelled caller is still waiting for the load")
		}
		if loadCtx.Err() != nil {
			t.Error("one caller's cancellation cancelled the load the other waits for")
		}
		close(release)
		if r := <-patient; r.err != nil || r.v != 7 {
			t.Errorf("the patient caller got %d, %v; want 7", r.v, r.err)
		}
	})
}

func TestGetOrLoadCancelsTheLoadWhenNobodyWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "", 0)
		cancelled := make(chan error, 1)
		load := func(ctx context.Context, key string) (int, error) {
			<-ctx.Done()
			cancelled <- ctx.Err()
			return 0, ctx.Err()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := v.GetOrLoad(ctx, "k", load)
				done <- err
			}()
		}
		for range 2 {
			if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("GetOrLoad past its deadline: %v, want context.DeadlineExceeded", err)
			}
		}
		if err := <-cancelled; !errors.Is(err, context.Canceled) {
			t.Errorf("the load's context ended with %v, want it cancelled", err)
		}
		// The next caller starts a fresh load rather than joining the cancelled one.
		n, err := v.GetOrLoad(context.Background(), "k", func(context.Context, string) (int, error) { return 3, nil })
		if err != nil || n != 3 {
			t.Errorf("GetOrLoad after the cancelled load = %d, %v; want 3", n, err)
		}
	})
}

func TestGetOrLoadDoesNotCacheErrors(t *testing.T) {
	ctx := context.Background()
	v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "", 0)
	errSource := errors.New("source down")
	calls := 0
	load := func(context.Context, string) (int, error) {
		calls++
		if calls == 1 {
			return 0, errSource
		}
		return 5, nil
	}
	if _, err := v.GetOrLoad(ctx, "k", load); !errors.Is(err, errSource) {
		t.Fatalf("GetOrLoad with a failing loader: %v, want the loader's error", err)
	}
	if ok, _ := v.Has(ctx, "k"); ok {
		t.Error("a failed load was cached")
	}
	if n, err := v.GetOrLoad(ctx, "k", load); err != nil || n != 5 {
		t.Errorf("GetOrLoad after a failed load = %d, %v; want 5", n, err)
	}
	if st, _ := v.Stats(ctx); st.Loads != 2 || st.LoadErrors != 1 {
		t.Errorf("Stats loads/load errors = %d/%d, want 2/1", st.Loads, st.LoadErrors)
	}
}

// failingStore is a memstore whose reads and writes fail, as a backend does when its server is
// down: the fault no in-process store produces by itself.
type failingStore struct{ *memstore.Store }

var errBackend = errors.New("connection refused")

func (failingStore) Get(context.Context, string) ([]byte, error) { return nil, errBackend }
func (failingStore) Set(context.Context, string, []byte, time.Duration) error {
	return errBackend
}

func TestGetOrLoadFailsOpenWhenTheBackendFails(t *testing.T) {
	ctx := context.Background()
	ms, _ := memstore.New(memstore.Options{})
	c, _ := cachekit.New(failingStore{ms}, cachekit.Options{})
	defer c.Close()
	v := cachekit.Typed[string](c, "", 0)
	got, err := v.GetOrLoad(ctx, "k", func(context.Context, string) (string, error) { return "fresh", nil })
	if err != nil || got != "fresh" {
		t.Errorf("GetOrLoad over a failing backend = %q, %v; want the loaded value", got, err)
	}
	if st, _ := v.Stats(ctx); st.Errors != 2 || st.Loads != 1 {
		t.Errorf("Stats errors/loads = %d/%d, want the failed read and write counted, and 1 load", st.Errors, st.Loads)
	}
}

func TestGetOrLoadReloadsValuesThatNoLongerDecode(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{})
	// An older deploy stored a string where this one expects a number.
	if err := cachekit.Typed[string](c, "", 0).Set(ctx, "k", "forty-two", 0); err != nil {
		t.Fatal(err)
	}
	v := cachekit.Typed[int](c, "", 0)
	n, err := v.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 42, nil })
	if err != nil || n != 42 {
		t.Errorf("GetOrLoad over an undecodable value = %d, %v; want 42", n, err)
	}
	if n, err := v.Get(ctx, "k"); err != nil || n != 42 {
		t.Errorf("Get after the reload = %d, %v; want the new value stored", n, err)
	}
}

func TestGetOrLoadRefusesCallerMistakes(t *testing.T) {
	c := newCache(t, nil, cachekit.Options{})
	v := cachekit.Typed[int](c, "", 0)
	load := func(context.Context, string) (int, error) {
		t.Error("the loader ran")
		return 0, nil
	}
	if _, err := v.GetOrLoad(context.Background(), "", load); !errors.Is(err, cachekit.ErrInvalidKey) {
		t.Errorf("GetOrLoad with an empty key: %v, want ErrInvalidKey", err)
	}
	if _, err := v.GetOrLoad(context.Background(), "k", nil); !errors.Is(err, cachekit.ErrConfig) {
		t.Errorf("GetOrLoad with a nil loader: %v, want ErrConfig", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.GetOrLoad(ctx, "k", load); !errors.Is(err, context.Canceled) {
		t.Errorf("GetOrLoad with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestCloseCancelsLoadsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := memstore.New(memstore.Options{})
		c, _ := cachekit.New(s, cachekit.Options{})
		v := cachekit.Typed[int](c, "", 0)
		done := make(chan error, 1)
		go func() {
			_, err := v.GetOrLoad(context.Background(), "k", func(ctx context.Context, _ string) (int, error) {
				<-ctx.Done()
				return 0, ctx.Err()
			})
			done <- err
		}()
		synctest.Wait()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("a load in flight when the Cache closed: %v, want context.Canceled", err)
		}
	})
}

func TestGetOrLoadPassesOnALoaderPanic(t *testing.T) {
	v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "", 0)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "loader panicked: boom") {
			t.Errorf("recovered %v, want the loader's panic", r)
		}
	}()
	_, _ = v.GetOrLoad(context.Background(), "k", func(context.Context, string) (int, error) { panic("boom") })
	t.Error("GetOrLoad returned after its loader panicked")
}

// slowReads is a store whose reads look at the data at once and answer 30ms later, as a
// remote backend's do: a write that lands meanwhile is not in the answer.
type slowReads struct{ cachekit.Store }

func (s slowReads) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Store.Get(ctx, key)
	time.Sleep(30 * time.Millisecond)
	return v, err
}

// TestGetOrLoadOnceWhenAReadStraddlesALoad: caller A misses at 0ms and loads from 30ms to
// 50ms; caller B reads at 35ms, misses (A has not stored yet), and reaches the load at 65ms,
// after A's load has ended. B must take A's value, not load it again.
func TestGetOrLoadOnceWhenAReadStraddlesALoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms, _ := memstore.New(memstore.Options{})
		c, _ := cachekit.New(slowReads{ms}, cachekit.Options{})
		defer c.Close()
		v := cachekit.Typed[string](c, "", 0)
		var loads atomic.Int32
		load := func(ctx context.Context, key string) (string, error) {
			loads.Add(1)
			time.Sleep(20 * time.Millisecond)
			return "value of " + key, nil
		}
		results := make(chan result, 2)
		get := func() {
			s, err := v.GetOrLoad(context.Background(), "k", load)
			if s != "value of k" {
				err = fmt.Errorf("got %q, %v", s, err)
			}
			results <- result{err: err}
		}
		go get()
		time.Sleep(35 * time.Millisecond)
		go get()
		for range 2 {
			if r := <-results; r.err != nil {
				t.Error(r.err)
			}
		}
		if n := loads.Load(); n != 1 {
			t.Errorf("the loader ran %d times, want once", n)
		}
	})
}

// TestGetOrLoadOncePerKeyOnRealBackends: 32 goroutines read 30 keys in different orders
// through GetOrLoad, with loads that take a few milliseconds; every key is loaded once.
func TestGetOrLoadOncePerKeyOnRealBackends(t *testing.T) {
	for name, open := range realStores() {
		t.Run(name, func(t *testing.T) {
			c, err := cachekit.New(open(t), cachekit.Options{Prefix: testenv.Name("CACHE#once") + ":"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = c.Clear(context.Background())
				_ = c.Close()
			})
			const goroutines, keys, rounds = 32, 30, 3
			for round := range rounds {
				v := cachekit.Typed[int](c, fmt.Sprintf("r%d:", round), 0)
				var loads [keys]atomic.Int32
				load := func(ctx context.Context, key string) (int, error) {
					var i int
					fmt.Sscan(key, &i)
					loads[i].Add(1)
					time.Sleep(time.Duration(1+i%5) * time.Millisecond) // the source's latency
					return i, nil
				}
				var wg sync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						for j := range keys {
							i := (j*7 + g) % keys // each goroutine its own order
							got, err := v.GetOrLoad(context.Background(), strconv.Itoa(i), load)
							if err != nil || got != i {
								t.Errorf("GetOrLoad(%d) = %d, %v", i, got, err)
							}
						}
					})
				}
				wg.Wait()
				for i := range loads {
					if n := loads[i].Load(); n != 1 {
						t.Errorf("round %d: key %d loaded %d times, want once", round, i, n)
					}
				}
			}
		})
	}
}
