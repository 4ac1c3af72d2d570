package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
)

// versions is a source of truth whose every load returns the next version of a value, and
// that can be made to fail or to block.
type versions struct {
	calls   atomic.Int32
	fail    atomic.Bool
	block   chan struct{} // when not nil, each load waits for it to close
	started chan string   // when not nil, each load sends its key first
}

func (s *versions) load(ctx context.Context, key string) (int, error) {
	n := s.calls.Add(1)
	if s.started != nil {
		s.started <- key
	}
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if s.fail.Load() {
		return 0, errors.New("source down")
	}
	return int(n), nil
}

func TestFreshnessServesStaleWhileOneRefreshRuns(t *testing.T) {
	for _, background := range []bool{true, false} {
		t.Run(fmt.Sprintf("background=%v", background), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				c := newCache(t, nil, cachekit.Options{Background: background})
				v := cachekit.Typed[int](c, "swr:", time.Second).With(cachekit.Freshness{Grace: 10 * time.Second})
				src := &versions{}
				if n, err := v.GetOrLoad(ctx, "k", src.load); n != 1 || err != nil {
					t.Fatalf("first GetOrLoad = %d, %v; want 1", n, err)
				}
				time.Sleep(1500 * time.Millisecond) // stale now, within its grace
				src.block = make(chan struct{})
				const readers = 20
				got := make(chan int, readers)
				for range readers {
					go func() {
						n, err := v.GetOrLoad(ctx, "k", src.load)
						if err != nil {
							t.Error(err)
						}
						got <- n
					}()
				}
				synctest.Wait()
				// Every reader but, without Background, the one refreshing has its answer:
				// the stale value, at once.
				want := readers
				if !background {
					want--
				}
				if len(got) != want {
					t.Fatalf("%d readers answered while the refresh ran, want %d", len(got), want)
				}
				for range want {
					if n := <-got; n != 1 {
						t.Errorf("a reader got %d, want the stale 1", n)
					}
				}
				close(src.block)
				synctest.Wait()
				if !background {
					if n := <-got; n != 2 {
						t.Errorf("the refreshing reader got %d, want the new 2", n)
					}
				}
				if n := src.calls.Load(); n != 2 {
					t.Errorf("the source was called %d times, want 2: one load, one refresh", n)
				}
				if n, err := v.GetOrLoad(ctx, "k", src.load); n != 2 || err != nil {
					t.Errorf("GetOrLoad after the refresh = %d, %v; want 2", n, err)
				}
				st := v.Counters()
				if st.Stale != readers || st.Refreshes != 1 {
					t.Errorf("Stale = %d, Refreshes = %d; want %d and 1", st.Stale, st.Refreshes, readers)
				}
			})
		})
	}
}

func TestFreshnessNeverServesPastGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, nil, cachekit.Options{Background: true})
		v := cachekit.Typed[int](c, "swr:", time.Second).With(cachekit.Freshness{Grace: 2 * time.Second})
		src := &versions{}
		if _, err := v.GetOrLoad(ctx, "k", src.load); err != nil {
			t.Fatal(err)
		}
		src.fail.Store(true)
		// Stale reads get the good value while every refresh fails: a failed refresh never
		// replaces it.
		for _, at := range []time.Duration{1100 * time.Millisecond, 2 * time.Second, 2990 * time.Millisecond} {
			time.Sleep(at - time.Since(start(t)))
			n, err := v.GetOrLoad(ctx, "k", src.load)
			synctest.Wait() // the refresh has failed
			if n != 1 || err != nil {
				t.Errorf("GetOrLoad at %v = %d, %v; want the stale 1", at, n, err)
			}
			if n, err := v.Get(ctx, "k"); n != 1 || err != nil {
				t.Errorf("Get at %v = %d, %v; want the stale 1", at, n, err)
			}
		}
		if st := v.Counters(); st.LoadErrors != 3 || st.Refreshes != 3 {
			t.Errorf("LoadErrors = %d, Refreshes = %d; want 3 each", st.LoadErrors, st.Refreshes)
		}
		time.Sleep(3*time.Second - time.Since(start(t)))
		if _, err := v.Get(ctx, "k"); !errors.Is(err, cachekit.ErrNotFound) {
			t.Errorf("Get past fresh + grace = %v, want ErrNotFound", err)
		}
		if _, err := v.GetOrLoad(ctx, "k", src.load); err == nil || errors.Is(err, cachekit.ErrNotFound) {
			t.Errorf("GetOrLoad past fresh + grace = %v, want the source's error", err)
		}
	})
}

