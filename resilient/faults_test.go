package resilient_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
)

// The fault matrix: each real backend, behind a toxiproxy proxy, is put through each fault
// while eight goroutines call Get, Set and GetOrLoad on a Cache over
// NewFallback(New(backend), memstore). The fallback is a memstore for every backend, so that
// each row measures one real backend and nothing else can fail.
//
// Each scenario checks that no call panics or waits out the fault past its deadline, that
// GetOrLoad always returns the source's value, that the breaker opens and closes again, that
// traffic moves to the fallback and back, and that no value changed during the outage is read
// stale after it. It logs one line per scenario, starting with "FAULTS", with the time from the
// fault to the open breaker and from the repair to traffic back on a closed primary;
// docs/resilience.md tabulates them.
//
// No verdict depends on the machine's speed: CI machines are shared, and a loaded one makes
// every call slower. Conditions are awaited with a generous patience, never by a deadline a
// slow machine misses; a breaker that a slow call opens again after the repair is awaited to
// close again, as it does once the calls are fast again; times go to the log.

const (
	faultThreshold   = 3
	faultOpenTimeout = 250 * time.Millisecond
	faultOpTimeout   = 100 * time.Millisecond
	callDeadline     = 2 * time.Second // every call of the load and of the checks
	// faultLatency is the latency fault's: longer than callDeadline and deadlineSlack
	// together, so that a call that waits out the fault rather than its deadline shows.
	faultLatency = 5 * time.Second
	// deadlineSlack is how long past callDeadline a call may end on a loaded machine; one
	// that ignores its deadline ends only with the fault, later still.
	deadlineSlack  = 2 * time.Second
	loadGoroutines = 8
	staleKeys      = 8
	// patience bounds an awaited condition: all take well under a second on a quiet machine,
	// and several times that when other processes keep every core busy.
	patience = 30 * time.Second
)

// faultTarget is a server to break: its address, and how to open a Store on it at an address,
// the proxy's or its own.
type faultTarget struct {
	upstream string
	open     func(t *testing.T, addr string) backend.Store
	// process is the test's own server, and restart starts it again on its port after a
	// kill; both are nil for a shared server.
	process *testenv.RedisServer
	restart func(t *testing.T)
}

// faultBackend is a row of the matrix.
type faultBackend struct {
	name string
	// target sets the server up; with own, a server of the test's own that it may kill.
	target func(t *testing.T, own bool) faultTarget
}

