package backend

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Store is the contract every cache backend implements: bytes in, bytes out, under whole keys.
//
// Keys reach a Store whole, with the cache's prefix already applied; a Store knows nothing of
// codecs, typed values or default TTLs. Every method is safe for concurrent use, takes the
// caller's context first and returns an error wrapping ctx.Err() once the context is done.
//
// Every Store shares these semantics, which the conformance kit (package cachetest) checks:
//   - Keys follow [CheckKey] and prefixes [CheckPrefix]; TTLs follow [CheckTTL]. What one
//     Store accepts, all accept, and all reject the rest with the same sentinel error before
//     any work is done.
//   - An entry past its TTL is a miss on every read path (Get, GetMany, Has, TTL), whatever
//     the backend's own clean-up does.
//   - A miss is reported as [ErrNotFound]; batch calls report only the entries found and never
//     fail because some keys are missing.
//   - Expire and TTL on a missing key report [ErrNotFound]; Expire never creates an entry.
//   - Count and Clear see exactly the keys that start with the prefix, and Clear can never
//     remove a key outside it.
//   - After Close, every call reports [ErrClosed]; Close itself is idempotent.
//   - A write that fails may or may not have been applied: a request can reach the backend
//     and its answer be lost, to a timeout or a broken connection. Only an error returned
//     before any request was sent (a refused key, TTL or value, ErrClosed, a context
//     already done) means nothing was written. A batch write that fails after sending
//     returns a [*BatchError] saying which keys were written, which were not and which are
//     unknown.
//
// Ownership of bytes: a Store may keep the value slice it is given to Set or SetMany, so the
// caller must not modify it afterwards; the slices a Store returns from Get and GetMany must
// not be modified by the caller. The cachekit.Cache honours both rules for its users, who
// never see these slices.
type Store interface {
	// Get returns the value stored under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetMany returns the values found for keys, keyed by key. Missing and expired keys are
	// absent from the result; duplicate keys are read once. An empty keys returns an empty map.
	GetMany(ctx context.Context, keys []string) (map[string][]byte, error)
	// Set stores value under key for ttl, replacing any previous entry.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetMany stores every entry. All entries are checked before any is written; when a key
	// appears more than once, the last entry for it wins. Once it has begun sending, it
	// fails with a *BatchError.
	SetMany(ctx context.Context, entries []Entry) error
	// Delete removes the entries stored under keys. Missing keys are not an error. Once it
	// has begun sending, it fails with a *BatchError.
	Delete(ctx context.Context, keys ...string) error
	// Has reports whether an unexpired entry is stored under key, without reading its value.
	Has(ctx context.Context, key string) (bool, error)
	// Expire changes the TTL of the existing entry under key without changing its value.
	// It reports ErrNotFound, and creates nothing, when there is no unexpired entry.
	Expire(ctx context.Context, key string, ttl time.Duration) error
	// TTL returns the time the entry under key has left, or ErrNotFound.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Count returns the number of unexpired entries whose keys start with prefix.
	Count(ctx context.Context, prefix string) (int, error)
	// Clear removes every entry whose key starts with prefix and returns how many it removed.
	Clear(ctx context.Context, prefix string) (int, error)
	// Close releases the Store's resources and stops its goroutines.
	Close() error
}

// ExpiryReader is an optional interface of a Store that reads entries together with the time
// they have left, in the request that reads their values: what a tier in front of the Store
// needs so that its copy never outlives the entry. ReadEntries uses it when a Store has it.
type ExpiryReader interface {
	// GetEntries returns the unexpired entries found for keys, each with its value and the
	// time it has left (MaxTTL for an entry without expiry). Missing keys are absent;
	// duplicate keys are read once.
	GetEntries(ctx context.Context, keys []string) ([]Entry, error)
}

// Partitioner is an optional interface of a Store whose keys live on parts that fail apart,
// such as the masters of a Redis cluster: a decorator that judges the Store's health, as a
// circuit breaker does, judges each part on its own, so that one part's outage leaves the
// other parts' keys served.
type Partitioner interface {
	// Partition names the part that holds key. It is cheap and never blocks; the names are
	// few (one per part) and stay the same across a failover within a part. The empty
	// string stands for the whole Store, for a key whose part is not known yet.
	Partition(key string) string
}

