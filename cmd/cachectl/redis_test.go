package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestRedis runs cachectl against the Redis cluster, each command in a run of its own.
func TestRedis(t *testing.T) {
	testenv.Redis(t, testenv.RedisClusterURL(), true)
	prefix := testenv.Name("CACHE#ops") + ":"
	steps := []struct {
		args   []string
		code   int
		stdout string
	}{
		{[]string{"get", "geo"}, 1, ""},
		{[]string{"set", "geo", `{"city":"Oslo"}`, "--ttl", "10m"}, 0, ""},
		{[]string{"get", "geo"}, 0, `{"city":"Oslo"}`},
		{[]string{"ttl", "geo"}, 0, "m"},
		{[]string{"set", "other", "2"}, 0, ""},
		{[]string{"mget", "geo", "other", "missing"}, 1, "other\t2"},
		{[]string{"stats"}, 0, "2"},
		{[]string{"health"}, 0, "healthy"},
		{[]string{"clear", "--yes"}, 0, "2"},
		{[]string{"has", "geo"}, 1, "false"},

		{[]string{"incr", "n"}, 0, "1\n"},
		{[]string{"incr", "n", "4"}, 0, "5\n"},
		{[]string{"incr", "n", "-6"}, 0, "-1\n"},
		{[]string{"get", "n"}, 0, "-1\n"},
		{[]string{"set", "geo", `{"city":"Oslo"}`}, 0, ""},
		{[]string{"incr", "geo"}, 2, ""},
		{[]string{"get", "geo"}, 0, `{"city":"Oslo"}`},
		{[]string{"limit", "rl", "1/h"}, 0, "allowed"},
		{[]string{"limit", "rl", "1/h"}, 1, "denied"},
		{[]string{"limit", "fx", "1/h", "--algorithm", "fixed"}, 0, "allowed"},
		{[]string{"limit", "fx", "1/h", "--algorithm", "fixed"}, 1, "denied"},
		{[]string{"limit", "sw", "1/h", "--algorithm", "sliding"}, 0, "allowed"},
		{[]string{"limit", "sw", "1/h", "--algorithm", "sliding"}, 1, "denied"},
		{[]string{"limit", "geo", "1/s"}, 2, ""},
		// n, geo, rl, and one window's counter each for fx and sw.
		{[]string{"clear", "--yes"}, 0, "removed 5 "},
	}
	// The windows' runs all fall in the window of this clock, which stands still.
	clock := cachetest.NewClock(time.Now())
	redis := func(args ...string) result {
		t.Helper()
		return runAt(t, clock, append([]string{"--redis", testenv.RedisClusterURL(), "--prefix", prefix}, args...)...)
	}
	for _, st := range steps {
		r := redis(st.args...)
		if r.code != st.code || !strings.Contains(r.stdout, st.stdout) {
			t.Fatalf("cachectl %s = exit %d, stdout %q, stderr %q; want exit %d and %q in stdout",
				strings.Join(st.args, " "), r.code, r.stdout, r.stderr, st.code, st.stdout)
		}
	}
	checkCounterTTL(t, redis)
}
