// Package tiered puts a bounded in-memory tier (L1, a memstore) in front of a remote Store
// (L2: DynamoDB, Redis, or a resilient composition of them), for AWS Lambda's warm starts and
// any service that reads the same keys often.
//
// Reads hit L1 first and fill it from L2 on a miss, keeping the L2 entry's remaining TTL, so
// that an L1 copy never outlives its L2 entry; writes and deletes go to both. A cold start
// finds L1 empty and repopulates it lazily, key by key, as keys are asked for.
//
// # Staleness across instances
//
// L1 is per process. An entry another instance updates or deletes in L2 can still be served
// from this instance's L1 until its copy expires: at most Options.MaxTTL (DefaultMaxTTL, 30
// seconds) after it was read from L2. Writes and deletes made through this Store update its
// own L1 at once. Choose MaxTTL as the staleness the data can bear: a few seconds for
// configuration and feature flags, minutes for reference data; data that must never be stale
// should not go through an L1.
package tiered
