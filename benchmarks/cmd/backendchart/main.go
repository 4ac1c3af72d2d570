// Backendchart draws the results of the backends benchmark as an SVG bar chart: a group of
// bars per operation, one bar per backend, on a logarithmic latency axis, each bar labelled
// with its median ns/op.
//
// It reads go test -bench output on standard input and writes the SVG on standard output:
//
//	cd benchmarks
//	go test -run '^$' -bench BenchmarkBackends -count 6 ./backends | tee /tmp/backends.txt
//	go run ./cmd/backendchart < /tmp/backends.txt > ../docs/backends.svg
//
// A result's name gives its place: the part named backend=… is the bar, the rest of the name
// its group (BenchmarkBackends/op=GetHit/backend=redis-2 is the redis bar of the op=GetHit
// group). Results without a backend= part are ignored; -title sets the chart's title. Several results of one bar (-count)
// are summed up by their median, as benchstat does, and their range drawn as a whisker.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var title = flag.String("title", "cachekit backends: one call through a Cache (DynamoDB Local and Redis on 127.0.0.1)", "the chart's `title`")

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: backendchart [-title T] < bench.txt > chart.svg")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	res, err := parse(os.Stdin)
	if err == nil {
		err = render(os.Stdout, res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backendchart:", err)
		os.Exit(1)
	}
}

// results are the parsed benchmark output.
type results struct {
	groups   []string                        // in the order first seen, e.g. "GetHit"
	backends []string                        // in the order first seen, e.g. "redis"
	samples  map[string]map[string][]float64 // ns/op by group, then backend
	context  []string                        // the header's goos, goarch, pkg and cpu lines
}

// procs is the -GOMAXPROCS suffix go test adds to a benchmark's name.
var procs = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output.
func parse(r io.Reader) (*results, error) {
	res := &results{samples: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, h := range []string{"goos:", "goarch:", "pkg:", "cpu:"} {
			if strings.HasPrefix(line, h) && !slices.Contains(res.context, line) {
				res.context = append(res.context, line)
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // not a result line: "BenchmarkX ... --- SKIP" and the like
		}
		ns, ok := nsPerOp(f[2:])
		if !ok {
			continue
		}
		group, backend, ok := place(f[0])
		if !ok {
			continue
		}
		if res.samples[group] == nil {
			res.samples[group] = map[string][]float64{}
			res.groups = append(res.groups, group)
		}
		if !slices.Contains(res.backends, backend) {
			res.backends = append(res.backends, backend)
		}
		res.samples[group][backend] = append(res.samples[group][backend], ns)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(res.groups) == 0 {
		return nil, errors.New("no benchmark result with a backend= part in its name on standard input")
	}
	return res, nil
}

// nsPerOp finds the ns/op value among a result line's value-unit pairs.
func nsPerOp(pairs []string) (float64, bool) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "ns/op" {
			v, err := strconv.ParseFloat(pairs[i], 64)
			return v, err == nil && v > 0
		}
	}
	return 0, false
}

// place splits a benchmark name into its group and its backend:
// BenchmarkBackends/op=GetHit/backend=redis-2 is group "GetHit", backend "redis". A group part
// of the form key=value shows as its value; several parts are joined with "/".
func place(name string) (group, backend string, ok bool) {
	parts := strings.Split(procs.ReplaceAllString(name, ""), "/")
	var rest []string
	for _, p := range parts[1:] {
		if v, found := strings.CutPrefix(p, "backend="); found {
			backend = v
			continue
		}
		if _, v, found := strings.Cut(p, "="); found {
			p = v
		}
		rest = append(rest, p)
	}
	if backend == "" {
		return "", "", false
	}
	if len(rest) == 0 {
		rest = parts[:1]
	}
	return strings.Join(rest, "/"), backend, true
}

// median returns the median of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
