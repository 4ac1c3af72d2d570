package resilient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/cachekit/cachekit/backend"
)

// ErrOpen reports an invalidation (Delete, Expire, Clear) or a count refused because the
// breaker is open (on a partitioned Store, the circuit of the key's partition, or of any
// partition for Count and Clear): it did not happen, for those keys. Once the backend answers again the breaker deletes
// the keys (a refused Expire included) or clears the prefix, and reads them as misses until
// then.
var ErrOpen = errors.New("cachekit: circuit breaker open")

// Defaults for the zero fields of Options.
const (
	DefaultName             = "cachekit"
	DefaultFailureThreshold = 5
	DefaultOpenTimeout      = 10 * time.Second
	DefaultHalfOpenProbes   = 1
	DefaultOpTimeout        = 500 * time.Millisecond
)

// Options configures a Breaker. The zero value means every documented default.
type Options struct {
	// Name names the breaker in logs. Zero means DefaultName.
	Name string
	// FailureThreshold is how many failures in a row open the breaker. Zero means
	// DefaultFailureThreshold.
	FailureThreshold uint32
	// OpenTimeout is how long the breaker stays open before it lets probes through.
	// Zero means DefaultOpenTimeout; a negative one is refused.
	OpenTimeout time.Duration
	// HalfOpenProbes is how many calls may probe the backend at once while half open; that
	// many successes close the breaker. Zero means DefaultHalfOpenProbes.
	HalfOpenProbes uint32
	// OpTimeout bounds every request to the backend, inside the caller's context, so that a
	// hung backend costs milliseconds, not the caller's whole budget. A single-key call is
	// one request, bounded whole. A batch call (GetMany, SetMany, Delete of many keys) may
	// send many: when the Store behind is a backend.RequestBounder, OpTimeout bounds each of
	// its requests and the caller's context the whole call; otherwise OpTimeout bounds the
	// whole call. Zero means DefaultOpTimeout; a negative value sets no bound of its own.
	OpTimeout time.Duration
	// MaxTracked bounds the keys whose writes the breaker skipped, refused or saw fail, which
	// it invalidates in the backend once it answers again, and whose reads miss until then.
	// Past it, the keys fold into the prefixes they share, which are cleared instead. Zero
	// means DefaultMaxTracked; a negative one is refused.
	MaxTracked int
	// FailCountersClosed makes Incr report an error wrapping backend.ErrSkipped while the
	// key's circuit is open. False (the zero value) fails counters open: Incr answers a count
	// of zero with no error, so that a rate limiter built on counters admits requests during
	// an outage. Either way nothing is sent, and Stats.SkippedCounts counts the call; an Incr
	// the backend fails while the circuit is closed returns its error under both.
	FailCountersClosed bool
	// Logger receives a line when the breaker opens and when it closes, and at most one a
	// minute of the changes between open and half open in between, as probes fail; it never
	// names keys or values. Nil means slog.Default().
	Logger *slog.Logger
}

// Breaker is a backend.Store in front of another, behind a circuit breaker that fails open:
// one circuit for the whole Store, and one per partition when the Store is a
// backend.Partitioner. Create it with New; it is safe for concurrent use.
type Breaker struct {
	next backend.Store
	cb   *circuit // the whole Store's
	o    Options

	parts partitions // one circuit per partition, on a backend.Partitioner

	skippedReads, skippedWrites, skippedLeases, skippedCounts, refused, stateChanges atomic.Uint64

	// The state changes of an outage left out of the log since the last line, which came at
	// outageLoggedAt. Every circuit (the whole Store's, each partition's) reports to them.
	outageMu       sync.Mutex
	outageLoggedAt time.Time
	outageUnlogged int

	// Keys whose writes were skipped or failed, so that the backend may still hold the value
	// they replaced: invalidated once the backend answers again, read as misses until then.
	stale *staleSet
}

var (
	_ backend.Store          = (*Breaker)(nil)
	_ backend.ExpiryReader   = (*Breaker)(nil)
	_ backend.Leaser         = (*Breaker)(nil)
	_ backend.Counter        = (*Breaker)(nil)
	_ backend.StatusReporter = (*Breaker)(nil)
	_ backend.Unwrapper      = (*Breaker)(nil)
)

