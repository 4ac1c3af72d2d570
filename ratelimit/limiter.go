package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
)

// Algorithm is how a Limiter counts.
type Algorithm int

const (
	// GCRA, the generic cell rate algorithm (the zero Algorithm, the default), admits
	// requests at a steady pace of one per Period/Rate, with bursts of up to Burst after a
	// quiet spell. It keeps one timestamp per key and asks the Store once per request, through
	// backend.Throttler. It is exact across a fleet.
	GCRA Algorithm = iota
	// FixedWindow counts requests in windows of one Period, aligned on the Unix epoch, and
	// admits Rate in each. It asks the Store once per request, through backend.Counter. A
	// client may get up to 2×Rate across a window's edge.
	FixedWindow
	// SlidingWindow counts as FixedWindow does, and adds the previous window's count weighted
	// by how much of it a window ending now still covers: it smooths the edge of the windows.
	// It asks the Store twice per request: a Get of the previous count and an Incr.
	SlidingWindow
)

// String returns the Algorithm's name: "gcra", "fixed-window" or "sliding-window".
func (a Algorithm) String() string {
	switch a {
	case GCRA:
		return "gcra"
	case FixedWindow:
		return "fixed-window"
	case SlidingWindow:
		return "sliding-window"
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// Options configure a Limiter. The zero Options are GCRA, on the system clock, failing open
// when a circuit breaker skips the backend.
type Options struct {
	// Algorithm is how the Limiter counts. Zero means GCRA.
	Algorithm Algorithm
	// Clock tells the windows the time, which picks the window a request counts in. Nil means
	// the system clock. GCRA does not read it: its step runs at the Store's own time (the
	// Redis server's, for one), so that a fleet agrees on it.
	//
	// The windows read it again when the Store answers: an answer that comes back over two
	// windows after the start of the request's window, as when the process stalled for
	// longer than a window, may come from a counter that expired and started again from zero,
	// so the request is decided again at the new time, and denied if that answer is late too.
	Clock backend.Clock
	// FailClosed makes Allow return the error of a request the Store did not decide because a
	// circuit breaker in front of it skipped the backend (an error wrapping
	// backend.ErrSkipped), with a denied Result. False (the zero value) admits that request
	// with no error, as resilient.Breaker fails counters open unless its FailCountersClosed
	// is set: the same switch, with the same polarity, one layer up. Any other error of the
	// Store is returned either way.
	FailClosed bool
}

// Limiter admits or denies requests under keys by a Limit, with its state in a Store shared by
// every instance of a service: what one instance admits, the others see. It is safe for
// concurrent use, holds no goroutine and does not own the Store: closing the Store is the
// caller's business.
type Limiter struct {
	store      backend.Store
	counter    backend.Counter   // the windows'
	throttler  backend.Throttler // GCRA's
	prefix     string
	algorithm  Algorithm
	clock      backend.Clock
	failClosed bool
}

// Result is a Limiter's answer to one request.
type Result struct {
	// Allowed reports whether the request was admitted.
	Allowed bool
	// Remaining is how many more requests of weight one the key would admit now: what is left
	// of GCRA's burst, or of the window's quota.
	Remaining int
	// RetryAfter is, for a denied request, how long until it would be admitted if no other
	// came meanwhile. It is zero when the request was admitted (go-redis/redis_rate reports -1
	// then), so that RetryAfter > 0 means "wait"; and zero for the rare request a window
	// denied because the Store's answers came too late to trust, twice (see Options.Clock),
	// which may be asked again at once.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to its full quota (Remaining at Burst
	// under GCRA, at Rate under the windows) if no other request came meanwhile.
	ResetAfter time.Duration
}

// ErrInvalidN reports an AllowN whose n is under one, or over what the Limit ever admits at
// once (its Burst under GCRA, its Rate under the windows), which no wait would let through.
// Nothing was asked of the Store.
var ErrInvalidN = errors.New("ratelimit: invalid n")

// New returns a Limiter that keeps its state in store, under keys that start with prefix
// (which ends with one of cachekit.PrefixSeparators, as "rl:", so that no other prefix's
// keys start with it). The Store must have the ability the Algorithm needs, found with
// backend.Find through any decorators: backend.Throttler for GCRA, backend.Counter for the
// windows; without it, New reports an error wrapping errors.ErrUnsupported. Its other errors
// wrap backend.ErrConfig.
//
// Give each Limiter a prefix of its own: a GCRA key and a window's counter are different
// kinds of entry, and under one prefix they could meet.
func New(store backend.Store, prefix string, opts Options) (*Limiter, error) {
	if store == nil {
		return nil, fmt.Errorf("ratelimit: nil Store: %w", backend.ErrConfig)
	}
	if err := cachekit.CheckPrefix(prefix); err != nil {
		return nil, fmt.Errorf("ratelimit: prefix: %w: %w", err, backend.ErrConfig)
	}
	l := &Limiter{store: store, prefix: prefix, algorithm: opts.Algorithm, clock: opts.Clock, failClosed: opts.FailClosed}
	if l.clock == nil {
		l.clock = systemClock{}
	}
	var ok bool
	switch opts.Algorithm {
	case GCRA:
		if l.throttler, ok = backend.Find[backend.Throttler](store); !ok {
			return nil, fmt.Errorf("ratelimit: GCRA needs a Store that is a backend.Throttler: %w", errors.ErrUnsupported)
		}
	case FixedWindow, SlidingWindow:
		if l.counter, ok = backend.Find[backend.Counter](store); !ok {
			return nil, fmt.Errorf("ratelimit: %v needs a Store that is a backend.Counter: %w", opts.Algorithm, errors.ErrUnsupported)
		}
	default:
		return nil, fmt.Errorf("ratelimit: unknown %v: %w", opts.Algorithm, backend.ErrConfig)
	}
	return l, nil
}

// Algorithm returns the Limiter's Algorithm.
func (l *Limiter) Algorithm() Algorithm { return l.algorithm }

// Allow asks to admit one request under key by limit; it is AllowN(ctx, key, limit, 1).
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	return l.AllowN(ctx, key, limit, 1)
}

// AllowN asks to admit a request of weight n (n requests at once, or one that costs n) under
// key, by limit. The Store holds the state under the Limiter's prefix followed by key.
//
// A request the Store fails to decide is not admitted: AllowN returns the Store's error with
// a zero Result (Allowed false), and the caller chooses. To fail open — to keep serving when
// the limiter's backend is down, at the cost of not limiting — admit on any error:
//
//	res, err := limiter.Allow(ctx, key, limit)
//	if err != nil {
//		log.Printf("rate limit not checked: %v", err)
//		res.Allowed = true
//	}
//
// A resilient.Breaker in front of the Store makes that choice once for the whole fleet: while
// its circuit is open it does not ask the backend, and the Limiter admits (see
// Options.FailClosed). Middleware fails open on errors by default.
//
// The limit is checked on every call, and a bad one reported wrapping backend.ErrConfig; an
// empty key, or one too long with the prefix, wraps backend.ErrInvalidKey; an n AllowN can
// never admit is ErrInvalidN. None of these sends a request.
func (l *Limiter) AllowN(ctx context.Context, key string, limit Limit, n int) (Result, error) {
	if err := limit.check(); err != nil {
		return Result{}, err
	}
	if n < 1 || n > l.quota(limit) {
		return Result{}, fmt.Errorf("%w: %d, with %v under %v", ErrInvalidN, n, limit, l.algorithm)
	}
	if key == "" {
		return Result{}, fmt.Errorf("ratelimit: %w: empty key", backend.ErrInvalidKey)
	}
	var (
		res Result
		err error
	)
	switch l.algorithm {
	case GCRA:
		res, err = l.gcra(ctx, l.prefix+key, limit, n)
	default:
		res, err = l.windowed(ctx, l.prefix+key, limit, n)
	}
	if err != nil && !l.failClosed && errors.Is(err, backend.ErrSkipped) {
		// The backend was not asked: admit, as if the key were new.
		return Result{Allowed: true, Remaining: l.quota(limit)}, nil
	}
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// Quota returns how many requests limit admits under the Limiter at most at once: its Burst
// under GCRA, its Rate under the windows. It is what Remaining counts down from, and what
// Middleware reports as RateLimit-Limit.
func (l *Limiter) Quota(limit Limit) int { return l.quota(limit) }

func (l *Limiter) quota(limit Limit) int {
	if l.algorithm == GCRA {
		return limit.burst()
	}
	return limit.Rate
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