// start returns when the synctest bubble of t began: the fake clock starts at midnight UTC,
// 2000-01-01.
func start(t *testing.T) time.Time {
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
}

func TestFreshnessRemembersMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, nil, cachekit.Options{})
		v := cachekit.Typed[int](c, "neg:", time.Hour).With(cachekit.Freshness{MissTTL: time.Minute})
		var calls atomic.Int32
		missing := func(ctx context.Context, key string) (int, error) {
			calls.Add(1)
			return 0, fmt.Errorf("no row for %s: %w", key, cachekit.ErrNotFound)
		}
		for i := range 3 {
			if _, err := v.GetOrLoad(ctx, "gone", missing); !errors.Is(err, cachekit.ErrNotFound) {
				t.Errorf("GetOrLoad #%d = %v, want ErrNotFound", i, err)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("the source was asked %d times within the tombstone's TTL, want once", n)
		}
		if _, err := v.Get(ctx, "gone"); !errors.Is(err, cachekit.ErrNotFound) {
			t.Errorf("Get of a tombstone = %v, want ErrNotFound", err)
		}
		if ok, err := v.Has(ctx, "gone"); ok || err != nil {
			t.Errorf("Has of a tombstone = %v, %v; want false", ok, err)
		}
		if got, err := v.GetMany(ctx, []string{"gone"}); len(got) != 0 || err != nil {
			t.Errorf("GetMany of a tombstone = %v, %v; want nothing", got, err)
		}
		time.Sleep(time.Minute)
		if _, err := v.GetOrLoad(ctx, "gone", missing); !errors.Is(err, cachekit.ErrNotFound) || calls.Load() != 2 {
			t.Errorf("GetOrLoad after the tombstone's TTL = %v with %d calls; want ErrNotFound from a second call", err, calls.Load())
		}

		// A batch loader's left-out keys are remembered too.
		var asked [][]string
		batch := func(ctx context.Context, keys []string) (map[string]int, error) {
			asked = append(asked, keys)
			return map[string]int{"a": 1}, nil
		}
		for range 2 {
			got, err := v.GetManyOrLoad(ctx, []string{"a", "b"}, batch)
			if err != nil || len(got) != 1 || got["a"] != 1 {
				t.Errorf("GetManyOrLoad = %v, %v; want only a", got, err)
			}
		}
		if len(asked) != 1 {
			t.Errorf("the batch source was asked %v, want once", asked)
		}

		// Without MissTTL, a miss is not remembered.
		plain := cachekit.Typed[int](c, "pos:", time.Hour)
		for range 2 {
			_, _ = plain.GetOrLoad(ctx, "gone", missing)
		}
		if n := calls.Load(); n != 4 {
			t.Errorf("a view without MissTTL asked the source %d times in all, want 4", n)
		}
	})
}

func TestFreshnessJitterShortensTTLs(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{})
	const ttl = 100 * time.Second
	v := cachekit.Typed[int](c, "jit:", ttl).With(cachekit.Freshness{Jitter: 0.2, Grace: time.Minute})
	vals := map[string]int{}
	for i := range 200 {
		vals[fmt.Sprint(i)] = i
	}
	if err := v.SetMany(ctx, vals, 0); err != nil {
		t.Fatal(err)
	}
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for k := range vals {
		left, err := v.TTL(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		left -= time.Minute // the grace period, which jitter leaves whole
		lo, hi = min(lo, left), max(hi, left)
	}
	if lo < 80*time.Second-time.Second || hi > ttl {
		t.Errorf("fresh TTLs from %v to %v; want within [80s, 100s]", lo, hi)
	}
	if hi-lo < 10*time.Second {
		t.Errorf("fresh TTLs from %v to %v: 200 writes were not spread", lo, hi)
	}
}

func TestFreshnessRefreshesEarlyNearExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, nil, cachekit.Options{Background: true})
		v := cachekit.Typed[int](c, "xf:", 10*time.Second).With(cachekit.Freshness{EarlyRefresh: 1})
		var calls atomic.Int32
		slow := loadsIn(100*time.Millisecond, &calls)
		if _, err := v.GetOrLoad(ctx, "k", slow); err != nil {
			t.Fatal(err)
		}
		// 9 s before expiry, a read refreshes early with probability e^-90: never, in 100.
		for range 100 {
			if _, err := v.GetOrLoad(ctx, "k", slow); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("%d loads far from expiry, want 1", n)
		}
		// 10 ms before expiry, with 100 ms loads, each read refreshes with probability
		// 1 - e^-0.1 ≈ 0.1: one in 100 reads does, but for a chance of 3e-5.
		time.Sleep(10*time.Second + 100*time.Millisecond - 10*time.Millisecond - time.Since(start(t)))
		for range 100 {
			n, err := v.GetOrLoad(ctx, "k", slow)
			if err != nil || n < 1 {
				t.Fatalf("GetOrLoad = %d, %v", n, err)
			}
			if v.Counters().Refreshes > 0 {
				break
			}
		}
		time.Sleep(time.Second) // the refresh's load ends
		synctest.Wait()
		if n := calls.Load(); n != 2 {
			t.Errorf("%d loads after reads near expiry, want 2: one early refresh", n)
		}
		if st := v.Counters(); st.Refreshes != 1 || st.Stale != 0 {
			t.Errorf("Refreshes = %d, Stale = %d; want 1 and 0", st.Refreshes, st.Stale)
		}
	})
}

func TestFreshnessRejectsBadOptions(t *testing.T) {
	c := newCache(t, nil, cachekit.Options{})
	for _, f := range []cachekit.Freshness{
		{Grace: -1}, {Lease: -time.Second}, {MissTTL: -1}, {EarlyRefresh: -1}, {Jitter: 1}, {Jitter: -0.1},
		{Grace: cachekit.MaxTTL}, {Grace: math.MaxInt64}, {EarlyRefresh: math.Inf(1)}, {EarlyRefresh: math.NaN()},
		{Jitter: math.NaN()},
	} {
		v := cachekit.Typed[int](c, "bad:", time.Hour).With(f)
		if _, err := v.Get(context.Background(), "k"); !errors.Is(err, cachekit.ErrConfig) {
			t.Errorf("With(%+v): Get = %v, want ErrConfig", f, err)
		}
	}
}

func TestFreshnessRefreshesEarlyWithALargeBeta(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, nil, cachekit.Options{Background: true})
		// A beta this large refreshes on every read in the second half of the TTL, however
		// far the expiry: the draw's product overflows a Duration, which must not turn it
		// into never.
		v := cachekit.Typed[int](c, "xfbig:", time.Hour).With(cachekit.Freshness{EarlyRefresh: 1e12})
		var calls atomic.Int32
		slow := loadsIn(100*time.Millisecond, &calls)
		if _, err := v.GetOrLoad(ctx, "k", slow); err != nil {
			t.Fatal(err)
		}
		time.Sleep(31 * time.Minute) // into the second half of the TTL, half an hour from expiry
		if _, err := v.GetOrLoad(ctx, "k", slow); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the refresh's load ends
		if st := v.Counters(); st.Refreshes != 1 || calls.Load() != 2 {
			t.Errorf("Refreshes = %d, loads %d after a read with EarlyRefresh 1e12; want 1 and 2", st.Refreshes, calls.Load())
		}
	})
}

