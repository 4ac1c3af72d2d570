package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestDynamoDB runs cachectl against DynamoDB Local, each command in a run of its own, as an
// operator would: entries outlive the process that wrote them.
func TestDynamoDB(t *testing.T) {
	client := testenv.DynamoDB(t)
	table := testenv.Name("cachectl")
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("CACHE_DYNAMODB_ENDPOINT", testenv.DynamoDBEndpoint())
	// A value over the 128 KiB an argument may have on Linux, for set to read from a file.
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, []byte(`{"blob":"`+strings.Repeat("<&>", 70<<10)+`"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The windows' runs all fall in the window of this clock, which stands still.
	clock := cachetest.NewClock(time.Now())
	db := func(args ...string) result {
		t.Helper()
		return runAt(t, clock, append([]string{"--table", table, "--prefix", "CACHE#ops:"}, args...)...)
	}
	steps := []struct {
		args     []string
		code     int
		stdout   string // a substring of stdout
		jsonKeys []string
	}{
		{[]string{"table", "create"}, 0, "created", nil},
		{[]string{"table", "create"}, 0, "nothing to do", nil},
		{[]string{"--json", "table", "create"}, 0, `"created": false`, []string{"table", "created", "ttl_enabled"}},
		{[]string{"get", "geo"}, 1, "", nil},
		{[]string{"set", "geo", `{"city":"Oslo"}`, "--ttl", "10m"}, 0, "", nil},
		{[]string{"get", "geo"}, 0, `{"city":"Oslo"}`, nil},
		{[]string{"has", "geo"}, 0, "true", nil},
		{[]string{"ttl", "geo"}, 0, "m", nil},
		{[]string{"expire", "geo", "1h"}, 0, "", nil},
		{[]string{"set", "other", "2"}, 0, "", nil},
		{[]string{"mget", "geo", "other"}, 0, "other\t2", nil},
		{[]string{"stats"}, 0, "2", nil},
		{[]string{"health"}, 0, "healthy", nil},
		{[]string{"clear", "--yes"}, 0, "2", nil},
		{[]string{"has", "geo"}, 1, "false", nil},
		{[]string{"set", "big", "@" + big}, 0, "", nil},
		{[]string{"get", "big"}, 0, `{"blob":"<&><&>`, nil},
		{[]string{"clear", "--yes"}, 0, "1", nil},

		{[]string{"incr", "n"}, 0, "1\n", nil},
		{[]string{"incr", "n", "4", "--ttl", "10m"}, 0, "5\n", nil},
		{[]string{"incr", "n", "-6"}, 0, "-1\n", nil},
		{[]string{"get", "n"}, 0, "-1\n", nil},
		{[]string{"--json", "incr", "n"}, 0, `"count": 0`, []string{"key", "count"}},
		{[]string{"set", "two", "2"}, 0, "", nil},
		{[]string{"incr", "two"}, 2, "", nil}, // what set wrote is not a counter on DynamoDB
		{[]string{"get", "two"}, 0, "2\n", nil},
		{[]string{"limit", "rl", "1/h"}, 0, "allowed", nil},
		{[]string{"limit", "rl", "1/h"}, 1, "denied", nil},
		{[]string{"--json", "limit", "rl", "1/h"}, 1, `"allowed": false`, []string{"remaining", "retry_after_seconds", "reset_after_seconds"}},
		{[]string{"limit", "fx", "1/h", "--algorithm", "fixed"}, 0, "allowed", nil},
		{[]string{"limit", "fx", "1/h", "--algorithm", "fixed"}, 1, "denied", nil},
		{[]string{"limit", "sw", "1/h", "--algorithm", "sliding"}, 0, "allowed", nil},
		{[]string{"limit", "sw", "1/h", "--algorithm", "sliding"}, 1, "denied", nil},
		{[]string{"limit", "two", "1/s"}, 2, "", nil},
		// n, two, rl, and one window's counter each for fx and sw.
		{[]string{"clear", "--yes"}, 0, "removed 5 ", nil},
		{[]string{"table", "drop"}, 2, "", nil},
	}
	for _, st := range steps {
		r := db(st.args...)
		if r.code != st.code || !strings.Contains(r.stdout, st.stdout) {
			t.Fatalf("cachectl %s = exit %d, stdout %q, stderr %q; want exit %d and %q in stdout",
				strings.Join(st.args, " "), r.code, r.stdout, r.stderr, st.code, st.stdout)
		}
		if st.jsonKeys != nil {
			var m map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
				t.Fatalf("cachectl %s --json: %v", strings.Join(st.args, " "), err)
			}
			for _, k := range st.jsonKeys {
				if _, ok := m[k]; !ok {
					t.Errorf("cachectl %s --json lacks %q: %s", strings.Join(st.args, " "), k, r.stdout)
				}
			}
		}
	}
	checkCounterTTL(t, db)
	if r := runArgs(t, "--backend", "memory", "table", "create"); r.code != 2 {
		t.Errorf("table create on the memory backend = exit %d, want 2", r.code)
	}
}
