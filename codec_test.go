package cachekit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testenv"
)

// jsValues are values whose JSON text the JSON codec must write exactly as JavaScript's
// JSON.stringify does. Object keys are not integer-like and maps have one key or sorted keys:
// JavaScript orders integer-like keys first, and encoding/json sorts a map's keys.
var jsValues = []any{
	"plain",
	"<script>alert('x')</script>",
	"a & b > c < d",
	"line\u2028separator\u2029paragraph",
	"quote \" backslash \\ slash /",
	`\u003c and \u2028 written out, not escaped`,
	"\\\u2028",
	"tab\tnewline\ncr\rbackspace\bformfeed\f",
	"\x00\x01\x1f\x7f",
	"Zürich 日本語 🎉 e\u0301",
	"",
	map[string]any{"html": "<b>&amp;</b>", "n": 1.5, "ok": true, "sep": "\u2028"},
	struct {
		City    string   `json:"city"`
		Tags    []string `json:"tags"`
		Lat     float64  `json:"lat"`
		Missing *int     `json:"missing"`
	}{"Saint-<Malo>", []string{"a&b", "<"}, 48.6493, nil},
	[]any{0, -1, 1.5, 1e21, 1e-7, 123456789.125, 9007199254740991, 5e-324, math.MaxFloat64, true, false, nil},
	[]any{},
	map[string]any{},
	json.RawMessage(`{"raw":"<>&"}`),
}

// TestJSONMatchesJavaScript writes each value with the codec and with Node's JSON.stringify,
// and compares the bytes.
func TestJSONMatchesJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node", err)
	}
	// Node reads every value from encoding/json's text, which it parses to the same value,
	// and writes JSON.stringify's text of each on a line of its own: a raw newline is never
	// part of JSON text.
	in, err := json.Marshal(jsValues)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "-e", `
		let s = ""; process.stdin.setEncoding("utf8");
		process.stdin.on("data", d => s += d);
		process.stdin.on("end", () => process.stdout.write(JSON.parse(s).map(v => JSON.stringify(v)).join("\n")));`)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("node: %v: %s", err, exit.Stderr)
		}
		t.Fatalf("node: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) != len(jsValues) {
		t.Fatalf("node wrote %d lines for %d values:\n%s", len(lines), len(jsValues), out)
	}
	for i, v := range jsValues {
		got, err := cachekit.JSON.Marshal(v)
		if err != nil {
			t.Errorf("Marshal(%#v): %v", v, err)
			continue
		}
		if string(got) != lines[i] {
			t.Errorf("Marshal(%#v)\n = %s\nJSON.stringify writes\n   %s", v, got, lines[i])
		}
	}
}

// quoteJSON is JSON.stringify's quoting of a string (ECMA-262 QuoteJSONString), with the
// replacement character encoding/json writes for bytes that are not UTF-8.
func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteString(`\ufffd`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzJSONStrings checks the JSON codec on strings: JSON.stringify's bytes out, with the
// short path or without, and encoding/json's string back.
func FuzzJSONStrings(f *testing.F) {
	for _, s := range []string{"", "Oslo", `a"b`, `a\b`, "<b>&", "tab\there", "\u2028", `\u2028`, "\\\u2029", "\xff", "日本", "e\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := cachekit.JSON.Marshal(s)
		if want := quoteJSON(s); err != nil || string(got) != want {
			t.Fatalf("Marshal(%q) = %q, %v; JSON.stringify: %q", s, got, err, want)
		}
		// The long path, through a struct, writes the same text.
		inStruct, err := cachekit.JSON.Marshal(struct{ S string }{s})
		if want := `{"S":` + string(got) + `}`; err != nil || string(inStruct) != want {
			t.Fatalf("Marshal of a struct holding %q = %q, %v; want %q", s, inStruct, err, want)
		}
		var back, wantBack string
		err = cachekit.JSON.Unmarshal(got, &back)
		werr := json.Unmarshal(got, &wantBack)
		if back != wantBack || err != nil || werr != nil {
			t.Fatalf("Unmarshal(%q) = %q, %v; encoding/json: %q, %v", got, back, err, wantBack, werr)
		}
		// And raw bytes another writer left, quoted or not.
		raw := []byte(`"` + s + `"`)
		err = cachekit.JSON.Unmarshal(raw, &back)
		werr = json.Unmarshal(raw, &wantBack)
		if (err == nil) != (werr == nil) || err == nil && back != wantBack {
			t.Fatalf("Unmarshal(%q) = %q, %v; encoding/json: %q, %v", raw, back, err, wantBack, werr)
		}
	})
}
