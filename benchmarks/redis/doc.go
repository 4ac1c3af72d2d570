// Package redis measures cachekit's Redis backend against the Redis clients and caches Go
// services use instead, on the same servers in one go test -bench run: rueidis (the client
// redisstore is built on) against go-redis, and cachekit's Cache against redisstore alone, raw
// rueidis, eko/gocache and go-redis/cache, at each of rueidis's MaxFlushDelay settings that
// the -flush flag names. scripts/bench-redis runs it in rounds; docs/redis.md shows what it
// found.
//
// The benchmarks need the standalone server and the cluster that scripts/services starts
// (CACHEKIT_REDIS_URL and CACHEKIT_REDIS_CLUSTER_URL name others), and toxiproxy for the
// standalone server a millisecond away, and skip without them. Every key they write is under
// a prefix of their own run, expires within the hour, and is deleted when the run ends.
package redis
