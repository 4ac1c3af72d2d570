// Package ratelimit measures cachekit's rate limiter (package ratelimit over redisstore)
// beside go-redis/redis_rate, the GCRA limiter Go services on Redis reach for, on the same
// standalone Redis in one go test -bench run: the latency of one Allow, and the throughput
// of 64 callers at once, for requests allowed and requests denied (BenchmarkAllow), and the
// latency of each of cachekit's limiters against redis_rate's call by call, as a ratio that
// the machine's drift affects less (BenchmarkAllowPaired). It also counts, on
// DynamoDB Local, the requests each decision sends there. docs/ratelimit.md shows how to run
// it and what it found.
//
// The benchmarks need the standalone server that scripts/services starts (CACHEKIT_REDIS_URL
// names another) and skip without it; the count needs DynamoDB Local. Every key they write is
// under a prefix of their own run and is deleted when the run ends.
package ratelimit