// errExcluded marks, for the breaker, a call whose outcome says nothing of the backend's
// health: the caller's own cancellation, or input the backend refused.
var errExcluded = errors.New("excluded")

// New returns a Breaker in front of next. Close closes next.
func New(next backend.Store, opts Options) (*Breaker, error) {
	if next == nil {
		return nil, fmt.Errorf("resilient: nil Store: %w", backend.ErrConfig)
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.FailureThreshold == 0 {
		opts.FailureThreshold = DefaultFailureThreshold
	}
	if opts.OpenTimeout < 0 || opts.MaxTracked < 0 {
		return nil, fmt.Errorf("resilient: negative Options (OpenTimeout %v, MaxTracked %d): %w", opts.OpenTimeout, opts.MaxTracked, backend.ErrConfig)
	}
	if opts.OpenTimeout == 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	if opts.OpTimeout == 0 {
		opts.OpTimeout = DefaultOpTimeout
	}
	if opts.MaxTracked == 0 {
		opts.MaxTracked = DefaultMaxTracked
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Breaker{next: next, o: opts}
	// The invalidation waits for the whole Store's circuit only: on a Store in parts, the
	// keys of the parts that answer are invalidated while another part is open.
	b.stale = newStaleSet(opts.MaxTracked, func() bool { return b.cb.State() != gobreaker.StateOpen }, b.invalidate, settleLog{
		logger: opts.Logger,
		failed: "cachekit: invalidating the keys of skipped writes failed; they read as misses until a retry succeeds",
		done:   "cachekit: the keys of skipped writes are invalidated; they read from the backend again",
		attrs:  []any{"breaker", opts.Name},
	})
	newCircuit := func(name string) *circuit {
		return gobreaker.NewTwoStepCircuitBreaker[struct{}](b.settings(name))
	}
	b.cb = newCircuit(opts.Name)
	if p, ok := next.(backend.Partitioner); ok {
		b.parts = partitions{of: p, make: newCircuit}
	}
	return b, nil
}

// settings configures a circuit named name.
func (b *Breaker) settings(name string) gobreaker.Settings {
	opts := b.o
	return gobreaker.Settings{
		Name:        name,
		MaxRequests: cmp.Or(opts.HalfOpenProbes, DefaultHalfOpenProbes),
		Timeout:     opts.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= opts.FailureThreshold },
		IsExcluded:  func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			b.stateChanges.Add(1)
			level := slog.LevelWarn
			if to == gobreaker.StateClosed {
				level = slog.LevelInfo
			}
			attrs := []any{"breaker", name, "from", from.String(), "to", to.String()}
			// An outage repeats open and half open at every failed probe; it is logged once
			// in a while.
			b.outageMu.Lock()
			if from != gobreaker.StateClosed && to != gobreaker.StateClosed {
				if time.Since(b.outageLoggedAt) < failureLogEvery {
					b.outageUnlogged++
					b.outageMu.Unlock()
					return
				}
				attrs = append(attrs, "changes_since_last_line", b.outageUnlogged+1)
			}
			b.outageLoggedAt, b.outageUnlogged = time.Now(), 0
			b.outageMu.Unlock()
			opts.Logger.Log(context.Background(), level, "cachekit: circuit breaker changed state", attrs...)
		},
	}
}

// kind is how a call fails open.
type kind int

const (
	read       kind = iota // a miss without touching the backend
	write                  // skipped
	invalidate             // refused with ErrOpen
	retry                  // the breaker's own invalidation of stale keys: refused with ErrOpen, not counted
	lease                  // refused with errLeaseSkipped, an ErrSkipped
	incr                   // a zero count, or errCountSkipped under FailCountersClosed
)

// outcome is what became of a call.
type outcome int

const (
	notRun     outcome = iota // the caller's context was done before the call began
	wasSkipped                // the breaker kept it from the backend
	ran                       // it went to the backend
)

