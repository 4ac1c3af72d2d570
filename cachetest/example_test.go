package cachetest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/memstore"
)

// TestConformance is how a backend author runs the kit, as docs/api.md shows it: one test in
// the backend's own package, whose New builds the store under test on the kit's clock. Here
// the store is memstore; a new backend puts its own constructor in New.
func TestConformance(t *testing.T) {
	cachetest.Run(t, cachetest.Harness{
		New: func(t *testing.T, clock backend.Clock) backend.Store {
			s, err := memstore.New(memstore.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

// The kit's Clock stands still until Advance moves it, so a test sees an entry expire without
// waiting; a backend's own tests can use it too.
func ExampleClock() {
	ctx := context.Background()
	clock := cachetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store, _ := memstore.New(memstore.Options{Clock: clock})
	defer store.Close()

	_ = store.Set(ctx, "cachetest:k", []byte(`"v"`), time.Hour)
	clock.Advance(59 * time.Minute)
	ttl, _ := store.TTL(ctx, "cachetest:k")
	fmt.Println(ttl)
	clock.Advance(time.Minute)
	has, _ := store.Has(ctx, "cachetest:k")
	fmt.Println(has)
	// Output:
	// 1m0s
	// false
}
