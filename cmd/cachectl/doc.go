// Command cachectl reads, writes and exercises a cachekit cache from the command line: the
// tool for the people who run services built on cachekit.
//
// It builds its cache as cacheenv.Default does, from the CACHE_* environment variables, which
// flags override:
//
//	cachectl [--backend NAME] [--prefix PREFIX] [--ttl D] [--json] COMMAND [ARGS]
//
// The commands get, set, del, has, ttl, expire, mget, stats and clear act on single entries
// or the whole prefix; incr adds to a counter (backend.Counter), and limit asks a
// ratelimit.Limiter to admit one request under a key at a rate such as 100/s, by GCRA or a
// fixed or sliding window, printing the verdict, the requests remaining, retry-after and
// reset-after; health probes the backend with a write, a read and a delete; bench
// runs a cache-aside workload on keys drawn from a Zipf distribution and reports throughput,
// latency percentiles and the hit ratio:
//
//	go run ./cmd/cachectl bench
//
// dashboard and alarms print a CloudWatch dashboard body and alarm definitions (hit ratio,
// breaker open, health checks failing, p99 latency) of one service's cache, from the metrics
// package emf writes, with the dimensions the service's CACHE_* settings give them; they read
// no backend:
//
//	cachectl dashboard --service geo --table geo-cache --region eu-west-1 > dashboard.json
//	cachectl alarms --service geo --table geo-cache --format cloudformation > alarms.cfn.json
//
// set takes the JSON value as an argument, or, as curl takes its data, from a file with
// @FILE or from standard input with @-: for values over the 128 KiB an argument may have on
// Linux.
//
// Flags may come before or after the command and its arguments. The exit code is 0 on
// success, 1 on a miss, an absent key, an unhealthy probe or a request limit denies, 2 on bad
// usage or configuration (incr on an entry that is not a counter among them) and 3 when the
// backend fails. "cachectl help" lists the commands, flags and environment
// variables.
//
// The memory backend lives inside each cachectl process, so an entry set by one run is gone
// by the next; bench and health are what it is for.
package main
