package dynamostore

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
)

// read fetches the item for key with the given projection, or reports ErrNotFound when there
// is none or it has expired.
func (s *Store) read(ctx context.Context, key, projection string, placeholders ...string) (entry, error) {
	if err := s.usable(ctx); err != nil {
		return entry{}, err
	}
	if err := backend.CheckKey(key); err != nil {
		return entry{}, err
	}
	in := &dynamodb.GetItemInput{
		TableName:                s.table(),
		Key:                      s.key(key),
		ConsistentRead:           aws.Bool(s.o.ConsistentRead),
		ProjectionExpression:     aws.String(projection),
		ExpressionAttributeNames: s.namesFor(placeholders...),
	}
	out, err := request(ctx, "GetItem", func(ctx context.Context) (*dynamodb.GetItemOutput, error) {
		return s.api.GetItem(ctx, in)
	})
	if err != nil {
		return entry{}, err
	}
	if out.Item == nil {
		return entry{}, backend.ErrNotFound
	}
	e := s.parse(out.Item)
	if !alive(e.expiresAt, s.o.Clock.Now()) {
		return entry{}, backend.ErrNotFound
	}
	return e, nil
}

// readEntry reads the entry under key, or reports ErrNotFound when there is none, it has
// expired, or the item is not an entry. Has and TTL read the value too, as Get does: a GetItem
// cannot tell an item without a value from an entry otherwise, and the read costs the whole
// item's size whatever it projects.
func (s *Store) readEntry(ctx context.Context, key string) (entry, error) {
	e, err := s.read(ctx, key, "#v, #ttl, #f", "#v", "#ttl", "#f")
	if err == nil && !e.hasValue {
		return entry{}, backend.ErrNotFound
	}
	return e, err
}

// Get implements backend.Store with one GetItem.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := s.readEntry(ctx, key)
	if err != nil {
		return nil, err
	}
	return e.value, nil
}

// Has implements backend.Store with one GetItem, as Get.
func (s *Store) Has(ctx context.Context, key string) (bool, error) {
	_, err := s.readEntry(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, backend.ErrNotFound):
		return false, nil
	}
	return false, err
}

// TTL implements backend.Store with one GetItem, as Get. An entry without a ttl attribute
// never expires, as DynamoDB's TTL leaves it alone: its TTL is backend.MaxTTL, as for a Redis
// key without expiry.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	e, err := s.readEntry(ctx, key)
	if err != nil {
		return 0, err
	}
	if e.expiresAt == 0 {
		return backend.MaxTTL, nil
	}
	return time.Unix(e.expiresAt, 0).Sub(s.o.Clock.Now()), nil
}

// Set implements backend.Store with one PutItem.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	e := backend.Entry{Key: key, Value: value, TTL: ttl}
	if err := backend.CheckEntries([]backend.Entry{e}); err != nil {
		return err
	}
	it, err := s.item(e, s.o.Clock.Now())
	if err != nil {
		return err
	}
	return s.put(ctx, it)
}

// put writes one item with PutItem.
func (s *Store) put(ctx context.Context, it map[string]types.AttributeValue) error {
	_, err := request(ctx, "PutItem", func(ctx context.Context) (*dynamodb.PutItemOutput, error) {
		return s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table(), Item: it})
	})
	return err
}

// Expire implements backend.Store with an UpdateItem of ttl alone, conditional on an
// unexpired item existing, so that it never creates one.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return err
	}
	now := s.o.Clock.Now()
	in := &dynamodb.UpdateItemInput{
		TableName:                s.table(),
		Key:                      s.key(key),
		UpdateExpression:         aws.String("SET #ttl = :exp"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND " + isEntry + " AND (attribute_not_exists(#ttl) OR #ttl > :now)"),
		ExpressionAttributeNames: s.namesFor("#pk", "#v", "#ttl"),
		ExpressionAttributeValues: entryTypes(map[string]types.AttributeValue{
			":exp": number(expiresAt(now, ttl)),
			":now": number(now.Unix()),
		}),
	}
	_, err := request(ctx, "UpdateItem", func(ctx context.Context) (*dynamodb.UpdateItemOutput, error) {
		return s.api.UpdateItem(ctx, in)
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return backend.ErrNotFound
	}
	return err
}

// Delete implements backend.Store: one DeleteItem for one key, BatchWriteItem for more.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckKeys(keys); err != nil {
		return err
	}
	keys = backend.UniqueKeys(keys)
	switch len(keys) {
	case 0:
		return nil
	case 1:
		_, err := request(ctx, "DeleteItem", func(ctx context.Context) (*dynamodb.DeleteItemOutput, error) {
			return s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: s.table(), Key: s.key(keys[0])})
		})
		return s.one(keys[0], err)
	}
	reqs := make([]types.WriteRequest, len(keys))
	for i, k := range keys {
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: s.key(k)}}
	}
	return s.writeBatches(ctx, keys, reqs)
}
