package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// benchJSON runs bench as main does, with --json and the extra args, for at most 200ms, and
// decodes its summary.
func benchJSON(t *testing.T, ctx context.Context, args ...string) benchResult {
	t.Helper()
	args = append([]string{"bench", "--json", "--duration", "200ms", "--keys", "1000", "--concurrency", "2"}, args...)
	var out, errOut bytes.Buffer
	r := result{run(ctx, args, &out, &errOut), out.String(), errOut.String()}
	r.check(t, args, exitOK)
	if r.stderr != "" {
		t.Errorf("stderr in --json mode: %q", r.stderr)
	}
	var res benchResult
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	return res
}

func TestBenchJSON(t *testing.T) {
	res := benchJSON(t, t.Context(), "--max-size", "100", "--value-size", "64")
	if res.Ops == 0 || res.OpsPerSec <= 0 {
		t.Fatalf("ops %d, %v ops/s", res.Ops, res.OpsPerSec)
	}
	if res.HitRatio < 0 || res.HitRatio > 1 || res.Stats.HitRatio < 0 || res.Stats.HitRatio > 1 {
		t.Errorf("hit ratios %v and %v", res.HitRatio, res.Stats.HitRatio)
	}
	if res.Reads+res.Writes != res.Ops || res.Hits+res.Fills+res.Errors != res.Reads {
		t.Errorf("the counts do not add up: %+v", res)
	}
	if res.Errors != 0 || res.Interrupted {
		t.Errorf("errors %d, interrupted %v", res.Errors, res.Interrupted)
	}
	if res.ElapsedSeconds <= 0 {
		t.Errorf("elapsed %vs", res.ElapsedSeconds)
	}
	// The cache's own counters agree with the workers'.
	if res.Stats.Hits != res.Hits || res.Stats.Misses != res.Fills || res.Stats.Sets != res.Fills+res.Writes {
		t.Errorf("stats %+v disagree with the workers' counts %+v", res.Stats, res)
	}
	if res.Stats.Keys < 1 || res.Stats.Keys > 100 {
		t.Errorf("keys %d with --max-size 100", res.Stats.Keys)
	}
	if res.Config.MaxSize != 100 || res.Config.ValueSize != 64 || res.Config.Keys != 1000 || res.Prefix != "CACHE#cachectl:bench:" {
		t.Errorf("config %+v, prefix %q", res.Config, res.Prefix)
	}
	for name, l := range map[string]latencyJSON{"op": res.Latency.Op, "get": res.Latency.Get, "set": res.Latency.Set} {
		if l.Count == 0 || l.P50NS > l.P99NS || l.P99NS > l.P999NS || l.P999NS > l.MaxNS {
			t.Errorf("%s latency %+v", name, l)
		}
	}
	if res.Latency.Op.Count != res.Ops || res.Latency.Get.Count != res.Reads || res.Latency.Set.Count != res.Writes+res.Fills {
		t.Errorf("latency counts %+v for %+v", res.Latency, res)
	}
}

func TestBenchReadRatio(t *testing.T) {
	res := benchJSON(t, t.Context(), "--read-ratio", "0")
	if res.Reads != 0 || res.Writes != res.Ops || res.HitRatio != 0 {
		t.Errorf("--read-ratio 0: %+v", res)
	}
	res = benchJSON(t, t.Context(), "--read-ratio", "1", "--keys", "1", "--concurrency", "1")
	if res.Writes != 0 || res.Fills != 1 || res.Hits != res.Ops-1 {
		t.Errorf("--read-ratio 1 on one key: %+v", res)
	}
}

func TestBenchInterrupted(t *testing.T) {
	t.Run("before it starts", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		res := benchJSON(t, ctx, "--duration", "1h")
		if !res.Interrupted {
			t.Errorf("not marked interrupted: %+v", res)
		}
	})
	t.Run("while it runs", func(t *testing.T) {
		// The deadline stands in for Ctrl-C: the run ends with it, long before --duration.
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		res := benchJSON(t, ctx, "--duration", "1h")
		if !res.Interrupted || res.Ops == 0 || res.ElapsedSeconds > 60 {
			t.Errorf("interrupted %v, %d ops in %vs", res.Interrupted, res.Ops, res.ElapsedSeconds)
		}
	})
}

func TestBenchText(t *testing.T) {
	for _, tty := range []bool{false, true} {
		s := newSession(t)
		s.configure = func(c *cli) {
			c.tty = tty
			c.progressEvery = 10 * time.Millisecond
		}
		args := []string{"bench", "--duration", "200ms", "--keys", "1000"}
		r := s.run(args...)
		r.check(t, args, exitOK)
		for _, want := range []string{"backend memory", "ops/s", "hit ratio", "p50", "p99", "p99.9", "\n  op ", "\n  get ", "\n  set ", "cache stats: hits "} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("tty %v: no %q in\n%s", tty, want, r.stdout)
			}
		}
		if !strings.Contains(r.stderr, "ops/s") {
			t.Errorf("tty %v: no progress on stderr: %q", tty, r.stderr)
		}
		if tty {
			if !strings.HasPrefix(r.stderr, "\r") || !strings.HasSuffix(r.stderr, "\r\x1b[K") || strings.Contains(r.stderr, "\n") {
				t.Errorf("on a terminal, progress should rewrite one line and clear it: %q", r.stderr)
			}
		} else if strings.Contains(r.stderr, "\r") || !strings.HasSuffix(r.stderr, "\n") {
			t.Errorf("off a terminal, progress should be plain lines: %q", r.stderr)
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine(1500*time.Millisecond, 1234, 823.4)
	want := "bench:    1.5s         1234 ops          823 ops/s"
	if got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
}

func TestFmtLatency(t *testing.T) {
	for ns, want := range map[int64]string{
		0:             "0ns",
		999:           "999ns",
		1234:          "1.23µs",
		5_678_900:     "5.68ms",
		2_500_000_000: "2.50s",
	} {
		if got := fmtLatency(ns); got != want {
			t.Errorf("fmtLatency(%d) = %q, want %q", ns, got, want)
		}
	}
}

func TestBenchValue(t *testing.T) {
	for _, n := range []int{2, 3, 256} {
		v := benchValue(n)
		if len(v) != n || !json.Valid(v) {
			t.Errorf("benchValue(%d) = %q", n, v)
		}
	}
}
