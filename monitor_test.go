package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/emf"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/monitor"
	"github.com/cachekit/cachekit/resilient"
	"github.com/cachekit/cachekit/tiered"
)

// quietMemstore is a memstore (which has no goroutine of its own, as a synctest bubble
// needs).
func quietMemstore(t *testing.T) *memstore.Store {
	t.Helper()
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestHealthChecksRunOnDemand is the Lambda case: no goroutine runs between invocations, so
// a call that finds a check due runs it, at most one per interval, and a Cache frozen for an
// hour catches up with one check, not sixty.
func TestHealthChecksRunOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c, _ := cachekit.New(quietMemstore(t), cachekit.Options{Health: monitor.NewChecker(monitor.Options{}), HealthInterval: time.Minute})
		defer c.Close()
		cv := cachekit.Typed[int](c, "", 0)
		if _, ok := c.Health(); ok {
			t.Fatal("a health result before any call")
		}
		for range 10 {
			_ = cv.Set(ctx, "k", 1, 30*time.Minute)
		}
		if n := c.Counters().HealthChecks; n != 0 {
			t.Fatalf("%d checks in the first minute, want none: the first call is often a cold start's", n)
		}
		time.Sleep(time.Minute)
		for range 10 {
			_ = cv.Set(ctx, "k", 1, 30*time.Minute)
		}
		if st := c.Counters(); st.HealthChecks != 1 || st.Health == nil || st.Health.Status != cachekit.Healthy {
			t.Fatalf("after 10 calls past the first minute: %d checks, last %+v; want one healthy check", st.HealthChecks, st.Health)
		}
		if !strings.HasPrefix(c.Counters().Health.Key, "CACHE#health:") {
			t.Errorf("probe key %q is not under the Cache's prefix", c.Counters().Health.Key)
		}

		time.Sleep(time.Hour) // frozen: nothing runs
		if n := c.Counters().HealthChecks; n != 1 {
			t.Fatalf("%d checks while no call was made, want still 1", n)
		}
		if _, err := cv.Get(ctx, "k"); !errors.Is(err, cachekit.ErrNotFound) {
			t.Errorf("Get after an hour frozen of an entry that lived 30 minutes: %v, want a miss", err)
		}
		_, _ = cv.Get(ctx, "k")
		if st := c.Counters(); st.HealthChecks != 2 {
			t.Errorf("after an hour frozen and two calls: %d checks, want one more", st.HealthChecks)
		}
		if keys, _ := c.Store().Count(ctx, "CACHE#health:"); keys != 0 {
			t.Errorf("%d probe keys left behind", keys)
		}
	})
}

// TestMetricsFlushOnDemandOnFlushAndOnClose: lines are written when Flush asks, when a call
// finds the interval passed, and on Close — never one per call.
func TestMetricsFlushOnDemandOnFlushAndOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var out strings.Builder
		c, _ := cachekit.New(quietMemstore(t), cachekit.Options{
			Prefix:          "CACHE#geo:",
			Metrics:         emf.New(emf.Options{Prefix: "CACHE#geo:", Writer: &out, Dimensions: map[string]string{"Service": "geo"}}),
			MetricsInterval: time.Minute,
		})
		cv := cachekit.Typed[string](c, "", 0)
		for range 100 {
			_ = cv.Set(ctx, "k", "v", 0)
			_, _ = cv.Get(ctx, "k")
		}
		if out.Len() != 0 {
			t.Fatalf("lines before any flush was due:\n%s", out.String())
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		_, _ = cv.Get(ctx, "missing") // finds a flush due, and flushes before its own read
		_, _ = cv.Get(ctx, "k")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d lines, want Flush's, the due one and Close's:\n%s", len(lines), out.String())
		}
		for i, want := range [][]string{
			{`"Hits":100,`, `"Sets":100,`, `"ReadLatencyP50":`, `"WriteLatencyP99":`, `"Prefix":"CACHE#geo:"`, `"Service":"geo"`},
			{`"Hits":0,`, `"Misses":0,`},
			{`"Hits":1,`, `"Misses":1,`, `"HitRatio":50,`},
		} {
			for _, w := range want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d has no %s: %s", i+1, w, lines[i])
				}
			}
		}
	})
}

