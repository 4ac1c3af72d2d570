// Package benchmarks compares cachekit's in-process store with other Go caches, side by side in
// one go test -bench run. It is a module of its own so that users of cachekit never download
// the peers; docs/benchmarks.md shows how to run it and what it found.
//
// Every engine is driven through the small engine interface in engines_test.go, with string
// keys, 64-byte values and a one-hour TTL on writes wherever the engine takes one.
package benchmarks
