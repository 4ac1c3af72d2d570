package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestIncr counts under one key and refuses what is not a counter, leaving it as it was.
func TestIncr(t *testing.T) {
	s := newSession(t)
	steps := []struct {
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{[]string{"incr", "n"}, 0, "1\n", "memory backend"},
		{[]string{"incr", "n", "5"}, 0, "6\n", ""},
		{[]string{"incr", "n", "-10"}, 0, "-4\n", ""}, // a negative N is not a flag
		{[]string{"incr", "n", "0"}, 0, "-4\n", ""},
		{[]string{"get", "n"}, 0, "-4\n", ""},
		{[]string{"ttl", "n"}, 0, "1h0m0s\n", ""}, // the default TTL
		{[]string{"incr", "t", "--ttl", "5m"}, 0, "1\n", ""},
		{[]string{"incr", "t", "--ttl", "1h"}, 0, "2\n", ""},
		{[]string{"ttl", "t"}, 0, "5m0s\n", ""}, // the TTL it was created with
		{[]string{"--json", "incr", "t"}, 0, "{\n  \"key\": \"t\",\n  \"count\": 3\n}\n", ""},
		{[]string{"incr", "n", "--prefix", "other#"}, 0, "1\n", ""}, // keys under the prefix
		{[]string{"set", "seven", "7"}, 0, "", ""},
		{[]string{"incr", "seven"}, 0, "8\n", ""}, // a JSON integer counts
		{[]string{"set", "geo", `{"city":"Oslo"}`}, 0, "", ""},
		{[]string{"incr", "geo"}, exitUsage, "", `cachectl: incr: the entry under "geo" is not a counter, and is left as it is`},
		{[]string{"get", "geo"}, 0, `{"city":"Oslo"}` + "\n", ""},
		{[]string{"set", "half", "0.5"}, 0, "", ""},
		{[]string{"incr", "half"}, exitUsage, "", "not a counter"},
		{[]string{"set", "max", "9223372036854775807"}, 0, "", ""},
		{[]string{"incr", "max"}, exitUsage, "", "not a counter"}, // past the range of int64
		{[]string{"get", "max"}, 0, "9223372036854775807\n", ""},
	}
	for _, st := range steps {
		r := s.run(st.args...)
		r.check(t, st.args, st.code)
		if r.stdout != st.stdout {
			t.Errorf("cachectl %q: stdout %q, want %q", st.args, r.stdout, st.stdout)
		}
		if !strings.Contains(r.stderr, st.stderrHas) {
			t.Errorf("cachectl %q: stderr %q, want it to contain %q", st.args, r.stderr, st.stderrHas)
		}
	}
}

// limitReport is what limit prints, read back: the verdict and the fields after it.
type limitReport struct {
	verdict string
	fields  map[string]string
}

func readLimit(t *testing.T, stdout string) limitReport {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	rep := limitReport{verdict: lines[0], fields: map[string]string{}}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("limit printed %q, a line without a value", l)
		}
		rep.fields[name] = strings.TrimSpace(value)
	}
	return rep
}

