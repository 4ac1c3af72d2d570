package resilient_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// conformance runs the kit through a breaker over the stores open returns, on the kit's clock.
func conformance(t *testing.T, open func(t *testing.T, clock backend.Clock) backend.Store) {
	cachetest.Run(t, cachetest.Harness{
		New: func(t *testing.T, clock backend.Clock) backend.Store {
			// An OpTimeout far above a loaded machine's round trip: the kit checks the store
			// through the breaker, not the breaker's timing.
			b, err := resilient.New(open(t, clock), resilient.Options{OpTimeout: time.Minute, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	})
}

func TestConformance(t *testing.T) {
	conformance(t, func(t *testing.T, clock backend.Clock) backend.Store {
		s, _ := memstore.New(memstore.Options{Clock: clock})
		return s
	})
}

// TestConformanceOverAPlainStore runs the kit over a store with the contract's methods only:
// the breaker has the optional abilities' methods all the same, and answers
// errors.ErrUnsupported, on which the kit skips their subtests.
func TestConformanceOverAPlainStore(t *testing.T) {
	conformance(t, func(t *testing.T, clock backend.Clock) backend.Store {
		s, _ := memstore.New(memstore.Options{Clock: clock})
		return struct{ backend.Store }{s}
	})
}

func TestConformanceOverRedis(t *testing.T) {
	client := testenv.Redis(t, testenv.RedisURL(), false)
	conformance(t, func(t *testing.T, clock backend.Clock) backend.Store {
		s, err := redisstore.New(client, redisstore.Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConformanceOverDynamoDB(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-resilient"})
	conformance(t, func(t *testing.T, clock backend.Clock) backend.Store {
		o := opts
		o.Clock = clock
		s, err := dynamostore.New(client, o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// faulty is a memstore that can be made to fail or to hang, as a backend whose server is down
// or unresponsive does: the faults an in-process store cannot produce by itself. It counts the
// calls that reach it.
type faulty struct {
	*memstore.Store
	mode  atomic.Int32 // healthy, failing or hanging
	calls atomic.Int32
	gate  atomic.Pointer[chan struct{}] // when set, Delete waits for it to close
	rtt   time.Duration                 // each healthy call's round trip, on the clock
}

const (
	healthy = iota
	failing
	hanging
)

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (f *faulty) fault(ctx context.Context) error {
	f.calls.Add(1)
	switch f.mode.Load() {
	case failing:
		return errDown
	case hanging:
		<-ctx.Done()
		return ctx.Err()
	}
	if f.rtt > 0 {
		select {
		case <-time.After(f.rtt):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *faulty) Get(ctx context.Context, key string) ([]byte, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, key)
}

func (f *faulty) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if err := f.fault(ctx); err != nil {
		return err
	}
	return f.Store.Set(ctx, key, v, ttl)
}

func (f *faulty) Delete(ctx context.Context, keys ...string) error {
	if err := f.fault(ctx); err != nil {
		return err
	}
	if g := f.gate.Load(); g != nil {
		<-*g
	}
	return f.Store.Delete(ctx, keys...)
}

func newBreaker(t *testing.T) (*resilient.Breaker, *faulty) {
	t.Helper()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &faulty{Store: ms}
	b, err := resilient.New(f, resilient.Options{
		FailureThreshold: 3, OpenTimeout: 5 * time.Second, OpTimeout: 100 * time.Millisecond, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, f
}

func TestBreakerOpensFailsOpenAndCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, f := newBreaker(t)
		if err := b.Set(ctx, "CACHE#k", []byte(`1`), time.Hour); err != nil {
			t.Fatal(err)
		}
		f.mode.Store(failing)
		for range 3 {
			if _, err := b.Get(ctx, "CACHE#k"); !errors.Is(err, errDown) {
				t.Fatalf("Get while the backend fails: %v, want its error", err)
			}
		}
		if st := b.Stats().State; st != "open" {
			t.Fatalf("state after 3 failures = %s, want open", st)
		}

		// Open: reads miss and writes are skipped without touching the backend; invalidations
		// are refused, never silently lost.
		before := f.calls.Load()
		if _, err := b.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Get while open: %v, want a miss", err)
		}
		if m, err := b.GetMany(ctx, []string{"CACHE#k"}); err != nil || len(m) != 0 {
			t.Errorf("GetMany while open = %v, %v; want nothing found", m, err)
		}
		if err := b.Set(ctx, "CACHE#k", []byte(`2`), time.Hour); err != nil {
			t.Errorf("Set while open: %v, want it skipped", err)
		}
		if err := b.Delete(ctx, "CACHE#k"); !errors.Is(err, resilient.ErrOpen) {
			t.Errorf("Delete while open: %v, want ErrOpen", err)
		}
		if err := b.Expire(ctx, "CACHE#k", time.Minute); !errors.Is(err, resilient.ErrOpen) {
			t.Errorf("Expire while open: %v, want ErrOpen", err)
		}
		if _, err := b.Clear(ctx, "CACHE#"); !errors.Is(err, resilient.ErrOpen) {
			t.Errorf("Clear while open: %v, want ErrOpen", err)
		}
		if _, err := b.Get(ctx, ""); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("Get of an empty key while open: %v, want ErrInvalidKey", err)
		}
		if n := f.calls.Load(); n != before {
			t.Errorf("%d calls reached the backend while the breaker was open", n-before)
		}
		st := b.Stats()
		if st.SkippedReads != 2 || st.SkippedWrites != 1 || st.RefusedInvalidations != 3 {
			t.Errorf("Stats = %+v, want 2 skipped reads, 1 skipped write, 3 refused invalidations", st)
		}

		// The backend recovers; after OpenTimeout a probe goes through and closes the breaker.
		// The probe first applies what the breaker skipped or refused: the value the skipped
		// Set of 2 was to replace must not come back, and the refused Clear is done.
		_ = f.Store.Set(ctx, "CACHE#other", []byte(`3`), time.Hour)
		f.mode.Store(healthy)
		time.Sleep(5*time.Second + time.Millisecond) // past OpenTimeout, on the bubble's clock: instant
		if v, err := b.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("Get after recovery = %q, %v; want a miss, never the 1 a skipped Set replaced", v, err)
		}
		synctest.Wait() // the invalidation the read started, on the breaker's goroutine
		if n, _ := f.Store.Count(ctx, "CACHE#"); n != 0 {
			t.Errorf("%d entries left under the prefix whose Clear was refused while open", n)
		}
		if err := b.Set(ctx, "CACHE#k", []byte(`4`), time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Get(ctx, "CACHE#k"); err != nil || string(v) != "4" {
			t.Errorf("Get of a value written after recovery = %q, %v; want 4", v, err)
		}
		if st := b.Stats(); st.State != "closed" || st.StateChanges != 3 {
			t.Errorf("after recovery: %+v, want closed after 3 state changes (open, half-open, closed)", st)
		}
	})
}

func TestHungBackendCostsOnlyTheOpTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, f := newBreaker(t)
		f.mode.Store(hanging)
		start := time.Now()
		_, err := b.Get(ctx, "CACHE#k")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Get of a hung backend: %v, want the operation timeout", err)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("Get of a hung backend took %v of the bubble's time, want the 100ms OpTimeout", took)
		}
		for range 2 {
			_, _ = b.Get(ctx, "CACHE#k")
		}
		if st := b.Stats().State; st != "open" {
			t.Errorf("state after 3 timeouts = %s, want open", st)
		}
	})
}

func TestMissesAndCallerCancellationAreNotFailures(t *testing.T) {
	b, f := newBreaker(t)
	for range 10 {
		if _, err := b.Get(context.Background(), "CACHE#missing"); !errors.Is(err, backend.ErrNotFound) {
			t.Fatal(err)
		}
	}
	f.mode.Store(hanging)
	for range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		_, _ = b.Get(ctx, "CACHE#k")
	}
	if st := b.Stats().State; st != "closed" {
		t.Errorf("state after misses and cancelled callers = %s, want closed", st)
	}
}

// TestCacheFailsOpen shows the whole path: with the breaker open, GetOrLoad goes to the
// source of truth and returns its value, without an error.
func TestCacheFailsOpen(t *testing.T) {
	ctx := context.Background()
	b, f := newBreaker(t)
	c, _ := cachekit.New(b, cachekit.Options{})
	v := cachekit.Typed[string](c, "", 0)
	f.mode.Store(failing)
	for range 5 {
		got, err := v.GetOrLoad(ctx, "k", func(context.Context, string) (string, error) { return "fresh", nil })
		if err != nil || got != "fresh" {
			t.Fatalf("GetOrLoad with the backend down = %q, %v; want the source's value", got, err)
		}
	}
	if st := b.Stats(); st.State != "open" || st.SkippedReads == 0 {
		t.Errorf("breaker after 5 calls on a dead backend: %+v, want open and skipping reads", st)
	}
	// The Cache counts the reads the breaker answered apart from real misses.
	if st := c.Counters(); st.Skipped == 0 || st.Misses != 0 || st.Breaker != "open" || st.Loads != 5 {
		t.Errorf("Cache counters = %+v, want skipped reads, no misses, 5 loads and the breaker open", st)
	}
}
