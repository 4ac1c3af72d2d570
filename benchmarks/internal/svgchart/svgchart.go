package svgchart

import (
	"encoding/xml"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
)

// Width is every chart's width in pixels, so that the charts line up on a page.
const Width = 880

// FontFamily is the charts' type: the reader's own sans-serif, as the page around them shows it.
const FontFamily = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"

// Palette is the Okabe–Ito palette, whose eight colours colour-blind readers tell apart too.
var Palette = []string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}

// The grid's stroke colours: GridMajor for a line at a labelled value, GridMinor for the lines
// between, light enough for the data to stand in front of them.
const (
	GridMajor = "#bbbbbb"
	GridMinor = "#eeeeee"
)

// Head writes the opening of a chart Width wide and height high: the svg element, set in
// FontFamily at 12px on a white ground, with title as the document's title (what a browser's
// tab and a screen reader show) and as the heading drawn at the top, and subtitle below it.
// The caller draws the rest and closes the svg element.
//
// Head does not report write errors: w is meant to be a bufio.Writer, whose Flush does.
func Head(w io.Writer, height float64, title, subtitle string) {
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="%s" font-size="12">`+"\n",
		Width, height, Width, height, FontFamily)
	fmt.Fprintf(w, `<title>%s</title>`+"\n", Escape(title))
	fmt.Fprint(w, `<rect width="100%" height="100%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(w, `<text x="10" y="24" font-size="16" font-weight="bold" fill="#222">%s</text>`+"\n", Escape(title))
	fmt.Fprintf(w, `<text x="10" y="44" fill="#555">%s</text>`+"\n", Escape(subtitle))
}

// Escape escapes s for XML text and attribute values.
func Escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Decades returns the exponents of the powers of ten that bound a logarithmic axis showing
// values from lo to hi: the one at or below lo and the one at or above hi, at least one decade
// apart. Whole decades keep the axis's labels round (Tick).
func Decades(lo, hi float64) (minExp, maxExp float64) {
	minExp, maxExp = math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if maxExp == minExp {
		maxExp++
	}
	return minExp, maxExp
}

// LogGrid yields the values of a logarithmic axis's grid lines from 10^minExp to 10^maxExp,
// in order, each with its stroke colour: GridMajor at every power of ten, where the axis has
// its labels, and GridMinor at 2 to 9 times it.
func LogGrid(minExp, maxExp float64) iter.Seq2[float64, string] {
	return func(yield func(float64, string) bool) {
		for e := minExp; e <= maxExp; e++ {
			for m := 1.0; m < 10; m++ {
				if e == maxExp && m > 1 {
					return
				}
				colour := GridMinor
				if m == 1 {
					colour = GridMajor
				}
				if !yield(m*math.Pow(10, e), colour) {
					return
				}
			}
		}
	}
}

// Duration formats ns nanoseconds, a measurement, with three significant digits in the unit
// Scale picks: 0.50ns, 85.3ns, 1.23µs, 512µs, 6.26ms, 1.00s.
func Duration(ns float64) string {
	v, unit := Scale(ns)
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + unit
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + unit
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + unit
}

// Tick formats ns nanoseconds, an axis tick at a power of ten, as briefly as it can: 100ns,
// 1µs, 10ms.
func Tick(ns float64) string {
	v, unit := Scale(ns)
	return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + unit
}

// Scale expresses ns nanoseconds in the largest of s, ms and µs that keeps the value at 1 or
// more, and in ns below 1µs.
func Scale(ns float64) (float64, string) {
	for _, u := range []struct {
		name string
		ns   float64
	}{{"s", 1e9}, {"ms", 1e6}, {"µs", 1e3}} {
		if ns >= u.ns {
			return ns / u.ns, u.name
		}
	}
	return ns, "ns"
}
