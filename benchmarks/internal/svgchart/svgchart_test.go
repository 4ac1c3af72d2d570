package svgchart

import (
	"bytes"
	"encoding/xml"
	"slices"
	"strconv"
	"testing"
)

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		ns         float64
		want, tick string
	}{
		{0.5, "0.50ns", "1ns"},
		{85.31, "85.3ns", "85ns"},
		{100, "100ns", "100ns"},
		{999.4, "999ns", "999ns"},
		{1000, "1.00µs", "1µs"},
		{1234, "1.23µs", "1µs"},
		{61571, "61.6µs", "62µs"},
		{534305, "534µs", "534µs"},
		{1e6, "1.00ms", "1ms"},
		{7545224, "7.55ms", "8ms"},
		{2.5e9, "2.50s", "3s"},
	} {
		if got := Duration(c.ns); got != c.want {
			t.Errorf("Duration(%v) = %q, want %q", c.ns, got, c.want)
		}
		if got := Tick(c.ns); got != c.tick {
			t.Errorf("Tick(%v) = %q, want %q", c.ns, got, c.tick)
		}
	}
}

func TestDecades(t *testing.T) {
	for _, c := range []struct {
		lo, hi         float64
		minExp, maxExp float64
	}{
		{268, 595000, 2, 6},
		{100, 1000, 2, 3},
		{100, 100, 2, 3}, // one value still gets a decade
		{150, 180, 2, 3},
		{0.5, 2, -1, 1},
	} {
		if minExp, maxExp := Decades(c.lo, c.hi); minExp != c.minExp || maxExp != c.maxExp {
			t.Errorf("Decades(%v, %v) = %v, %v; want %v, %v", c.lo, c.hi, minExp, maxExp, c.minExp, c.maxExp)
		}
	}
}

func TestLogGrid(t *testing.T) {
	var values []float64
	var colours []string
	for v, c := range LogGrid(2, 4) {
		values = append(values, v)
		colours = append(colours, c)
	}
	want := []float64{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000}
	if !slices.Equal(values, want) {
		t.Errorf("LogGrid(2, 4) yields %v, want %v", values, want)
	}
	for i, c := range colours {
		major := values[i] == 100 || values[i] == 1000 || values[i] == 10000
		if major != (c == GridMajor) || (!major && c != GridMinor) {
			t.Errorf("the line at %v is %s", values[i], c)
		}
	}
	for range LogGrid(2, 4) {
		break // a loop may stop early
	}
}

// TestHead reads a chart of nothing but its head back as XML: it must be well formed, Width
// wide, with the title escaped, as the document's title and as the heading, and the subtitle.
func TestHead(t *testing.T) {
	var b bytes.Buffer
	const title = `a <title> & "quotes"`
	Head(&b, 300, title, "a subtitle")
	b.WriteString("</svg>\n")
	var svg struct {
		Width string   `xml:"width,attr"`
		Title string   `xml:"title"`
		Texts []string `xml:"text"`
	}
	if err := xml.Unmarshal(b.Bytes(), &svg); err != nil {
		t.Fatalf("the head is not well-formed XML: %v\n%s", err, b.Bytes())
	}
	if svg.Width != strconv.Itoa(Width) {
		t.Errorf("the chart is %q wide, want %d", svg.Width, Width)
	}
	if svg.Title != title {
		t.Errorf("title %q, want %q", svg.Title, title)
	}
	if want := []string{title, "a subtitle"}; !slices.Equal(svg.Texts, want) {
		t.Errorf("texts %q, want %q", svg.Texts, want)
	}
}
