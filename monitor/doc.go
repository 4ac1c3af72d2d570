// Package monitor checks a cache's backend: health checks that write a probe key, read it
// back, compare and delete it, timing each step, with retries (Checker).
//
// A Checker is a cachekit.HealthCheck: a Cache given one in cachekit.Options.Health runs it on
// the Cache's schedule (inside calls where goroutines freeze between requests, as in AWS
// Lambda; on the Cache's goroutine in a long-running service). Its Handler serves checks to a
// service's health endpoint.
package monitor
