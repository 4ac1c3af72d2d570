package cachekit

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// Stats is a snapshot of a Cache's activity since it was created. A Typed view counts its own
// calls, and its Cache counts them too.
type Stats struct {
	Prefix string // the prefix the cache puts before every key

	Hits       uint64 // reads that found an entry; GetMany counts each key
	Misses     uint64 // reads that found none
	Skipped    uint64 // reads a circuit breaker answered as misses without asking the backend: while open, or of a key left stale by an outage
	Sets       uint64 // entries written
	Deletes    uint64 // keys deleted, and entries removed by Clear
	Errors     uint64 // calls that failed for any reason other than a miss
	Loads      uint64 // loader runs by GetOrLoad
	LoadErrors uint64 // loader runs that returned an error, but for a miss a view with Freshness.MissTTL remembers
	Stale      uint64 // reads a view with Freshness.Grace served a stale value while it refreshed
	Refreshes  uint64 // refreshes a view with Freshness started: of a stale value, or early

	// Keys is the number of unexpired entries under the prefix, counted by the Store, or -1
	// when it was not counted.
	Keys int
	// HitRatio is Hits / (Hits + Misses), or 0 before the first read.
	HitRatio float64

	// ReadLatency and WriteLatency are the latencies of the calls to the Store: reads (Get,
	// GetMany, Has, TTL) and writes (Set, SetMany, Delete, Expire).
	ReadLatency, WriteLatency Histogram

	// Breaker is the state of the circuit breaker in front of the backend: "closed",
	// "half-open" or "open"; empty when the Store has none.
	Breaker string
	// Active is "primary" or "fallback" for a Store with a fallback (where traffic goes now);
	// empty otherwise.
	Active string

	// Health is the result of the last health check, or nil when none has run.
	Health *HealthResult
	// HealthChecks and HealthFailures count the health checks run and those that failed.
	HealthChecks, HealthFailures uint64
}

// counters is a change to the statistics: plain numbers, added atomically by add.
type counters struct {
	hits, misses, skipped, sets, deletes, errors, loads, loadErrors, stale, refreshes uint64
}

// statCounters holds a Cache's running totals.
type statCounters struct {
	hits, misses, skipped, sets, deletes, errors, loads, loadErrors, stale, refreshes atomic.Uint64
	reads, writes                                                                     Latencies
}

func (s *statCounters) add(d *counters) {
	for _, f := range [...]struct {
		n   uint64
		sum *atomic.Uint64
	}{
		{d.hits, &s.hits}, {d.misses, &s.misses}, {d.skipped, &s.skipped}, {d.sets, &s.sets},
		{d.deletes, &s.deletes}, {d.errors, &s.errors}, {d.loads, &s.loads}, {d.loadErrors, &s.loadErrors},
		{d.stale, &s.stale}, {d.refreshes, &s.refreshes},
	} {
		if f.n != 0 {
			f.sum.Add(f.n)
		}
	}
}

// Stats returns the Cache's statistics and the number of entries under its prefix. Counting
// asks the Store, which on DynamoDB scans the whole table and on Redis every master: for
// metrics on the request path, use Counters. When the count fails, the rest is still
// returned, with Keys set to -1, beside the error.
func (c *Cache) Stats(ctx context.Context) (Stats, error) {
	st := c.Counters()
	s, err := c.use(ctx)
	if err != nil {
		return st, err
	}
	n, err := s.Count(ctx, c.prefix)
	if err != nil {
		return st, err
	}
	st.Keys = n
	return st, nil
}