func TestFreshnessCloseWaitsForARefreshsLoad(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				c := newCache(t, nil, cachekit.Options{Background: true})
				v := cachekit.Typed[int](c, "cw:", time.Second).With(cachekit.Freshness{Grace: time.Minute, Lease: time.Minute})
				if _, err := v.GetOrLoad(ctx, "k", (&versions{}).load); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Second) // stale
				var ended atomic.Bool
				// A source that stops when its context ends, as a database driver does,
				// after a moment to unwind.
				slow := func(ctx context.Context, key string) (int, error) {
					<-ctx.Done()
					time.Sleep(10 * time.Millisecond)
					ended.Store(true)
					return 0, ctx.Err()
				}
				if batch {
					got, err := v.GetManyOrLoad(ctx, []string{"k"}, func(ctx context.Context, keys []string) (map[string]int, error) {
						_, err := slow(ctx, keys[0])
						return nil, err
					})
					if got["k"] != 1 || err != nil {
						t.Fatalf("a stale read = %v, %v; want k: 1", got, err)
					}
				} else if n, err := v.GetOrLoad(ctx, "k", slow); n != 1 || err != nil {
					t.Fatalf("a stale read = %d, %v; want 1", n, err)
				}
				synctest.Wait() // the refresh's load waits for its context
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				if !ended.Load() {
					t.Error("Close returned while a refresh's loader still ran")
				}
				if st := v.Counters(); st.Refreshes != 1 {
					t.Errorf("Refreshes = %d, want 1", st.Refreshes)
				}
			})
		})
	}
}

// A background refresh whose source hangs ends with the value it refreshes, so that the key
// loads again afterwards, rather than every later read joining the hung load.
func TestFreshnessHungRefreshEndsWithItsValue(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				c := newCache(t, nil, cachekit.Options{Background: true})
				v := cachekit.Typed[int](c, "hung:", time.Second).With(cachekit.Freshness{Grace: time.Second})
				if _, err := v.GetOrLoad(ctx, "k", (&versions{}).load); err != nil {
					t.Fatal(err)
				}
				time.Sleep(1500 * time.Millisecond) // stale
				hung := func(ctx context.Context, key string) (int, error) {
					<-ctx.Done()
					return 0, ctx.Err()
				}
				if batch {
					got, err := v.GetManyOrLoad(ctx, []string{"k"}, func(ctx context.Context, keys []string) (map[string]int, error) {
						_, err := hung(ctx, keys[0])
						return nil, err
					})
					if got["k"] != 1 || err != nil {
						t.Fatalf("a stale read = %v, %v; want k: 1", got, err)
					}
				} else if n, err := v.GetOrLoad(ctx, "k", hung); n != 1 || err != nil {
					t.Fatalf("a stale read = %d, %v; want 1", n, err)
				}
				time.Sleep(time.Second) // past the value's grace: the refresh is moot
				rctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				if n, err := v.GetOrLoad(rctx, "k", func(context.Context, string) (int, error) { return 2, nil }); n != 2 || err != nil {
					t.Errorf("GetOrLoad once the value is gone = %d, %v; want a load of its own, 2", n, err)
				}
			})
		})
	}
}

// A value that no longer decodes into the view's type is loaded over, as GetOrLoad promises,
// with a lease too: the lease holder's look for a value stored meanwhile must not take it for
// an answer.
func TestFreshnessLeaseLoadsOverAnUndecodableValue(t *testing.T) {
	ctx := context.Background()
	for name, f := range map[string]cachekit.Freshness{
		"none":        {},
		"lease":       {Lease: time.Minute},
		"lease+grace": {Lease: time.Minute, Grace: time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCache(t, nil, cachekit.Options{})
			if err := cachekit.Typed[string](c, "dec:", time.Hour).With(f).Set(ctx, "k", "not a number", 0); err != nil {
				t.Fatal(err)
			}
			v := cachekit.Typed[int](c, "dec:", time.Hour).With(f)
			n, err := v.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 7, nil })
			if n != 7 || err != nil {
				t.Errorf("GetOrLoad over a value of another type = %d, %v; want the loader's 7", n, err)
			}
		})
	}
}

