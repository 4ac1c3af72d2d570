package cachekit

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/monitor"
)

// Stats is a snapshot of a Cache's activity since it was created; see monitor.Stats for
// its fields. A Typed view counts its own calls, and its Cache counts them too.
type Stats = monitor.Stats

// counters is a change to the statistics: plain numbers, added atomically by add.
type counters struct {
	hits, misses, skipped, sets, deletes, errors, loads, loadErrors uint64
}

// statCounters holds a Cache's running totals.
type statCounters struct {
	hits, misses, skipped, sets, deletes, errors, loads, loadErrors atomic.Uint64
	reads, writes                                                   monitor.Recorder
}

func (s *statCounters) add(d *counters) {
	for _, f := range [...]struct {
		n   uint64
		sum *atomic.Uint64
	}{
		{d.hits, &s.hits}, {d.misses, &s.misses}, {d.skipped, &s.skipped}, {d.sets, &s.sets},
		{d.deletes, &s.deletes}, {d.errors, &s.errors}, {d.loads, &s.loads}, {d.loadErrors, &s.loadErrors},
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
		Keys:         -1,
		ReadLatency:  c.stats.reads.Snapshot(),
		WriteLatency: c.stats.writes.Snapshot(),
	}
	if reads := st.Hits + st.Misses; reads > 0 {
		st.HitRatio = float64(st.Hits) / float64(reads)
	}
	if r, ok := backend.Find[backend.StatusReporter](c.Store()); ok {
		rs := r.Status()
		st.Breaker, st.Active = rs.Breaker, rs.Active
	}
	if ch := c.core.checker; ch != nil {
		if last := ch.Last(); !last.CheckedAt.IsZero() {
			st.Health = &last
		}
		st.HealthChecks, st.HealthFailures = ch.Counts()
	}
	return st
}

// count adds delta to the Cache's statistics, and its parent's, plus one error when err is
// neither nil nor a miss; it returns err for the caller's convenience.
func (c *Cache) count(delta *counters, err error) error {
	if err != nil && !errors.Is(err, ErrNotFound) && delta.errors == 0 {
		delta.errors = 1
	}
	for x := c; x != nil; x = x.parent {
		x.stats.add(delta)
	}
	return err
}

// timed records the latency of a Store call that started at start, in the Cache's
// statistics and its parent's.
func (c *Cache) timed(write bool, start time.Time) {
	d := time.Since(start)
	for x := c; x != nil; x = x.parent {
		if write {
			x.stats.writes.Record(d)
		} else {
			x.stats.reads.Record(d)
		}
	}
}

// countRead counts the outcome of a one-key read: a hit, a miss, a miss an open breaker
// answered without asking the backend, or an error.
func (c *Cache) countRead(err error) {
	switch {
	case err == nil:
		c.count(&counters{hits: 1}, nil)
	case errors.Is(err, backend.ErrSkipped):
		c.count(&counters{skipped: 1}, nil)
	case errors.Is(err, ErrNotFound):
		c.count(&counters{misses: 1}, nil)
	default:
		c.count(&counters{errors: 1}, nil)
	}
}
