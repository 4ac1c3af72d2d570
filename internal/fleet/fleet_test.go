package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// redisFleet returns Options for a small, quick fleet on the standalone Redis, under a prefix
// of the test's own that is cleared when it ends.
func redisFleet(t *testing.T) Options {
	t.Helper()
	testenv.Redis(t, testenv.RedisURL(), false)
	prefix := testenv.Name("fleet") + ":"
	t.Cleanup(func() {
		s, err := redisstore.Open(testenv.RedisURL(), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.Clear(ctx, prefix); err != nil {
			t.Errorf("clearing %s: %v", prefix, err)
		}
	})
	return Options{
		Prefix: prefix,
		Open: func(context.Context, int) (backend.Store, error) {
			return redisstore.Open(testenv.RedisURL(), redisstore.Options{})
		},
		Instances:     5,
		Duration:      600 * time.Millisecond,
		Warmup:        100 * time.Millisecond,
		SourceLatency: 20 * time.Millisecond,
		HotTTL:        150 * time.Millisecond,
		MissTTL:       time.Second,
		Keys:          100,
		MissingKeys:   5,
		MissingShare:  0.2,
		Bucket:        10 * time.Millisecond,
		Before:        50 * time.Millisecond,
		After:         100 * time.Millisecond,
	}
}

// TestRun runs each strategy on Redis and checks what holds whatever the timing: every read
// got its own key's value, or ErrNotFound for a key the source lacks, and the figures add up.
func TestRun(t *testing.T) {
	for _, st := range Strategies() {
		t.Run(string(st), func(t *testing.T) {
			o := redisFleet(t)
			o.Strategy = st
			rep, err := Run(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if err := rep.Write(&out); err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + out.String())
			if rep.Errors != 0 || rep.Wrong != 0 {
				t.Errorf("%d errors (the first: %s), %d wrong values", rep.Errors, rep.FirstError, rep.Wrong)
			}
			if rep.Strategy != st || rep.Instances != 5 || rep.Interrupted {
				t.Errorf("strategy %s, %d instances, interrupted %v", rep.Strategy, rep.Instances, rep.Interrupted)
			}
			if rep.All.Reads == 0 || rep.Hot.Reads == 0 || rep.Hot.Reads > rep.All.Reads || rep.Missing.Reads > rep.All.Reads {
				t.Errorf("reads: %d in all, %d of the hot key, %d of missing keys", rep.All.Reads, rep.Hot.Reads, rep.Missing.Reads)
			}
			if rep.Hot.SourceCalls < 1 || rep.Hot.FillCalls < 1 || rep.Hot.FillCalls > rep.Hot.SourceCalls {
				t.Errorf("hot key: %d calls, %d in the first fill", rep.Hot.SourceCalls, rep.Hot.FillCalls)
			}
			if rep.Missing.SourceCalls < rep.Missing.Keys || rep.Missing.WithinTTL > rep.Missing.SourceCalls {
				t.Errorf("missing keys: %+v", rep.Missing)
			}
			for _, s := range []ReadStats{rep.Hot.ReadStats, rep.All} {
				if l := s.Latency; l.P50 > l.P99 || l.P99 > l.Max || s.Waited > s.Reads || s.Stale > s.Reads {
					t.Errorf("read stats %+v", s)
				}
			}
			if len(rep.Series) != 15 || rep.Series[0].Offset != -50*time.Millisecond || rep.Series[14].Offset != 90*time.Millisecond {
				t.Errorf("series of %d buckets: %+v", len(rep.Series), rep.Series)
			}
			if !strings.Contains(out.String(), fmt.Sprintf("\nsource calls per expiry: %.2f\n", rep.Hot.CallsPerExpiry)) {
				t.Errorf("no line of source calls per expiry in\n%s", out.String())
			}
		})
	}
}

// TestRunFailsToOpen checks that a fleet an instance of which cannot open closes the others.
func TestRunFailsToOpen(t *testing.T) {
	o := redisFleet(t)
	errDown := errors.New("down")
	o.Open = func(ctx context.Context, i int) (backend.Store, error) {
		if i == 3 {
			return nil, errDown
		}
		return redisstore.Open(testenv.RedisURL(), redisstore.Options{})
	}
	if _, err := Run(t.Context(), o); !errors.Is(err, errDown) || !strings.Contains(err.Error(), "instance 3") {
		t.Errorf("Run = %v, want instance 3's error", err)
	}
}

func TestOptionsRefused(t *testing.T) {
	open := func(context.Context, int) (backend.Store, error) { return nil, errors.New("unused") }
	for name, o := range map[string]Options{
		"no Open":          {Prefix: "p:"},
		"no prefix":        {Open: open},
		"bad prefix":       {Open: open, Prefix: "p"},
		"unknown strategy": {Open: open, Prefix: "p:", Strategy: "fast"},
		"zipf of 1":        {Open: open, Prefix: "p:", Zipf: 1},
		"negative TTL":     {Open: open, Prefix: "p:", HotTTL: -time.Second},
		"one key":          {Open: open, Prefix: "p:", Keys: 1},
		"share over 1":     {Open: open, Prefix: "p:", MissingShare: 1.5},
	} {
		if _, err := Run(t.Context(), o); !errors.Is(err, backend.ErrConfig) {
			t.Errorf("%s: Run = %v, want ErrConfig", name, err)
		}
	}
}

func TestStrategies(t *testing.T) {
	ttl, miss := time.Minute, 5*time.Second
	r := cachekit.Recommended(ttl)
	for _, c := range []struct {
		s    Strategy
		want cachekit.Freshness
	}{
		{Plain, cachekit.Freshness{}},
		{Lease, cachekit.Freshness{Lease: r.Lease}},
		{SWR, cachekit.Freshness{Grace: r.Grace}},
		{XFetch, cachekit.Freshness{EarlyRefresh: 1}},
		{All, cachekit.Freshness{Grace: r.Grace, EarlyRefresh: r.EarlyRefresh, Lease: r.Lease, Jitter: r.Jitter, MissTTL: miss}},
	} {
		if got := c.s.Freshness(ttl, miss); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.s, got, c.want)
		}
		if got, err := ParseStrategy(string(c.s)); got != c.s || err != nil {
			t.Errorf("ParseStrategy(%q) = %q, %v", c.s, got, err)
		}
	}
	if _, err := ParseStrategy("fast"); err == nil || !strings.Contains(err.Error(), "plain, lease, swr, xfetch, all") {
		t.Errorf("ParseStrategy(fast) = %v, want an error that lists the strategies", err)
	}
}

