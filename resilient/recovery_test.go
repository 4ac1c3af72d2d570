package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
)

// slowClear is a remote whose Clear takes longer than OpTimeout, as a SCAN of a big
// keyspace does.
type slowClear struct {
	*faulty
	clearTook time.Duration
}

func (s *slowClear) Clear(ctx context.Context, prefix string) (int, error) {
	if err := s.fault(ctx); err != nil {
		return 0, err
	}
	select {
	case <-time.After(s.clearTook):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return s.Store.Clear(ctx, prefix)
}

// A Clear refused while open is applied after recovery with a scan's budget, not within one
// OpTimeout: a scan slower than OpTimeout still completes, and the prefix reads again.
func TestRefusedClearSettlesThoughSlowerThanOpTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := &slowClear{faulty: newRemote(t, time.Millisecond), clearTook: 300 * time.Millisecond}
		b, _ := resilient.New(p, resilient.Options{FailureThreshold: 3, OpenTimeout: time.Second, OpTimeout: 100 * time.Millisecond, Logger: quiet})
		defer b.Close()
		_ = b.Set(ctx, "CACHE#geo:1", []byte(`1`), time.Hour)
		p.mode.Store(failing)
		for range 3 {
			_, _ = b.Get(ctx, "CACHE#x")
		}
		if _, err := b.Clear(ctx, "CACHE#geo:"); !errors.Is(err, resilient.ErrOpen) {
			t.Fatalf("Clear while open: %v", err)
		}
		p.mode.Store(healthy)
		for range 20 {
			time.Sleep(time.Second + time.Millisecond)
			_ = b.Set(ctx, "CACHE#geo:2", []byte(`2`), time.Hour)
			if _, err := b.Get(ctx, "CACHE#geo:2"); err == nil {
				return // settled
			}
		}
		t.Errorf("after 20s of a healthy backend, CACHE#geo:2 still reads as a miss; breaker %+v", b.Stats())
	})
}

// Many stale keys are invalidated a batch at a time, each batch within OpTimeout, keeping the
// progress made: 5000 keys at a 30ms round trip per 1000-key Delete all settle.
func TestManyStaleKeysSettleInBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newRemote(t, 30*time.Millisecond)
		b, _ := resilient.New(p, resilient.Options{FailureThreshold: 3, OpenTimeout: time.Second, OpTimeout: 100 * time.Millisecond, Logger: quiet})
		defer b.Close()
		p.mode.Store(failing)
		for range 3 {
			_, _ = b.Get(ctx, "CACHE#x")
		}
		for i := range 5000 {
			_ = b.Set(ctx, fmt.Sprintf("CACHE#k:%d", i), []byte(`1`), time.Hour) // skipped
		}
		p.mode.Store(healthy)
		for range 20 {
			time.Sleep(time.Second + time.Millisecond)
			_ = b.Set(ctx, "CACHE#k:1", []byte(`2`), time.Hour)
			if _, err := b.Get(ctx, "CACHE#k:1"); err == nil {
				return
			}
		}
		t.Errorf("after 20s of a healthy backend, a key written during the outage still misses; breaker %+v", b.Stats())
	})
}

// Keys of two namespaces and a refused Clear never fold into the empty prefix, which would
// make every key read as a miss and could never be cleared.
func TestStaleKeysOfUnrelatedNamespacesNeverCoverEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p := newRemote(t, time.Millisecond)
		b, _ := resilient.New(p, resilient.Options{FailureThreshold: 3, OpenTimeout: time.Second, OpTimeout: 100 * time.Millisecond, Logger: quiet})
		defer b.Close()
		p.mode.Store(failing)
		for range 3 {
			_, _ = b.Get(ctx, "a:x")
		}
		_, _ = b.Clear(ctx, "a:")                     // refused, tracked as a prefix
		_ = b.Set(ctx, "b:1", []byte(`1`), time.Hour) // skipped: common prefix is now ""
		p.mode.Store(healthy)
		time.Sleep(time.Second + time.Millisecond)
		_ = b.Set(ctx, "c:unrelated", []byte(`1`), time.Hour)
		for range 10 {
			time.Sleep(time.Second + time.Millisecond)
			if _, err := b.Get(ctx, "c:unrelated"); err == nil {
				return
			}
		}
		t.Errorf("an unrelated key written after recovery reads as a miss forever; breaker %+v", b.Stats())
	})
}

// A key the fallback refuses (invalid) is never recorded as changed, or its Delete would fail
// on every attempt after failback and the outage's keys would miss forever.
func TestFallbackNeverTracksARefusedKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, f := newBreaker(t)
		fb, _ := memstore.New(memstore.Options{})
		fo, _ := resilient.NewFallback(b, fb, resilient.FallbackOptions{Logger: quiet})
		defer fo.Close()
		outage(t, fo, f, "CACHE#k")
		if err := fo.Set(ctx, "", []byte(`1`), time.Hour); !errors.Is(err, backend.ErrInvalidKey) {
			t.Fatalf("Set of an empty key: %v", err)
		}
		f.mode.Store(healthy)
		time.Sleep(5*time.Second + time.Millisecond)
		_, _ = fo.Get(ctx, "CACHE#k") // failback
		synctest.Wait()               // the invalidation
		_ = fo.Set(ctx, "CACHE#k", []byte(`"fresh"`), time.Hour)
		for range 5 {
			time.Sleep(time.Second)
			if v, err := fo.Get(ctx, "CACHE#k"); err == nil && string(v) == `"fresh"` {
				return
			}
		}
		t.Errorf("CACHE#k still misses after failback: %+v", fo.Stats())
	})
}

// A Clear of one namespace and a write in another during the outage settle after failback.
func TestFallbackClearAndOtherNamespaceSettle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, f := newBreaker(t)
		fb, _ := memstore.New(memstore.Options{})
		fo, _ := resilient.NewFallback(b, fb, resilient.FallbackOptions{Logger: quiet})
		defer fo.Close()
		outage(t, fo, f, "a:1")
		_, _ = fo.Clear(ctx, "b:")
		f.mode.Store(healthy)
		time.Sleep(5*time.Second + time.Millisecond)
		_, _ = fo.Get(ctx, "z:0") // failback
		_ = fo.Set(ctx, "z:1", []byte(`1`), time.Hour)
		for range 5 {
			time.Sleep(time.Second)
			if _, err := fo.Get(ctx, "z:1"); err == nil {
				return
			}
		}
		t.Errorf("a key of a third namespace, written after failback, misses forever: %+v", fo.Stats())
	})
}

// Reads never wait for the invalidation: with stale keys pending and a hung backend, a
// GetMany costs one OpTimeout, not one per key.
func TestReadsNeverWaitForTheInvalidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, f := newBreaker(t) // OpTimeout 100ms, threshold 3
		f.mode.Store(failing)
		_ = b.Set(ctx, "CACHE#s", []byte(`1`), time.Hour) // fails: tracked (1 failure)
		f.mode.Store(hanging)
		start := time.Now()
		_, _ = b.GetMany(ctx, []string{"CACHE#1", "CACHE#2", "CACHE#3", "CACHE#4"})
		if d := time.Since(start); d > 150*time.Millisecond {
			t.Errorf("GetMany took %v with OpTimeout 100ms", d)
		}
	})
}
