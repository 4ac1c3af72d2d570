package ratelimit_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/ratelimit"
)

// ok is the handler behind the middleware.
var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })

func byHeader(r *http.Request) string { return r.Header.Get("X-Client") }

func serve(h http.Handler, client string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if client != "" {
		r.Header.Set("X-Client", client)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestMiddleware(t *testing.T) {
	l, clock := openLimiter(t, ratelimit.GCRA)
	limit := ratelimit.Limit{Rate: 2, Period: 3 * time.Second, Burst: 2} // one every 1.5s
	h := ratelimit.Middleware(l, limit, byHeader, ratelimit.MiddlewareOptions{})(ok)

	for _, c := range []struct {
		advance   time.Duration
		client    string
		code      int
		remaining string
		reset     string
		retry     string
	}{
		{0, "a", 200, "1", "2", ""}, // 1.5s: rounded up
		{0, "a", 200, "0", "3", ""},
		{0, "a", 429, "0", "3", "2"}, // 1.5s, rounded up
		{0, "b", 200, "1", "2", ""},  // another key
		{1500 * time.Millisecond, "a", 200, "0", "3", ""},
		{500 * time.Millisecond, "a", 429, "0", "3", "1"}, // 2.5s and 1s
	} {
		clock.Advance(c.advance)
		w := serve(h, c.client)
		got := [4]string{w.Header().Get("RateLimit-Limit"), w.Header().Get("RateLimit-Remaining"), w.Header().Get("RateLimit-Reset"), w.Header().Get("Retry-After")}
		if want := [4]string{"2", c.remaining, c.reset, c.retry}; w.Code != c.code || got != want {
			t.Errorf("client %s at +%v: %d %q, want %d %q", c.client, clock.Now().Sub(t0), w.Code, got, c.code, want)
		}
		if c.code == 429 && w.Body.String() != "Too Many Requests\n" {
			t.Errorf("denied body %q", w.Body.String())
		}
	}

	// An empty key is not limited, and gets no fields.
	for range 5 {
		if w := serve(h, ""); w.Code != 200 || w.Header().Get("RateLimit-Limit") != "" {
			t.Fatalf("no key: %d, %v", w.Code, w.Header())
		}
	}
}

func TestMiddlewareOptions(t *testing.T) {
	l, _ := openLimiter(t, ratelimit.FixedWindow)
	teapot := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	h := ratelimit.Middleware(l, ratelimit.PerMinute(1), byHeader, ratelimit.MiddlewareOptions{Denied: teapot})(ok)
	serve(h, "a")
	if w := serve(h, "a"); w.Code != 429 || w.Body.Len() != 0 || w.Header().Get("Retry-After") != "60" || w.Header().Get("RateLimit-Limit") != "1" {
		t.Errorf("with Denied: %d %q %v", w.Code, w.Body, w.Header())
	}

	// On a limiter's error: served by default, with no fields; OnError may refuse instead.
	broken := failing{err: errors.New("connection refused")}
	lb, err := ratelimit.New(broken, "rl:", ratelimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(ratelimit.Middleware(lb, ratelimit.PerSecond(1), byHeader, ratelimit.MiddlewareOptions{})(ok), "a"); w.Code != 200 || w.Body.String() != "ok" || w.Header().Get("RateLimit-Limit") != "" {
		t.Errorf("failing open: %d %q %v", w.Code, w.Body, w.Header())
	}
	var seen error
	refuse := ratelimit.MiddlewareOptions{OnError: func(w http.ResponseWriter, _ *http.Request, err error, _ http.Handler) {
		seen = err
		http.Error(w, "rate limiter unavailable", http.StatusServiceUnavailable)
	}}
	if w := serve(ratelimit.Middleware(lb, ratelimit.PerSecond(1), byHeader, refuse)(ok), "a"); w.Code != 503 || seen == nil || seen.Error() != "connection refused" {
		t.Errorf("failing closed: %d, OnError saw %v", w.Code, seen)
	}
}

func TestMiddlewareBadLimit(t *testing.T) {
	l, _ := openLimiter(t, ratelimit.GCRA)
	for _, limit := range []ratelimit.Limit{{}, {Rate: 10_000_000, Period: time.Second}} {
		func() {
			defer func() {
				if err, _ := recover().(error); !errors.Is(err, backend.ErrConfig) {
					t.Errorf("Middleware with %v: panicked with %v, want an ErrConfig", limit, err)
				}
			}()
			ratelimit.Middleware(l, limit, byHeader, ratelimit.MiddlewareOptions{})
		}()
	}
}
