package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
	"github.com/cachekit/cachekit/tiered"
)

// fleetBackends returns, for every backend, a function that opens n Stores on one shared
// backend, as n instances of a service would: n clients of one Redis (or cluster) or one
// DynamoDB table, or one memstore. Each Store is the instance's own to close.
func fleetBackends() map[string]func(t *testing.T, n int) []cachekit.Store {
	return map[string]func(t *testing.T, n int) []cachekit.Store{
		"memory": func(t *testing.T, n int) []cachekit.Store {
			s, err := memstore.New(memstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			out := make([]cachekit.Store, n)
			for i := range out {
				out[i] = unclosed{s}
			}
			return out
		},
		"dynamodb": func(t *testing.T, n int) []cachekit.Store {
			client := testenv.DynamoDB(t)
			opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-fleet", ConsistentRead: true})
			out := make([]cachekit.Store, n)
			for i := range out {
				s, err := dynamostore.New(client, opts)
				if err != nil {
					t.Fatal(err)
				}
				out[i] = s
			}
			return out
		},
		"redis": func(t *testing.T, n int) []cachekit.Store { return openRedisFleet(t, testenv.RedisURL(), false, n) },
		"redis-cluster": func(t *testing.T, n int) []cachekit.Store {
			return openRedisFleet(t, testenv.RedisClusterURL(), true, n)
		},
	}
}

func openRedisFleet(t *testing.T, url string, cluster bool, n int) []cachekit.Store {
	out := make([]cachekit.Store, n)
	for i := range out {
		out[i] = openRedis(t, url, cluster)
	}
	return out
}

// unclosed is a Store shared by several caches in a test, which closes it once itself.
type unclosed struct{ *memstore.Store }

func (unclosed) Close() error { return nil }

// fleetDecorators put each instance's Store behind nothing, an in-memory tier of its own, or a
// circuit breaker of its own.
var fleetDecorators = map[string]func(t *testing.T, s cachekit.Store) cachekit.Store{
	"bare": func(t *testing.T, s cachekit.Store) cachekit.Store { return s },
	"tiered": func(t *testing.T, s cachekit.Store) cachekit.Store {
		d, err := tiered.New(s, tiered.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	},
	"resilient": func(t *testing.T, s cachekit.Store) cachekit.Store {
		d, err := resilient.New(s, resilient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	},
}

// leaseSpy counts the leases its Store refused, so that a test can wait until every other
// instance has found a lease taken, without sleeping.
type leaseSpy struct {
	cachekit.Store
	refused *atomic.Int32
}

func (s leaseSpy) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, err := s.Store.(backend.Leaser).Acquire(ctx, key, token, ttl)
	if err == nil && !ok {
		s.refused.Add(1)
	}
	return ok, err
}

func (s leaseSpy) Unwrap() cachekit.Store { return s.Store }

func (s leaseSpy) Release(ctx context.Context, key, token string) error {
	return s.Store.(backend.Leaser).Release(ctx, key, token)
}

// fleet is n instances of a service: a Cache each, over its own Store on one backend.
type fleet struct {
	caches  []*cachekit.Cache
	stores  []cachekit.Store
	refused atomic.Int32 // leases the instances found taken
}

func newFleet(t *testing.T, stores []cachekit.Store, decorate func(*testing.T, cachekit.Store) cachekit.Store, opts cachekit.Options) *fleet {
	f := &fleet{}
	for _, s := range stores {
		d := decorate(t, s)
		c, err := cachekit.New(leaseSpy{d, &f.refused}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		f.caches, f.stores = append(f.caches, c), append(f.stores, d)
	}
	return f
}

// eachFleet runs test for every backend and decorator, with n instances, in parallel.
func eachFleet(t *testing.T, n int, opts cachekit.Options, test func(t *testing.T, f *fleet, prefix string)) {
	for name, open := range fleetBackends() {
		for dname, decorate := range fleetDecorators {
			t.Run(name+"/"+dname, func(t *testing.T) {
				t.Parallel() // each waits for its keys' clocks, on its own prefix
				f := newFleet(t, open(t, n), decorate, opts)
				test(t, f, testenv.Name("fleet")+":")
			})
		}
	}
}

func TestFleetLoadsAMissingKeyOnceWithALease(t *testing.T) {
	const instances, readers = 4, 3
	eachFleet(t, instances, cachekit.Options{}, func(t *testing.T, f *fleet, prefix string) {
		ctx := context.Background()
		var calls atomic.Int32
		load := func(ctx context.Context, key string) (int, error) {
			calls.Add(1)
			// Hold the lease until every other instance has found it taken.
			testenv.WaitFor(t, "the other instances to find the lease taken", time.Minute, func() bool {
				return f.refused.Load() >= instances-1
			})
			return 42, nil
		}
		var wg sync.WaitGroup
		for _, c := range f.caches {
			v := cachekit.Typed[int](c, prefix, time.Minute).With(cachekit.Freshness{Lease: time.Minute})
			for range readers {
				wg.Go(func() {
					if n, err := v.GetOrLoad(ctx, "hot", load); n != 42 || err != nil {
						t.Errorf("GetOrLoad = %d, %v; want 42", n, err)
					}
				})
			}
		}
		wg.Wait()
		if n := calls.Load(); n != 1 {
			t.Errorf("%d instances of %d loaded the key, want 1", n, instances)
		}
	})
}

func TestFleetLoadsWhenTheLeaseHolderDies(t *testing.T) {
	eachFleet(t, 2, cachekit.Options{}, func(t *testing.T, f *fleet, prefix string) {
		fresh := cachekit.Freshness{Lease: time.Second}
		holder := cachekit.Typed[string](f.caches[0], prefix, time.Minute).With(fresh)
		other := cachekit.Typed[string](f.caches[1], prefix, time.Minute).With(fresh)

		// The holder takes the lease, then hangs in its load past the lease's end.
		hung, started := make(chan struct{}), make(chan struct{})
		hctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = holder.GetOrLoad(hctx, "k", func(ctx context.Context, _ string) (string, error) {
				close(started)
				<-hung
				return "holder's", nil
			})
		}()
		<-started
		got, err := other.GetOrLoad(context.Background(), "k", func(context.Context, string) (string, error) {
			return "other's", nil
		})
		if got != "other's" || err != nil {
			t.Errorf("GetOrLoad beside a hung holder = %q, %v; want the other's own load once the lease ended", got, err)
		}
		if f.refused.Load() == 0 {
			t.Error("the other instance never found the lease taken")
		}
		close(hung)
		cancel()
		<-done
	})
}

func TestFleetLoadsWhenTheLeaseHolderFails(t *testing.T) {
	eachFleet(t, 2, cachekit.Options{}, func(t *testing.T, f *fleet, prefix string) {
		// A lease far longer than the test may take: the other instance must not wait it out.
		fresh := cachekit.Freshness{Lease: 10 * time.Minute}
		holder := cachekit.Typed[string](f.caches[0], prefix, time.Minute).With(fresh)
		other := cachekit.Typed[string](f.caches[1], prefix, time.Minute).With(fresh)

		// The holder's load fails once the other instance has found the lease taken.
		done := make(chan struct{})
		started := make(chan struct{})
		go func() {
			defer close(done)
			_, err := holder.GetOrLoad(context.Background(), "k", func(ctx context.Context, _ string) (string, error) {
				close(started)
				testenv.WaitFor(t, "the other instance to find the lease taken", time.Minute, func() bool {
					return f.refused.Load() > 0
				})
				return "", errors.New("source down")
			})
			if err == nil {
				t.Error("the holder's GetOrLoad succeeded, want its load's error")
			}
		}()
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
		defer cancel()
		got, err := other.GetOrLoad(ctx, "k", func(context.Context, string) (string, error) {
			return "other's", nil
		})
		if got != "other's" || err != nil {
			t.Errorf("GetOrLoad beside a holder whose load failed = %q, %v; want the other's own load once the lease was let go", got, err)
		}
		<-done
	})
}

func TestFleetServesStaleWhileOneInstanceRefreshes(t *testing.T) {
	const instances, readers = 4, 3
	eachFleet(t, instances, cachekit.Options{Background: true}, func(t *testing.T, f *fleet, prefix string) {
		ctx := context.Background()
		const ttl = time.Second
		fresh := cachekit.Freshness{Grace: time.Minute, Lease: time.Minute}
		views := make([]*cachekit.View[int], instances)
		for i, c := range f.caches {
			views[i] = cachekit.Typed[int](c, prefix, ttl).With(fresh)
		}
		src := &versions{}
		written := time.Now()
		if n, err := views[0].GetOrLoad(ctx, "hot", src.load); n != 1 || err != nil {
			t.Fatalf("GetOrLoad = %d, %v", n, err)
		}
		// Every instance reads it once while fresh, so that tiers hold copies.
		for _, v := range views {
			if n, err := v.GetOrLoad(ctx, "hot", src.load); n != 1 || err != nil {
				t.Fatalf("GetOrLoad = %d, %v", n, err)
			}
		}
		testenv.WaitFor(t, "the value to go stale", time.Minute, func() bool { return time.Since(written) > ttl+50*time.Millisecond })

		src.block = make(chan struct{})
		var wg sync.WaitGroup
		for _, v := range views {
			for range readers {
				wg.Go(func() {
					if n, err := v.GetOrLoad(ctx, "hot", src.load); n != 1 || err != nil {
						t.Errorf("a stale read = %d, %v; want 1 at once", n, err)
					}
				})
			}
		}
		wg.Wait() // with the one refresh still blocked: no read waited for it
		testenv.WaitFor(t, "the other instances to find the lease taken", time.Minute, func() bool {
			if f.refused.Load() >= instances-1 {
				return true
			}
			// An instance whose lease request failed (a slow backend on a busy machine
			// times it out) tries again at its next stale read, which answers at once.
			for _, v := range views {
				if n, err := v.GetOrLoad(ctx, "hot", src.load); n != 1 || err != nil {
					t.Errorf("a stale read = %d, %v; want 1 at once", n, err)
				}
			}
			return false
		})
		close(src.block)
		testenv.WaitFor(t, "every instance to read the refreshed value", time.Minute, func() bool {
			for _, v := range views {
				if n, err := v.GetOrLoad(ctx, "hot", src.load); n != 2 || err != nil {
					return false
				}
			}
			return true
		})
		if n := src.calls.Load(); n != 2 {
			t.Errorf("the source was called %d times, want 2: the load and one refresh for the fleet", n)
		}
	})
}

func TestFleetTombstonesSpareTheSourceAndL2(t *testing.T) {
	eachFleet(t, 2, cachekit.Options{}, func(t *testing.T, f *fleet, prefix string) {
		ctx := context.Background()
		var calls atomic.Int32
		missing := func(ctx context.Context, key string) (int, error) {
			calls.Add(1)
			return 0, fmt.Errorf("%w: no such row", cachekit.ErrNotFound)
		}
		fresh := cachekit.Freshness{MissTTL: time.Minute, Lease: time.Minute}
		for _, c := range f.caches {
			v := cachekit.Typed[int](c, prefix, time.Hour).With(fresh)
			for range 5 {
				if _, err := v.GetOrLoad(ctx, "gone", missing); !errors.Is(err, cachekit.ErrNotFound) {
					t.Fatalf("GetOrLoad of a missing key = %v, want ErrNotFound", err)
				}
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("the source was asked %d times for a missing key, want once for the fleet", n)
		}
		ts, ok := f.stores[1].(*tiered.Store)
		if !ok {
			return
		}
		before := ts.Stats().L2Reads
		v := cachekit.Typed[int](f.caches[1], prefix, time.Hour).With(fresh)
		for range 10 {
			if _, err := v.GetOrLoad(ctx, "gone", missing); !errors.Is(err, cachekit.ErrNotFound) {
				t.Fatal(err)
			}
		}
		if n := ts.Stats().L2Reads - before; n != 0 {
			t.Errorf("10 reads of a remembered miss read L2 %d times, want 0", n)
		}
	})
}

func TestFleetNeverServesPastGraceAndForgetsMisses(t *testing.T) {
	eachFleet(t, 1, cachekit.Options{Background: true}, func(t *testing.T, f *fleet, prefix string) {
		ctx := context.Background()
		const ttl, grace = time.Second, time.Second
		v := cachekit.Typed[int](f.caches[0], prefix, ttl).With(cachekit.Freshness{Grace: grace, MissTTL: time.Second})
		src := &versions{}
		before := time.Now()
		if _, err := v.GetOrLoad(ctx, "k", src.load); err != nil {
			t.Fatal(err)
		}
		end := time.Now().Add(ttl + grace) // the value is never served after this
		src.fail.Store(true)               // every refresh fails: the stale value stays
		// The loops are paced, so as not to flood the backend; no verdict hangs on the pace.
		for ; ; time.Sleep(5 * time.Millisecond) {
			began := time.Now()
			n, err := v.GetOrLoad(ctx, "k", src.load)
			if err != nil {
				break // past its grace: the failing source's answer
			}
			if n != 1 {
				t.Fatalf("GetOrLoad = %d, want 1: a failed refresh replaced the value", n)
			}
			if began.After(end) {
				t.Fatalf("a read that began %v after the value's fresh TTL and grace got it", began.Sub(end))
			}
		}
		if time.Since(before) < ttl {
			t.Error("the value was not served while fresh")
		}

		// A remembered miss spares the source until its TTL ends, then asks again.
		var calls atomic.Int32
		missing := func(context.Context, string) (int, error) {
			calls.Add(1)
			return 0, cachekit.ErrNotFound
		}
		written := time.Now()
		if _, err := v.GetOrLoad(ctx, "gone", missing); !errors.Is(err, cachekit.ErrNotFound) {
			t.Fatal(err)
		}
		for ; calls.Load() == 1; time.Sleep(5 * time.Millisecond) {
			if _, err := v.GetOrLoad(ctx, "gone", missing); !errors.Is(err, cachekit.ErrNotFound) {
				t.Fatal(err)
			}
			if calls.Load() == 1 && time.Since(written) > time.Minute {
				t.Fatal("the tombstone never ended")
			}
		}
		if held := time.Since(written); held < time.Second {
			t.Errorf("the source was asked again %v after the tombstone was written, before its TTL of 1s", held)
		}
	})
}

// TestFleetCountsEveryIncrementOnce has 8 instances, each with 16 goroutines, increment one
// counter 10,000 times in all on every backend, each instance through its own Store (found
// with backend.Find, as a caller finds the ability): the final count is 10,000 and the counts
// returned are 1 to 10,000, each once, so that no increment was lost or counted twice.
func TestFleetCountsEveryIncrementOnce(t *testing.T) {
	const instances, goroutines, total = 8, 16, 10_000
	for name, open := range fleetBackends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			stores := open(t, instances)
			key := testenv.Name("fleet") + ":count"
			t.Cleanup(func() {
				_ = stores[0].Delete(context.Background(), key)
				for _, s := range stores {
					_ = s.Close()
				}
			})
			var next atomic.Int64 // increments handed out
			got := make([][]int64, instances*goroutines)
			var wg sync.WaitGroup
			for i, s := range stores {
				c, ok := backend.Find[backend.Counter](s)
				if !ok {
					t.Fatalf("the %s store, a %T, is not a backend.Counter", name, s)
				}
				for g := range goroutines {
					w := i*goroutines + g
					wg.Go(func() {
						for next.Add(1) <= total {
							n, err := c.Incr(ctx, key, 1, time.Hour)
							if err != nil {
								t.Errorf("Incr: %v", err)
								return
							}
							got[w] = append(got[w], n)
						}
					})
				}
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			all := slices.Sorted(slices.Values(slices.Concat(got...)))
			for i, n := range all {
				if n != int64(i+1) {
					t.Fatalf("the %d increments returned %v… at %d, want each of 1 to %d once", len(all), all[i:min(len(all), i+5)], i, total)
				}
			}
			if len(all) != total {
				t.Fatalf("%d increments returned, want %d", len(all), total)
			}
			v, err := stores[instances-1].Get(ctx, key)
			if err != nil || string(v) != fmt.Sprint(total) {
				t.Errorf("Get = %q, %v; want %d", v, err, total)
			}
		})
	}
}
