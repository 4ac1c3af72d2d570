package cachekit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// The periodic tasks of a Cache, in the order a call that finds several due runs them.
const (
	taskCheck = iota // a health check (Options.Health)
	taskFlush        // a status report and flush of Options.Metrics
	taskSweep        // a sweep of the expired entries a Store keeps in memory
	numTasks
)

// schedule is a Cache's one periodic mechanism: it tells which tasks are due, so that exactly
// one caller runs each, and runs them either inside calls (runDue) or on one goroutine of its
// own (background) until halt.
type schedule struct {
	tasks [numTasks]due
	stop  chan struct{} // closed by halt; nil without a goroutine
	done  chan struct{} // closed when the goroutine has returned
	once  sync.Once
}

// due is one task's timetable.
type due struct {
	every time.Duration // zero when the task is off
	next  atomic.Int64  // a mono reading
}

// start makes each task due every interval (zero: never), the first time one interval after
// now, a mono reading.
func (s *schedule) start(now time.Duration, every ...time.Duration) {
	for i, d := range every {
		s.tasks[i].every = max(d, 0)
		s.tasks[i].next.Store(int64(now + d))
	}
}

// idle reports whether no task is on.
func (s *schedule) idle() bool {
	for i := range s.tasks {
		if s.tasks[i].every > 0 {
			return false
		}
	}
	return true
}

// claim reports whether the task is due at now, and if so makes this caller the one to run
// it, and moves its next time one interval on from now: a Cache frozen for an hour catches up
// with one run, not sixty.
func (d *due) claim(now int64) bool {
	next := d.next.Load()
	return d.every > 0 && now >= next && d.next.CompareAndSwap(next, now+int64(d.every))
}

// runDue runs the tasks that are due at now, a mono reading, and reports whether it ran any;
// one caller runs each, the others go on. It reads the clock of the call it runs in, which
// reads it anyway to time the call to the Store: the monotonic clock, whose readings cost
// half of time.Now's, and which a change of the wall clock does not move.
func (co *core) runDue(ctx context.Context, now time.Duration) bool {
	ran := false
	for task := range co.sched.tasks {
		if co.sched.tasks[task].claim(int64(now)) {
			co.run(ctx, task)
			ran = true
		}
	}
	return ran
}

func (co *core) run(ctx context.Context, task int) {
	switch task {
	case taskCheck:
		co.health.run(ctx, co)
	case taskFlush:
		_ = co.flush()
	case taskSweep:
		if s, ok := backend.Find[backend.Sweeper](co.store.Load().Store); ok {
			s.CleanUp()
		}
	}
}

// background runs the tasks on one goroutine, each when due, until halt. Their context is the
// Cache's closing one, so that Close ends a check under way, bounded by the shortest interval
// so that a hung backend cannot hold the schedule up for longer.
func (s *schedule) background(co *core) {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	var bound time.Duration
	for i := range s.tasks {
		if every := s.tasks[i].every; every > 0 && (bound == 0 || every < bound) {
			bound = every
		}
	}
	go func() {
		defer close(s.done)
		for {
			t := time.NewTimer(s.nextDue() - mono())
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(co.closing, bound)
			co.runDue(ctx, mono())
			cancel()
		}
	}()
}

// nextDue returns when the earliest task is due, as a mono reading.
func (s *schedule) nextDue() time.Duration {
	first := true
	var next int64
	for i := range s.tasks {
		if t := &s.tasks[i]; t.every > 0 && (first || t.next.Load() < next) {
			next, first = t.next.Load(), false
		}
	}
	return time.Duration(next)
}

// halt stops the goroutine, if any, and waits for it to return. It is idempotent.
func (s *schedule) halt() {
	s.once.Do(func() {
		if s.stop != nil {
			close(s.stop)
			<-s.done
		}
	})
}

// health runs a Cache's health checks and keeps what they found.
type health struct {
	check HealthCheck // nil without Options.Health

	mu               sync.Mutex
	last             *HealthResult
	checks, failures uint64
}

// run checks the Store the Cache probes; an inconclusive result is neither kept nor counted.
func (h *health) run(ctx context.Context, co *core) {
	r := h.check.Check(ctx, co.probeTarget())
	if r.Inconclusive {
		return
	}
	h.mu.Lock()
	h.checks++
	if r.Status == Unhealthy {
		h.failures++
	}
	h.last = &r
	h.mu.Unlock()
	if co.rec != nil {
		co.rec.RecordHealth(r)
	}
}

// snapshot returns a copy of the last result, or nil, and the counts.
func (h *health) snapshot() (last *HealthResult, checks, failures uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last != nil {
		r := *h.last
		last = &r
	}
	return last, h.checks, h.failures
}

// flush reports the Store's status to the Recorder and flushes it, when it is a Flusher.
func (co *core) flush() error {
	if r, ok := backend.Find[backend.StatusReporter](co.store.Load().Store); ok {
		co.rec.RecordStatus(r.Status())
	}
	if f, ok := co.rec.(Flusher); ok {
		return f.Flush()
	}
	return nil
}
