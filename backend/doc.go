// Package backend holds the contract between cachekit and its storage backends: the [Store]
// interface, the [Entry] of a batch write, the sentinel errors and the key, prefix and TTL
// rules every backend shares.
//
// Users of cachekit rarely import it: package cachekit re-exports its names. Backend authors
// implement [Store] and run package cachetest against their implementation, as the backends
// in this module do, in the way database/sql/driver serves database/sql.
package backend
