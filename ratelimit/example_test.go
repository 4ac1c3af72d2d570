package ratelimit_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/ratelimit"
)

// A Limiter on a Store the fleet shares (a memstore here, for one process; a redisstore or a
// dynamostore for many): two requests a minute, the third denied until the pace allows it.
func ExampleLimiter_Allow() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	defer store.Close()

	limiter, err := ratelimit.New(store, "rl:", ratelimit.Options{}) // GCRA
	if err != nil {
		log.Fatal(err) // a Store without the ability: errors.ErrUnsupported
	}
	for range 3 {
		res, err := limiter.Allow(ctx, "user:42", ratelimit.PerMinute(2))
		switch {
		case err != nil:
			fmt.Println("not checked:", err) // the Store failed: see "When the store fails"
		case !res.Allowed:
			fmt.Println("denied, retry in", res.RetryAfter.Round(time.Second))
		default:
			fmt.Println("allowed,", res.Remaining, "left")
		}
	}
	// Output:
	// allowed, 1 left
	// allowed, 0 left
	// denied, retry in 30s
}

// Failing open: a request the limiter could not check is served, without a limit, rather
// than refused because the limiter's backend is down.
func ExampleLimiter_Allow_failOpen() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Options{})
	limiter, _ := ratelimit.New(store, "rl:", ratelimit.Options{})
	key, limit := "user:42", ratelimit.PerSecond(10)
	_ = store.Close() // the backend is gone

	res, err := limiter.Allow(ctx, key, limit)
	if err != nil {
		log.Printf("rate limit not checked: %v", err)
		res.Allowed = true
	}
	fmt.Println("allowed:", res.Allowed)
	// Output: allowed: true
}

// The middleware limits each client by its API key and sets the RateLimit fields.
func ExampleMiddleware() {
	store, _ := memstore.New(memstore.Options{})
	defer store.Close()
	apiHandler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux := http.NewServeMux()

	limiter, _ := ratelimit.New(store, "rl:api:", ratelimit.Options{})
	byClient := func(r *http.Request) string { return r.Header.Get("X-API-Key") } // "" is not limited
	limit := ratelimit.Middleware(limiter, ratelimit.PerMinute(2), byClient, ratelimit.MiddlewareOptions{})
	mux.Handle("/api/", limit(apiHandler))

	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/api/orders", nil)
		r.Header.Set("X-API-Key", "key-1")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		h := w.Header()
		fmt.Printf("%d limit=%s remaining=%s reset=%s", w.Code, h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"))
		if s := h.Get("Retry-After"); s != "" {
			fmt.Printf(" retry-after=%s", s)
		}
		fmt.Println()
	}
	// Output:
	// 200 limit=2 remaining=1 reset=30
	// 200 limit=2 remaining=0 reset=60
	// 429 limit=2 remaining=0 reset=60 retry-after=30
}
