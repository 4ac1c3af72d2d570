package cachekit

import (
	"errors"

	"github.com/cachekit/cachekit/backend"
)

// The errors a Cache reports, checked with errors.Is. The first five are the backend
// package's own, so a Store's errors and a Cache's compare equal.
var (
	// ErrNotFound reports a miss: no unexpired entry under the key.
	ErrNotFound = backend.ErrNotFound
	// ErrInvalidKey reports an empty key, one that is not valid UTF-8, or one longer than
	// MaxKeyLen bytes with its prefix. The same rule holds for every backend.
	ErrInvalidKey = backend.ErrInvalidKey
	// ErrInvalidTTL reports a negative TTL, or one over MaxTTL.
	ErrInvalidTTL = backend.ErrInvalidTTL
	// ErrClosed reports a call on a closed Cache or Store.
	ErrClosed = backend.ErrClosed
	// ErrSkipped is the miss a read gets when a circuit breaker answered without asking the
	// backend (open, or the key left stale by an outage). It wraps ErrNotFound.
	ErrSkipped = backend.ErrSkipped
	// ErrValueTooLarge reports a value over the backend's size limit, found before sending or
	// by the server; that value was not written.
	ErrValueTooLarge = backend.ErrValueTooLarge

	// ErrEncode reports a value the codec cannot encode; nothing was written.
	ErrEncode = errors.New("cachekit: cannot encode value")
	// ErrDecode reports a stored value the codec cannot decode into the type asked for.
	// GetOrLoad treats it as a miss, so a changed type heals itself.
	ErrDecode = errors.New("cachekit: cannot decode value")
	// ErrConfig reports an invalid configuration; its message names the setting. It is
	// backend.ErrConfig, which stores and decorators wrap too.
	ErrConfig = backend.ErrConfig
)

// Limits every backend shares.
const (
	// MaxKeyLen is the longest key, prefix included, in bytes.
	MaxKeyLen = backend.MaxKeyLen
	// MaxTTL is the longest TTL; pass it for entries that should live as long as they can.
	MaxTTL = backend.MaxTTL
)

// Store is the contract every backend implements; see backend.Store.
type Store = backend.Store

// Entry is one key, value and TTL of a Store batch write; see backend.Entry.
type Entry = backend.Entry

// BatchError reports a SetMany or DeleteMany that failed part-way: which keys were written,
// which were not and which may or may not have been; see backend.BatchError. A Cache reports
// the keys as its caller wrote them, without the prefix. Check for it with errors.As.
type BatchError = backend.BatchError
