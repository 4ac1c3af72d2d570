package backend

import (
	"context"
	"errors"
	"time"
)

// Counter is an optional interface of a Store that counts atomically, so that instances
// counting one key at once never lose or double an increment: what a get-then-set cannot do.
// Callers find it with Find, through decorators; a decorator that must see counts (a breaker)
// implements it itself, and one that must not keep copies of them (a tier) passes it on.
//
// A counter's entry is a value like any other: its decimal digits, which read as a JSON
// number through Get (on DynamoDB, a number in the value attribute).
type Counter interface {
	// Incr adds delta (which may be negative or zero) to the counter under key and returns
	// the new count, in one request. When no unexpired entry is under key, the counter is
	// created at zero first, with ttl; later increments keep that TTL (a fixed window), and
	// a counter past its TTL starts again from zero, however late the backend removes it. An
	// entry under key that is not a counter is left alone and reported with ErrNotCounter.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
}

// ErrNotCounter reports an Incr on a key whose entry is not a counter: a value that is not an
// integer, or one past the range of int64 after the increment.
var ErrNotCounter = errors.New("cachekit: not a counter")
