// Package redisstore is cachekit's Redis backend, for hot paths where sub-millisecond reads
// matter: standalone servers and Redis Cluster (ElastiCache cluster mode), with TLS and
// AUTH/ACL, on the rueidis client.
//
// An entry is a plain Redis string any client can read: the key is prefix + key, the value the
// bytes the cache wrote (JSON by default), and the expiry the key's own TTL in milliseconds,
// rounded up, so an entry lives at least its TTL. An envelope (backend.Envelope) a view with
// freshness options writes is kept as it is, header and value in the one key, so that they
// are written in one round trip and expire together.
//
// The store is a backend.Leaser: Acquire is SET … NX PX, Release a script that deletes the key
// while it holds the holder's token, each one round trip on the key's node. It is a
// backend.Counter: Incr is a script that creates the counter with its TTL or adds to it with
// INCRBY, leaving the TTL, one round trip on the key's node; the counter is a string of
// decimal digits, as INCR keeps one.
//
// Batches go in one round trip per node: GetMany is MGET grouped by hash slot, SetMany pipelined
// SETs, DeleteMany UNLINKs grouped by slot — never a CROSSSLOT error, never a request per key.
// Batch writes go in pipelines of at most 512 commands or about 1 MiB, one after another, each
// bounded by the request timeout of its context (backend.RequestContext); one that fails once
// it has begun sending returns a *backend.BatchError saying which keys were written, which
// were refused or never sent, and which are unknown.
// Count and Clear SCAN every master with MATCH on the prefix, its glob characters escaped, and
// never use KEYS, FLUSHDB or FLUSHALL: keys outside the prefix are never touched.
package redisstore
