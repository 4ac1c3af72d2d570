// Package otelcache records a cachekit Cache's activity on OpenTelemetry metric instruments
// (go.opentelemetry.io/otel/metric), for services outside AWS Lambda (ECS, EKS, EC2) whose
// collectors speak OpenTelemetry. A Recorder is a cachekit.Recorder; give it to a Cache in
// cachekit.Options.Metrics. The instruments follow OpenTelemetry's semantic-convention style:
// lowercase dotted names under "cachekit.", UCUM units ("s" for durations, "{read}" for
// counts), and a few low-cardinality attributes; docs/metrics.md has the table.
//
// A program that imports neither this package nor package emf links neither.
package otelcache
