package tiered_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/tiered"
)

// remoteL2 is a real backend to put behind L1: open returns a new Store on it, on clock,
// as many times as a test has instances; every Store open returns sees the same entries.
type remoteL2 struct {
	name string
	open func(t *testing.T, clock backend.Clock) backend.Store
}

// remoteL2s are the shared Redis server, the shared Redis cluster and DynamoDB Local.
func remoteL2s(t *testing.T) []remoteL2 {
	var l2s []remoteL2
	for name, tg := range testenv.RedisTargets() {
		l2s = append(l2s, remoteL2{"redis " + name, func(t *testing.T, clock backend.Clock) backend.Store {
			s, err := redisstore.New(testenv.Redis(t, tg.URL, tg.Cluster), redisstore.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}})
	}
	var once sync.Once
	var table string
	l2s = append(l2s, remoteL2{"dynamodb", func(t *testing.T, clock backend.Clock) backend.Store {
		client := testenv.DynamoDB(t)
		once.Do(func() {
			table = testenv.Name("cachekit-tiered-fresh")
			if _, err := dynamostore.CreateTable(context.Background(), client, dynamostore.Options{Table: table}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
			})
		})
		s, err := dynamostore.New(client, dynamostore.Options{Table: table, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}})
	return l2s
}

// onEachL2 runs test on every remote L2, with a key of its own and a clock at start.
func onEachL2(t *testing.T, test func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string)) {
	for _, l2 := range remoteL2s(t) {
		t.Run(l2.name, func(t *testing.T) {
			test(t, l2, cachetest.NewClock(start), testenv.Name("CACHE#fresh"))
		})
	}
}

var start = time.Unix(1_900_000_000, 0)

// envelope returns the bytes of value fresh until until.
func envelope(value string, until time.Time) []byte {
	return backend.Envelope{Value: []byte(value), FreshUntil: until}.Append(nil)
}

func tombstone(until time.Time) []byte {
	return backend.Envelope{NotFound: true, FreshUntil: until}.Append(nil)
}

// wantBytes checks that a Get of key returns value, and that it asked L2 reads keys in all.
func wantBytes(t *testing.T, s *tiered.Store, key string, value []byte, reads uint64) {
	t.Helper()
	got, err := s.Get(context.Background(), key)
	if err != nil || string(got) != string(value) {
		t.Errorf("Get = %q, %v; want %q", got, err, value)
	}
	if n := s.Stats().L2Reads; n != reads {
		t.Errorf("%d keys read from L2 so far, want %d", n, reads)
	}
}

// TestFreshEnvelopeIsServedFromL1UntilItsFreshUntil: L1 answers an envelope while it is
// fresh; once it is stale, every read asks L2, which still holds it for its grace period.
func TestFreshEnvelopeIsServedFromL1UntilItsFreshUntil(t *testing.T) {
	onEachL2(t, func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string) {
		ctx := context.Background()
		s := newTiered(t, l2.open(t, clock), clock, time.Hour)
		defer s.Close()
		e := envelope(`"v1"`, start.Add(10*time.Second))
		if err := s.Set(ctx, key, e, time.Hour); err != nil {
			t.Fatal(err)
		}
		wantBytes(t, s, key, e, 0)
		clock.Advance(10*time.Second - time.Millisecond)
		wantBytes(t, s, key, e, 0)
		clock.Advance(time.Millisecond)
		wantBytes(t, s, key, e, 1)
		wantBytes(t, s, key, e, 2) // the read copied nothing
		if m, err := s.GetMany(ctx, []string{key}); err != nil || string(m[key]) != string(e) {
			t.Errorf("GetMany = %q, %v; want the stale envelope from L2", m, err)
		}
		if st := s.Stats(); st.L1Hits != 2 || st.L2Reads != 3 {
			t.Errorf("Stats = %+v; want 2 reads from L1 while fresh, 3 from L2 once stale", st)
		}
	})
}

// TestRefreshByAnotherInstanceIsSeenAtOnce: once an envelope is stale, an instance that had
// copied it sees at once the value another instance's refresh wrote to L2, rather than its own
// stale copy, which MaxTTL alone would keep for 30 seconds.
func TestRefreshByAnotherInstanceIsSeenAtOnce(t *testing.T) {
	onEachL2(t, func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string) {
		ctx := context.Background()
		refresher := newTiered(t, l2.open(t, clock), clock, 0)
		defer refresher.Close()
		reader := newTiered(t, l2.open(t, clock), clock, 0)
		defer reader.Close()
		v1 := envelope(`"v1"`, start.Add(10*time.Second))
		if err := refresher.Set(ctx, key, v1, time.Minute); err != nil {
			t.Fatal(err)
		}
		wantBytes(t, reader, key, v1, 1)
		wantBytes(t, reader, key, v1, 1) // from its copy, while fresh

		clock.Advance(11 * time.Second) // stale, in its grace period
		v2 := envelope(`"v2"`, clock.Now().Add(10*time.Second))
		if err := refresher.Set(ctx, key, v2, time.Minute); err != nil {
			t.Fatal(err)
		}
		wantBytes(t, reader, key, v2, 2)
		wantBytes(t, reader, key, v2, 2) // fresh again: copied
	})
}

