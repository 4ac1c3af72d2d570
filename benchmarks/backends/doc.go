// Package backends measures cachekit's backends side by side, through the same Cache calls on
// the same workload, in one go test -bench run: the in-process memstore, a tiered store (a
// memstore L1 in front of DynamoDB Local), DynamoDB Local, a standalone Redis and a Redis
// cluster. docs/backends.md shows how to run it, what it found, and how to choose a backend.
//
// The remote backends are the servers scripts/services starts (CACHEKIT_DYNAMODB_ENDPOINT,
// CACHEKIT_REDIS_URL and CACHEKIT_REDIS_CLUSTER_URL name others). A backend that does not
// answer is skipped, or fails the run under CACHEKIT_REQUIRE_BACKENDS=1. Every run writes under
// a prefix, and to a DynamoDB table, of its own, and removes them when it ends.
package backends