// lateAnswer is a Store whose Acquire answers only once its caller has given up: a lease taken
// as the caller's deadline passed.
type lateAnswer struct {
	*memstore.Store
	cancel context.CancelFunc
}

func (s lateAnswer) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, err := s.Store.Acquire(ctx, key, token, ttl)
	s.cancel()
	<-ctx.Done()
	return ok, err
}

func TestFreshnessLeaseTakenAsTheCallerGivesUpIsReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		c, err := cachekit.New(lateAnswer{s, cancel}, cachekit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		v := cachekit.Typed[int](c, "late:", time.Hour).With(cachekit.Freshness{Lease: time.Minute})
		if _, err := v.GetOrLoad(ctx, "k", (&versions{}).load); !errors.Is(err, context.Canceled) {
			t.Fatalf("GetOrLoad = %v, want context.Canceled", err)
		}
		synctest.Wait() // the load has ended
		// Nothing was loaded: no entry is left, the lease included.
		if n, err := s.Count(context.Background(), v.Prefix()); n != 0 || err != nil {
			t.Errorf("Count = %d, %v; want 0: the lease was not released", n, err)
		}
	})
}

// Instances waiting for a lease holder's value load themselves as soon as the holder lets the
// lease go without storing one (its load failed, or found no value to remember), not when the
// lease would have ended.
func TestFreshnessLeaseWaitersLoadOnceTheHolderGivesUp(t *testing.T) {
	for name, fail := range map[string]error{
		"error":    errors.New("source down"),
		"notfound": fmt.Errorf("no row: %w", cachekit.ErrNotFound),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				s, err := memstore.New(memstore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				const lease = time.Minute
				views := make([]*cachekit.View[int], 2)
				for i := range views {
					c, err := cachekit.New(unclosed{s}, cachekit.Options{})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = c.Close() })
					views[i] = cachekit.Typed[int](c, "lw:", time.Hour).With(cachekit.Freshness{Lease: lease})
				}
				failing := make(chan struct{})
				go func() {
					_, _ = views[0].GetOrLoad(ctx, "k", func(context.Context, string) (int, error) {
						<-failing
						return 0, fail
					})
				}()
				synctest.Wait() // the first instance holds the lease
				began := time.Now()
				got := make(chan error, 1)
				go func() {
					n, err := views[1].GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 7, nil })
					if err == nil && n != 7 {
						err = fmt.Errorf("got %d, want 7", n)
					}
					got <- err
				}()
				synctest.Wait() // the second polls for the holder's value
				close(failing)
				if err := <-got; err != nil {
					t.Errorf("GetOrLoad beside a holder that failed: %v", err)
				}
				if waited := time.Since(began); waited >= lease {
					t.Errorf("the second instance waited %v, the whole lease, for a holder that had let it go", waited)
				}
			})
		})
	}
}

// A refresh whose source no longer has the key removes the stale value, even when the view
// remembers no misses: it is not served for the rest of its grace period.
func TestFreshnessRefreshOfAKeyTheSourceLostRemovesIt(t *testing.T) {
	for _, background := range []bool{true, false} {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("background=%v/batch=%v", background, batch), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					ctx := context.Background()
					c := newCache(t, nil, cachekit.Options{Background: background})
					v := cachekit.Typed[int](c, "lost:", time.Second).With(cachekit.Freshness{Grace: time.Hour})
					if _, err := v.GetOrLoad(ctx, "k", (&versions{}).load); err != nil {
						t.Fatal(err)
					}
					time.Sleep(2 * time.Second) // stale
					if batch {
						got, err := v.GetManyOrLoad(ctx, []string{"k"}, func(context.Context, []string) (map[string]int, error) {
							return nil, nil
						})
						if err != nil || len(got) > 1 {
							t.Fatalf("GetManyOrLoad = %v, %v", got, err)
						}
					} else {
						_, err := v.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) {
							return 0, fmt.Errorf("no row: %w", cachekit.ErrNotFound)
						})
						if err != nil && !errors.Is(err, cachekit.ErrNotFound) {
							t.Fatalf("GetOrLoad = %v", err)
						}
					}
					synctest.Wait() // the refresh has ended
					if n, err := v.Get(ctx, "k"); !errors.Is(err, cachekit.ErrNotFound) {
						t.Errorf("Get after a refresh found the key gone = %d, %v; want ErrNotFound", n, err)
					}
				})
			})
		}
	}
}

