// Package monitor watches a cache backend: health checks that write a probe key, read it
// back, compare and delete it, timing each step, with retries; on an interval in a
// long-running service, on demand where goroutines freeze between requests (AWS Lambda), and
// over HTTP for services with a health endpoint.
package monitor
