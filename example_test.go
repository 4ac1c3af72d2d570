package cachekit_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/emf"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/monitor"
	"github.com/cachekit/cachekit/resilient"
)

// A Cache over an explicit Store, with its own prefix and default TTL.
func ExampleNew() {
	ctx := context.Background()
	store, err := memstore.New(memstore.Options{MaxSize: 50_000})
	if err != nil {
		panic(err)
	}
	c, err := cachekit.New(store, cachekit.Options{Prefix: "CACHE#config:", TTL: 5 * time.Minute})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	flags := cachekit.Typed[map[string]bool](c, "", 0) // the Cache's own prefix and TTL
	if err := flags.Set(ctx, "flags", map[string]bool{"beta": true}, 0); err != nil {
		panic(err)
	}
	got, err := flags.Get(ctx, "flags")
	if err != nil {
		panic(err)
	}
	ttl, _ := flags.TTL(ctx, "flags")
	fmt.Println(got["beta"], ttl <= 5*time.Minute)
	// Output: true true
}

// Sliding expiration: every read gives the session another 30 minutes.
func ExampleView_Expire() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	c, _ := cachekit.New(store, cachekit.Options{})
	defer c.Close()
	sessions := cachekit.Typed[string](c, "session:", 30*time.Minute)

	_ = sessions.Set(ctx, "abc", "user-42", 0)
	if user, err := sessions.Get(ctx, "abc"); err == nil {
		_ = sessions.Expire(ctx, "abc", 0) // zero: the view's 30 minutes, from now
		fmt.Println(user)
	}
	// Output: user-42
}

// Tests swap the process-wide cache's Store for a fresh in-memory one.
func ExampleCache_SetStore() {
	fresh, _ := memstore.New(memstore.Options{})
	old, err := cacheenv.Default().SetStore(fresh)
	if err != nil {
		panic(err)
	}
	defer func() {
		cacheenv.Default().SetStore(old)
		fresh.Close()
	}()
	has, _ := geoCache.Has(context.Background(), "1.1.1.1")
	fmt.Println(has)
	// Output: false
}

// A Redis cache that fails open, falls back to DynamoDB, checks its health and writes
// CloudWatch metrics, as Default() builds it from CACHE_STORAGE_TYPE=redis and
// CACHE_FALLBACK_STORAGE_TYPE=dynamodb; here over memory stores, so that it runs anywhere.
func ExampleOptions_monitoring() {
	primary, _ := memstore.New(memstore.Options{})  // redisstore.Open(url, redisstore.Options{})
	fallback, _ := memstore.New(memstore.Options{}) // dynamostore.New(client, dynamostore.Options{Table: "my-service"})
	guarded, _ := resilient.New(primary, resilient.Options{})
	both, _ := resilient.NewFallback(guarded, fallback, resilient.FallbackOptions{})
	cache, _ := cachekit.New(both, cachekit.Options{
		Health:  monitor.NewChecker(monitor.Options{}),                                                         // a probe every minute
		Metrics: emf.New(emf.Options{Writer: io.Discard, Dimensions: map[string]string{"Service": "geo-api"}}), // stdout by default
	})
	defer cache.Close()

	ctx := context.Background()
	greetings := cachekit.Typed[string](cache, "greeting:", time.Minute)
	_ = greetings.Set(ctx, "en", "hello", 0)
	s, _ := greetings.Get(ctx, "en")
	_ = cache.Flush() // at the end of a Lambda invocation
	st := cache.Counters()
	fmt.Println(s, st.Hits, st.Breaker, st.Active)
	// Output: hello 1 closed primary
}
