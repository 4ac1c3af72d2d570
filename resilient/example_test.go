package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
)

// unreachable stands for a remote backend whose server is down: every call fails, as a
// refused connection does.
type unreachable struct{ backend.Store }

var errRefused = errors.New("connection refused")

func (unreachable) Get(context.Context, string) ([]byte, error) { return nil, errRefused }
func (unreachable) Set(context.Context, string, []byte, time.Duration) error {
	return errRefused
}
func (unreachable) Delete(context.Context, ...string) error { return errRefused }

// A breaker in front of a backend that is down fails open: after FailureThreshold failures
// in a row, reads are misses that never reach the backend, so GetOrLoad goes to the source
// of truth at once, and an invalidation reports ErrOpen rather than vanish.
func ExampleNew() {
	server, _ := memstore.New(memstore.Options{}) // redisstore.Open(url, redisstore.Options{})
	guarded, err := resilient.New(unreachable{server}, resilient.Options{
		FailureThreshold: 3,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)), // slog.Default() when nil
	})
	if err != nil {
		panic(err)
	}
	cache, _ := cachekit.New(guarded, cachekit.Options{})
	defer cache.Close()

	ctx := context.Background()
	prices := cachekit.Typed[int](cache, "price:", time.Minute)
	for range 4 {
		p, err := prices.GetOrLoad(ctx, "sku-1", func(context.Context, string) (int, error) {
			return 42, nil // the source of truth
		})
		fmt.Println(p, err)
	}
	err = prices.Delete(ctx, "sku-1")
	fmt.Println(errors.Is(err, resilient.ErrOpen))
	fmt.Println(guarded.Stats().State, cache.Counters().Loads) // every call went to the source
	// Output:
	// 42 <nil>
	// 42 <nil>
	// 42 <nil>
	// 42 <nil>
	// true
	// open 4
}

// A fallback behind the primary's breaker: while the breaker is open, traffic goes to the
// fallback (Redis primary, DynamoDB fallback, say), and returns to the primary once the
// breaker lets a call through and a health check of the primary passes.
func ExampleNewFallback() {
	server, _ := memstore.New(memstore.Options{})   // redisstore.Open(url, redisstore.Options{})
	fallback, _ := memstore.New(memstore.Options{}) // dynamostore.New(client, dynamostore.Options{Table: "my-service"})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	guarded, _ := resilient.New(unreachable{server}, resilient.Options{FailureThreshold: 1, Logger: quiet})
	both, err := resilient.NewFallback(guarded, fallback, resilient.FallbackOptions{Logger: quiet})
	if err != nil {
		panic(err)
	}
	cache, _ := cachekit.New(both, cachekit.Options{})
	defer cache.Close()

	ctx := context.Background()
	greetings := cachekit.Typed[string](cache, "greeting:", time.Minute)
	fmt.Println(greetings.Set(ctx, "en", "hello", 0) != nil) // the primary fails: the breaker opens
	fmt.Println(greetings.Set(ctx, "en", "hello", 0))        // written to the fallback
	s, err := greetings.Get(ctx, "en")
	fmt.Println(s, err, both.Stats().OnFallback)
	// Output:
	// true
	// <nil>
	// hello <nil> true
}
