package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// The chart's geometry, in pixels: horizontal bars, so that every bar has room for its
// backend's name on the left and its value on the right.
const (
	width      = 880
	plotLeft   = 150 // the bars start here; group and backend names are to the left
	plotRight  = width - 80
	top        = 84 // title, subtitle and the upper axis labels
	groupHead  = 24 // the group's name, above its bars
	barHeight  = 18
	barGap     = 4
	groupGap   = 14
	footHeight = 56 // the lower axis labels and the notes
	baseline   = 4  // from a row's middle to the baseline that centres 12px text on it
	fontFamily = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
)

// palette is the Okabe–Ito palette, told apart by colour-blind readers too; backends take its
// colours in the order they first appear.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}

// render writes res as an SVG chart.
func render(w io.Writer, res *results) error {
	lo, hi, runs := math.Inf(1), math.Inf(-1), 0
	for _, g := range res.groups {
		for _, xs := range res.samples[g] {
			lo, hi = min(lo, slices.Min(xs)), max(hi, slices.Max(xs))
			runs = max(runs, len(xs))
		}
	}
	// The axis spans whole decades, from the one below the fastest sample to the one above
	// the slowest.
	minExp, maxExp := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if maxExp == minExp {
		maxExp++
	}
	x := func(ns float64) float64 {
		return plotLeft + (math.Log10(ns)-minExp)/(maxExp-minExp)*(plotRight-plotLeft)
	}

	bars := 0
	for _, g := range res.groups {
		bars += len(res.samples[g])
	}
	plotTop := float64(top)
	plotBottom := plotTop + float64(len(res.groups)*(groupHead+groupGap)+bars*(barHeight+barGap))
	height := plotBottom + footHeight

	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="%s" font-size="12">`+"\n",
		width, height, width, height, fontFamily)
	p(`<title>%s</title>`+"\n", esc(*title))
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="%d" y="24" font-size="16" font-weight="bold" fill="#222">%s</text>`+"\n", 10, esc(*title))
	sub := fmt.Sprintf("median ns/op of %d runs per bar, whisker from fastest to slowest run; log scale, shorter is faster", runs)
	p(`<text x="%d" y="44" fill="#555">%s</text>`+"\n", 10, esc(sub))

	// The grid: a labelled line at every decade, faint ones at 2–9 times it.
	p(`<g stroke-width="1">` + "\n")
	for e := minExp; e <= maxExp; e++ {
		for m := 1.0; m < 10; m++ {
			ns := m * math.Pow(10, e)
			if e == maxExp && m > 1 {
				break
			}
			colour := "#eeeeee"
			if m == 1 {
				colour = "#bbbbbb"
			}
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x(ns), plotTop-4, x(ns), plotBottom, colour)
		}
	}
	p("</g>\n")
	p(`<g fill="#555" font-size="11" text-anchor="middle">` + "\n")
	for e := minExp; e <= maxExp; e++ {
		label := tick(math.Pow(10, e))
		p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", x(math.Pow(10, e)), plotTop-8, esc(label))
		p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", x(math.Pow(10, e)), plotBottom+14, esc(label))
	}
	p("</g>\n")

	y := plotTop
	for _, g := range res.groups {
		y += groupHead
		p(`<text x="10" y="%.1f" font-size="13" font-weight="bold" fill="#222">%s</text>`+"\n", y-7, esc(g))
		for i, b := range res.backends {
			xs := res.samples[g][b]
			if len(xs) == 0 {
				continue
			}
			med := median(xs)
			colour := palette[i%len(palette)]
			mid := y + barHeight/2.0
			p(`<g><title>%s %s: %s (median of %d)</title>`+"\n", esc(g), esc(b), esc(duration(med)), len(xs))
			p(`<text x="%d" y="%.1f" text-anchor="end" fill="#333">%s</text>`+"\n", plotLeft-8, mid+baseline, esc(b))
			p(`<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="%s"/>`+"\n", plotLeft, y, x(med)-plotLeft, barHeight, colour)
			end := x(med)
			if lo, hi := x(xs[0]), x(xs[len(xs)-1]); hi-lo >= 1 { // median sorted xs
				p(`<path d="M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fV%.1f" stroke="#222" stroke-width="1" fill="none"/>`+"\n",
					lo, mid-4, mid+4, lo, mid, hi, hi, mid-4, mid+4)
				end = max(end, hi)
			}
			p(`<text x="%.1f" y="%.1f" fill="#222">%s</text>`+"\n", end+5, mid+baseline, esc(duration(med)))
			p("</g>\n")
			y += barHeight + barGap
		}
		y += groupGap
	}

	foot := strings.Join(res.context, " · ")
	p(`<text x="10" y="%.1f" font-size="11" fill="#777">%s</text>`+"\n", height-12, esc(foot))
	p("</svg>\n")
	return bw.Flush()
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
