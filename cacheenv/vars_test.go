package cacheenv_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/cacheenv"
)

var update = flag.Bool("update", false, "rewrite the table of variables in docs/configuration.md from cacheenv.Variables")

const (
	tableStart = "<!-- The variables, made from cacheenv.Variables by: go test ./cacheenv -run TestDocsListTheVariables -update -->\n"
	tableEnd   = "<!-- end of the variables -->\n"
)

// variablesTable is the table of the variables in docs/configuration.md, as Variables
// describes them.
func variablesTable() string {
	var b strings.Builder
	b.WriteString("| variable | meaning | default |\n| --- | --- | --- |\n")
	cell := strings.NewReplacer("|", `\|`).Replace // a pipe, even in code, would end the cell
	for _, v := range cacheenv.Variables() {
		b.WriteString("| `" + v.Name + "` | " + cell(v.Doc) + " | " + cell(v.Default) + " |\n")
	}
	return b.String()
}

// TestDocsListTheVariables holds the table in docs/configuration.md to the code's one list
// of variables.
func TestDocsListTheVariables(t *testing.T) {
	const page = "../docs/configuration.md"
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	before, rest, ok1 := strings.Cut(text, tableStart)
	table, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no table of variables between %q and %q", page, tableStart, tableEnd)
	}
	want := variablesTable()
	if table == want {
		return
	}
	if *update {
		if err := os.WriteFile(page, []byte(before+tableStart+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the table of variables differs from cacheenv.Variables; rewrite it with: go test ./cacheenv -run TestDocsListTheVariables -update\nwant:\n%s", page, want)
}

// TestEveryVariableIsRead: each listed variable changes what Load returns, so that no row of
// the table documents a variable the code ignores.
func TestEveryVariableIsRead(t *testing.T) {
	values := map[string]string{
		"CACHE_STORAGE_TYPE": "redis", "CACHE_KEY_PREFIX": "app:", "CACHE_DEFAULT_TTL": "90",
		"CACHE_MEMORY_MAX_SIZE": "7", "CACHE_MEMORY_CLEANUP_INTERVAL": "0", "CACHE_TABLE_NAME": "t",
		"CACHE_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000", "CACHE_DYNAMODB_PARTITION_KEY": "id",
		"CACHE_DYNAMODB_SORT_KEY": "sk", "CACHE_DYNAMODB_SORT_KEY_VALUE": "CACHE",
		"CACHE_DYNAMODB_CONSISTENT_READ": "true", "CACHE_REDIS_URL": "redis://127.0.0.1:6379",
		"CACHE_L1_MAX_SIZE": "9", "CACHE_L1_TTL": "5s", "CACHE_FALLBACK_STORAGE_TYPE": "dynamodb",
		"CACHE_BREAKER": "off", "CACHE_OP_TIMEOUT": "1s", "CACHE_BREAKER_FAILURES": "3",
		"CACHE_BREAKER_OPEN_TIMEOUT": "2s", "CACHE_HEALTH_CHECK_INTERVAL": "0", "CACHE_METRICS": "emf",
		"CACHE_METRICS_NAMESPACE": "ns", "CACHE_METRICS_INTERVAL": "3s", "CACHE_SERVICE_NAME": "svc",
		"AWS_LAMBDA_FUNCTION_NAME": "fn",
	}
	for _, v := range cacheenv.Variables() {
		value, ok := values[v.Name]
		if !ok {
			t.Errorf("no test value for %s", v.Name)
			continue
		}
		got, _ := cacheenv.LoadFrom(func(name string) (string, bool) {
			if name == v.Name {
				return value, true
			}
			return "", false
		})
		if got == (cacheenv.Config{}) {
			t.Errorf("%s=%s changes nothing in the Config", v.Name, value)
		}
	}
}
