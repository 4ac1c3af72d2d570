// Package emf records a cachekit Cache's activity as CloudWatch Embedded Metric Format
// lines: JSON on standard output, which AWS Lambda sends to CloudWatch Logs, where CloudWatch
// extracts the metrics with no agent and no API call. A Writer is a cachekit.Recorder; give
// it to a Cache in cachekit.Options.Metrics. docs/metrics.md lists the metrics.
//
// Metrics is the one list of the metrics a Writer emits, and Dashboard and Alarms build a
// CloudWatch dashboard body and alarms of one service from it, naming each metric with the
// whole dimension set the Writer gives its lines, as CloudWatch needs: a metric renamed in the
// list is renamed in the lines, the dashboard and the alarms. cachectl dashboard and cachectl
// alarms print them.
package emf
