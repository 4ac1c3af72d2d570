package resilient_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
)

// halves is a store in two parts, as a cluster's masters are: keys under "CACHE#a" live on
// part a, the rest on part b, and part b's writes fail while down is set.
type halves struct {
	*memstore.Store
	down bool
}

func (h *halves) Partition(key string) string {
	if strings.HasPrefix(key, "CACHE#a") {
		return "a"
	}
	return "b"
}

func (h *halves) fail(keys []string) bool {
	return h.down && slices.ContainsFunc(keys, func(k string) bool { return h.Partition(k) == "b" })
}

func (h *halves) SetMany(ctx context.Context, entries []backend.Entry) error {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	if h.fail(keys) {
		return errDown
	}
	return h.Store.SetMany(ctx, entries)
}

func (h *halves) Delete(ctx context.Context, keys ...string) error {
	if h.fail(keys) {
		return errDown
	}
	return h.Store.Delete(ctx, keys...)
}

// TestBatchOverPartsReportsEveryKey: a batch split over a partitioned store's parts, one part
// failing, returns one BatchError that says the healthy part's keys were written and the
// failing part's were not, and wraps the cause.
func TestBatchOverPartsReportsEveryKey(t *testing.T) {
	ctx := context.Background()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &halves{Store: ms, down: true}
	b, err := resilient.New(h, resilient.Options{FailureThreshold: 100, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	entries := []backend.Entry{
		{Key: "CACHE#a1", Value: []byte(`1`), TTL: time.Hour},
		{Key: "CACHE#b1", Value: []byte(`2`), TTL: time.Hour},
		{Key: "CACHE#a2", Value: []byte(`3`), TTL: time.Hour},
	}
	check := func(op string, err error) {
		t.Helper()
		var be *backend.BatchError
		if !errors.As(err, &be) || !errors.Is(err, errDown) {
			t.Fatalf("%s over a failing part: %v; want a BatchError wrapping the part's error", op, err)
		}
		slices.Sort(be.Written)
		if !slices.Equal(be.Written, []string{"CACHE#a1", "CACHE#a2"}) || !slices.Equal(be.NotWritten, []string{"CACHE#b1"}) || len(be.Unknown) != 0 {
			t.Errorf("%s: written %v, not written %v, unknown %v; want a1 and a2 written, b1 not", op, be.Written, be.NotWritten, be.Unknown)
		}
	}
	check("SetMany", b.SetMany(ctx, entries))
	if got, err := ms.GetMany(ctx, []string{"CACHE#a1", "CACHE#a2", "CACHE#b1"}); err != nil || len(got) != 2 {
		t.Errorf("the store holds %v, %v; want the healthy part's two entries", got, err)
	}
	check("Delete", b.Delete(ctx, "CACHE#a1", "CACHE#b1", "CACHE#a2"))
	h.down = false
	if err := b.SetMany(ctx, entries); err != nil {
		t.Errorf("SetMany over healthy parts: %v", err)
	}
}

// twoParts is a store in two parts whose reads, writes, deletions, lease takings and increments
// fail on a part while it is down.
type twoParts struct {
	*memstore.Store
	mu           sync.Mutex
	downA, downB bool
}

func (h *twoParts) Partition(key string) string {
	if strings.HasPrefix(key, "CACHE#a") {
		return "a"
	}
	return "b"
}

func (h *twoParts) down(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Partition(key) == "a" && h.downA || h.Partition(key) == "b" && h.downB
}

func (h *twoParts) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	if h.down(k) {
		return errDown
	}
	return h.Store.Set(ctx, k, v, ttl)
}

// Delete fails when a key's part is down, so that an invalidation of a stale key on a down
// part fails as it would on the backend, whenever it runs.
func (h *twoParts) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if h.down(k) {
			return errDown
		}
	}
	return h.Store.Delete(ctx, keys...)
}

func (h *twoParts) Get(ctx context.Context, k string) ([]byte, error) {
	if h.down(k) {
		return nil, errDown
	}
	return h.Store.Get(ctx, k)
}

func (h *twoParts) Acquire(ctx context.Context, k, token string, ttl time.Duration) (bool, error) {
	if h.down(k) {
		return false, errDown
	}
	return h.Store.Acquire(ctx, k, token, ttl)
}

func (h *twoParts) Incr(ctx context.Context, k string, delta int64, ttl time.Duration) (int64, error) {
	if h.down(k) {
		return 0, errDown
	}
	return h.Store.Incr(ctx, k, delta, ttl)
}

// TestStaleKeysOfHealthyPartsAreInvalidatedWhileAnotherIsOpen: the keys a failed write left
// stale on a part that answers are invalidated, and read from the backend again, while
// another part's circuit stays open; the open part's keys wait for it.
func TestStaleKeysOfHealthyPartsAreInvalidatedWhileAnotherIsOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		ms, _ := memstore.New(memstore.Options{})
		h := &twoParts{Store: ms}
		b, err := resilient.New(h, resilient.Options{FailureThreshold: 2, OpenTimeout: time.Hour, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		_ = ms.Set(ctx, "CACHE#a1", []byte("old"), time.Hour)
		_ = ms.Set(ctx, "CACHE#b2", []byte("old"), time.Hour)
		h.mu.Lock()
		h.downA, h.downB = true, true
		h.mu.Unlock()
		_ = b.Set(ctx, "CACHE#a1", []byte("new"), time.Hour) // one failure: a stays closed, a1 stale
		_ = b.Set(ctx, "CACHE#b2", []byte("new"), time.Hour) // b2 stale
		h.mu.Lock()
		h.downA = false
		h.mu.Unlock()
		for range 2 {
			_, _ = b.Get(ctx, "CACHE#b9") // b opens
		}
		// Each of those reads may have started the invalidation already (a read of a Store
		// with stale keys does): a1's may have ended, on its own goroutine; b2's waits for b.
		if st := b.Stats(); st.OpenPartitions != 1 || st.Stale < 1 {
			t.Fatalf("Stats = %+v, want part b open and b2 (and perhaps a1) stale", st)
		}
		_, _ = b.Get(ctx, "CACHE#a1") // a miss that starts the invalidation
		synctest.Wait()
		if _, err := b.Get(ctx, "CACHE#a1"); !errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrSkipped) {
			t.Errorf("a1, on the healthy part, after the invalidation: %v; want a miss from the backend, its old value deleted", err)
		}
		if _, err := b.Get(ctx, "CACHE#b2"); !errors.Is(err, backend.ErrSkipped) {
			t.Errorf("b2, on the open part: %v; want it still skipped", err)
		}
		if st := b.Stats(); st.Stale != 1 {
			t.Errorf("Stats.Stale = %d, want b2 alone still to invalidate", st.Stale)
		}
	})
}
