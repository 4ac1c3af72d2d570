// Package cachekit gives Go services, AWS Lambda functions above all, one cache API over
// pluggable backends: DynamoDB-backed TTL caching, in-memory caching and Redis.
//
// A [Cache] puts values through a [Codec] (JSON by default, so other languages can read them;
// [Raw] for bytes that are the value already; a view may choose its own with
// [View.WithCodec]), keeps keys under a prefix, gives writes a default TTL and counts hits,
// misses and errors.
// [Typed] views it for one value type and adds [View.GetOrLoad], which loads a missing value
// once per key per process however many goroutines ask for it. Under the Cache, a [Store]
// does the storing: package memstore in process, and the remote backends. Caller code never
// changes when the backend does: package cacheenv's Default builds the process-wide Cache
// from CACHE_* environment variables, on first use and with no network I/O. This package
// links no backend and no SDK; a program links the backends it builds, or all of them
// through cacheenv.
//
// Misses are [ErrNotFound]; every error is checked with errors.Is against the sentinels of
// this package, whose messages start with "cachekit:". Error messages never quote keys or
// values.
package cachekit