// ReadEntries returns s's unexpired entries for keys with the time each has left: in one
// request when s is an ExpiryReader, else with GetMany and a TTL call per entry found.
func ReadEntries(ctx context.Context, s Store, keys []string) ([]Entry, error) {
	if r, ok := s.(ExpiryReader); ok {
		return r.GetEntries(ctx, keys)
	}
	found, err := s.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(found))
	for k, v := range found {
		ttl, err := s.TTL(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue // expired since
		}
		if err != nil {
			return nil, err
		}
		entries = append(entries, Entry{Key: k, Value: v, TTL: ttl})
	}
	return entries, nil
}

// Entry is one key, value and TTL for [Store.SetMany].
type Entry struct {
	Key   string
	Value []byte
	TTL   time.Duration
}

// Clock tells a Store the time, so that tests can move it instead of sleeping.
type Clock interface {
	Now() time.Time
}

// The errors every Store and cache reports, checked with errors.Is.
var (
	// ErrNotFound reports a miss: no unexpired entry under the key.
	ErrNotFound = errors.New("cachekit: not found")
	// ErrInvalidKey reports a key or prefix that breaks the key rules of CheckKey.
	ErrInvalidKey = errors.New("cachekit: invalid key")
	// ErrInvalidTTL reports a TTL that is negative or that no backend can represent.
	ErrInvalidTTL = errors.New("cachekit: invalid TTL")
	// ErrClosed reports a call on a closed cache or store.
	ErrClosed = errors.New("cachekit: closed")
	// ErrValueTooLarge reports a value over the backend's size limit, found by the Store
	// before sending or by the server, which refused it; either way that value was not
	// written.
	ErrValueTooLarge = errors.New("cachekit: value too large")
	// ErrConfig reports options or a configuration that cannot be used; the message names
	// the setting. Constructors (New) of stores, decorators and caches wrap it.
	ErrConfig = errors.New("cachekit: invalid configuration")
)

const (
	// MaxKeyLen is the longest key, in bytes and with its prefix, that every backend accepts.
	// DynamoDB allows 2048 bytes in a partition key; 1024 leaves room for a table's own use.
	MaxKeyLen = 1024
	// MaxTTL is the longest TTL every backend can represent without overflow.
	MaxTTL = 10 * 365 * 24 * time.Hour
)

// CheckKey reports whether key, prefix included, is one every backend accepts: not empty,
// valid UTF-8 and at most MaxKeyLen bytes. Errors wrap ErrInvalidKey and never quote the key.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrInvalidKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	return nil
}

// CheckKeys applies CheckKey to every key, so that a batch is refused before any work is done.
func CheckKeys(keys []string) error {
	for _, k := range keys {
		if err := CheckKey(k); err != nil {
			return err
		}
	}
	return nil
}

// UniqueKeys returns keys without repeats, in the order of their first appearance, so that a
// batch reads or deletes each key once.
func UniqueKeys(keys []string) []string {
	seen := make(map[string]struct{}, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// CheckPrefix reports whether prefix may scope Count and Clear: the key rules of CheckKey,
// which also forbid the empty prefix, so that no call can reach every key of a shared table.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return fmt.Errorf("%w: empty prefix", ErrInvalidKey)
	}
	if err := CheckKey(prefix); err != nil {
		return fmt.Errorf("%w (prefix)", err)
	}
	return nil
}

// CheckTTL reports whether ttl is one a Store takes: positive and at most MaxTTL.
// Zero is refused here; the cache layer turns a zero TTL into its default before a Store sees it.
func CheckTTL(ttl time.Duration) error {
	switch {
	case ttl <= 0:
		return fmt.Errorf("%w: %v is not positive", ErrInvalidTTL, ttl)
	case ttl > MaxTTL:
		return fmt.Errorf("%w: %v is over the limit of %v", ErrInvalidTTL, ttl, MaxTTL)
	}
	return nil
}

// CheckEntries applies CheckKey and CheckTTL to every entry of a SetMany batch.
func CheckEntries(entries []Entry) error {
	for _, e := range entries {
		if err := CheckKey(e.Key); err != nil {
			return err
		}
		if err := CheckTTL(e.TTL); err != nil {
			return err
		}
	}
	return nil
}

// ContextErr returns the context's error wrapped so that its message names the package, or nil
// while the context is live. Stores call it before doing any work.
func ContextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cachekit: %w", err)
	}
	return nil
}
