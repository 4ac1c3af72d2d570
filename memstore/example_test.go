package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/memstore"
)

// A bounded in-process store under a Cache: the backend of tests, of per-invocation data and
// of a service that needs no shared cache.
func ExampleNew() {
	store, err := memstore.New(memstore.Options{MaxSize: 50_000}) // zero values are the defaults
	if err != nil {
		panic(err)
	}
	cache, err := cachekit.New(store, cachekit.Options{}) // the Cache owns the store and closes it
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	ctx := context.Background()
	greetings := cachekit.Typed[string](cache, "greeting:", time.Hour)
	_ = greetings.Set(ctx, "en", "hello", 0)
	s, _ := greetings.Get(ctx, "en")
	fmt.Println(s, store.Len())
	// Output: hello 1
}

// Memory only: the root package and memstore link otter, and neither the AWS SDK nor rueidis.
func Example_memoryOnly() {
	// Memory only: links otter, not the AWS SDK or rueidis.
	store, _ := memstore.New(memstore.Options{})
	cache, _ := cachekit.New(store, cachekit.Options{})
	defer cache.Close()
	fmt.Println(cache.Prefix())
	// Output: CACHE#
}

// An expired entry is a miss on every read path, swept or not; Clock injects the time, as
// tests do.
func ExampleOptions_clock() {
	ctx := context.Background()
	clock := cachetest.NewClock(time.Now())
	store, _ := memstore.New(memstore.Options{Clock: clock})
	defer store.Close()

	_ = store.Set(ctx, "CACHE#k", []byte(`"v"`), time.Minute)
	clock.Advance(time.Minute)
	_, err := store.Get(ctx, "CACHE#k")
	has, _ := store.Has(ctx, "CACHE#k")
	fmt.Println(errors.Is(err, cachekit.ErrNotFound), has)
	// Output: true false
}
