package tiered_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/tiered"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// conformance runs the kit over an L1 in front of the L2s newL2 builds, both on the kit's
// clock.
func conformance(t *testing.T, newL2 func(t *testing.T, clock backend.Clock) backend.Store) {
	cachetest.Run(t, cachetest.Harness{
		New: func(t *testing.T, clock backend.Clock) backend.Store {
			s, err := tiered.New(newL2(t, clock), tiered.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestConformanceOverMemory(t *testing.T) {
	conformance(t, func(t *testing.T, clock backend.Clock) backend.Store {
		s, _ := memstore.New(memstore.Options{Clock: clock})
		return s
	})
}

// TestConformanceOverAPlainL2 runs the kit over an L2 with the contract's methods only: the
// tier has the optional abilities' methods all the same, and answers errors.ErrUnsupported,
// on which the kit skips their subtests.
func TestConformanceOverAPlainL2(t *testing.T) {
	conformance(t, func(t *testing.T, clock backend.Clock) backend.Store {
		s, _ := memstore.New(memstore.Options{Clock: clock})
		return struct{ backend.Store }{s}
	})
}

func TestConformanceOverDynamoDB(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-tiered"})
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

// counted is an L2 that counts the keys asked of it, and can be made to fail.
type counted struct {
	*memstore.Store
	reads atomic.Int64
	down  atomic.Bool
}

var errDown = errors.New("connection refused")

func (c *counted) GetEntries(ctx context.Context, keys []string) ([]backend.Entry, error) {
	c.reads.Add(int64(len(keys)))
	if c.down.Load() {
		return nil, errDown
	}
	return c.Store.GetEntries(ctx, keys)
}

func (c *counted) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if c.down.Load() {
		return errDown
	}
	return c.Store.Set(ctx, key, v, ttl)
}

func (c *counted) Delete(ctx context.Context, keys ...string) error {
	if c.down.Load() {
		return errDown
	}
	return c.Store.Delete(ctx, keys...)
}

func newTiered(t *testing.T, l2 backend.Store, clock backend.Clock, maxTTL time.Duration) *tiered.Store {
	t.Helper()
	s, err := tiered.New(l2, tiered.Options{Clock: clock, MaxTTL: maxTTL})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newL2(t *testing.T, clock backend.Clock) *counted {
	t.Helper()
	ms, err := memstore.New(memstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &counted{Store: ms}
}

func want(t *testing.T, s backend.Store, key, value string) {
	t.Helper()
	got, err := s.Get(context.Background(), key)
	if err != nil || string(got) != value {
		t.Errorf("Get %s = %q, %v; want %q", key, got, err, value)
	}
}

// TestL1CopyNeverOutlivesItsL2Entry: a copy keeps the L2 entry's remaining TTL, even under
// a longer cap.
func TestL1CopyNeverOutlivesItsL2Entry(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock(time.Unix(1_900_000_000, 0))
	l2 := newL2(t, clock)
	s := newTiered(t, l2, clock, time.Hour)
	defer s.Close()
	_ = l2.Set(ctx, "CACHE#k", []byte("v"), 10*time.Second)
	clock.Advance(6 * time.Second)
	want(t, s, "CACHE#k", "v") // copied with 4s left
	if ttl, err := s.TTL(ctx, "CACHE#k"); err != nil || ttl != 4*time.Second {
		t.Errorf("TTL = %v, %v; want L2's 4s", ttl, err)
	}
	clock.Advance(4 * time.Second)
	if v, err := s.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after the L2 entry expired = %q, %v; want a miss, not L1's copy", v, err)
	}
}

// TestStalenessIsBoundedByMaxTTL: a value another instance changes in L2 is served from L1
// until the copy's cap, then read anew.
func TestStalenessIsBoundedByMaxTTL(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock(time.Unix(1_900_000_000, 0))
	l2 := newL2(t, clock)
	s := newTiered(t, l2, clock, 0) // the default cap
	defer s.Close()
	if err := s.Set(ctx, "CACHE#flag", []byte("off"), time.Hour); err != nil {
		t.Fatal(err)
	}
	_ = l2.Set(ctx, "CACHE#flag", []byte("on"), time.Hour) // another instance's write
	clock.Advance(tiered.DefaultMaxTTL - time.Second)
	want(t, s, "CACHE#flag", "off")
	clock.Advance(time.Second)
	want(t, s, "CACHE#flag", "on")
	if n := l2.reads.Load(); n != 1 {
		t.Errorf("%d keys read from L2, want 1: the first read after the cap", n)
	}
}

// TestColdStartRepopulatesLazily: a new process's L1 starts empty and fills key by key.
func TestColdStartRepopulatesLazily(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock(time.Unix(1_900_000_000, 0))
	l2 := newL2(t, clock)
	warm := newTiered(t, l2, clock, 0)
	_ = warm.SetMany(ctx, []backend.Entry{{Key: "CACHE#a", Value: []byte("1"), TTL: time.Hour}, {Key: "CACHE#b", Value: []byte("2"), TTL: time.Hour}})

	cold := newTiered(t, l2, clock, 0) // a new instance, over the same L2
	defer cold.Close()
	want(t, cold, "CACHE#a", "1")
	want(t, cold, "CACHE#a", "1")
	m, err := cold.GetMany(ctx, []string{"CACHE#a", "CACHE#b", "CACHE#c"})
	if err != nil || len(m) != 2 {
		t.Fatalf("GetMany = %q, %v; want a and b", m, err)
	}
	st := cold.Stats()
	if st.L1Hits != 2 || st.L2Reads != 3 || st.L2Hits != 2 || l2.reads.Load() != 3 {
		t.Errorf("Stats = %+v, L2 asked %d keys; want a from L2 then twice from L1, b and c asked of L2 in one batch", st, l2.reads.Load())
	}
}

// TestFailedWritesLeaveNoCopy: when L2 refuses a write or a delete, L1 keeps no copy that
// L2 does not have.
func TestFailedWritesLeaveNoCopy(t *testing.T) {
	ctx := context.Background()
	clock := cachetest.NewClock(time.Unix(1_900_000_000, 0))
	l2 := newL2(t, clock)
	s := newTiered(t, l2, clock, 0)
	defer s.Close()
	_ = s.Set(ctx, "CACHE#k", []byte("old"), time.Hour)
	l2.down.Store(true)
	if err := s.Set(ctx, "CACHE#k", []byte("new"), time.Hour); !errors.Is(err, errDown) {
		t.Fatalf("Set with L2 down: %v, want its error", err)
	}
	if err := s.Delete(ctx, "CACHE#k"); !errors.Is(err, errDown) {
		t.Fatalf("Delete with L2 down: %v, want its error", err)
	}
	if _, err := s.Get(ctx, "CACHE#k"); !errors.Is(err, errDown) {
		t.Errorf("Get with L2 down after failed writes: %v; want L2's error, not an L1 copy", err)
	}
	l2.down.Store(false)
	want(t, s, "CACHE#k", "old") // what L2 has
}

// gatedL2 answers a read only when its gate opens, as a slow network reply does.
type gatedL2 struct {
	*memstore.Store
	read, gate chan struct{}
}

func (g *gatedL2) GetEntries(ctx context.Context, keys []string) ([]backend.Entry, error) {
	e, err := g.Store.GetEntries(ctx, keys)
	if g.gate != nil {
		close(g.read)
		<-g.gate
	}
	return e, err
}

// TestReadInFlightNeverRefillsAWrittenKey: a read of L2 that a Delete overtakes does not put
// the deleted value back in L1.
func TestReadInFlightNeverRefillsAWrittenKey(t *testing.T) {
	ctx := context.Background()
	ms, _ := memstore.New(memstore.Options{})
	l2 := &gatedL2{Store: ms}
	s := newTiered(t, l2, nil, time.Minute)
	defer s.Close()
	_ = ms.Set(ctx, "CACHE#k", []byte("old"), time.Hour)
	l2.read, l2.gate = make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); _, _ = s.Get(ctx, "CACHE#k") }()
	<-l2.read
	if err := s.Delete(ctx, "CACHE#k"); err != nil {
		t.Fatal(err)
	}
	close(l2.gate)
	<-done
	l2.gate = nil
	if v, err := s.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after a completed Delete = %q, %v: L1 serves a value L2 no longer has", v, err)
	}
}

// cancelOnSet takes the write, and ends the caller's context as it returns.
type cancelOnSet struct {
	*memstore.Store
	cancel context.CancelFunc
}

func (c *cancelOnSet) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	err := c.Store.Set(ctx, k, v, ttl)
	if c.cancel != nil {
		c.cancel()
	}
	return err
}

// TestL1FollowsAWriteWhoseContextEnds: L2 took the write, so L1 must not keep the copy of
// the value it replaced, though the caller's context ended on the way back.
func TestL1FollowsAWriteWhoseContextEnds(t *testing.T) {
	ms, _ := memstore.New(memstore.Options{})
	l2 := &cancelOnSet{Store: ms}
	s := newTiered(t, l2, nil, time.Minute)
	defer s.Close()
	bg := context.Background()
	_ = s.Set(bg, "CACHE#k", []byte("old"), time.Hour)
	_, _ = s.Get(bg, "CACHE#k") // L1 holds old
	ctx, cancel := context.WithCancel(bg)
	l2.cancel = cancel
	_ = s.Set(ctx, "CACHE#k", []byte("new"), time.Hour)
	l2.cancel = nil
	want(t, s, "CACHE#k", "new")
}