// TestBackgroundMonitoringStopsOnClose: a long-running service's checks, flushes and sweeps
// run on the Cache's one goroutine, which Close stops (the bubble fails if one is left).
func TestBackgroundMonitoringStopsOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out strings.Builder
		c, _ := cachekit.New(quietMemstore(t), cachekit.Options{
			Health:          monitor.NewChecker(monitor.Options{}),
			HealthInterval:  time.Minute,
			Metrics:         emf.New(emf.Options{Writer: &out}),
			MetricsInterval: time.Minute,
			Background:      true,
		})
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		if st := c.Counters(); st.HealthChecks != 3 {
			t.Errorf("%d checks in 3 intervals with no call, want 3", st.HealthChecks)
		}
		if n := strings.Count(out.String(), "\n"); n != 3 {
			t.Errorf("%d lines in 3 intervals, want 3", n)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out.String(), "\n"); n != 4 {
			t.Errorf("%d lines after Close, want its final flush too", n)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// TestHealthChecksProbeTheRemoteTier: behind an L1, the probe goes to L2 — a copy in memory
// would say nothing of the backend.
func TestHealthChecksProbeTheRemoteTier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts, err := tiered.New(quietMemstore(t), tiered.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := cachekit.New(ts, cachekit.Options{Health: monitor.NewChecker(monitor.Options{})})
		defer c.Close()
		cv := cachekit.Typed[int](c, "", 0)
		time.Sleep(cachekit.DefaultHealthInterval)
		_, _ = cv.Has(context.Background(), "k") // runs the due check
		if st := c.Counters(); st.HealthChecks != 1 || st.Health.Status != cachekit.Healthy {
			t.Fatalf("Counters = %+v, want one healthy check", st)
		}
		if st := ts.Stats(); st.L1Hits != 0 || st.L2Reads != 0 || st.L1Len != 0 {
			t.Errorf("tiered Stats = %+v: the probe went through L1", st)
		}
	})
}

// TestExpiredEntriesAreSweptOnDemand: with no clean-up goroutine (a Lambda's would freeze),
// the first call after the interval sweeps the expired entries out of memory.
func TestExpiredEntriesAreSweptOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		ms := quietMemstore(t)
		c, _ := cachekit.New(ms, cachekit.Options{CleanupInterval: time.Minute})
		defer c.Close()
		cv := cachekit.Typed[int](c, "", 0)
		for i := range 100 {
			_ = cv.Set(ctx, fmt.Sprint(i), i, 30*time.Second)
		}
		time.Sleep(2 * time.Minute) // frozen: nothing sweeps
		if n := ms.Len(); n != 100 {
			t.Fatalf("%d entries held before any call, want the 100 expired ones", n)
		}
		_, _ = cv.Has(ctx, "0")
		if n := ms.Len(); n != 0 {
			t.Errorf("%d entries held after the first call past the interval, want none", n)
		}
	})
}

// TestZeroCleanupIntervalMeansTheDefault: a zero CleanupInterval sweeps every
// DefaultCleanupInterval, as zero means the documented default everywhere.
func TestZeroCleanupIntervalMeansTheDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		ms := quietMemstore(t)
		c, _ := cachekit.New(ms, cachekit.Options{})
		defer c.Close()
		v := cachekit.Typed[int](c, "", 0)
		for i := range 100 {
			_ = v.Set(ctx, fmt.Sprint(i), i, 30*time.Second)
		}
		time.Sleep(cachekit.DefaultCleanupInterval)
		_, _ = v.Has(ctx, "0")
		if n := ms.Len(); n != 0 {
			t.Errorf("%d entries held after the first call past the default interval, want none", n)
		}
	})
}

// TestNegativeIntervalsTurnTasksOff: a negative interval is the one way to say "off".
func TestNegativeIntervalsTurnTasksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		ms := quietMemstore(t)
		var out strings.Builder
		c, _ := cachekit.New(ms, cachekit.Options{
			Health: monitor.NewChecker(monitor.Options{}), HealthInterval: -1,
			Metrics: emf.New(emf.Options{Writer: &out}), MetricsInterval: -1,
			CleanupInterval: -1,
		})
		v := cachekit.Typed[int](c, "", 0)
		_ = v.Set(ctx, "k", 1, time.Second)
		time.Sleep(time.Hour)
		_, _ = v.Has(ctx, "k")
		if st := c.Counters(); st.HealthChecks != 0 || out.Len() != 0 || ms.Len() != 1 {
			t.Errorf("after an hour: %d checks, %d bytes of metrics, %d entries held; want none, none and the expired one",
				st.HealthChecks, out.Len(), ms.Len())
		}
		_ = c.Close()
		if n := strings.Count(out.String(), "\n"); n != 1 {
			t.Errorf("%d lines after Close, want its flush", n)
		}
	})
}