// Without Background, the read that refreshes waits for the refresh as long as its context
// allows, and one that gives up is served the stale value it found, as the other reads are.
func TestFreshnessOnDemandRefresherThatGivesUpGetsTheStaleValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t, nil, cachekit.Options{})
		v := cachekit.Typed[int](c, "give:", time.Second).With(cachekit.Freshness{Grace: time.Minute})
		if _, err := v.GetOrLoad(context.Background(), "k", (&versions{}).load); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // stale
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		hung := func(ctx context.Context, key string) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		if n, err := v.GetOrLoad(ctx, "k", hung); n != 1 || err != nil {
			t.Errorf("GetOrLoad whose refresh outlived its context = %d, %v; want the stale 1", n, err)
		}
		if deadline, _ := ctx.Deadline(); time.Now().After(deadline) {
			t.Errorf("GetOrLoad returned %v after its deadline", time.Since(deadline))
		}
	})
}

func TestFreshnessGetManyOrLoadWithRepeatsAndTombstones(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, nil, cachekit.Options{})
		v := cachekit.Typed[int](c, "rep:", time.Second).With(cachekit.Freshness{Grace: time.Minute, MissTTL: time.Hour})
		var asked [][]string
		batch := func(ctx context.Context, keys []string) (map[string]int, error) {
			asked = append(asked, keys)
			return map[string]int{"a": len(asked)}, nil // b is not in the source
		}
		keys := []string{"a", "b", "a", "b"}
		for i := range 2 {
			got, err := v.GetManyOrLoad(ctx, keys, batch)
			if err != nil || len(got) != 1 || got["a"] != 1 {
				t.Errorf("GetManyOrLoad #%d = %v, %v; want only a: 1", i, got, err)
			}
		}
		if len(asked) != 1 || len(asked[0]) != 2 {
			t.Fatalf("the source was asked %v, want once for a and b", asked)
		}
		time.Sleep(2 * time.Second) // a is stale; b's tombstone stands
		got, err := v.GetManyOrLoad(ctx, keys, batch)
		if err != nil || len(got) != 1 || got["a"] != 2 {
			t.Errorf("GetManyOrLoad of a stale key = %v, %v; want only a: 2, refreshed", got, err)
		}
		if len(asked) != 2 || len(asked[1]) != 1 || asked[1][0] != "a" {
			t.Errorf("the source was asked %v, want a second time for a alone", asked)
		}
		if st := v.Counters(); st.Stale != 1 || st.Refreshes != 1 {
			t.Errorf("Stale = %d, Refreshes = %d; want 1 each, for a repeated key", st.Stale, st.Refreshes)
		}
		if got, err := v.GetMany(ctx, keys); err != nil || len(got) != 1 || got["a"] != 2 {
			t.Errorf("GetMany = %v, %v; want only a: 2", got, err)
		}
	})
}

// Has counts as Has does on a view without Freshness, which reads no value: not as a hit or a
// miss, though it reads the value to tell a tombstone from one.
func TestFreshnessHasCountsNoHitsOrMisses(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{})
	for name, f := range map[string]cachekit.Freshness{"plain": {}, "fresh": {Grace: time.Minute, MissTTL: time.Minute}} {
		v := cachekit.Typed[int](c, name+":", time.Hour).With(f)
		if err := v.Set(ctx, "k", 1, 0); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"k", "none"} {
			if _, err := v.Has(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if st := v.Counters(); st.Hits != 0 || st.Misses != 0 {
			t.Errorf("%s: Has counted %d hits and %d misses, want none", name, st.Hits, st.Misses)
		}
	}
}

