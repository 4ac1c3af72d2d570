package cachekit

import (
	"context"
	"sync/atomic"
)

// Stats is a snapshot of a Cache's activity since it was created. A Typed view counts its own
// calls, and its Cache counts them too.
type Stats struct {
	Hits       uint64 // reads that found an entry; GetMany counts each key
	Misses     uint64 // reads that found none
	Sets       uint64 // entries written
	Deletes    uint64 // keys deleted, and entries removed by Clear
	Errors     uint64 // calls that failed for any reason other than a miss
	Loads      uint64 // loader runs by GetOrLoad
	LoadErrors uint64 // loader runs that returned an error
	// Keys is the number of unexpired entries under the prefix, counted by the Store, or -1
	// when the count failed.
	Keys int
	// HitRatio is Hits / (Hits + Misses), or 0 before the first read.
	HitRatio float64
}

// counters is a change to the statistics: plain numbers, added atomically by add.
type counters struct {
	hits, misses, sets, deletes, errors, loads, loadErrors uint64
}

// statCounters holds a Cache's running totals.
type statCounters struct {
	hits, misses, sets, deletes, errors, loads, loadErrors atomic.Uint64
}

func (s *statCounters) add(d *counters) {
	for _, f := range [...]struct {
		n   uint64
		sum *atomic.Uint64
	}{
		{d.hits, &s.hits}, {d.misses, &s.misses}, {d.sets, &s.sets}, {d.deletes, &s.deletes},
		{d.errors, &s.errors}, {d.loads, &s.loads}, {d.loadErrors, &s.loadErrors},
	} {
		if f.n != 0 {
			f.sum.Add(f.n)
		}
	}
}

// Stats returns the Cache's counters and the number of entries under its prefix. Counting
// asks the Store, which on DynamoDB scans the whole table and on Redis every master: for
// metrics on the request path, use Counters. When the count fails, the counters are still
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

// Counters returns the Cache's counters without asking the Store anything: Keys is -1. It
// costs a few atomic loads.
func (c *Cache) Counters() Stats {
	st := Stats{
		Hits:       c.stats.hits.Load(),
		Misses:     c.stats.misses.Load(),
		Sets:       c.stats.sets.Load(),
		Deletes:    c.stats.deletes.Load(),
		Errors:     c.stats.errors.Load(),
		Loads:      c.stats.loads.Load(),
		LoadErrors: c.stats.loadErrors.Load(),
		Keys:       -1,
	}
	if reads := st.Hits + st.Misses; reads > 0 {
		st.HitRatio = float64(st.Hits) / float64(reads)
	}
	return st
}
