package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/cachekit/cachekit/backend"
)

// GetMany implements backend.Store with BatchGetItem: chunks of 100 distinct keys, sent in
// parallel, each retried until every key is answered.
func (s *Store) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	found := make(map[string][]byte, len(keys))
	err := s.batchGet(ctx, keys, func(key string, e entry) { found[key] = e.value })
	if err != nil {
		return nil, err
	}
	return found, nil
}

// GetEntries implements backend.ExpiryReader: GetMany's requests, which read the ttl
// attribute with the value. An entry's time left ends at its whole expiry second, as it
// does for every read.
func (s *Store) GetEntries(ctx context.Context, keys []string) ([]backend.Entry, error) {
	var entries []backend.Entry
	now := s.o.Clock.Now()
	add := func(key string, e entry) {
		ttl := backend.MaxTTL
		if e.expiresAt != 0 {
			ttl = time.Unix(e.expiresAt, 0).Sub(now)
		}
		entries = append(entries, backend.Entry{Key: key, Value: e.value, TTL: ttl})
	}
	if len(keys) == 1 { // one GetItem, as Get sends
		e, err := s.read(ctx, keys[0], "#v, #ttl, #f", "#v", "#ttl", "#f")
		switch {
		case errors.Is(err, backend.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, err
		case e.hasValue:
			add(keys[0], e)
		}
		return entries, nil
	}
	if err := s.batchGet(ctx, keys, add); err != nil {
		return nil, err
	}
	return entries, nil
}

var _ backend.ExpiryReader = (*Store)(nil)

// batchGet reads keys with BatchGetItem and calls found, one call at a time, for every
// unexpired cache entry.
func (s *Store) batchGet(ctx context.Context, keys []string, found func(key string, e entry)) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckKeys(keys); err != nil {
		return err
	}
	keys = backend.UniqueKeys(keys)
	if len(keys) == 0 {
		return nil
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.Concurrency)
	for chunk := range chunks(keys, maxBatchGet) {
		g.Go(func() error {
			items, err := s.getChunk(gctx, chunk)
			if err != nil {
				return err
			}
			now := s.o.Clock.Now()
			mu.Lock()
			defer mu.Unlock()
			for _, it := range items {
				pk, ok := it[s.o.PartitionKey].(*types.AttributeValueMemberS)
				if e := s.parse(it); ok && e.hasValue && alive(e.expiresAt, now) {
					found(pk.Value, e)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// getChunk reads up to 100 keys, asking again for the keys DynamoDB leaves unprocessed.
func (s *Store) getChunk(ctx context.Context, keys []string) ([]map[string]types.AttributeValue, error) {
	req := types.KeysAndAttributes{
		Keys:                     make([]map[string]types.AttributeValue, len(keys)),
		ConsistentRead:           aws.Bool(s.o.ConsistentRead),
		ProjectionExpression:     aws.String("#pk, #v, #ttl, #f"),
		ExpressionAttributeNames: s.namesFor("#pk", "#v", "#ttl", "#f"),
	}
	for i, k := range keys {
		req.Keys[i] = s.key(k)
	}
	var items []map[string]types.AttributeValue
	for attempt := 0; ; attempt++ {
		out, err := request(ctx, "BatchGetItem", func(ctx context.Context) (*dynamodb.BatchGetItemOutput, error) {
			return s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{s.o.Table: req},
			})
		})
		if err != nil {
			return nil, err
		}
		items = append(items, out.Responses[s.o.Table]...)
		left, ok := out.UnprocessedKeys[s.o.Table]
		if !ok || len(left.Keys) == 0 {
			return items, nil
		}
		req.Keys = left.Keys
		if err := s.backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("dynamostore: BatchGetItem: %d keys still unprocessed: %w", len(left.Keys), backend.CallErr(ctx, err))
		}
	}
}

// SetMany implements backend.Store with BatchWriteItem: every entry checked and built first,
// the last write of a key kept, then chunks of 25 sent in parallel until every item is written.
// A failure once sending has begun is a *backend.BatchError.
func (s *Store) SetMany(ctx context.Context, entries []backend.Entry) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckEntries(entries); err != nil {
		return err
	}
	last := make(map[string]int, len(entries))
	for i, e := range entries {
		last[e.Key] = i
	}
	now := s.o.Clock.Now()
	keys := make([]string, 0, len(last))
	reqs := make([]types.WriteRequest, 0, len(last))
	for i, e := range entries {
		if last[e.Key] != i {
			continue // DynamoDB rejects a batch that writes one key twice
		}
		it, err := s.item(e, now)
		if err != nil {
			return err
		}
		keys = append(keys, e.Key)
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	if len(reqs) == 1 {
		return s.one(keys[0], s.put(ctx, reqs[0].PutRequest.Item))
	}
	return s.writeBatches(ctx, keys, reqs)
}

// one turns the error of a batch of one key, sent in a single request, into its BatchError.
func (s *Store) one(key string, err error) error {
	b := backend.NewBatch([]string{key})
	if err != nil && !refused(err) {
		b.Unknown(key)
	}
	return b.Err(err)
}

// writeBatches sends write requests in chunks of 25, in parallel, each retried until DynamoDB
// has processed every request. keys[i] is the key of reqs[i]. When a chunk fails, the chunks
// not yet sent are not sent, and the error says which keys are written, which are not and
// which are unknown.
func (s *Store) writeBatches(ctx context.Context, keys []string, reqs []types.WriteRequest) error {
	var mu sync.Mutex
	b := backend.NewBatch(keys)
	mark := func(f func(...string), ks []string) {
		mu.Lock()
		defer mu.Unlock()
		f(ks...)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.Concurrency)
	for start := 0; start < len(reqs); start += maxBatchWrite {
		chunk := reqs[start:min(start+maxBatchWrite, len(reqs))]
		chunkKeys := keys[start:min(start+maxBatchWrite, len(reqs))]
		g.Go(func() error {
			for attempt := 0; ; attempt++ {
				if err := gctx.Err(); err != nil {
					return err // not sent: another chunk failed, or the caller's context ended
				}
				out, err := request(gctx, "BatchWriteItem", func(ctx context.Context) (*dynamodb.BatchWriteItemOutput, error) {
					return s.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
						RequestItems: map[string][]types.WriteRequest{s.o.Table: chunk},
					})
				})
				if err != nil {
					if !refused(err) {
						mark(b.Unknown, chunkKeys)
					}
					return err
				}
				left := out.UnprocessedItems[s.o.Table]
				mark(b.Written, chunkKeys)
				if len(left) == 0 {
					return nil
				}
				chunk, chunkKeys = left, s.writeKeys(left)
				mark(b.NotWritten, chunkKeys)
				if err := s.backoff(gctx, attempt); err != nil {
					return fmt.Errorf("dynamostore: BatchWriteItem: %d items still unprocessed: %w", len(chunk), err)
				}
			}
		})
	}
	return b.Err(backend.CallErr(ctx, g.Wait()))
}

// writeKeys returns the cache keys of write requests DynamoDB handed back.
func (s *Store) writeKeys(reqs []types.WriteRequest) []string {
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		var key map[string]types.AttributeValue
		if r.PutRequest != nil {
			key = r.PutRequest.Item
		} else if r.DeleteRequest != nil {
			key = r.DeleteRequest.Key
		}
		if pk, ok := key[s.o.PartitionKey].(*types.AttributeValueMemberS); ok {
			keys[i] = pk.Value
		}
	}
	return keys
}

// chunks yields s in slices of at most n.
func chunks[T any](s []T, n int) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			end := min(n, len(s))
			if !yield(s[:end:end]) {
				return
			}
			s = s[end:]
		}
	}
}

// backoff waits before retry attempt+1: a random time up to RetryBase·2^attempt, capped at
// RetryMax (exponential backoff with full jitter), or until ctx ends.
func (s *Store) backoff(ctx context.Context, attempt int) error {
	ceiling := s.o.RetryMax
	if attempt < 30 {
		ceiling = min(s.o.RetryMax, s.o.RetryBase<<attempt)
	}
	t := time.NewTimer(rand.N(ceiling) + 1)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
