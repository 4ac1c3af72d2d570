package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// MiddlewareOptions configure Middleware. The zero MiddlewareOptions answer a denied request
// with a plain 429 and serve a request the limiter failed to check.
type MiddlewareOptions struct {
	// Denied writes the response to a denied request, after Middleware has set its status
	// headers and Retry-After; it should write status 429 (http.StatusTooManyRequests). Nil
	// writes 429 with the body "Too Many Requests".
	Denied http.Handler
	// OnError handles a request whose limiter call failed (the Store's error, or a request
	// a breaker skipped under Options.FailClosed), with the handler Middleware wraps. Nil
	// serves the request without rate-limit headers: Middleware fails open, since an outage
	// of the limiter's backend should not become an outage of the service. To fail closed,
	// refuse it:
	//
	//	OnError: func(w http.ResponseWriter, r *http.Request, err error, next http.Handler) {
	//		http.Error(w, "rate limiter unavailable", http.StatusServiceUnavailable)
	//	}
	//
	// It is also where to log or count the errors.
	OnError func(w http.ResponseWriter, r *http.Request, err error, next http.Handler)
}

// Middleware returns a function that wraps an http.Handler in l by limit: each request costs
// one under the key that key returns for it (a client's address, an API key, a user), and
// an empty key is not limited. It sets the rate-limit fields of
// draft-ietf-httpapi-ratelimit-headers (version 06, the last with one field each) on every
// response it checked:
//
//   - RateLimit-Limit: the quota, l.Quota(limit) (the Burst under GCRA, the Rate under the
//     windows);
//   - RateLimit-Remaining: Result.Remaining;
//   - RateLimit-Reset: Result.ResetAfter in seconds, rounded up;
//
// and answers a denied request with 429 and Retry-After: Result.RetryAfter in seconds,
// rounded up, so that a client that waits that long is not early. The request's context
// bounds the limiter's call.
//
// Middleware reports a bad limit (see AllowN) when it is built, by panicking, as
// http.Handle does on a bad pattern: it is a programming error.
func Middleware(l *Limiter, limit Limit, key func(*http.Request) string, opts MiddlewareOptions) func(http.Handler) http.Handler {
	if err := limit.check(); err != nil {
		panic(err)
	}
	if l.algorithm == GCRA {
		if _, err := limit.interval(); err != nil {
			panic(err)
		}
	}
	denied := opts.Denied
	if denied == nil {
		denied = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
		})
	}
	onError := opts.OnError
	if onError == nil {
		onError = func(w http.ResponseWriter, r *http.Request, _ error, next http.Handler) { next.ServeHTTP(w, r) }
	}
	quota := strconv.Itoa(l.Quota(limit))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" {
				next.ServeHTTP(w, r)
				return
			}
			res, err := l.Allow(r.Context(), k, limit)
			if err != nil {
				onError(w, r, err, next)
				return
			}
			h := w.Header()
			h.Set("RateLimit-Limit", quota)
			h.Set("RateLimit-Remaining", strconv.Itoa(res.Remaining))
			h.Set("RateLimit-Reset", seconds(res.ResetAfter))
			if !res.Allowed {
				h.Set("Retry-After", seconds(res.RetryAfter))
				denied.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// seconds formats d as whole seconds, rounded up: the fields' delta-seconds.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((max(d, 0)+time.Second-1)/time.Second), 10)
}