func redisTarget(t *testing.T, own bool) faultTarget {
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	var tg faultTarget
	if own {
		dir := t.TempDir()
		tg.process = testenv.StartRedis(t, dir, 0)
		port := tg.process.Port
		u = &url.URL{Scheme: "redis", Host: "127.0.0.1:" + strconv.Itoa(port)}
		answers := func() bool { out, _ := testenv.RedisCLI("-p", strconv.Itoa(port), "ping"); return out == "PONG" }
		testenv.WaitFor(t, "redis-server", patience, answers)
		tg.restart = func(t *testing.T) {
			testenv.StartRedis(t, dir, port)
			testenv.WaitFor(t, "redis-server to answer again", patience, answers)
		}
	} else {
		testenv.Redis(t, testenv.RedisURL(), false) // fails or skips when it does not answer
	}
	tg.upstream = u.Host
	tg.open = func(t *testing.T, addr string) backend.Store {
		at := *u
		at.Host = addr
		q := at.Query()
		q.Set("cluster", "false")
		q.Set("dial_timeout", "200ms")
		at.RawQuery = q.Encode()
		s, err := redisstore.Open(at.String(), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return tg
}

func dynamoTarget(t *testing.T, _ bool) faultTarget {
	client := testenv.DynamoDB(t)
	opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-faults"})
	u, err := url.Parse(testenv.DynamoDBEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	return faultTarget{
		upstream: u.Host,
		open: func(t *testing.T, addr string) backend.Store {
			c := dynamodb.New(testenv.DynamoDBOptions(func(o *dynamodb.Options) {
				o.BaseEndpoint = aws.String(u.Scheme + "://" + addr)
			}))
			s, err := dynamostore.New(c, opts)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

// faultScenario is one fault: how it is put in place, what the test does while it lasts, and
// how it is repaired.
type faultScenario struct {
	name   string
	before bool // in place before the first call, not injected under load
	kills  bool // kills the server's process: only for a server of the test's own
	inject func(t *testing.T, r *faultRig)
	during func(t *testing.T, r *faultRig) // nil: until a probe has found the fault still there
	repair func(t *testing.T, r *faultRig)
}

var faultScenarios = []faultScenario{
	{
		name:   "down-before-first-call",
		before: true,
		inject: func(t *testing.T, r *faultRig) { r.proxy.Down(t) },
		repair: func(t *testing.T, r *faultRig) { r.proxy.Up(t) },
	},
	{
		name:   "down-mid-load",
		inject: func(t *testing.T, r *faultRig) { r.proxy.Down(t) },
		repair: func(t *testing.T, r *faultRig) { r.proxy.Up(t) },
	},
	{
		name:   "process-killed-restarted",
		kills:  true,
		inject: func(t *testing.T, r *faultRig) { r.target.process.Kill() },
		repair: func(t *testing.T, r *faultRig) { r.target.restart(t) },
	},
	{
		name:   "latency-5s",
		inject: func(t *testing.T, r *faultRig) { r.proxy.Latency(t, faultLatency) },
		repair: func(t *testing.T, r *faultRig) { r.proxy.Clear(t) },
	},
	{
		name:   "reset-peer",
		inject: func(t *testing.T, r *faultRig) { r.proxy.ResetPeer(t) },
		repair: func(t *testing.T, r *faultRig) { r.proxy.Clear(t) },
	},
	{
		name:   "flapping",
		inject: func(t *testing.T, r *faultRig) { r.proxy.Down(t) },
		during: flap,
		repair: func(t *testing.T, r *faultRig) { r.proxy.Up(t) },
	},
}

// flap brings the proxy up and down every 200ms for two seconds, and leaves it down with the
// breaker open.
func flap(t *testing.T, r *faultRig) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := range 10 {
		<-tick.C
		if i%2 == 0 {
			r.proxy.Up(t)
		} else {
			r.proxy.Down(t)
		}
	}
	testenv.WaitFor(t, "the breaker to open after the last flap", patience, func() bool {
		return r.breaker.Stats().State == "open"
	})
}

func TestFaults(t *testing.T) {
	testenv.Toxiproxy(t) // fails or skips before any backend is set up
	backends := []faultBackend{{"redis", redisTarget}, {"dynamodb", dynamoTarget}}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, sc := range faultScenarios {
				if sc.kills && b.name != "redis" {
					continue // the shared DynamoDB Local is not ours to kill
				}
				t.Run(sc.name, func(t *testing.T) { runFault(t, b, sc) })
			}
		})
	}
}

// faultRig is one scenario's cache, from the view the load calls down to the proxy.
type faultRig struct {
	target   faultTarget
	proxy    *testenv.Proxy
	breaker  *resilient.Breaker
	fallback *resilient.Fallback
	view     *cachekit.View[string]
	truth    *truth
	load     *faultLoad
}

func runFault(t *testing.T, b faultBackend, sc faultScenario) {
	ctx := context.Background()
	r := &faultRig{target: b.target(t, sc.kills), truth: &truth{v: map[string]string{}}}
	r.proxy = testenv.Toxiproxy(t).NewProxy(t, "faults-"+b.name, r.target.upstream)

	// The values the outage must not bring back: in the primary before anything starts,
	// written straight to the server so that a fault already in place does not stop them.
	prefix := testenv.Name("faults") + "#"
	direct := r.target.open(t, r.target.upstream)
	t.Cleanup(func() {
		_, _ = direct.Clear(context.Background(), prefix)
		direct.Close()
	})
	for i := range staleKeys {
		k, old := staleKey(i), "old-"+strconv.Itoa(i)
		r.truth.set(k, old)
		if err := direct.Set(ctx, prefix+k, []byte(strconv.Quote(old)), time.Hour); err != nil {
			t.Fatal(err)
		}
	}

	var err error
	r.breaker, err = resilient.New(r.target.open(t, r.proxy.Addr()), resilient.Options{
		FailureThreshold: faultThreshold, OpenTimeout: faultOpenTimeout, OpTimeout: faultOpTimeout, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	spare, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.fallback, err = resilient.NewFallback(r.breaker, spare, resilient.FallbackOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cachekit.New(r.fallback, cachekit.Options{Prefix: prefix, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.view = cachekit.Typed[string](c, "", 0)
	watch := watchStates(r.breaker, r.fallback)
	defer watch.stop()
	r.load = &faultLoad{view: r.view, truth: r.truth, stop: make(chan struct{})}

	var injected time.Time
	if sc.before {
		sc.inject(t, r)
		injected = time.Now()
		r.load.start()
	} else {
		r.load.start()
		testenv.WaitFor(t, "the load to run on the primary", patience, func() bool { return r.load.calls.Load() >= 100 })
		injected = time.Now()
		sc.inject(t, r)
	}
	defer r.load.finish() // on a failure too: no goroutine outlives the test

	testenv.WaitFor(t, "the breaker to open and traffic to move to the fallback", patience, func() bool {
		return r.breaker.Stats().State == "open" && r.fallback.Stats().OnFallback
	})
	r.changeDuringOutage(t)
	if sc.during != nil {
		sc.during(t, r)
	} else {
		testenv.WaitFor(t, "a probe to find the fault still there", patience, func() bool {
			st := r.breaker.Stats()
			return st.State == "open" && st.StateChanges >= 3 // open, half-open, open again
		})
	}

	repaired := time.Now()
	sc.repair(t, r)
	back := func() bool { return r.breaker.Stats().State == "closed" && !r.fallback.Stats().OnFallback }
	testenv.WaitFor(t, "the breaker to close and traffic to return to the primary", patience, back)
	after := r.load.calls.Load()
	testenv.WaitFor(t, "the load to run on the repaired primary", patience, func() bool { return r.load.calls.Load() >= after+100 })
	r.load.finish()
	// On a loaded machine a call slower than OpTimeout may have opened the breaker again: it
	// closes once the calls are fast again, which the calls here let it find out.
	testenv.WaitFor(t, "the breaker to be closed, with traffic on the primary, after the load", patience, func() bool {
		_ = r.load.timed("check Get", func(ctx context.Context) error { _, err := r.view.Get(ctx, "after-the-load"); return err })
		return back()
	})
	watch.stop()

	// The watcher gives the figures (-1 when its samples missed the change); the waits above
	// gave the verdicts.
	toOpen := watch.first(injected, func(s sample) bool { return s.state == "open" })
	toRecover := watch.first(repaired, func(s sample) bool { return s.state == "closed" && !s.onFallback })
	fst := r.fallback.Stats()
	if fst.MovedOut == 0 || fst.MovedBack == 0 {
		t.Errorf("fallback: %+v, want traffic moved out and back", fst)
	}
	r.checkNoStaleReads(t)
	r.load.check(t)

	t.Logf("FAULTS backend=%s scenario=%s time_to_open_ms=%d time_to_recover_ms=%d longest_call_ms=%d calls=%d loads=%d moved_out=%d moved_back=%d breaker_state_changes=%d",
		b.name, sc.name, toOpen, toRecover, r.load.longest().Milliseconds(),
		r.load.calls.Load(), r.load.loads.Load(), fst.MovedOut, fst.MovedBack, r.breaker.Stats().StateChanges)
}

func staleKey(i int) string { return "stale:" + strconv.Itoa(i) }

// changeDuringOutage changes the source of truth for every stale key and, as a service
// would, writes the new value to the cache or deletes the key there, until the cache takes it.
func (r *faultRig) changeDuringOutage(t *testing.T) {
	for i := range staleKeys {
		k, v := staleKey(i), "new-"+strconv.Itoa(i)
		r.truth.set(k, v)
		testenv.WaitFor(t, "the cache to take the change of "+k, patience, func() bool {
			return r.load.timed("outage write", func(ctx context.Context) error {
				if i%2 == 0 {
					return r.view.Set(ctx, k, v, 0)
				}
				return r.view.Delete(ctx, k)
			}) == nil
		})
		got, err := r.load.getOrLoad(k)
		if err != nil || got != v {
			t.Errorf("GetOrLoad(%s) during the outage = %q, %v; want %q", k, got, err, v)
		}
	}
}

// checkNoStaleReads reads every stale key after the repair: a value from before the outage is
// a stale read; GetOrLoad must return the source's new value.
func (r *faultRig) checkNoStaleReads(t *testing.T) {
	for i := range staleKeys {
		k, old, cur := staleKey(i), "old-"+strconv.Itoa(i), "new-"+strconv.Itoa(i)
		// A read that fails says nothing of staleness: on a loaded machine it may be slower
		// than OpTimeout. It is read again until it answers.
		testenv.WaitFor(t, "Get("+k+") to answer after the repair", patience, func() bool {
			var got string
			err := r.load.timed("check Get", func(ctx context.Context) (err error) {
				got, err = r.view.Get(ctx, k)
				return err
			})
			switch {
			case err == nil && got == old:
				t.Errorf("Get(%s) after the repair = %q: the value from before the outage", k, got)
			case err != nil && !errors.Is(err, cachekit.ErrNotFound):
				t.Logf("Get(%s) after the repair: %v; again", k, err)
				return false
			}
			return true
		})
		if got, err := r.load.getOrLoad(k); err != nil || got != cur {
			t.Errorf("GetOrLoad(%s) after the repair = %q, %v; want %q", k, got, err, cur)
		}
	}
}

// truth is the source of truth GetOrLoad loads from.
type truth struct {
	mu sync.Mutex
	v  map[string]string
}

func (s *truth) set(k, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v[k] = v
}

func (s *truth) get(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.v[k]; ok {
		return v
	}
	return "loaded:" + k
}

// faultLoad is the concurrent load: goroutines calling GetOrLoad, Set and Get in turn, each
// call with its own deadline, every call timed.
type faultLoad struct {
	view  *cachekit.View[string]
	truth *truth
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	calls, loads atomic.Int64

	mu          sync.Mutex
	slowest     time.Duration
	slowestOp   string
	loadErrors  []string // GetOrLoad calls that failed or returned another value than the source's
	panics      []string
	otherErrors map[string]int // Get and Set errors by operation: allowed, for the record
}

func (l *faultLoad) start() {
	for g := range loadGoroutines {
		l.wg.Add(1)
		go l.run(g)
	}
}

// finish stops the load and waits for it; it may be called more than once.
func (l *faultLoad) finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *faultLoad) run(g int) {
	defer l.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			l.mu.Lock()
			l.panics = append(l.panics, fmt.Sprintf("%v\n%s", p, debug.Stack()))
			l.mu.Unlock()
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		switch i % 3 {
		case 0:
			_, _ = l.getOrLoad("load:" + strconv.Itoa((g*13+i)%64))
		case 1:
			k := fmt.Sprintf("rw:%d:%d", g, i%10)
			l.note("Set", l.timed("Set", func(ctx context.Context) error { return l.view.Set(ctx, k, "written", 0) }))
		case 2:
			k := fmt.Sprintf("rw:%d:%d", g, i%10)
			l.note("Get", l.timed("Get", func(ctx context.Context) error { _, err := l.view.Get(ctx, k); return err }))
		}
		time.Sleep(time.Millisecond) // pace: a busy service, not a benchmark
	}
}

// getOrLoad calls GetOrLoad with the source of truth as loader, and records a failure or a
// value that is not the source's.
func (l *faultLoad) getOrLoad(k string) (string, error) {
	var got string
	err := l.timed("GetOrLoad", func(ctx context.Context) (err error) {
		got, err = l.view.GetOrLoad(ctx, k, func(context.Context, string) (string, error) {
			l.loads.Add(1)
			return l.truth.get(k), nil
		})
		return err
	})
	if want := l.truth.get(k); err != nil || got != want {
		l.mu.Lock()
		l.loadErrors = append(l.loadErrors, fmt.Sprintf("GetOrLoad(%s) = %q, %v; want %q", k, got, err, want))
		l.mu.Unlock()
	}
	return got, err
}

// timed runs fn with a context of callDeadline and records how long it took.
func (l *faultLoad) timed(op string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	took := time.Since(start)
	l.calls.Add(1)
	l.mu.Lock()
	if took > l.slowest {
		l.slowest, l.slowestOp = took, op
	}
	l.mu.Unlock()
	return err
}

func (l *faultLoad) note(op string, err error) {
	if err == nil || errors.Is(err, cachekit.ErrNotFound) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.otherErrors == nil {
		l.otherErrors = map[string]int{}
	}
	l.otherErrors[op]++
}

func (l *faultLoad) longest() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.slowest
}

// check reports what the load saw that it must not have.
func (l *faultLoad) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.panics {
		t.Errorf("a call panicked: %s", p)
	}
	if n := len(l.loadErrors); n > 0 {
		t.Errorf("%d GetOrLoad calls failed or returned another value than the source's; the first: %s", n, l.loadErrors[0])
	}
	if l.slowest > callDeadline+deadlineSlack {
		t.Errorf("a %s call took %v: past its %v deadline and %v of slack, it waited for the fault to end",
			l.slowestOp, l.slowest, callDeadline, deadlineSlack)
	}
	if len(l.otherErrors) > 0 {
		t.Logf("Get and Set errors while the breaker was closed on a broken backend (allowed): %v", l.otherErrors)
	}
}

// sample is the breaker's state and the fallback's routing at a moment.
type sample struct {
	at         time.Time
	state      string
	onFallback bool
}

// stateWatch samples the breaker and the fallback every millisecond and keeps every change,
// so that the time a transition took is known to the millisecond.
type stateWatch struct {
	mu      sync.Mutex
	changes []sample
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func watchStates(b *resilient.Breaker, f *resilient.Fallback) *stateWatch {
	w := &stateWatch{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var last sample
		for {
			s := sample{at: time.Now(), state: b.Stats().State, onFallback: f.Stats().OnFallback}
			if s.state != last.state || s.onFallback != last.onFallback {
				w.mu.Lock()
				w.changes = append(w.changes, s)
				w.mu.Unlock()
				last = s
			}
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *stateWatch) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}

// first returns how many milliseconds after since the first change that meets cond came,
// or -1 when none did.
func (w *stateWatch) first(since time.Time, cond func(sample) bool) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.changes {
		if !s.at.Before(since) && cond(s) {
			return s.at.Sub(since).Milliseconds()
		}
	}
	return -1
}
