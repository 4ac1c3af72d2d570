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
//
// # Envelopes and leases
//
// A view with freshness options stores envelopes (backend.Envelope): a value, or a tombstone,
// with the time it stops being fresh. L1's copy of an envelope ends at that time too, so that
// once the value is stale (in its grace period, while one instance refreshes it) every
// instance reads it from L2 and sees the refreshed value as soon as it is written. A fresh
// tombstone is copied like a value: L1 answers a key known to be missing without asking L2.
//
// Store is a backend.Leaser, and sends Acquire and Release to L2, since a lease must hold
// across the fleet; L1 keeps no copy of a lease's key. A method set cannot depend on what L2
// is, so over an L2 that is not a Leaser they report an error wrapping errors.ErrUnsupported,
// and a view takes no lease.
//
// # Counters
//
// Store is a backend.Counter too, and sends Incr to L2's counter (found with backend.Find, so
// one behind L2's breaker or fallback counts), since a count must hold across the fleet; over
// an L2 with none, Incr reports an error wrapping errors.ErrUnsupported. L1 keeps no copy
// through Incr: each one drops the key's copy, and keeps a read already in flight from putting
// an older count back. A Get of a counter's key may still be served from L1, like any value:
// after each Incr the next read asks L2, and the copy it makes serves until this instance's
// next Incr, MaxTTL or the end of the counter's window, whichever comes first. So a Get never
// returns a count older than this instance's own last increment, but may lag the other
// instances' by up to MaxTTL; a caller that needs the fleet's count now calls Incr with a
// delta of zero, which asks L2 every time (and starts a window when there is none).
package tiered