// call runs fn against the backend through the circuit c, bounded by OpTimeout. When c
// keeps the call from the backend, err is what the caller gets instead.
func (b *Breaker) call(ctx context.Context, c *circuit, k kind, fn func(context.Context) error) (outcome, error) {
	if err := backend.ContextErr(ctx); err != nil {
		return notRun, err
	}
	done, err := c.Allow()
	if err != nil {
		switch k {
		case read:
			b.skippedReads.Add(1)
			return wasSkipped, backend.ErrSkipped
		case write:
			b.skippedWrites.Add(1)
			return wasSkipped, nil
		case lease:
			b.skippedLeases.Add(1)
			return wasSkipped, errLeaseSkipped
		case incr:
			b.skippedCounts.Add(1)
			if b.o.FailCountersClosed {
				return wasSkipped, errCountSkipped
			}
			return wasSkipped, nil
		default:
			if k == invalidate {
				b.refused.Add(1)
			}
			return wasSkipped, fmt.Errorf("%w: %w", ErrOpen, err)
		}
	}
	opCtx := ctx
	if b.o.OpTimeout > 0 && !b.boundsEachRequest(ctx) {
		var cancel context.CancelFunc
		opCtx, cancel = context.WithTimeout(ctx, b.o.OpTimeout)
		defer cancel()
	}
	err = fn(opCtx)
	done(b.judge(ctx, err))
	return ran, err
}

// many returns the context of a batch call, which may send many requests: when the Store
// behind bounds each request, OpTimeout bounds each of them, and call leaves the whole call
// to the caller's context.
func (b *Breaker) many(ctx context.Context) context.Context {
	if _, ok := b.next.(backend.RequestBounder); !ok || b.o.OpTimeout <= 0 {
		return ctx
	}
	return backend.WithRequestTimeout(ctx, b.o.OpTimeout)
}

// boundsEachRequest reports whether the Store behind bounds each request of this call by the
// timeout many put in ctx, so that call need not bound the whole call.
func (b *Breaker) boundsEachRequest(ctx context.Context) bool {
	_, bounder := b.next.(backend.RequestBounder)
	_, perRequest := backend.RequestTimeout(ctx)
	return bounder && perRequest
}

// judge tells the breaker what err says of the backend's health.
func (b *Breaker) judge(ctx context.Context, err error) error {
	switch {
	case err == nil, errors.Is(err, backend.ErrNotFound):
		return nil // the backend answered
	case ctx.Err() != nil, errors.Is(err, backend.ErrInvalidKey), errors.Is(err, backend.ErrInvalidTTL),
		errors.Is(err, backend.ErrValueTooLarge), errors.Is(err, backend.ErrClosed), errors.Is(err, backend.ErrNotCounter),
		errors.Is(err, errors.ErrUnsupported): // a decorator behind, such as a tier, lacks an ability
		return errExcluded
	}
	return err // a timeout of ours, a connection error, a server error
}

// wrote records the outcome of a write or invalidation of keys (or of a Clear of prefix):
// when it was skipped, refused or failed against the backend, the backend may still hold
// the value it was to replace, so the keys are invalidated once the backend answers again.
func (b *Breaker) wrote(ctx context.Context, o outcome, err error, prefix string, keys ...string) {
	if o == notRun || o == ran && (err == nil || errors.Is(b.judge(ctx, err), errExcluded) && ctx.Err() == nil) {
		return // done, or never begun, or refused input: nothing was replaced
	}
	b.stale.add(prefix, keys...) // the next read starts the invalidation
}

// unconfirmed returns the keys of a batch write that failed with err whose new state the
// backend did not confirm: those a *backend.BatchError does not list as written, else all.
func unconfirmed(err error, keys []string) []string {
	var be *backend.BatchError
	if !errors.As(err, &be) {
		return keys
	}
	return append(slices.Clip(be.NotWritten), be.Unknown...)
}

// part is the outcome of one partition's share of a batch write.
type part struct {
	keys []string
	o    outcome
	err  error
}