// TestBackgroundSweepsMemory: in a long-running service with few calls, the Cache's one
// goroutine sweeps the memstore, which runs none of its own.
func TestBackgroundSweepsMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		ms := quietMemstore(t)
		c, _ := cachekit.New(ms, cachekit.Options{Background: true})
		v := cachekit.Typed[int](c, "", 0)
		for i := range 100 {
			_ = v.Set(ctx, fmt.Sprint(i), i, 30*time.Second)
		}
		time.Sleep(cachekit.DefaultCleanupInterval + time.Second)
		synctest.Wait()
		if n := ms.Len(); n != 0 {
			t.Errorf("%d entries held a sweep interval later with no call, want none", n)
		}
		_ = c.Close()
	})
}

// counting is a Recorder that counts what it is told.
type counting struct {
	cachekit.NopRecorder
	hits, misses, reads, writes atomic.Int64
	statuses                    []backend.Status
	health                      []cachekit.HealthResult
}

func (r *counting) RecordHits(n int)                     { r.hits.Add(int64(n)) }
func (r *counting) RecordMisses(n int)                   { r.misses.Add(int64(n)) }
func (r *counting) RecordRead(time.Duration)             { r.reads.Add(1) }
func (r *counting) RecordWrite(time.Duration)            { r.writes.Add(1) }
func (r *counting) RecordStatus(s backend.Status)        { r.statuses = append(r.statuses, s) }
func (r *counting) RecordHealth(h cachekit.HealthResult) { r.health = append(r.health, h) }

// TestRecorderIsToldEveryCallAndCostsNoAllocation: the Recorder hears of views' calls too,
// and reporting to it adds no allocation to a hit.
func TestRecorderIsToldEveryCallAndCostsNoAllocation(t *testing.T) {
	ctx := context.Background()
	hitAllocs := func(rec cachekit.Recorder) float64 {
		c, _ := cachekit.New(quietMemstore(t), cachekit.Options{Metrics: rec})
		defer c.Close()
		v := cachekit.Typed[[]byte](c, "v:", 0)
		_ = v.Set(ctx, "k", []byte("x"), 0)
		return testing.AllocsPerRun(1000, func() { _, _ = v.Get(ctx, "k") })
	}
	rec := &counting{}
	without, with := hitAllocs(nil), hitAllocs(rec)
	if with != without {
		t.Errorf("a hit allocates %.1f times with a Recorder, %.1f without; want no difference", with, without)
	}
	if rec.hits.Load() < 1000 || rec.writes.Load() != 1 || rec.reads.Load() != rec.hits.Load() {
		t.Errorf("Recorder heard %d hits, %d reads, %d writes; want every one", rec.hits.Load(), rec.reads.Load(), rec.writes.Load())
	}
}

// TestRecorderHearsStatusAndHealth: the breaker's state on Flush, and each check's result.
func TestRecorderHearsStatusAndHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		guarded, err := resilient.New(quietMemstore(t), resilient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rec := &counting{}
		c, _ := cachekit.New(guarded, cachekit.Options{Health: monitor.NewChecker(monitor.Options{}), Metrics: rec, MetricsInterval: -1})
		defer c.Close()
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cachekit.DefaultHealthInterval)
		_, _ = cachekit.Typed[int](c, "", 0).Has(context.Background(), "k")
		if len(rec.statuses) != 1 || rec.statuses[0].Breaker != "closed" {
			t.Errorf("statuses %+v, want the closed breaker once, from Flush", rec.statuses)
		}
		if len(rec.health) != 1 || rec.health[0].Status != cachekit.Healthy {
			t.Errorf("health results %+v, want one healthy", rec.health)
		}
		if h, ok := c.Health(); !ok || h.Status != cachekit.Healthy {
			t.Errorf("Health() = %+v, %v", h, ok)
		}
	})
}