// TestStaleEnvelopeWriteKeepsNoCopy: a write of an envelope already stale drops L1's copy of
// the value it replaces and keeps none of its own, in Set and in SetMany.
func TestStaleEnvelopeWriteKeepsNoCopy(t *testing.T) {
	onEachL2(t, func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string) {
		ctx := context.Background()
		s := newTiered(t, l2.open(t, clock), clock, time.Hour)
		defer s.Close()
		fresh := envelope(`"fresh"`, start.Add(time.Minute))
		stale := envelope(`"stale"`, start.Add(-time.Second))
		if err := s.Set(ctx, key, fresh, time.Hour); err != nil {
			t.Fatal(err)
		}
		wantBytes(t, s, key, fresh, 0)
		if err := s.Set(ctx, key, stale, time.Hour); err != nil {
			t.Fatal(err)
		}
		wantBytes(t, s, key, stale, 1)

		other := key + ":other"
		err := s.SetMany(ctx, []backend.Entry{{Key: key, Value: fresh, TTL: time.Hour}, {Key: other, Value: stale, TTL: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		wantBytes(t, s, key, fresh, 1)
		wantBytes(t, s, other, stale, 2)
	})
}

// TestTombstoneIsAnsweredFromL1: a fresh tombstone another instance wrote is copied like a
// value, so that L1 answers the known-missing key; its copy is capped by MaxTTL and by the
// tombstone's freshness.
func TestTombstoneIsAnsweredFromL1(t *testing.T) {
	onEachL2(t, func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string) {
		ctx := context.Background()
		other := l2.open(t, clock) // another instance's write
		defer other.Close()
		s := newTiered(t, l2.open(t, clock), clock, 4*time.Second)
		defer s.Close()
		tomb := tombstone(start.Add(10 * time.Second))
		if err := other.Set(ctx, key, tomb, time.Hour); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			advance time.Duration
			reads   uint64
		}{
			{0, 1},               // copied for MaxTTL, 4s
			{3 * time.Second, 1}, // from L1
			{time.Second, 2},     // MaxTTL ended; copied for 4s again
			{4 * time.Second, 3}, // copied for the 2s it stays fresh
			{time.Second, 3},     // from L1
			{time.Second, 4},     // stale: L2, no copy
			{0, 5},
		}
		for _, st := range steps {
			clock.Advance(st.advance)
			wantBytes(t, s, key, tomb, st.reads)
		}
	})
}

// TestLeasesGoToL2 checks that Acquire and Release are L2's, and that L1 keeps no copy of a
// lease's key, not even one it had before.
func TestLeasesGoToL2(t *testing.T) {
	onEachL2(t, func(t *testing.T, l2 remoteL2, clock *cachetest.Clock, key string) {
		ctx := context.Background()
		inner := l2.open(t, clock)
		s := newTiered(t, inner, clock, time.Hour)
		defer s.Close()
		holder := func() string {
			v, err := inner.Get(ctx, key)
			if errors.Is(err, backend.ErrNotFound) {
				return "nobody"
			}
			if err != nil {
				t.Fatal(err)
			}
			return string(v)
		}
		if ok, err := s.Acquire(ctx, key, "a", time.Minute); !ok || err != nil {
			t.Fatalf("Acquire of a free lease = %v, %v; want it taken", ok, err)
		}
		if ok, err := s.Acquire(ctx, key, "b", time.Minute); ok || err != nil {
			t.Errorf("Acquire of a held lease = %v, %v; want false, no error", ok, err)
		}
		if err := s.Release(ctx, key, "b"); err != nil || holder() != "a" {
			t.Errorf("Release by another token: %v, lease held by %s; want a's lease kept", err, holder())
		}
		if err := s.Release(ctx, key, "a"); err != nil || holder() != "nobody" {
			t.Errorf("Release by its holder: %v, lease held by %s; want it gone", err, holder())
		}
		if n := s.Stats().L1Len; n != 0 {
			t.Errorf("L1 holds %d copies after lease calls, want none", n)
		}

		// A copy of the key from before is dropped, by Acquire and by Release.
		for _, call := range []func() error{
			func() error { _, err := s.Acquire(ctx, key, "a", time.Minute); return err },
			func() error { return s.Release(ctx, key, "a") },
		} {
			if err := s.Set(ctx, key, []byte("v"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := call(); err != nil {
				t.Fatal(err)
			}
			if n := s.Stats().L1Len; n != 0 {
				t.Errorf("L1 holds %d copies after a lease call on a copied key, want none", n)
			}
		}
	})
}

// TestReadInFlightNeverCopiesALease: a read of L2 that a Release overtakes puts nothing in
// L1, as after a Delete.
func TestReadInFlightNeverCopiesALease(t *testing.T) {
	ctx := context.Background()
	ms, _ := memstore.New(memstore.Options{})
	gated := &gatedL2{Store: ms}
	s := newTiered(t, gated, nil, time.Minute) // leases are its memstore's
	defer s.Close()
	if ok, err := s.Acquire(ctx, "LEASE#k", "tok", time.Minute); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	gated.read, gated.gate = make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); _, _ = s.Get(ctx, "LEASE#k") }()
	<-gated.read
	if err := s.Release(ctx, "LEASE#k", "tok"); err != nil {
		t.Fatal(err)
	}
	close(gated.gate)
	<-done
	gated.gate = nil
	if v, err := s.Get(ctx, "LEASE#k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get after the lease's Release = %q, %v: L1 kept a copy of the lease", v, err)
	}
}

// TestLeasesNeedALeaserL2: over an L2 that holds no leases, lease calls say so.
func TestLeasesNeedALeaserL2(t *testing.T) {
	ms, _ := memstore.New(memstore.Options{})
	s := newTiered(t, struct{ backend.Store }{ms}, nil, 0) // the contract's methods only
	defer s.Close()
	_, err := s.Acquire(context.Background(), "LEASE#k", "tok", time.Minute)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Acquire over a memstore without leases: %v, want errors.ErrUnsupported", err)
	}
	if err := s.Release(context.Background(), "LEASE#k", "tok"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Release over a memstore without leases: %v, want errors.ErrUnsupported", err)
	}
}