// Counters returns the Cache's statistics without asking the backend anything: Keys is -1.
func (c *Cache) Counters() Stats {
	st := Stats{
		Prefix:       c.prefix,
		Hits:         c.stats.hits.Load(),
		Misses:       c.stats.misses.Load(),
		Skipped:      c.stats.skipped.Load(),
		Sets:         c.stats.sets.Load(),
		Deletes:      c.stats.deletes.Load(),
		Errors:       c.stats.errors.Load(),
		Loads:        c.stats.loads.Load(),
		LoadErrors:   c.stats.loadErrors.Load(),
		Stale:        c.stats.stale.Load(),
		Refreshes:    c.stats.refreshes.Load(),
		Keys:         -1,
		ReadLatency:  c.stats.reads.Snapshot(),
		WriteLatency: c.stats.writes.Snapshot(),
	}
	if reads := st.Hits + st.Misses; reads > 0 {
		st.HitRatio = float64(st.Hits) / float64(reads)
	}
	if s := c.Store(); s != nil {
		if r, ok := backend.Find[backend.StatusReporter](s); ok {
			rs := r.Status()
			st.Breaker, st.Active = rs.Breaker, rs.Active
		}
	}
	st.Health, st.HealthChecks, st.HealthFailures = c.core.health.snapshot()
	return st
}

// count adds delta to the Cache's statistics, and its parent's, plus one error when err is
// neither nil nor a miss, and reports it to the Cache's Recorder; it returns err for the
// caller's convenience.
func (c *Cache) count(delta *counters, err error) error {
	if err != nil && !errors.Is(err, ErrNotFound) && delta.errors == 0 {
		delta.errors = 1
	}
	for x := c; x != nil; x = x.parent {
		x.stats.add(delta)
	}
	if r := c.core.rec; r != nil {
		report(r, delta)
	}
	return err
}

// report sends delta to r, one call per kind of event that happened.
func report(r Recorder, d *counters) {
	if d.hits != 0 {
		r.RecordHits(int(d.hits))
	}
	if d.misses != 0 {
		r.RecordMisses(int(d.misses))
	}
	if d.skipped != 0 {
		r.RecordSkipped(int(d.skipped))
	}
	if d.sets != 0 {
		r.RecordSets(int(d.sets))
	}
	if d.deletes != 0 {
		r.RecordDeletes(int(d.deletes))
	}
	if d.errors != 0 {
		r.RecordErrors(int(d.errors))
	}
	if ok := d.loads - d.loadErrors; ok != 0 {
		r.RecordLoadSuccess(int(ok))
	}
	if d.loadErrors != 0 {
		r.RecordLoadFailure(int(d.loadErrors))
	}
	if d.stale != 0 {
		r.RecordStale(int(d.stale))
	}
	if d.refreshes != 0 {
		r.RecordRefreshes(int(d.refreshes))
	}
}

// epoch is the origin of mono.
var epoch = time.Now()

// mono returns the monotonic clock's time since epoch: half the cost of time.Now, which reads
// the wall clock too, where a call to the Store needs only a duration.
func mono() time.Duration { return time.Since(epoch) }

// timed records the latency of a Store call that started at start (a mono reading), in the
// Cache's statistics, its parent's and its Recorder.
func (c *Cache) timed(write bool, start time.Duration) {
	d := mono() - start
	for x := c; x != nil; x = x.parent {
		if write {
			x.stats.writes.Record(d)
		} else {
			x.stats.reads.Record(d)
		}
	}
	if r := c.core.rec; r != nil {
		if write {
			r.RecordWrite(d)
		} else {
			r.RecordRead(d)
		}
	}
}

// countRead counts the outcome of a one-key read: a hit, a miss, a miss an open breaker
// answered without asking the backend, or an error.
func (c *Cache) countRead(err error) {
	switch {
	case err == nil: // the hot path: one counter to add to, and nothing else to look at
		for x := c; x != nil; x = x.parent {
			x.stats.hits.Add(1)
		}
		if r := c.core.rec; r != nil {
			r.RecordHits(1)
		}
	case errors.Is(err, backend.ErrSkipped):
		c.count(&counters{skipped: 1}, nil)
	case errors.Is(err, ErrNotFound):
		c.count(&counters{misses: 1}, nil)
	default:
		c.count(&counters{errors: 1}, nil)
	}
}
