package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cachekit/cachekit/internal/fleet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// series returns buckets of 50ms from -100ms, with the p99 and maximum each given in µs;
// a zero p99 is a bucket without reads.
func series(p99s ...int) []fleet.Bucket {
	out := make([]fleet.Bucket, len(p99s))
	for i, p := range p99s {
		out[i] = fleet.Bucket{Offset: time.Duration(i)*50*time.Millisecond - 100*time.Millisecond}
		if p > 0 {
			out[i].Reads, out[i].P99, out[i].Max = 10, time.Duration(p)*time.Microsecond, time.Duration(2*p)*time.Microsecond
		}
	}
	return out
}

// sample is what the fleet benchmark writes, out of order, with a report without a series.
func sample(t *testing.T) []byte {
	t.Helper()
	run := func(backend string, s fleet.Strategy, perExpiry float64, series []fleet.Bucket) fleet.Report {
		return fleet.Report{Backend: backend, Strategy: s, Instances: 50, SourceLatency: 200 * time.Millisecond, HotTTL: time.Second,
			Hot: fleet.HotStats{CallsPerExpiry: perExpiry}, Series: series}
	}
	reports := []fleet.Report{
		run("redis", fleet.All, 1.04, series(20, 30, 25, 20)),
		run("redis", fleet.Plain, 50, series(20, 0, 200_000, 30)),
		run("dynamodb", fleet.Plain, 49.5, series(100, 200_000, 100_000, 300)),
		run("memory", fleet.Lease, 1, nil),
	}
	data, err := json.Marshal(reports)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParse(t *testing.T) {
	panels, err := parse(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range panels {
		for _, r := range p.reports {
			got = append(got, p.backend+"/"+string(r.Strategy))
		}
	}
	if want := []string{"redis/plain", "redis/all", "dynamodb/plain"}; !slices.Equal(got, want) {
		t.Errorf("panels %q, want %q", got, want)
	}
	for _, in := range []string{"", "[]", `[{"strategy":"all"}]`, "{"} {
		if _, err := parse(strings.NewReader(in)); err == nil {
			t.Errorf("parse(%q) = nil error", in)
		}
	}
}

// TestRender reads the SVG back as XML: it must be well formed, with two paths (p99 and
// maximum) per strategy of each panel, in the strategy's colour, a gap where a bucket has no
// reads, and the panels' and axes' labels.
func TestRender(t *testing.T) {
	panels, err := parse(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := render(&out, panels); err != nil {
		t.Fatal(err)
	}
	paths, texts := readSVG(t, out.Bytes())
	want := []string{colour(fleet.Plain), colour(fleet.Plain), colour(fleet.All), colour(fleet.All), colour(fleet.Plain), colour(fleet.Plain)}
	var strokes []string
	for _, p := range paths {
		strokes = append(strokes, p.stroke)
	}
	if !slices.Equal(strokes, want) {
		t.Fatalf("paths in %q, want %q", strokes, want)
	}
	if colour(fleet.Plain) == colour(fleet.All) {
		t.Error("two strategies share a colour")
	}
	// Redis's plain line has no reads in its second bucket: the line breaks there.
	if n := strings.Count(paths[0].d, "M"); n != 2 {
		t.Errorf("the plain line of redis moves %d times, want 2 (a gap): %s", n, paths[0].d)
	}
	if n := strings.Count(paths[2].d, "M"); n != 1 || strings.Count(paths[2].d, "L") != 3 {
		t.Errorf("the all line of redis is %s, want one stroke through 4 points", paths[2].d)
	}
	for _, s := range []string{"redis — source calls per expiry: plain 50.00, all 1.04", "dynamodb — source calls per expiry: plain 49.50",
		"10µs", "1ms", "1s", "0", "expiry", "plain", "lease", "swr", "xfetch", "all", "200ms", *title} {
		if !slices.ContainsFunc(texts, func(text string) bool { return strings.Contains(text, s) }) {
			t.Errorf("no text %q in the chart", s)
		}
	}
}

type svgPath struct{ d, stroke string }

// readSVG decodes svg, failing t if it is not well-formed XML, and returns its paths in order
// and every text it shows.
func readSVG(t *testing.T, svg []byte) (paths []svgPath, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	inText := false
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
			case "text", "title":
				inText = true
			case "path":
				paths = append(paths, svgPath{d: attr(tok, "d"), stroke: attr(tok, "stroke")})
			}
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(tok))
			}
		}
	}
	return paths, texts
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func TestOffset(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0", -500 * time.Millisecond: "-0.5s", time.Second: "+1s"} {
		if got := offset(d); got != want {
			t.Errorf("offset(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestDuration checks the run's settings show as they were set, with no decimals where they
// are whole, and otherwise as svgchart.Duration shows a measurement.
func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:             "1s",
		200 * time.Millisecond:  "200ms",
		50 * time.Millisecond:   "50.0ms",
		5 * time.Millisecond:    "5ms",
		1500 * time.Millisecond: "1.50s",
		0:                       "0ns",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}
