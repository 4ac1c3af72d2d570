package backend

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BatchError reports a batch write (SetMany, or Delete of keys) that failed after it began
// sending: some requests may have been applied and others not. It says, key by key, what
// the Store knows: Written keys were confirmed (stored by SetMany, removed by Delete),
// NotWritten keys were certainly not (never sent, or refused by the server), and Unknown
// keys were sent without an answer, so they may or may not have been applied. Every key of
// the batch is in exactly one of the three, once.
//
// Unwrap returns the cause, so that errors.Is(err, context.DeadlineExceeded) and the like
// hold for a BatchError as for the error it wraps. A failed batch write that is not a
// BatchError wrote nothing: it was refused before any request was sent.
type BatchError struct {
	Written    []string
	NotWritten []string
	Unknown    []string
	Err        error
}

// Error says how many keys are in each state, never which.
func (e *BatchError) Error() string {
	return fmt.Sprintf("cachekit: batch write failed part-way (%d written, %d not written, %d unknown): %v",
		len(e.Written), len(e.NotWritten), len(e.Unknown), e.Err)
}

// Unwrap returns the cause of the failure.
func (e *BatchError) Unwrap() error { return e.Err }

// Batch tracks the keys of a batch write as its requests are sent and answered, and builds
// its BatchError. Every key starts as NotWritten. It is not safe for concurrent use: callers
// that send in parallel guard it with a lock of their own.
type Batch struct {
	state map[string]batchState
	order []string
}

type batchState uint8

const (
	notWritten batchState = iota
	written
	unknown
)

// NewBatch returns a Batch over keys, all NotWritten; repeated keys count once.
func NewBatch(keys []string) *Batch {
	b := &Batch{state: make(map[string]batchState, len(keys)), order: UniqueKeys(keys)}
	for _, k := range b.order {
		b.state[k] = notWritten
	}
	return b
}

// Written marks keys confirmed.
func (b *Batch) Written(keys ...string) { b.mark(written, keys) }

// Unknown marks keys sent without an answer.
func (b *Batch) Unknown(keys ...string) { b.mark(unknown, keys) }

// NotWritten marks keys certainly not applied, such as those the server refused.
func (b *Batch) NotWritten(keys ...string) { b.mark(notWritten, keys) }

func (b *Batch) mark(s batchState, keys []string) {
	for _, k := range keys {
		if _, ok := b.state[k]; ok {
			b.state[k] = s
		}
	}
}

// Err returns a *BatchError with the keys' states and cause err, or nil when err is nil.
func (b *Batch) Err(err error) error {
	if err == nil {
		return nil
	}
	e := &BatchError{Err: err}
	for _, k := range b.order {
		switch b.state[k] {
		case written:
			e.Written = append(e.Written, k)
		case unknown:
			e.Unknown = append(e.Unknown, k)
		default:
			e.NotWritten = append(e.NotWritten, k)
		}
	}
	return e
}

// MapBatchKeys returns err with the keys of a *BatchError in it passed through f, such as a
// cache's taking its prefix off; err itself when it holds none. The key states are copied.
func MapBatchKeys(err error, f func(string) string) error {
	var be *BatchError
	if !errors.As(err, &be) {
		return err
	}
	conv := func(keys []string) []string {
		if keys == nil {
			return nil
		}
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = f(k)
		}
		return out
	}
	return &BatchError{Written: conv(be.Written), NotWritten: conv(be.NotWritten), Unknown: conv(be.Unknown), Err: be.Err}
}

// RequestBounder is an optional interface of a Store that bounds every request it sends to
// its backend by the timeout WithRequestTimeout puts in the call's context: a Store whose
// one call may send many requests (a batch in chunks, a scan in pages). A caller that
// bounds how long the backend may take (the resilient Breaker) then leaves a call of many
// requests to the caller's context, and a Store without this interface is bounded by it
// whole instead.
type RequestBounder interface {
	// BoundsRequests documents the ability; it does nothing.
	BoundsRequests()
}

type requestTimeoutKey struct{}

// WithRequestTimeout returns a context that asks the Store receiving it to bound each
// request it sends by d (see RequestBounder). A d of zero or less sets no bound.
func WithRequestTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, requestTimeoutKey{}, d)
}

// RequestTimeout returns the timeout WithRequestTimeout put in ctx, and whether there is one.
func RequestTimeout(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(requestTimeoutKey{}).(time.Duration)
	return d, ok && d > 0
}

// RequestContext returns the context of one backend request: ctx bounded by the timeout
// WithRequestTimeout put in it, if any. The caller must call cancel when the request ends.
func RequestContext(ctx context.Context) (_ context.Context, cancel context.CancelFunc) {
	if d, ok := RequestTimeout(ctx); ok {
		return context.WithTimeout(ctx, d)
	}
	return ctx, func() {}
}

// CallErr returns err, a request's failure, joined with the call's context error when ctx is
// done and err does not already wrap it: a client's own "i/o timeout" then also answers
// errors.Is(err, context.DeadlineExceeded), as every error of a call whose deadline passed
// must. A nil err stays nil.
func CallErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); cerr == nil && ok && !time.Now().Before(dl) {
		// A dial given the deadline can fail on it before the context's own timer fires.
		cerr = context.DeadlineExceeded
	}
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, cerr)
}
