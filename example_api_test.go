package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
)

type Session struct {
	User string `json:"user"`
}

// A miss is ErrNotFound, checked with errors.Is; every other error is the backend's or the
// codec's.
func ExampleView_Get() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	cache, _ := cachekit.New(store, cachekit.Options{})
	defer cache.Close()
	id := "abc"

	sessions := cachekit.Typed[Session](cache, "session:", 30*time.Minute)
	s, err := sessions.Get(ctx, id)
	switch {
	case err == nil:
		_ = sessions.Expire(ctx, id, 0) // sliding expiration: another 30 minutes from now
		fmt.Println(s.User)
	case errors.Is(err, cachekit.ErrNotFound):
		fmt.Println("a miss") // load it from the source of truth
	default:
		fmt.Println("the backend or the codec failed:", err)
	}
	// Output: a miss
}

// One call of the batch loader for the keys the cache misses; its values are stored in one
// SetMany.
func ExampleView_GetManyOrLoad() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	cache, _ := cachekit.New(store, cachekit.Options{})
	defer cache.Close()
	prices := cachekit.Typed[int](cache, "price:", time.Hour)
	_ = prices.Set(ctx, "sku-1", 42, 0)

	got, err := prices.GetManyOrLoad(ctx, []string{"sku-1", "sku-2", "sku-3"},
		func(ctx context.Context, missing []string) (map[string]int, error) {
			fmt.Println("loading", missing) // one call, for the misses only
			return map[string]int{"sku-2": 7, "sku-3": 9}, nil
		})
	fmt.Println(got, err)
	// Output:
	// loading [sku-2 sku-3]
	// map[sku-1:42 sku-2:7 sku-3:9] <nil>
}

// A batch write that fails after it began sending says which keys are which.
func ExampleBatchError() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	cache, _ := cachekit.New(store, cachekit.Options{})
	defer cache.Close()
	prices := cachekit.Typed[int](cache, "price:", time.Hour)
	retry := func(keys []string) { fmt.Println("retry", keys) }

	err := prices.SetMany(ctx, map[string]int{"sku-1": 42, "sku-2": 7}, 0)
	var be *cachekit.BatchError
	if errors.As(err, &be) {
		retry(be.NotWritten) // certainly not applied; be.Unknown may or may not be
	}
	fmt.Println(err)
	// Output: <nil>
}

// A Redis cache that fails open and falls back to DynamoDB, composed by hand as cacheenv
// composes it from CACHE_REDIS_URL and CACHE_FALLBACK_STORAGE_TYPE=dynamodb. (Compiled, not
// run: it needs Redis and AWS.)
func Example_composition() {
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	dynamoClient := dynamodb.NewFromConfig(awsCfg)

	store, _ := redisstore.Open(os.Getenv("CACHE_REDIS_URL"), redisstore.Options{})
	guarded, _ := resilient.New(store, resilient.Options{}) // 5 failures open it for 10s; 500ms per call
	fallback, _ := dynamostore.New(dynamoClient, dynamostore.Options{Table: "my-service"})
	both, _ := resilient.NewFallback(guarded, fallback, resilient.FallbackOptions{})
	cache, _ := cachekit.New(both, cachekit.Options{})
	defer cache.Close()
}

// A view fresh across a fleet: stale values served while one instance refreshes, early
// refreshes, one load per key per fleet, and keys the source lacks remembered for a minute.
func ExampleView_With() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	cache, _ := cachekit.New(store, cachekit.Options{Background: true}) // refreshes on goroutines; off under Lambda
	defer cache.Close()

	fresh := cachekit.Recommended(time.Hour) // Grace, EarlyRefresh, Lease and Jitter
	fresh.MissTTL = time.Minute              // the loader reports a missing key with ErrNotFound
	users := cachekit.Typed[Session](cache, "user:", time.Hour).With(fresh)

	loadUser := func(ctx context.Context, id string) (Session, error) {
		if id != "ada" {
			return Session{}, fmt.Errorf("user %s: %w", id, cachekit.ErrNotFound)
		}
		return Session{User: id}, nil
	}
	u, err := users.GetOrLoad(ctx, "ada", loadUser)
	fmt.Println(u.User, err)
	for range 2 { // the second read answers from the tombstone, without the loader
		_, err = users.GetOrLoad(ctx, "bob", loadUser)
		fmt.Println(errors.Is(err, cachekit.ErrNotFound))
	}
	fmt.Println("loads:", users.Counters().Loads)
	// Output:
	// ada <nil>
	// true
	// true
	// loads: 2
}

// Bytes that are the value already (a rendered page, an image, JSON another service wrote)
// go through Raw as they are; the Cache's other views keep its codec, JSON by default.
func ExampleView_WithCodec() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	cache, _ := cachekit.New(store, cachekit.Options{})
	defer cache.Close()

	pages := cachekit.Typed[[]byte](cache, "page:", time.Minute).WithCodec(cachekit.Raw)
	_ = pages.Set(ctx, "/", []byte("<h1>Hello</h1>"), 0)
	page, _ := pages.Get(ctx, "/")
	stored, _ := store.Get(ctx, "CACHE#page:/") // the bytes as they were set: no quotes, no base64
	fmt.Println(string(page), string(stored))
	// Output: <h1>Hello</h1> <h1>Hello</h1>
}
