package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
)

// TestCommands runs a sequence of commands against one Store, each step seeing what the
// steps before it wrote.
func TestCommands(t *testing.T) {
	s := newSession(t)
	steps := []struct {
		args       []string
		code       int
		stdout     string // exact, unless "*" (anything)
		stderrHas  string
		stderrNone string // must not appear on stderr
	}{
		{[]string{"get", "k"}, 1, "", "cachectl: get: cachekit: not found", ""},
		{[]string{"set", "k", `{"a": [1, 2]}`, "--ttl", "5m"}, 0, "", "memory backend", ""},
		{[]string{"get", "k"}, 0, `{"a":[1,2]}` + "\n", "", ""},
		{[]string{"--json", "get", "k"}, 0, `{"a":[1,2]}` + "\n", "", ""},
		{[]string{"has", "k"}, 0, "true\n", "", ""},
		{[]string{"has", "absent"}, 1, "false\n", "", "cachectl"},
		{[]string{"ttl", "k"}, 0, "5m0s\n", "", ""},
		{[]string{"expire", "k", "90"}, 0, "", "", ""},
		{[]string{"ttl", "k"}, 0, "1m30s\n", "", ""},
		{[]string{"expire", "absent", "1m"}, 1, "", "not found", ""},
		{[]string{"has", "absent"}, 1, "false\n", "", ""}, // expire created nothing
		{[]string{"ttl", "absent"}, 1, "", "not found", ""},
		{[]string{"set", "-1", "-1"}, 0, "", "", ""}, // a key and a JSON value that look like flags
		{[]string{"get", "--", "-1"}, 0, "-1\n", "", ""},
		{[]string{"mget", "k", "absent", "-1", "k"}, 1, "k\t{\"a\":[1,2]}\n-1\t-1\n", "not found: absent", ""},
		{[]string{"mget", "k", "-1"}, 0, "k\t{\"a\":[1,2]}\n-1\t-1\n", "", ""},
		{[]string{"stats"}, 0, "*", "", ""},
		{[]string{"del", "-1", "absent"}, 0, "", "", ""},
		{[]string{"get", "-1"}, 1, "", "not found", ""},

		// Global flags before or after the command; command flags after its arguments.
		{[]string{"--prefix", "other#", "set", "k", `"other"`}, 0, "", "", ""},
		{[]string{"get", "k", "--prefix", "other#"}, 0, "\"other\"\n", "", ""},
		{[]string{"get", "k"}, 0, `{"a":[1,2]}` + "\n", "", ""},
		{[]string{"set", "--ttl=2h", "t", "true"}, 0, "", "", ""},
		{[]string{"--ttl", "3600", "set", "u", "null"}, 0, "", "", ""},
		{[]string{"ttl", "t"}, 0, "2h0m0s\n", "", ""},
		{[]string{"ttl", "u"}, 0, "1h0m0s\n", "", ""},

		{[]string{"clear"}, 2, "", "add --yes", ""},
		{[]string{"get", "k"}, 0, `{"a":[1,2]}` + "\n", "", ""}, // clear refused: nothing gone
		{[]string{"clear", "--yes"}, 0, "removed 3 entries under \"CACHE#\"\n", "", ""},
		{[]string{"get", "k"}, 1, "", "not found", ""},
		{[]string{"get", "k", "--prefix", "other#"}, 0, "\"other\"\n", "", ""}, // another prefix survives
	}
	for _, st := range steps {
		r := s.run(st.args...)
		r.check(t, st.args, st.code)
		if st.stdout != "*" && r.stdout != st.stdout {
			t.Errorf("cachectl %q: stdout %q, want %q", st.args, r.stdout, st.stdout)
		}
		if !strings.Contains(r.stderr, st.stderrHas) {
			t.Errorf("cachectl %q: stderr %q, want it to contain %q", st.args, r.stderr, st.stderrHas)
		}
		if st.stderrNone != "" && strings.Contains(r.stderr, st.stderrNone) {
			t.Errorf("cachectl %q: stderr %q, want no %q", st.args, r.stderr, st.stderrNone)
		}
	}
}

