package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// sample is go test -bench output as the backends benchmark writes it, with what the parser
// must pass over: a skipped result, a benchmark without a backend= part, extra metrics, and
// the PASS and ok lines.
const sample = `goos: linux
goarch: amd64
pkg: github.com/cachekit/cachekit/benchmarks/backends
cpu: AMD EPYC
BenchmarkBackends/op=GetHit/backend=memory-2         	  363081	      2978 ns/op
BenchmarkBackends/op=GetHit/backend=redis-cluster-2  	    5155	     70000 ns/op	     512 B/op	       9 allocs/op
BenchmarkBackends/op=GetHit/backend=dynamodb-2       	     464	    500000 ns/op
BenchmarkBackends/op=GetMiss/backend=memory-2        	  909343	       267.6 ns/op
BenchmarkBackends/op=GetMiss/backend=dynamodb-2      	     460	    590321 ns/op
BenchmarkOther/size=10-2                             	 1000000	      1000 ns/op
    backends_bench_test.go:313: Redis at redis://127.0.0.1:6379 does not answer; skipping
BenchmarkBackends/op=GetHit/backend=memory-2         	  363081	      3100 ns/op
BenchmarkBackends/op=GetHit/backend=redis-cluster-2  	    5155	     60000 ns/op	     512 B/op	       9 allocs/op
BenchmarkBackends/op=GetHit/backend=dynamodb-2       	     464	    520000 ns/op
BenchmarkBackends/op=GetMiss/backend=memory-2        	  909343	       270.4 ns/op
BenchmarkBackends/op=GetMiss/backend=dynamodb-2      	     460	    600000 ns/op
BenchmarkBackends/op=GetHit/backend=memory-2         	  363081	      3000 ns/op
BenchmarkBackends/op=GetHit/backend=redis-cluster-2  	    5155	     65000 ns/op	     512 B/op	       9 allocs/op
BenchmarkBackends/op=GetHit/backend=dynamodb-2       	     464	    510000 ns/op
BenchmarkBackends/op=GetMiss/backend=memory-2        	  909343	       268.0 ns/op
BenchmarkBackends/op=GetMiss/backend=dynamodb-2      	     460	    595000 ns/op
--- SKIP: BenchmarkBackends/op=GetMiss/backend=redis
PASS
ok  	github.com/cachekit/cachekit/benchmarks/backends	7.650s
`

func TestParse(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"GetHit", "GetMiss"}; !slices.Equal(res.groups, want) {
		t.Errorf("groups = %q, want %q", res.groups, want)
	}
	if want := []string{"memory", "redis-cluster", "dynamodb"}; !slices.Equal(res.backends, want) {
		t.Errorf("backends = %q, want %q", res.backends, want)
	}
	for _, c := range []struct {
		group, backend string
		median         float64
	}{
		{"GetHit", "memory", 3000},
		{"GetHit", "redis-cluster", 65000},
		{"GetHit", "dynamodb", 510000},
		{"GetMiss", "memory", 268.0},
		{"GetMiss", "dynamodb", 595000},
	} {
		xs := res.samples[c.group][c.backend]
		if len(xs) != 3 {
			t.Errorf("%s/%s: %d samples, want 3", c.group, c.backend, len(xs))
			continue
		}
		if got := median(xs); got != c.median {
			t.Errorf("%s/%s: median %v, want %v", c.group, c.backend, got, c.median)
		}
	}
	if len(res.samples["GetMiss"]["redis"]) != 0 {
		t.Error("a skipped benchmark has samples")
	}
	if want := []string{"goos: linux", "goarch: amd64", "pkg: github.com/cachekit/cachekit/benchmarks/backends", "cpu: AMD EPYC"}; !slices.Equal(res.context, want) {
		t.Errorf("context = %q, want %q", res.context, want)
	}
}

func TestParseNothing(t *testing.T) {
	for _, in := range []string{"", "PASS\n", "BenchmarkOther-2 100 10 ns/op\n"} {
		if _, err := parse(strings.NewReader(in)); err == nil {
			t.Errorf("parse(%q) succeeded, want an error", in)
		}
	}
}

