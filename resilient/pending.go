package resilient

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// Bounds of the invalidation work a breaker or a fallback does once a backend is back.
const (
	// maxPrefixes bounds the prefixes a pending set keeps once its keys overflow: past it,
	// a new prefix is merged with the one it shares most with. Prefixes that share no first
	// byte are never merged (that would make the empty prefix, every key), so at worst one
	// prefix per first byte is kept beyond it.
	maxPrefixes = 64
	// settleBatch is how many keys one Delete of the invalidation sends.
	settleBatch = 1000
	// clearTimeout bounds one Clear of the invalidation: a scan, not a lookup.
	clearTimeout = time.Minute
	// failureLogEvery is how often, at most, the failures an outage repeats are logged again:
	// the invalidation's, and the breaker's changes between open and half open, which come at
	// every probe, every OpenTimeout, for as long as it lasts.
	failureLogEvery = time.Minute
)

// pending is a bounded set of keys whose values in a store may be older than the latest
// write or delete, and must be invalidated there before they are read there again. Past its
// limit, its keys fold into the prefixes they share, which a Clear invalidates. The zero
// value is empty.
type pending struct {
	keys     map[string]struct{}
	prefixes []string
}

func (p *pending) empty() bool { return len(p.keys) == 0 && len(p.prefixes) == 0 }

// size is how many keys and prefixes p holds.
func (p *pending) size() int { return len(p.keys) + len(p.prefixes) }

// add records keys, keeping at most limit of them before folding them into prefixes.
func (p *pending) add(limit int, keys ...string) {
	for _, k := range keys {
		if p.coveredByPrefix(k) {
			continue
		}
		if p.keys == nil {
			p.keys = map[string]struct{}{}
		}
		p.keys[k] = struct{}{}
	}
	if len(p.keys) > limit {
		folded := p.keys
		p.keys = nil
		for k := range folded {
			p.addPrefix(k)
		}
	}
}

// addPrefix records a Clear of prefix: its keys are unknown, so the prefix is cleared.
func (p *pending) addPrefix(prefix string) {
	if p.coveredByPrefix(prefix) {
		return
	}
	kept := p.prefixes[:0]
	for _, q := range p.prefixes {
		if !strings.HasPrefix(q, prefix) {
			kept = append(kept, q)
		}
	}
	p.prefixes = kept
	for k := range p.keys {
		if strings.HasPrefix(k, prefix) {
			delete(p.keys, k)
		}
	}
	if len(p.prefixes) >= maxPrefixes {
		best, at := "", -1
		for i, q := range p.prefixes {
			if cp := commonPrefix(q, prefix); len(cp) > len(best) {
				best, at = cp, i
			}
		}
		if at >= 0 {
			p.prefixes = append(p.prefixes[:at], p.prefixes[at+1:]...)
			p.addPrefix(best)
			return
		}
	}
	p.prefixes = append(p.prefixes, prefix)
}

func (p *pending) coveredByPrefix(key string) bool {
	for _, q := range p.prefixes {
		if strings.HasPrefix(key, q) {
			return true
		}
	}
	return false
}

// covers reports whether key's value may be stale.
func (p *pending) covers(key string) bool {
	if _, ok := p.keys[key]; ok {
		return true
	}
	return p.coveredByPrefix(key)
}

// merge adds what o holds.
func (p *pending) merge(o pending, limit int) {
	for _, q := range o.prefixes {
		p.addPrefix(q)
	}
	for k := range o.keys {
		p.add(limit, k)
	}
}

// take returns what p holds and empties it.
func (p *pending) take() pending {
	o := *p
	*p = pending{}
	return o
}

// takeBatch removes and returns one step of invalidation work: up to settleBatch keys, or
// else one prefix.
func (p *pending) takeBatch() pending {
	var b pending
	for k := range p.keys {
		if len(b.keys) == settleBatch {
			break
		}
		if b.keys == nil {
			b.keys = map[string]struct{}{}
		}
		b.keys[k] = struct{}{}
		delete(p.keys, k)
	}
	if len(b.keys) == 0 && len(p.prefixes) > 0 {
		b.prefixes, p.prefixes = p.prefixes[:1:1], p.prefixes[1:]
	}
	return b
}