func TestStatsCountsKeys(t *testing.T) {
	s := newSession(t)
	for _, k := range []string{"a", "b", "c"} {
		s.run("set", k, "1").check(t, nil, 0)
	}
	s.run("--prefix", "x#", "set", "a", "1").check(t, nil, 0)
	r := s.run("stats", "--json")
	r.check(t, nil, 0)
	var got struct {
		Backend string `json:"backend"`
		Prefix  string `json:"prefix"`
		Keys    int    `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if got.Backend != "memory" || got.Prefix != "CACHE#" || got.Keys != 3 {
		t.Errorf("stats = %+v, want memory, CACHE#, 3 keys", got)
	}
	r = s.run("stats")
	if !strings.Contains(r.stdout, "keys     3\n") {
		t.Errorf("stats:\n%s", r.stdout)
	}
}

// TestJSONOutput checks that every command's --json output is one JSON value.
func TestJSONOutput(t *testing.T) {
	s := newSession(t)
	s.run("set", "k", `{"a":1}`).check(t, nil, 0)
	s.run("set", "j", `[true]`).check(t, nil, 0)
	for _, tt := range []struct {
		args []string
		code int
		want string // a field that must be there, when not empty
	}{
		{[]string{"set", "n", "1"}, 0, "ttl_seconds"},
		{[]string{"get", "k"}, 0, "a"},
		{[]string{"has", "k"}, 0, "present"},
		{[]string{"has", "absent"}, 1, "present"},
		{[]string{"ttl", "k"}, 0, "ttl_seconds"},
		{[]string{"expire", "k", "1h"}, 0, "ttl_seconds"},
		{[]string{"mget", "k", "j", "absent"}, 1, "missing"},
		{[]string{"stats"}, 0, "hit_ratio"},
		{[]string{"incr", "c"}, 0, "count"},
		{[]string{"limit", "c2", "1/s"}, 0, "allowed"},
		{[]string{"del", "n"}, 0, "keys"},
		{[]string{"health"}, 0, "steps"},
		{[]string{"clear", "--yes"}, 0, "removed"},
	} {
		args := append(tt.args, "--json")
		r := s.run(args...)
		r.check(t, args, tt.code)
		var v map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Errorf("cachectl %q: stdout is not a JSON object: %v\n%s", args, err, r.stdout)
			continue
		}
		if _, ok := v[tt.want]; !ok {
			t.Errorf("cachectl %q: no %q in %s", args, tt.want, r.stdout)
		}
	}

	r := s.run("mget", "k", "absent", "--json")
	var m struct {
		Values  map[string]json.RawMessage `json:"values"`
		Missing []string                   `json:"missing"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Values) != 0 || len(m.Missing) != 2 {
		t.Errorf("after clear, mget = %+v", m)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		stderrHas string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"frob"}, `unknown command "frob"`},
		{"help for an unknown command", []string{"help", "frob"}, `unknown command "frob"`},
		{"get without a key", []string{"get"}, "usage: cachectl get KEY"},
		{"get with two keys", []string{"get", "a", "b"}, "usage: cachectl get KEY"},
		{"set without a value", []string{"set", "k"}, "usage: cachectl set KEY JSON"},
		{"del without keys", []string{"del"}, "usage: cachectl del KEY..."},
		{"stats with an argument", []string{"stats", "x"}, "usage: cachectl stats"},
		{"invalid JSON", []string{"set", "k", "{secret"}, "not valid JSON"},
		{"bare words are not JSON", []string{"set", "k", "hello"}, "not valid JSON"},
		{"empty key", []string{"get", ""}, "invalid key"},
		{"key too long", []string{"get", strings.Repeat("k", cachekit.MaxKeyLen)}, "invalid key"},
		{"expire with a bad duration", []string{"expire", "k", "soon"}, `invalid TTL "soon"`},
		{"expire with a negative duration", []string{"expire", "k", "-5s"}, "not positive"},
		{"expire with zero", []string{"expire", "k", "0"}, "not positive"},
		{"bad --ttl", []string{"set", "k", "1", "--ttl", "forever"}, "set: invalid value"},
		{"--ttl over the limit", []string{"--ttl", "100000h", "set", "k", "1"}, "beyond MaxTTL"},
		{"flag without its value", []string{"get", "k", "--prefix"}, "needs a value"},
		{"unknown flag", []string{"get", "k", "--nope"}, "get: unknown flag --nope"},
		{"another command's flag", []string{"get", "k", "--duration", "1s"}, "get: unknown flag --duration"},
		{"clear without --yes", []string{"clear"}, "add --yes"},
		{"clear --yes=false", []string{"clear", "--yes=false"}, "add --yes"},
		{"unknown backend", []string{"--backend", "nope", "stats"}, `"nope"`},
		{"redis without a URL", []string{"stats", "--backend", "redis"}, "needs a URL"},
		{"invalid prefix", []string{"--prefix", "\xff", "get", "k"}, "invalid"},
		{"prefix without a separator", []string{"--prefix", "CACHE#geo", "stats"}, "must end with one of"},
		{"zipf of 1", []string{"bench", "--zipf", "1"}, "--zipf"},
		{"zipf under 1", []string{"bench", "--zipf", "0.5"}, "--zipf"},
		{"zipf not a number", []string{"bench", "--zipf", "x"}, "--zipf"},
		{"read ratio over 1", []string{"bench", "--read-ratio", "1.5"}, "--read-ratio"},
		{"no keys", []string{"bench", "--keys", "0"}, "--keys"},
		{"no workers", []string{"bench", "--concurrency", "0"}, "--concurrency"},
		{"value too small", []string{"bench", "--value-size", "1"}, "--value-size"},
		{"zero duration", []string{"bench", "--duration", "0s"}, "--duration"},
		{"bad duration", []string{"bench", "--duration", "5"}, "--duration"},
		{"no room", []string{"bench", "--max-size", "0"}, "--max-size"},
		{"health timeout", []string{"health", "--timeout", "-1s"}, "--timeout"},
		{"incr without a key", []string{"incr"}, "usage: cachectl incr KEY [N]"},
		{"incr by a word", []string{"incr", "k", "many"}, `invalid N "many"`},
		{"incr by a fraction", []string{"incr", "k", "1.5"}, `invalid N "1.5"`},
		{"incr by more than int64", []string{"incr", "k", "9223372036854775808"}, "invalid N"},
		{"incr an empty key", []string{"incr", ""}, "invalid key"},
		{"incr with a bad --ttl", []string{"incr", "k", "--ttl", "0"}, "not positive"},
		{"limit without a rate", []string{"limit", "k"}, "usage: cachectl limit KEY RATE"},
		{"limit with a bare count", []string{"limit", "k", "100"}, `invalid RATE "100"`},
		{"limit with no requests", []string{"limit", "k", "0/s"}, "invalid RATE"},
		{"limit with a period of days", []string{"limit", "k", "10/d"}, "invalid RATE"},
		{"limit with a period over the limit", []string{"limit", "k", "1/100000h"}, "Period"},
		{"limit over one request a microsecond", []string{"limit", "k", "2000000/s"}, "microsecond"},
		{"limit by an unknown algorithm", []string{"limit", "k", "1/s", "--algorithm", "leaky"}, `--algorithm "leaky"`},
		{"limit with a burst of 0", []string{"limit", "k", "1/s", "--burst", "0"}, "--burst 0"},
		{"limit with a negative burst", []string{"limit", "k", "1/s", "--burst", "-1"}, "--burst -1"},
		{"limit with a burst on a window", []string{"limit", "k", "1/s", "--algorithm", "fixed", "--burst", "5"}, "--burst is gcra's"},
		{"limit an empty key", []string{"limit", "", "1/s"}, "invalid key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runArgs(t, tt.args...)
			r.check(t, tt.args, exitUsage)
			if !strings.Contains(r.stderr, tt.stderrHas) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tt.stderrHas)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if strings.Contains(r.stderr, "secret") {
				t.Errorf("stderr repeats the value: %q", r.stderr)
			}
		})
	}
}

