package main

import (
	"strings"
	"testing"

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
	}
	for _, st := range steps {
		r := runArgs(t, append([]string{"--redis", testenv.RedisClusterURL(), "--prefix", prefix}, st.args...)...)
		if r.code != st.code || !strings.Contains(r.stdout, st.stdout) {
			t.Fatalf("cachectl %s = exit %d, stdout %q, stderr %q; want exit %d and %q in stdout",
				strings.Join(st.args, " "), r.code, r.stdout, r.stderr, st.code, st.stdout)
		}
	}
}
