package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/cachekit/cachekit/benchmarks/internal/svgchart"
)

// The chart's geometry, in pixels: horizontal bars, so that every bar has room for its
// backend's name on the left and its value on the right.
const (
	plotLeft   = 150 // the bars start here; group and backend names are to the left
	plotRight  = svgchart.Width - 80
	top        = 84 // title, subtitle and the upper axis labels
	groupHead  = 24 // the group's name, above its bars
	barHeight  = 18
	barGap     = 4
	groupGap   = 14
	footHeight = 56 // the lower axis labels and the notes
	baseline   = 4  // from a row's middle to the baseline that centres 12px text on it
)

// render writes res as an SVG chart.
func render(w io.Writer, res *results) error {
	lo, hi, runs := math.Inf(1), math.Inf(-1), 0
	for _, g := range res.groups {
		for _, xs := range res.samples[g] {
			lo, hi = min(lo, slices.Min(xs)), max(hi, slices.Max(xs))
			runs = max(runs, len(xs))
		}
	}
	minExp, maxExp := svgchart.Decades(lo, hi)
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
	svgchart.Head(bw, height, *title,
		fmt.Sprintf("median ns/op of %d runs per bar, whisker from fastest to slowest run; log scale, shorter is faster", runs))

	// The grid: a labelled line at every decade, faint ones at 2–9 times it.
	p(`<g stroke-width="1">` + "\n")
	for ns, colour := range svgchart.LogGrid(minExp, maxExp) {
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x(ns), plotTop-4, x(ns), plotBottom, colour)
	}
	p("</g>\n")
	p(`<g fill="#555" font-size="11" text-anchor="middle">` + "\n")
	for e := minExp; e <= maxExp; e++ {
		label := svgchart.Tick(math.Pow(10, e))
		p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", x(math.Pow(10, e)), plotTop-8, svgchart.Escape(label))
		p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", x(math.Pow(10, e)), plotBottom+14, svgchart.Escape(label))
	}
	p("</g>\n")

	y := plotTop
	for _, g := range res.groups {
		y += groupHead
		p(`<text x="10" y="%.1f" font-size="13" font-weight="bold" fill="#222">%s</text>`+"\n", y-7, svgchart.Escape(g))
		for i, b := range res.backends {
			xs := res.samples[g][b]
			if len(xs) == 0 {
				continue
			}
			med := median(xs)
			colour := svgchart.Palette[i%len(svgchart.Palette)] // in the order the backends first appear
			mid := y + barHeight/2.0
			p(`<g><title>%s %s: %s (median of %d)</title>`+"\n", svgchart.Escape(g), svgchart.Escape(b), svgchart.Escape(svgchart.Duration(med)), len(xs))
			p(`<text x="%d" y="%.1f" text-anchor="end" fill="#333">%s</text>`+"\n", plotLeft-8, mid+baseline, svgchart.Escape(b))
			p(`<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="%s"/>`+"\n", plotLeft, y, x(med)-plotLeft, barHeight, colour)
			end := x(med)
			if lo, hi := x(xs[0]), x(xs[len(xs)-1]); hi-lo >= 1 { // median sorted xs
				p(`<path d="M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fV%.1f" stroke="#222" stroke-width="1" fill="none"/>`+"\n",
					lo, mid-4, mid+4, lo, mid, hi, hi, mid-4, mid+4)
				end = max(end, hi)
			}
			p(`<text x="%.1f" y="%.1f" fill="#222">%s</text>`+"\n", end+5, mid+baseline, svgchart.Escape(svgchart.Duration(med)))
			p("</g>\n")
			y += barHeight + barGap
		}
		y += groupGap
	}

	foot := strings.Join(res.context, " · ")
	p(`<text x="10" y="%.1f" font-size="11" fill="#777">%s</text>`+"\n", height-12, svgchart.Escape(foot))
	p("</svg>\n")
	return bw.Flush()
}