// TestLimit runs limit against one Store on a clock that stands still, until the clock moves:
// each run is a request that spends the quota, and the figures follow from the algorithm.
func TestLimit(t *testing.T) {
	s := newSession(t)
	// The windows' counters are named after the window's index on the session's clock.
	minute := s.clock.Now().Unix() / 60
	type want struct {
		code                  int
		remaining, retry, rst string
	}
	steps := []struct {
		args    []string
		advance time.Duration // before the run
		want    want
	}{
		// GCRA, 2/s: a burst of 2, then one each 500ms.
		{[]string{"limit", "api", "2/s"}, 0, want{0, "1", "0s", "500ms"}},
		{[]string{"limit", "api", "2/s"}, 0, want{0, "0", "0s", "1s"}},
		{[]string{"limit", "api", "2/s"}, 0, want{1, "0", "500ms", "1s"}},
		{[]string{"limit", "api", "2/s"}, 400 * time.Millisecond, want{1, "0", "100ms", "600ms"}},
		{[]string{"limit", "api", "2/s"}, 100 * time.Millisecond, want{0, "0", "0s", "1s"}},
		// A burst under the rate: one at once, then one each 100ms.
		{[]string{"limit", "burst", "10/s", "--burst", "1"}, 0, want{0, "0", "0s", "100ms"}},
		{[]string{"limit", "burst", "10/s", "--burst", "1"}, 0, want{1, "0", "100ms", "100ms"}},
		// A fixed window of a minute, 5.5s into it: 2 admitted, then none until it ends.
		{[]string{"limit", "win", "2/m", "--algorithm", "fixed"}, 0, want{0, "1", "0s", "54.5s"}},
		{[]string{"limit", "win", "2/m", "--algorithm", "fixed"}, 0, want{0, "0", "0s", "54.5s"}},
		{[]string{"limit", "win", "2/m", "--algorithm", "fixed"}, 0, want{1, "0", "54.5s", "54.5s"}},
		{[]string{"get", fmt.Sprintf("win:%d", minute)}, 0, want{code: 0}}, // the window's count
		// A sliding window: the same, and a denied request is not counted.
		{[]string{"limit", "slide", "2/1m0s", "--algorithm", "sliding"}, 0, want{0, "1", "0s", "1m54.5s"}},
		{[]string{"limit", "slide", "2/1m0s", "--algorithm", "sliding"}, 0, want{0, "0", "0s", "1m54.5s"}},
		{[]string{"limit", "slide", "2/1m0s", "--algorithm", "sliding"}, 0, want{1, "0", "1m24.5s", "1m54.5s"}},
	}
	for _, st := range steps {
		s.clock.Advance(st.advance)
		r := s.run(st.args...)
		r.check(t, st.args, st.want.code)
		if st.args[0] != "limit" {
			if r.stdout != "3\n" {
				t.Errorf("cachectl %q = %q, want 3: the denied request stays counted", st.args, r.stdout)
			}
			continue
		}
		rep := readLimit(t, r.stdout)
		verdict := map[int]string{0: "allowed", 1: "denied"}[st.want.code]
		if rep.verdict != verdict || rep.fields["remaining"] != st.want.remaining ||
			rep.fields["retry-after"] != st.want.retry || rep.fields["reset-after"] != st.want.rst {
			t.Errorf("cachectl %q:\n%s\nwant %s, remaining %s, retry-after %s, reset-after %s",
				st.args, r.stdout, verdict, st.want.remaining, st.want.retry, st.want.rst)
		}
	}
	r := s.run("limit", "api", "2/s", "--json")
	r.check(t, nil, exitMiss)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("limit --json: %v\n%s", err, r.stdout)
	}
	wantJSON := map[string]any{
		"key": "api", "allowed": false, "remaining": 0.0, "retry_after_seconds": 0.5,
		"reset_after_seconds": 1.0, "algorithm": "gcra", "rate": 2.0, "period_seconds": 1.0, "quota": 2.0,
	}
	for k, v := range wantJSON {
		if got[k] != v {
			t.Errorf("limit --json: %s = %v, want %v\n%s", k, got[k], v, r.stdout)
		}
	}
	if r := s.run("limit", "api", "2/s"); !strings.Contains(r.stdout, "limit        2 per 1s, gcra, quota 2\n") {
		t.Errorf("limit does not say the limit it applied:\n%s", r.stdout)
	}
	// A key holding a value that is not a TAT is refused, and left alone.
	s.run("set", "geo", `{"city":"Oslo"}`).check(t, nil, 0)
	if r := s.run("limit", "geo", "1/s"); r.code != exitUsage || !strings.Contains(r.stderr, "not a counter") {
		t.Errorf("limit on a JSON object: exit %d, stderr %q; want 2 and not a counter", r.code, r.stderr)
	}
	s.run("get", "geo").check(t, nil, 0)
}

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in     string
		rate   int
		period time.Duration
	}{
		{"100/s", 100, time.Second},
		{"10/m", 10, time.Minute},
		{"1000/h", 1000, time.Hour},
		{"5/10s", 5, 10 * time.Second},
		{"1/250ms", 1, 250 * time.Millisecond},
	} {
		l, err := parseRate(tt.in)
		if err != nil || l.Rate != tt.rate || l.Period != tt.period || l.Burst != 0 {
			t.Errorf("parseRate(%q) = %+v, %v; want %d per %v, burst left to its default", tt.in, l, err, tt.rate, tt.period)
		}
	}
	for _, in := range []string{"", "100", "100/", "/s", "0/s", "-1/s", "x/s", "1.5/s", "10/d", "10/0s", "10/-1s", "10/ s"} {
		if _, err := parseRate(in); err == nil || !strings.Contains(err.Error(), "COUNT/PERIOD") {
			t.Errorf("parseRate(%q) = %v, want a usage error", in, err)
		}
	}
}

// checkCounterTTL checks, with run running cachectl on a remote backend, that a counter keeps
// the TTL incr created it with, whatever --ttl later increments give.
func checkCounterTTL(t *testing.T, run func(args ...string) result) {
	t.Helper()
	run("incr", "kept", "--ttl", "10m").check(t, nil, 0)
	run("incr", "kept", "--ttl", "2h").check(t, nil, 0)
	r := run("--json", "ttl", "kept")
	r.check(t, nil, 0)
	var got struct {
		TTLSeconds float64 `json:"ttl_seconds"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("ttl --json: %v\n%s", err, r.stdout)
	}
	// DynamoDB keeps an expiry in whole seconds, rounded up: a little over 600s may be left.
	if got.TTLSeconds <= 0 || got.TTLSeconds > 601 {
		t.Errorf("a counter created with --ttl 10m, then incremented with --ttl 2h, has %vs left; want about 600s", got.TTLSeconds)
	}
	run("del", "kept").check(t, nil, 0)
}
