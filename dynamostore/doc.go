// Package dynamostore is cachekit's DynamoDB backend, the default: cache items live in the
// service's own table beside its business data, told apart by the key prefix, and DynamoDB's
// native TTL deletes them.
//
// One item per entry, readable by any service:
//
//	PK        (S) prefix + key
//	value     (S) the value: the JSON text the cache wrote (B when the bytes are not UTF-8,
//	              as a value package compress compressed is; N for a counter, which reads
//	              as its decimal digits, a JSON number)
//	ttl       (N) Unix epoch seconds of expiry, the attribute DynamoDB's TTL deletes by
//	createdAt (N) Unix epoch seconds of the write
//	fresh     (M) only for a value a view with freshness options wrote (a backend.Envelope):
//	              until (N, Unix epoch milliseconds), loadMs (N), notFound (BOOL, only when true)
//
// An envelope is split into the value attribute, which holds its value alone, as for any
// entry, and the fresh attribute; every read joins them back into the bytes written. A
// malformed fresh attribute leaves the value to be read as it is.
//
// An item over DynamoDB's 400 KB (MaxItemSize, attribute names included) is refused with
// backend.ErrValueTooLarge before anything is sent. The size is that of the bytes the Store is
// given: behind a codec that compresses (package compress), a value that compresses below the
// limit fits, whatever its size before.
//
// The attribute names are options with these defaults. Single-table designs with a sort key
// name it in Options.SortKey, with the constant value cache items carry in it.
//
// An item is a cache entry when its value attribute is of type S, B or N. Any other item under
// the prefix, which another service wrote, is absent to every operation, Count and Clear
// included: Clear never deletes it. An entry without a ttl attribute never expires; its TTL
// is backend.MaxTTL.
//
// DynamoDB deletes expired items in the background, up to about two days late, so every read
// checks ttl itself: an expired item is a miss however long it lingers. The ttl attribute has
// one-second granularity: an expiry is rounded up to the next whole second, so an entry lives
// at least its TTL and less than a second more, and a sub-second TTL lives until the next
// whole second after it ends.
//
// The store is a backend.Leaser. Acquire is one PutItem conditional on no item or an expired
// entry under the key, as DynamoDB keeps expired items until its TTL deletes them; it never
// overwrites an item that is not a cache entry, and reports ErrNotEntry for one. Release is
// one DeleteItem conditional on the value being the holder's token.
//
// The store is a backend.Counter. Incr is one UpdateItem that ADDs the delta to the number in
// the value attribute, setting ttl and createdAt only where the item has none, conditional on
// no item or an unexpired counter with room for the delta within int64. A counter that has
// expired but is still in the table costs a second request, a PutItem of the new counter on
// Acquire's condition. An entry that is not a number is reported with backend.ErrNotCounter,
// and an item that is not an entry with ErrNotEntry; both are left as they were.
//
// Batches go in the sizes DynamoDB takes (100 keys per BatchGetItem, 25 writes per
// BatchWriteItem), in parallel up to Options.Concurrency, with duplicates folded. Unprocessed
// keys and items are retried with exponential backoff and full jitter until done or the
// context ends; they are never dropped. Throttling and transient errors of single requests are
// retried by the SDK client's own retryer. Every request is bounded by the request timeout of
// its context (backend.RequestContext), which a resilient.Breaker sets to its OpTimeout. A
// batch write that fails once it has begun sending returns a *backend.BatchError saying which
// keys were written, which were not and which are unknown; a ValidationException on an item's
// size or key is reported as backend.ErrValueTooLarge or backend.ErrInvalidKey.
//
// Count and Clear scan the table: a Scan reads every item of the table, business items
// included, and costs read units for all of it (one unit per 4 KB read, halved with eventually
// consistent reads), however few cache items there are. Keep them for operators, not for the
// request path. Every delete of Clear is conditional on the item's key starting with the
// prefix (and on the sort key's constant), so it can never remove a business item, whatever
// the scan returned.
package dynamostore