func TestBackendErrors(t *testing.T) {
	s := brokenSession(t)
	for _, args := range [][]string{
		{"get", "k"},
		{"set", "k", "1"},
		{"del", "k"},
		{"has", "k"},
		{"ttl", "k"},
		{"expire", "k", "1m"},
		{"mget", "a", "b"},
		{"stats"},
		{"clear", "--yes"},
		{"incr", "k"},
		{"limit", "k", "1/s"},
		{"limit", "k", "1/s", "--algorithm", "fixed"},
		{"limit", "k", "1/s", "--algorithm", "sliding"},
	} {
		r := s.run(args...)
		r.check(t, args, exitBackend)
		if !strings.HasPrefix(r.stderr, "cachectl: "+args[0]+": ") || !strings.Contains(r.stderr, "closed") {
			t.Errorf("cachectl %q: stderr %q", args, r.stderr)
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Run("defaults come from the environment", func(t *testing.T) {
		t.Setenv(cacheenv.VarKeyPrefix, "app#")
		t.Setenv(cacheenv.VarDefaultTTL, "600")
		s := newSession(t)
		s.run("set", "k", "1").check(t, nil, 0)
		r := s.run("ttl", "k", "--prefix", "app#")
		r.check(t, nil, 0)
		if r.stdout != "10m0s\n" {
			t.Errorf("ttl = %q, want 10m0s", r.stdout)
		}
		r = s.run("help")
		if !strings.Contains(r.stdout, "(default app#)") || !strings.Contains(r.stdout, "(default 10m0s)") {
			t.Errorf("help does not show the environment's defaults:\n%s", r.stdout)
		}
	})
	t.Run("flags override the environment", func(t *testing.T) {
		t.Setenv(cacheenv.VarStorageType, "memory")
		t.Setenv(cacheenv.VarKeyPrefix, "app#")
		t.Setenv(cacheenv.VarDefaultTTL, "600")
		s := newSession(t)
		s.run("set", "k", "1", "--prefix", "other#", "--ttl", "5m").check(t, nil, 0)
		s.run("get", "k").check(t, nil, exitMiss)
		r := s.run("ttl", "k", "--prefix", "other#")
		r.check(t, nil, 0)
		if r.stdout != "5m0s\n" {
			t.Errorf("ttl = %q, want 5m0s", r.stdout)
		}
		runArgs(t, "get", "k", "--backend", "redis").check(t, nil, exitUsage)
		runArgs(t, "--backend", " MEMORY ", "get", "k").check(t, nil, exitMiss)
	})
	t.Run("an invalid environment is a configuration error", func(t *testing.T) {
		t.Setenv(cacheenv.VarDefaultTTL, "bogus")
		r := runArgs(t, "stats")
		r.check(t, nil, exitUsage)
		if !strings.Contains(r.stderr, cacheenv.VarDefaultTTL) {
			t.Errorf("stderr %q does not name the variable", r.stderr)
		}
		runArgs(t, "help").check(t, nil, exitOK) // help still works
		// cacheenv.Load returns no Config beside its error, so a flag cannot rescue it.
		runArgs(t, "stats", "--ttl", "5m").check(t, nil, exitUsage)
	})
	t.Run("bench takes its size from the environment", func(t *testing.T) {
		t.Setenv(cacheenv.VarMemoryMaxSize, "1234")
		r := runArgs(t, "help", "bench")
		if !strings.Contains(r.stdout, "(default 1234)") {
			t.Errorf("help bench:\n%s", r.stdout)
		}
	})
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"--json", "-h"}} {
		r := runArgs(t, args...)
		r.check(t, args, exitOK)
		for _, want := range []string{"Usage:", "Environment:", "Exit codes:", "memory backend", "--backend", "--prefix", "--ttl", "--json"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("cachectl %q: no %q in\n%s", args, want, r.stdout)
			}
		}
		for _, cmd := range commands {
			if !strings.Contains(r.stdout, "\n  "+cmd.name) {
				t.Errorf("cachectl %q does not list %s", args, cmd.name)
			}
		}
		for _, v := range cacheenv.Variables() {
			if !strings.Contains(r.stdout, "\n  "+v.Name+" ") {
				t.Errorf("cachectl %q does not list %s", args, v.Name)
			}
		}
		for _, code := range []string{"0  ", "1  ", "2  ", "3  "} {
			if !strings.Contains(r.stdout, "\n  "+code) {
				t.Errorf("cachectl %q does not explain exit code %s", args, code)
			}
		}
	}
	for _, args := range [][]string{{"help", "bench"}, {"bench", "-h"}, {"--help", "bench", "--duration", "1s"}} {
		r := runArgs(t, args...)
		r.check(t, args, exitOK)
		for _, want := range []string{"cachectl bench", "--duration", "--zipf", "--read-ratio", "--max-size", "--concurrency", "--value-size", "--keys", "(default 5s)"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("cachectl %q: no %q in\n%s", args, want, r.stdout)
			}
		}
	}
	for _, args := range [][]string{{"help", "limit"}, {"limit", "-h"}} {
		r := runArgs(t, args...)
		r.check(t, args, exitOK)
		for _, want := range []string{"cachectl limit KEY RATE", "100/s", "--burst", "--algorithm A", "(default gcra)", "Exit 0 when"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("cachectl %q: no %q in\n%s", args, want, r.stdout)
			}
		}
	}
	r := runArgs(t)
	r.check(t, nil, exitUsage)
	if r.stdout != "" || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("no arguments: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}
