package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cachekit/cachekit/benchmarks/internal/svgchart"
	"github.com/cachekit/cachekit/internal/fleet"
)

// The chart's geometry, in pixels.
const (
	plotLeft    = 70
	plotRight   = svgchart.Width - 20
	top         = 96 // title, subtitle and legend
	panelHead   = 26 // the backend's name, above its plot
	plotHeight  = 240
	panelFoot   = 34 // the time axis labels
	footHeight  = 40 // the notes
	legendWidth = 120
)

// colour is a strategy's colour: strategies take svgchart.Palette's colours in the order of
// fleet.Strategies, so that a strategy keeps its colour from panel to panel.
func colour(s fleet.Strategy) string {
	i := slices.Index(fleet.Strategies(), s)
	if i < 0 {
		return svgchart.Palette[len(svgchart.Palette)-1]
	}
	return svgchart.Palette[i%len(svgchart.Palette)]
}

// render writes the panels as an SVG chart.
func render(w io.Writer, panels []panel) error {
	// One latency axis for every panel, spanning whole decades from the one below the fastest
	// bucket to the one above the slowest; one time axis, the first report's.
	lo, hi := math.Inf(1), math.Inf(-1)
	first := panels[0].reports[0]
	for _, p := range panels {
		for _, r := range p.reports {
			for _, b := range r.Series {
				if b.Reads > 0 {
					lo, hi = min(lo, float64(max(b.P99, 1))), max(hi, float64(max(b.Max, 1)))
				}
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1e3, 1e6
	}
	minExp, maxExp := svgchart.Decades(lo, hi)
	t0 := first.Series[0].Offset
	bucket := time.Duration(0)
	if len(first.Series) > 1 {
		bucket = first.Series[1].Offset - t0
	}
	t1 := first.Series[len(first.Series)-1].Offset + bucket
	x := func(d time.Duration) float64 {
		return plotLeft + float64(d-t0)/float64(t1-t0)*(plotRight-plotLeft)
	}

	height := float64(top + len(panels)*(panelHead+plotHeight+panelFoot) + footHeight)
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	svgchart.Head(bw, height, *title,
		fmt.Sprintf("p99 (solid) and maximum (dashed) of each %v bucket of hot-key reads, over every expiry of the run; log scale; 0 is the expiry", bucket))
	lx := float64(10)
	for _, s := range fleet.Strategies() {
		p(`<g><line x1="%.1f" y1="66" x2="%.1f" y2="66" stroke="%s" stroke-width="2.5"/>`, lx, lx+24, colour(s))
		p(`<text x="%.1f" y="70" fill="#333">%s</text></g>`+"\n", lx+30, svgchart.Escape(string(s)))
		lx += legendWidth
	}

	y := float64(top)
	for _, pn := range panels {
		y += panelHead
		plotTop, plotBottom := y, y+plotHeight
		yOf := func(d time.Duration) float64 {
			v := math.Log10(float64(max(d, 1)))
			return plotBottom - (v-minExp)/(maxExp-minExp)*plotHeight
		}
		p(`<text x="10" y="%.1f" font-size="13" font-weight="bold" fill="#222">%s</text>`+"\n", y-8, svgchart.Escape(panelName(pn)))
		// The grid: a labelled line at every decade, faint ones at 2–9 times it, and the
		// time axis every 100ms, labelled every 500ms.
		p(`<g stroke-width="1">` + "\n")
		for ns, c := range svgchart.LogGrid(minExp, maxExp) {
			yy := yOf(time.Duration(ns))
			p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", plotLeft, yy, plotRight, yy, c)
		}
		for d := ceil(t0, 100*time.Millisecond); d <= t1; d += 100 * time.Millisecond {
			c := svgchart.GridMinor
			if d%(500*time.Millisecond) == 0 {
				c = svgchart.GridMajor
			}
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x(d), plotTop, x(d), plotBottom, c)
		}
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-dasharray="2 3"/>`+"\n", x(0), plotTop, x(0), plotBottom)
		p("</g>\n")
		p(`<g fill="#555" font-size="11">` + "\n")
		for e := minExp; e <= maxExp; e++ {
			p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, yOf(time.Duration(math.Pow(10, e)))+4, svgchart.Escape(svgchart.Tick(math.Pow(10, e))))
		}
		for d := ceil(t0, 500*time.Millisecond); d <= t1; d += 500 * time.Millisecond {
			p(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(d), plotBottom+15, svgchart.Escape(offset(d)))
		}
		p(`<text x="%.1f" y="%.1f">expiry</text>`+"\n", x(0)+4, plotTop+12)
		p("</g>\n")

		for _, r := range pn.reports {
			c := colour(r.Strategy)
			p(`<g><title>%s</title>`+"\n", svgchart.Escape(fmt.Sprintf("%s on %s: %.2f source calls per expiry", r.Strategy, pn.backend, r.Hot.CallsPerExpiry)))
			for _, line := range []struct {
				of    func(fleet.Bucket) time.Duration
				style string
			}{
				{func(b fleet.Bucket) time.Duration { return b.Max }, `stroke-width="1.2" stroke-dasharray="4 3"`},
				{func(b fleet.Bucket) time.Duration { return b.P99 }, `stroke-width="2.5"`},
			} {
				p(`<path d="%s" fill="none" stroke="%s" %s stroke-linejoin="round"/>`+"\n", path(r.Series, line.of, x, yOf, bucket), c, line.style)
			}
			p("</g>\n")
		}
		y = plotBottom + panelFoot
	}

	foot := []string{
		fmt.Sprintf("%d instances, each a Cache with an L1 in front of its own client of the backend; the source of truth answers in %s; the hot key's TTL is %s.",
			first.Instances, duration(first.SourceLatency), duration(first.HotTTL)),
		"The expiry is when the value loaded first passes its TTL, or the fleet's first source call after it where the backend keeps the entry longer.",
	}
	for i, line := range foot {
		p(`<text x="10" y="%.1f" font-size="11" fill="#777">%s</text>`+"\n", height-footHeight+14+float64(i)*15, svgchart.Escape(line))
	}
	p("</svg>\n")
	return bw.Flush()
}

// panelName is a panel's heading: its backend and, for each strategy, its source calls per
// expiry.
func panelName(pn panel) string {
	parts := make([]string, 0, len(pn.reports))
	for _, r := range pn.reports {
		parts = append(parts, fmt.Sprintf("%s %.2f", r.Strategy, r.Hot.CallsPerExpiry))
	}
	return fmt.Sprintf("%s — source calls per expiry: %s", pn.backend, strings.Join(parts, ", "))
}

// path is an SVG path through the buckets' values, each at its bucket's middle; a bucket
// without reads breaks the line.
func path(series []fleet.Bucket, of func(fleet.Bucket) time.Duration, x func(time.Duration) float64, y func(time.Duration) float64, bucket time.Duration) string {
	var b strings.Builder
	pen := false
	for _, bk := range series {
		if bk.Reads == 0 {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%.1f %.1f", cmd, x(bk.Offset+bucket/2), y(of(bk)))
		pen = true
	}
	return b.String()
}

// ceil returns the first multiple of step at or after d.
func ceil(d, step time.Duration) time.Duration {
	m := d.Truncate(step)
	if m < d {
		m += step
	}
	return m
}

// offset labels a point of the time axis: -0.5s, 0, +0.5s.
func offset(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
	if d > 0 {
		s = "+" + s
	}
	return s
}

// duration formats a setting of the run, as svgchart.Duration formats a measurement, but
// shows a whole number under 10 without decimals: the settings are round numbers, 1s rather
// than 1.00s.
func duration(d time.Duration) string {
	if v, unit := svgchart.Scale(float64(d)); v < 10 && v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64) + unit
	}
	return svgchart.Duration(float64(d))
}