func TestPlace(t *testing.T) {
	for _, c := range []struct {
		name, group, backend string
		ok                   bool
	}{
		{"BenchmarkBackends/op=GetHit/backend=redis-2", "GetHit", "redis", true},
		{"BenchmarkBackends/op=GetHit/backend=redis-cluster-16", "GetHit", "redis-cluster", true},
		{"BenchmarkBackends/op=GetHit/backend=memory", "GetHit", "memory", true}, // GOMAXPROCS=1
		{"BenchmarkBackends/backend=memory/op=Set-2", "Set", "memory", true},
		{"BenchmarkX/size=10/op=Get/backend=memory-2", "10/Get", "memory", true},
		{"BenchmarkGet/backend=memory-2", "BenchmarkGet", "memory", true},
		{"BenchmarkBackends/op=GetHit-2", "", "", false},
	} {
		group, backend, ok := place(c.name)
		if group != c.group || backend != c.backend || ok != c.ok {
			t.Errorf("place(%q) = %q, %q, %v; want %q, %q, %v", c.name, group, backend, ok, c.group, c.backend, c.ok)
		}
	}
}

// bar is a bar of the chart, read back from the SVG.
type bar struct {
	label string  // the backend's name, the text before the bar
	width float64 // the rect's
	value string  // the text after it
}

// TestRender reads the SVG back as XML: it must be well formed, have one bar per backend of
// each group, in order, labelled with its median, and bars whose lengths follow the log scale.
func TestRender(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := render(&out, res); err != nil {
		t.Fatal(err)
	}
	bars, texts := readSVG(t, out.Bytes())

	want := []bar{
		{label: "memory", value: "3.00µs"},
		{label: "redis-cluster", value: "65.0µs"},
		{label: "dynamodb", value: "510µs"},
		{label: "memory", value: "268ns"},
		{label: "dynamodb", value: "595µs"},
	}
	if len(bars) != len(want) {
		t.Fatalf("%d bars, want %d: %+v", len(bars), len(want), bars)
	}
	for i, w := range want {
		if bars[i].label != w.label || bars[i].value != w.value {
			t.Errorf("bar %d: %s %s, want %s %s", i, bars[i].label, bars[i].value, w.label, w.value)
		}
	}
	// The axis runs from 100ns to 1ms: four decades over plotRight-plotLeft pixels.
	decade := float64(plotRight-plotLeft) / 4
	for i, w := range []float64{3000, 65000, 510000, 268, 595000} {
		if want := (math.Log10(w) - 2) * decade; math.Abs(bars[i].width-want) > 0.1 {
			t.Errorf("bar %d (%s) is %.1f wide, want %.1f", i, bars[i].label, bars[i].width, want)
		}
	}
	for _, s := range []string{"GetHit", "GetMiss", "100ns", "1µs", "10µs", "100µs", "1ms", "cpu: AMD EPYC", *title} {
		if !slices.ContainsFunc(texts, func(text string) bool { return strings.Contains(text, s) }) {
			t.Errorf("no text %q in the chart", s)
		}
	}
}

// readSVG decodes svg, failing t if it is not well-formed XML, and returns its bars in order
// and every text it shows.
func readSVG(t *testing.T, svg []byte) (bars []bar, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var (
		inText, inTitle bool
		last            string // the last text shown, which names the next bar
		open            *bar   // a bar waiting for its value's text
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch tok.Name.Local {
			case "text":
				inText = true
			case "title":
				inTitle = true
			case "rect":
				if attr(tok, "fill") == "#ffffff" {
					continue // the background
				}
				w, err := strconv.ParseFloat(attr(tok, "width"), 64)
				if err != nil {
					t.Fatalf("rect width: %v", err)
				}
				bars = append(bars, bar{label: last, width: w})
				open = &bars[len(bars)-1]
			}
		case xml.EndElement:
			inText = inText && tok.Name.Local != "text"
			inTitle = inTitle && tok.Name.Local != "title"
		case xml.CharData:
			if inTitle {
				texts = append(texts, string(tok))
			}
			if !inText {
				continue
			}
			last = string(tok)
			texts = append(texts, last)
			if open != nil {
				open.value, open = last, nil
			}
		}
	}
	return bars, texts
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
