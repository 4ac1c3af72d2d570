package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/monitor"
)

// A health check writes a probe key, reads it back, compares and deletes it, timing each
// step; a check that fails is retried with backoff before it reports unhealthy.
func ExampleChecker_Check() {
	store, _ := memstore.New(memstore.Options{}) // any backend.Store: dynamostore, redisstore, a decorator
	defer store.Close()

	checker := monitor.NewChecker(monitor.Options{})
	res := checker.Check(context.Background(), store)
	fmt.Println(res.Status != cachekit.Unhealthy, res.Attempts, res.ConsecutiveFailures) // degraded is a working but slow backend
	for _, step := range res.Steps {
		fmt.Println(step.Step, step.Error == "")
	}
	has, _ := store.Has(context.Background(), res.Key)
	fmt.Println("probe key left behind:", has)
	// Output:
	// true 1 0
	// set true
	// get true
	// delete true
	// probe key left behind: false
}

// A Checker's Handler checks a store on each request, bounded by the request's context, and
// answers with the result as JSON.
func ExampleChecker_Handler() {
	store, _ := memstore.New(memstore.Options{})
	defer store.Close()

	checker := monitor.NewChecker(monitor.Options{})
	mux := http.NewServeMux()
	mux.Handle("/health/cache", checker.Handler(store)) // 200 healthy or degraded, 503 unhealthy, JSON

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/health/cache", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 application/json
}