// invalidate runs one batch from takeBatch on store: a Delete of its keys, bounded by ctx,
// or a Clear of its prefix, bounded by clearTimeout within ctx. It returns how many keys it
// invalidated.
func (p pending) invalidate(ctx context.Context, store backend.Store) (int, error) {
	if len(p.keys) > 0 {
		keys := make([]string, 0, len(p.keys))
		for k := range p.keys {
			keys = append(keys, k)
		}
		return len(keys), store.Delete(ctx, keys...)
	}
	n := 0
	for _, q := range p.prefixes {
		cctx, cancel := context.WithTimeout(ctx, clearTimeout)
		m, err := store.Clear(cctx, q)
		cancel()
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// commonPrefix returns the longest valid UTF-8 prefix a and b share.
func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return strings.ToValidUTF8(a[:i], "")
}

// staleSet is the keys whose values a store may hold stale: read as misses until a
// goroutine of the set's own has invalidated them, a batch at a time, whenever ready says
// it may. Create it with newStaleSet; close stops the goroutine.
type staleSet struct {
	limit int
	ready func() bool                                 // whether invalidation may run now; called with mu held
	run   func(context.Context, pending) (int, error) // invalidates one batch
	log   settleLog

	any      atomic.Bool // stale or cleaning holds something: the fast path's check
	mu       sync.Mutex
	stale    pending
	cleaning pending // the batch being invalidated now
	settling bool    // the goroutine runs
	done     uint64  // keys invalidated
	failing  bool    // a batch failed, and the keys are not all invalidated since
	loggedAt time.Time
	unlogged int // failures since the last line
	wg       sync.WaitGroup
	ctx      context.Context // done on close: the goroutine's context
	stop     context.CancelFunc
}

// settleLog is what a staleSet says of its invalidation: failed, with the error, at the
// first failure and then at most once every failureLogEvery while it goes on; done once the
// keys are invalidated after a failure. Its lines never name keys.
type settleLog struct {
	logger       *slog.Logger
	failed, done string
	attrs        []any
}

func newStaleSet(limit int, ready func() bool, run func(context.Context, pending) (int, error), log settleLog) *staleSet {
	s := &staleSet{limit: limit, ready: ready, run: run, log: log}
	s.ctx, s.stop = context.WithCancel(context.Background())
	return s
}

// add records keys, and a cleared prefix when prefix is not empty.
func (s *staleSet) add(prefix string, keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prefix != "" {
		s.stale.addPrefix(prefix)
	}
	s.stale.add(s.limit, keys...)
	s.any.Store(!s.stale.empty())
}

// merge records what p holds.
func (s *staleSet) merge(p pending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale.merge(p, s.limit)
	s.any.Store(!s.stale.empty())
}

// covers reports whether key's value may be stale, and starts the invalidation if it may run.
func (s *staleSet) covers(key string) bool {
	if !s.any.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kick()
	return s.stale.covers(key) || s.cleaning.covers(key)
}

// fresh returns the keys whose values are not stale, and how many were.
func (s *staleSet) fresh(keys []string) (ok []string, stale int) {
	if !s.any.Load() {
		return keys, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kick()
	ok = make([]string, 0, len(keys))
	for _, k := range keys {
		if s.stale.covers(k) || s.cleaning.covers(k) {
			stale++
			continue
		}
		ok = append(ok, k)
	}
	return ok, stale
}

// kick starts the goroutine, unless it runs, there is nothing to do, or it may not run now.
// s.mu is held.
func (s *staleSet) kick() {
	if s.settling || s.stale.empty() || s.ctx.Err() != nil || !s.ready() {
		return
	}
	s.settling = true
	s.wg.Add(1)
	go s.settle()
}

// settle invalidates the stale keys a batch at a time, and stops at the first failure,
// leaving the rest for a later kick. It runs on its own goroutine, so that no caller waits.
func (s *staleSet) settle() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.stale.empty() || s.ctx.Err() != nil || !s.ready() {
			s.settling = false
			s.mu.Unlock()
			return
		}
		s.cleaning = s.stale.takeBatch()
		batch := s.cleaning
		s.mu.Unlock()
		n, err := s.run(s.ctx, batch)
		s.mu.Lock()
		s.cleaning = pending{}
		if err != nil {
			s.stale.merge(unfinished(batch, err), s.limit)
			s.settling = false
		} else {
			s.done += uint64(n)
		}
		s.any.Store(!s.stale.empty())
		line := s.outcome(err)
		s.mu.Unlock()
		line()
		if err != nil {
			return
		}
	}
}

// unfinished is what of batch is still to invalidate after it failed with err: the keys a
// BatchError does not confirm, when it is one (a store in parts, one of them down, deletes the
// others' keys), else the whole batch.
func unfinished(batch pending, err error) pending {
	var be *backend.BatchError
	if !errors.As(err, &be) || len(batch.prefixes) > 0 {
		return batch
	}
	var left pending
	left.add(len(batch.keys), be.NotWritten...)
	left.add(len(batch.keys), be.Unknown...)
	return left
}

// outcome returns what to log of a batch's err, and records that it was. A breaker that
// refuses the batch (open, or half open with its probes under way) is no failure: the next
// read tries again, and the breaker logs its own changes. s.mu is held.
func (s *staleSet) outcome(err error) func() {
	l := s.log
	switch {
	case err == nil && s.failing && s.stale.empty():
		s.failing = false
		return func() { l.logger.Info(l.done, l.attrs...) }
	case err == nil, errors.Is(err, ErrOpen), s.ctx.Err() != nil:
		return func() {}
	case s.failing && time.Since(s.loggedAt) < failureLogEvery:
		s.unlogged++
		return func() {}
	}
	attrs := append(append([]any(nil), l.attrs...), "error", err)
	if s.failing {
		attrs = append(attrs, "failures_since_last_line", s.unlogged+1)
	}
	s.failing, s.loggedAt, s.unlogged = true, time.Now(), 0
	return func() { l.logger.Warn(l.failed, attrs...) }
}

// size returns how many keys and prefixes are still to invalidate, and how many keys have
// been.
func (s *staleSet) size() (left int, done uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale.size() + s.cleaning.size(), s.done
}

// close stops the goroutine and waits for it.
func (s *staleSet) close() {
	s.stop()
	s.wg.Wait()
}
