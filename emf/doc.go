// Package emf records a cachekit Cache's activity as CloudWatch Embedded Metric Format
// lines: JSON on standard output, which AWS Lambda sends to CloudWatch Logs, where CloudWatch
// extracts the metrics with no agent and no API call. A Writer is a cachekit.Recorder; give
// it to a Cache in cachekit.Options.Metrics. docs/metrics.md lists the metrics.
package emf
