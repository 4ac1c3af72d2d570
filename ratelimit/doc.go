// Package ratelimit limits the rate of requests across a fleet of instances, with its state in
// a cachekit Store they share (Redis, DynamoDB, or memory for one process): a Limiter admits or
// denies each request under a key, by a Limit such as PerSecond(100), and Middleware does it
// for an http.Handler, with the RateLimit fields and 429.
//
// Three algorithms, each atomic on the Store, so that the instances never admit more between
// them than the Limit:
//
//   - GCRA (the default) admits a steady Rate per Period, with bursts of up to Burst, in one
//     request to the Store per decision (backend.Throttler). Pick it unless you have a reason.
//   - FixedWindow counts in windows of one Period (backend.Counter), in one request: the
//     simplest state to read (a count per window), but up to twice the Rate across an edge.
//   - SlidingWindow weights the previous window's count in, which smooths the edge, for two
//     requests per decision.
//
// A Limiter does not fail open by itself: a Store's error comes back with a denied Result,
// and the caller chooses (Middleware serves the request by default). A resilient.Breaker in
// front of the Store decides once for every instance: while it is open, requests are admitted
// without asking the backend, unless its Options.FailCountersClosed and the Limiter's
// Options.FailClosed say otherwise. See docs/ratelimit.md.
package ratelimit