// joinParts is the error of a batch write sent in parts: nil when every part succeeded (or
// was skipped), the one failure when only one part was sent, and otherwise a BatchError that
// says of every key of every part what became of it. A part that failed with another error
// wrote nothing, as the Store contract says of a failed batch that is not a BatchError.
func joinParts(parts []part) error {
	var failed int
	for _, p := range parts {
		if p.err != nil {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	if len(parts) == 1 {
		return parts[0].err
	}
	joined := &backend.BatchError{}
	var causes []error
	for _, p := range parts {
		var be *backend.BatchError
		switch {
		case errors.As(p.err, &be):
			joined.Written = append(joined.Written, be.Written...)
			joined.NotWritten = append(joined.NotWritten, be.NotWritten...)
			joined.Unknown = append(joined.Unknown, be.Unknown...)
			causes = append(causes, be.Err)
		case p.err != nil:
			joined.NotWritten = append(joined.NotWritten, p.keys...)
			causes = append(causes, p.err)
		case p.o == wasSkipped:
			joined.NotWritten = append(joined.NotWritten, p.keys...)
		default:
			joined.Written = append(joined.Written, p.keys...)
		}
	}
	joined.Err = errors.Join(causes...)
	return joined
}

// invalidate runs one batch of the stale keys' invalidation: a Delete through the breaker,
// each of its requests within OpTimeout (see many), or a Clear with a scan's budget.
func (b *Breaker) invalidate(ctx context.Context, batch pending) (n int, err error) {
	if len(batch.keys) == 0 {
		return batch.invalidate(ctx, b.next)
	}
	keys := make([]string, 0, len(batch.keys))
	for k := range batch.keys {
		keys = append(keys, k)
	}
	return len(keys), b.deleteSplit(b.many(ctx), retry, keys)
}

// staleRead reports whether key's value in the backend may be older than a write the
// breaker skipped, counting it as a skipped read.
func (b *Breaker) staleRead(key string) bool {
	if b.stale.covers(key) {
		b.skippedReads.Add(1)
		return true
	}
	return false
}

// fresh returns the keys whose reads may go to the backend: all of them, unless writes to
// some were skipped.
func (b *Breaker) fresh(keys []string) []string {
	ok, stale := b.stale.fresh(keys)
	b.skippedReads.Add(uint64(stale))
	return ok
}

// Get implements backend.Store; while open, a miss.
func (b *Breaker) Get(ctx context.Context, key string) (v []byte, err error) {
	if err := backend.CheckKey(key); err != nil {
		return nil, err
	}
	if b.staleRead(key) {
		return nil, backend.ErrSkipped
	}
	o, err := b.call(ctx, b.circuit(key), read, func(ctx context.Context) error {
		v, err = b.next.Get(ctx, key)
		return err
	})
	if o == wasSkipped {
		return nil, err
	}
	return v, err
}

// GetMany implements backend.Store; while open, nothing found.
func (b *Breaker) GetMany(ctx context.Context, keys []string) (found map[string][]byte, err error) {
	if err := backend.CheckKeys(keys); err != nil {
		return nil, err
	}
	if keys = b.fresh(keys); len(keys) == 0 {
		return map[string][]byte{}, nil
	}
	found = make(map[string][]byte, len(keys))
	err = readParts(ctx, b, keys, b.next.GetMany, func(part map[string][]byte) { maps.Copy(found, part) })
	if err != nil {
		return nil, err
	}
	return found, nil
}

// GetEntries implements backend.ExpiryReader, in one request when the Store behind has it;
// while open, nothing found.
func (b *Breaker) GetEntries(ctx context.Context, keys []string) (entries []backend.Entry, err error) {
	if err := backend.CheckKeys(keys); err != nil {
		return nil, err
	}
	if keys = b.fresh(keys); len(keys) == 0 {
		return nil, nil
	}
	err = readParts(ctx, b, keys, func(ctx context.Context, keys []string) ([]backend.Entry, error) {
		return backend.ReadEntries(ctx, b.next, keys)
	}, func(part []backend.Entry) { entries = append(entries, part...) })
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// readParts reads keys through the circuit of each one's partition, at once: fetch is the
// Store's call for one part's keys, and keep gathers a part's result, one part at a time. An
// open part's keys are misses; the parts' failures are joined.
func readParts[T any](ctx context.Context, b *Breaker, keys []string, fetch func(context.Context, []string) (T, error), keep func(T)) error {
	var mu sync.Mutex
	var errs []error
	each(b.split(len(keys), func(i int) string { return keys[i] }), func(g group) {
		var part T
		o, err := b.call(b.many(ctx), g.c, read, func(ctx context.Context) (err error) {
			part, err = fetch(ctx, g.keys())
			return err
		})
		mu.Lock()
		defer mu.Unlock()
		switch {
		case o == wasSkipped:
		case err != nil:
			errs = append(errs, err)
		default:
			keep(part)
		}
	})
	return errors.Join(errs...)
}

// Has implements backend.Store; while open, false.
func (b *Breaker) Has(ctx context.Context, key string) (ok bool, err error) {
	if err := backend.CheckKey(key); err != nil {
		return false, err
	}
	if b.staleRead(key) {
		return false, nil
	}
	o, err := b.call(ctx, b.circuit(key), read, func(ctx context.Context) error {
		ok, err = b.next.Has(ctx, key)
		return err
	})
	if o == wasSkipped {
		return false, nil
	}
	return ok, err
}

// TTL implements backend.Store; while open, a miss.
func (b *Breaker) TTL(ctx context.Context, key string) (ttl time.Duration, err error) {
	if err := backend.CheckKey(key); err != nil {
		return 0, err
	}
	if b.staleRead(key) {
		return 0, backend.ErrSkipped
	}
	_, err = b.call(ctx, b.circuit(key), read, func(ctx context.Context) error {
		ttl, err = b.next.TTL(ctx, key)
		return err
	})
	return ttl, err
}

// Set implements backend.Store; while open, skipped.
func (b *Breaker) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := backend.CheckEntries([]backend.Entry{{Key: key, TTL: ttl}}); err != nil {
		return err
	}
	o, err := b.call(ctx, b.circuit(key), write, func(ctx context.Context) error { return b.next.Set(ctx, key, value, ttl) })
	b.wrote(ctx, o, err, "", key)
	return err
}

// SetMany implements backend.Store; while open, skipped.
func (b *Breaker) SetMany(ctx context.Context, entries []backend.Entry) error {
	if err := backend.CheckEntries(entries); err != nil {
		return err
	}
	var mu sync.Mutex
	var parts []part
	each(b.split(len(entries), func(i int) string { return entries[i].Key }), func(g group) {
		batch := make([]backend.Entry, len(g.at))
		for i, at := range g.at {
			batch[i] = entries[at]
		}
		keys := g.keys()
		o, err := b.call(b.many(ctx), g.c, write, func(ctx context.Context) error { return b.next.SetMany(ctx, batch) })
		if o == wasSkipped || err != nil {
			b.wrote(ctx, o, err, "", unconfirmed(err, keys)...)
		}
		mu.Lock()
		parts = append(parts, part{keys, o, err})
		mu.Unlock()
	})
	return joinParts(parts)
}

// Delete implements backend.Store; while open, ErrOpen.
func (b *Breaker) Delete(ctx context.Context, keys ...string) error {
	if err := backend.CheckKeys(keys); err != nil {
		return err
	}
	callCtx := ctx
	if len(keys) > 1 {
		callCtx = b.many(ctx)
	}
	return b.deleteSplit(callCtx, invalidate, keys)
}

// deleteSplit deletes keys through the circuit of each one's partition, as a caller's
// invalidation or the breaker's own retry (k), and records the keys of a caller's parts that
// were refused, or not confirmed deleted (a retry's keys are stale already).
func (b *Breaker) deleteSplit(ctx context.Context, k kind, keys []string) error {
	var mu sync.Mutex
	var parts []part
	each(b.split(len(keys), func(i int) string { return keys[i] }), func(g group) {
		keys := g.keys()
		o, err := b.call(ctx, g.c, k, func(ctx context.Context) error { return b.next.Delete(ctx, keys...) })
		if k != retry {
			b.wrote(ctx, o, err, "", unconfirmed(err, keys)...)
		}
		mu.Lock()
		parts = append(parts, part{keys, o, err})
		mu.Unlock()
	})
	return joinParts(parts)
}

// Expire implements backend.Store; while open, ErrOpen.
func (b *Breaker) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := backend.CheckEntries([]backend.Entry{{Key: key, TTL: ttl}}); err != nil {
		return err
	}
	o, err := b.call(ctx, b.circuit(key), invalidate, func(ctx context.Context) error { return b.next.Expire(ctx, key, ttl) })
	if !errors.Is(err, backend.ErrNotFound) {
		b.wrote(ctx, o, err, "", key)
	}
	return err
}

// Count implements backend.Store; while open, ErrOpen. A count scans, so it is bounded by the
// caller's context alone, not by OpTimeout.
func (b *Breaker) Count(ctx context.Context, prefix string) (n int, err error) {
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	if err := b.refuseWhole(); err != nil {
		return 0, err
	}
	_, err = b.call(ctx, b.cb, invalidate, func(context.Context) error {
		n, err = b.next.Count(ctx, prefix)
		return err
	})
	return n, err
}

// Clear implements backend.Store; while open, ErrOpen. Like Count, it is bounded by the
// caller's context alone.
func (b *Breaker) Clear(ctx context.Context, prefix string) (n int, err error) {
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	if err := b.refuseWhole(); err != nil {
		b.wrote(ctx, wasSkipped, err, prefix)
		return 0, err
	}
	o, err := b.call(ctx, b.cb, invalidate, func(context.Context) error {
		n, err = b.next.Clear(ctx, prefix)
		return err
	})
	b.wrote(ctx, o, err, prefix)
	return n, err
}

// Close stops the invalidation goroutine and closes the Store behind the breaker.
func (b *Breaker) Close() error {
	b.stale.close()
	return b.next.Close()
}

// Stats is what the breaker did.
type Stats struct {
	State                string // closed, half-open or open; on a partitioned Store, the worst of its circuits
	OpenPartitions       int    // partitions whose own circuit is open, on a backend.Partitioner
	SkippedReads         uint64 // reads answered with a miss without asking the backend: while open, or of a stale key
	Stale                int    // keys and prefixes still to invalidate
	SkippedWrites        uint64 // writes skipped while open
	SkippedLeases        uint64 // Acquire and Release calls refused with ErrSkipped while open, or half open with its probes under way
	SkippedCounts        uint64 // Incr calls not sent, as SkippedLeases: answered with a zero count, or ErrSkipped under FailCountersClosed
	RefusedInvalidations uint64 // callers' Delete, Expire, Clear and Count refused while open, or half open with its probes under way
	StateChanges         uint64
}

// isOpen reports whether the breaker keeps calls from the backend.
func (b *Breaker) isOpen() bool { return b.cb.State() == gobreaker.StateOpen || b.partitionOpen() }

// Status implements backend.StatusReporter: the breaker's state, on a partitioned Store the
// worst of its circuits'.
func (b *Breaker) Status() backend.Status { return backend.Status{Breaker: b.worstState().String()} }

// Unwrap implements backend.Unwrapper: the Store behind the breaker.
func (b *Breaker) Unwrap() backend.Store { return b.next }

// Stats returns the breaker's state and counters.
func (b *Breaker) Stats() Stats {
	left, _ := b.stale.size()
	return Stats{
		State:                b.worstState().String(),
		OpenPartitions:       b.openPartitions(),
		SkippedReads:         b.skippedReads.Load(),
		Stale:                left,
		SkippedWrites:        b.skippedWrites.Load(),
		SkippedLeases:        b.skippedLeases.Load(),
		SkippedCounts:        b.skippedCounts.Load(),
		RefusedInvalidations: b.refused.Load(),
		StateChanges:         b.stateChanges.Load(),
	}
}