// ms turns milliseconds into calls: each pair is a call's start and end.
func ms(pairs ...int) []call {
	var out []call
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, call{time.Duration(pairs[i]) * time.Millisecond, time.Duration(pairs[i+1]) * time.Millisecond})
	}
	return out
}

func TestGenerations(t *testing.T) {
	ttl := time.Second
	for _, c := range []struct {
		name     string
		calls    []call
		fill     int
		gens     []int // calls per generation
		expiries []int // expiries per generation
	}{
		{"none", nil, 0, nil, nil},
		{"a herd per expiry", ms(0, 200, 3, 203, 1200, 1400, 1201, 1401, 1210, 1410, 2400, 2600), 2, []int{3, 1}, []int{1, 1}},
		{"early refreshes of one expiry", ms(0, 200, 900, 1100, 1150, 1350, 1300, 1500, 2400, 2600), 1, []int{3, 1}, []int{1, 1}},
		{"refreshes that never pause", ms(0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2200, 2400, 2600, 2800, 3000), 2, []int{6}, []int{2}},
	} {
		fill, gens := generations(c.calls, ttl)
		var sizes, exps []int
		for _, g := range gens {
			sizes = append(sizes, len(g))
			exps = append(exps, expiriesOf(g, ttl))
		}
		if len(fill) != c.fill || !slices.Equal(sizes, c.gens) || !slices.Equal(exps, c.expiries) {
			t.Errorf("%s: fill %d, generations %v, expiries %v; want %d, %v, %v", c.name, len(fill), sizes, exps, c.fill, c.gens, c.expiries)
		}
	}
}

func TestWithinTTL(t *testing.T) {
	// The second call overlaps the first (no tombstone yet); the third comes 500ms after the
	// first ended, within the window; the fourth after it.
	calls := ms(0, 100, 50, 150, 650, 750, 2000, 2100)
	if got := withinTTL(calls, time.Second); got != 1 {
		t.Errorf("withinTTL = %d, want 1", got)
	}
	// A cancelled call (no end) leaves no tombstone.
	if got := withinTTL(ms(0, 0, 10, 110), time.Second); got != 0 {
		t.Errorf("withinTTL after a cancelled call = %d, want 0", got)
	}
}

func TestQuantile(t *testing.T) {
	xs := make([]time.Duration, 100)
	for i := range xs {
		xs[i] = time.Duration(i + 1)
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.99: 99, 1: 100, 0: 1} {
		if got := quantile(xs, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("the quantile of nothing is not zero")
	}
}
