// Package fleet measures cachekit's freshness options at fleet scale: 50 instances, each a
// Cache over an L1 of its own in front of its own client of one shared backend (a standalone
// Redis, and DynamoDB Local), reading a hot key with a one-second TTL, Zipf keys and keys the
// source of truth lacks, from a source that takes 200ms a call, once per strategy (plain,
// lease, swr, xfetch, all). The simulation is the main module's internal/fleet, which
// cachectl bench --instances runs too.
//
// A plain go test run is short (two seconds of reads per strategy and backend) and checks only
// what holds whatever the timing: every read got its own key's value, or ErrNotFound for a
// missing key. It logs each report and whether the goals of docs/freshness.md were met.
// -fleet.duration runs longer and -fleet.json writes the reports for cmd/fleetchart:
//
//	cd benchmarks
//	go test ./fleet -run TestFleet -v -fleet.duration 30s -fleet.json /tmp/fleet.json
//	go run ./cmd/fleetchart < /tmp/fleet.json > ../docs/freshness.svg
//
// The backends are the servers scripts/services starts (CACHEKIT_REDIS_URL and
// CACHEKIT_DYNAMODB_ENDPOINT name others); one that does not answer is skipped, or fails the
// run under CACHEKIT_REQUIRE_BACKENDS=1. Every run writes under prefixes, and to a DynamoDB
// table, of its own, and removes them when it ends.
package fleet
