// Fleetchart draws the hot key's read latency around its expiries, as the fleet benchmark
// measured it, as an SVG line chart: a panel per backend, a line per strategy, the p99 of each
// 50ms bucket solid and its maximum dashed, on a logarithmic latency axis, with the expiry at
// zero.
//
// It reads the JSON the benchmark writes with -fleet.json (an array of the main module's
// internal/fleet Reports) on standard input and writes the SVG on standard output:
//
//	cd benchmarks
//	go test ./fleet -run TestFleet -v -fleet.duration 30s -fleet.json /tmp/fleet.json
//	go run ./cmd/fleetchart < /tmp/fleet.json > ../docs/freshness.svg
//
// -title sets the chart's title.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/cachekit/cachekit/internal/fleet"
)

var title = flag.String("title", "The hot key's read latency around its expiries, 50 instances sharing one backend", "the chart's `title`")

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: fleetchart [-title T] < fleet.json > chart.svg")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	panels, err := parse(os.Stdin)
	if err == nil {
		err = render(os.Stdout, panels)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetchart:", err)
		os.Exit(1)
	}
}

// panel is one backend's reports, in the order of fleet.Strategies.
type panel struct {
	backend string
	reports []*fleet.Report
}

// parse reads the reports and groups them by backend, in the order the backends first appear.
func parse(r io.Reader) ([]panel, error) {
	var reports []*fleet.Report
	if err := json.NewDecoder(r).Decode(&reports); err != nil {
		return nil, fmt.Errorf("reading the reports: %w", err)
	}
	var panels []panel
	for _, rep := range reports {
		if len(rep.Series) == 0 {
			continue
		}
		i := slices.IndexFunc(panels, func(p panel) bool { return p.backend == rep.Backend })
		if i < 0 {
			panels = append(panels, panel{backend: rep.Backend})
			i = len(panels) - 1
		}
		panels[i].reports = append(panels[i].reports, rep)
	}
	if len(panels) == 0 {
		return nil, errors.New("no report with a time series on standard input")
	}
	order := fleet.Strategies()
	for _, p := range panels {
		slices.SortStableFunc(p.reports, func(a, b *fleet.Report) int {
			return slices.Index(order, a.Strategy) - slices.Index(order, b.Strategy)
		})
	}
	return panels, nil
}