// slowWrites is a Store whose writes take d, as a backend under more load than it can take.
type slowWrites struct {
	cachekit.Store
	d time.Duration
}

func (s slowWrites) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	time.Sleep(s.d)
	return s.Store.Set(ctx, key, value, ttl)
}

// A value GetOrLoad loaded is answered even when storing it took longer than its TTL and
// grace, rather than a miss of a key the source has.
func TestFreshnessAnswersWhatALoadFoundFromASlowBackend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := cachekit.New(slowWrites{s, 2 * time.Second}, cachekit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		v := cachekit.Typed[int](c, "slow:", time.Second).With(cachekit.Freshness{Grace: 500 * time.Millisecond})
		src := &versions{}
		if n, err := v.GetOrLoad(ctx, "k", src.load); err != nil || n == 0 {
			t.Errorf("GetOrLoad = %d, %v; want a value the source loaded", n, err)
		}
	})
}

func TestFreshnessNeverRefreshesEarlyInTheFirstHalfOfTheTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, nil, cachekit.Options{Background: true})
		// A beta so large that XFetch alone would draw a refresh on every read.
		v := cachekit.Typed[int](c, "xf:", time.Second).With(cachekit.Freshness{EarlyRefresh: 1e6})
		var calls atomic.Int32
		slow := loadsIn(100*time.Millisecond, &calls)
		if _, err := v.GetOrLoad(ctx, "k", slow); err != nil {
			t.Fatal(err)
		}
		for range 40 { // 400 ms of reads, all within the first half of the value's TTL
			if _, err := v.GetOrLoad(ctx, "k", slow); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		synctest.Wait()
		if n := calls.Load(); n != 1 {
			t.Errorf("%d loads in the first half of the TTL, want 1", n)
		}
		time.Sleep(200 * time.Millisecond) // into the second half: the next read refreshes
		if _, err := v.GetOrLoad(ctx, "k", slow); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		if n := calls.Load(); n != 2 {
			t.Errorf("%d loads after a read in the second half, want 2", n)
		}
	})
}

func TestFreshnessSurvivesALoaderPanicInABackgroundRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := newCache(t, nil, cachekit.Options{Background: true})
		v := cachekit.Typed[int](c, "panic:", time.Second).With(cachekit.Freshness{Grace: time.Minute})
		if _, err := v.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 1, nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		boom := func(context.Context, string) (int, error) { panic("the source's driver broke") }
		if n, err := v.GetOrLoad(ctx, "k", boom); n != 1 || err != nil {
			t.Fatalf("a stale read = %d, %v; want 1", n, err)
		}
		synctest.Wait() // the refresh has panicked, on a goroutine of the Cache's
		if n, err := v.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 2, nil }); n != 1 || err != nil {
			t.Errorf("a stale read after the panic = %d, %v; want the stale 1 still", n, err)
		}
		synctest.Wait()
		if st := v.Counters(); st.LoadErrors != 1 {
			t.Errorf("LoadErrors = %d, want the panic counted", st.LoadErrors)
		}
	})
}

func TestKeysMayNotEndLikeALease(t *testing.T) {
	v := cachekit.Typed[int](newCache(t, nil, cachekit.Options{}), "k:", time.Hour)
	if err := v.Set(context.Background(), "a\x00lease", 1, 0); !errors.Is(err, cachekit.ErrInvalidKey) {
		t.Errorf("Set of a key ending like a lease = %v, want ErrInvalidKey", err)
	}
}

// loadsIn returns a loader that takes d (the load time XFetch scales with) and returns the
// number of loads so far, counted in calls.
func loadsIn(d time.Duration, calls *atomic.Int32) cachekit.Loader[int] {
	return func(ctx context.Context, key string) (int, error) {
		time.Sleep(d)
		return int(calls.Add(1)), nil
	}
}
