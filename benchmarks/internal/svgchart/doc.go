// Package svgchart holds what the benchmark module's chart commands, cmd/backendchart and
// cmd/fleetchart, draw alike, so that their charts in docs/ look like one set: the width, the
// type and the colours, the head a chart opens with, and the logarithmic latency axis, its grid
// and its labels. Below the head, each command lays out its own chart.
package svgchart
