// Package monitor watches a cache and its backend: health checks that write a probe key,
// read it back, compare and delete it, timing each step, with retries (Checker); the
// statistics a cache reports (Stats), with lock-free latency histograms (Recorder,
// Histogram); and CloudWatch Embedded Metric Format lines made of them (EMF).
//
// cachekit's Cache runs the checks and flushes for its Store when Options.Health and
// Options.Metrics ask: on an interval in a long-running service, on demand where goroutines
// freeze between requests (AWS Lambda). A Checker is also an http.Handler for services with
// a health endpoint.
package monitor
