package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigJSON returns a JSON object of about n bytes, written with spaces that set compacts.
func bigJSON(n int) (text, compacted string) {
	var b strings.Builder
	b.WriteString("{\n  \"items\": [")
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"<item & more>"`)
	}
	b.WriteString("]\n}\n")
	var c strings.Builder
	c.WriteString(`{"items":[`)
	c.WriteString(strings.TrimSuffix(strings.Repeat(`"<item & more>",`, strings.Count(b.String(), `"<item`)), ","))
	c.WriteString("]}")
	return b.String(), c.String()
}

// TestSetReadsTheValueFromAFileOrStandardInput stores values over the 128 KiB an argument
// may have on Linux, read as curl reads its data: @FILE and @-.
func TestSetReadsTheValueFromAFileOrStandardInput(t *testing.T) {
	s := newSession(t)
	text, compacted := bigJSON(300 << 10)
	if !json.Valid([]byte(compacted)) {
		t.Fatal("the test's compacted JSON is not valid")
	}
	path := filepath.Join(t.TempDir(), "value.json")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdin string
	s.configure = func(c *cli) { c.stdin = strings.NewReader(stdin) }

	r := s.run("set", "from-file", "@"+path)
	r.check(t, []string{"set", "from-file", "@" + path}, 0)
	if r := s.run("get", "from-file"); r.code != 0 || r.stdout != compacted+"\n" {
		t.Errorf("get after set @FILE = exit %d, %d bytes; want the file's %d bytes compacted", r.code, len(r.stdout), len(compacted)+1)
	}

	stdin = text
	r = s.run("set", "from-stdin", "@-", "--ttl", "1h")
	r.check(t, []string{"set", "from-stdin", "@-"}, 0)
	if r := s.run("get", "from-stdin"); r.code != 0 || r.stdout != compacted+"\n" {
		t.Errorf("get after set @- = exit %d, %d bytes; want standard input's %d bytes compacted", r.code, len(r.stdout), len(compacted)+1)
	}
	if r := s.run("ttl", "from-stdin"); r.stdout != "1h0m0s\n" {
		t.Errorf("ttl after set @- --ttl 1h = %q", r.stdout)
	}

	for _, tc := range []struct {
		name, arg, stdin, stderr string
	}{
		{"a missing file", "@" + filepath.Join(t.TempDir(), "missing.json"), "", "no such file"},
		{"a directory", "@" + t.TempDir(), "", "reading the value"},
		{"a file that is not JSON", "@" + writeFile(t, "not json\n"), "", "not valid JSON"},
		{"empty standard input", "@-", "", "the value read from standard input is not valid JSON"},
		{"standard input that is not JSON", "@-", "{secret", "not valid JSON"},
	} {
		stdin = tc.stdin
		r := s.run("set", "k", tc.arg)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("set with %s = exit %d, stderr %q; want exit 2 and %q", tc.name, r.code, r.stderr, tc.stderr)
		}
		if strings.Contains(r.stderr, "secret") {
			t.Errorf("set with %s: the error quotes the value: %q", tc.name, r.stderr)
		}
	}
	if r := s.run("has", "k"); r.code != exitMiss {
		t.Errorf("a set that failed to read its value wrote an entry: has = exit %d", r.code)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
