package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Leaser = (*Store)(nil)

// ErrNotEntry reports an Acquire or an Incr on a key whose item is not a cache entry (no value
// attribute of type S, B or N): another service's item, which the store never overwrites. A
// lease or a counter cannot be had there, nor will one ever be: the key collides with that
// service's keys.
var ErrNotEntry = errors.New("dynamostore: the item under the key is not a cache entry")

// acquireCondition lets a lease be written where no item is, or over an expired entry: DynamoDB
// deletes expired items up to about two days late, and until then they are in the table (the
// idempotency records of AWS Lambda Powertools are taken on the same condition). An entry is
// expired from its ttl second on, as every read of the store judges it, hence <= where
// Powertools has <. It uses #pk, #v, #ttl, :now and the values entryTypes adds.
const acquireCondition = "attribute_not_exists(#pk) OR (" + isEntry + " AND #ttl <= :now)"

// Acquire implements backend.Leaser with one PutItem of an entry holding token, conditional on
// there being no unexpired entry under key (acquireCondition). A failed condition reports
// false, or ErrNotEntry when the item under key is another service's: the request asks for
// the item in the failure's answer (ReturnValuesOnConditionCheckFailure), which costs no
// capacity, to tell the two apart.
func (s *Store) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := s.usable(ctx); err != nil {
		return false, err
	}
	if err := backend.CheckKey(key); err != nil {
		return false, err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return false, err
	}
	now := s.o.Clock.Now()
	it, err := s.build(backend.Entry{Key: key, Value: []byte(token), TTL: ttl}, nil, now)
	if err != nil {
		return false, err
	}
	in := &dynamodb.PutItemInput{
		TableName:                           s.table(),
		Item:                                it,
		ConditionExpression:                 aws.String(acquireCondition),
		ExpressionAttributeNames:            s.namesFor("#pk", "#v", "#ttl"),
		ExpressionAttributeValues:           entryTypes(map[string]types.AttributeValue{":now": number(now.Unix())}),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	_, err = request(ctx, "PutItem", func(ctx context.Context) (*dynamodb.PutItemOutput, error) {
		return s.api.PutItem(ctx, in)
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		if failed.Item != nil && !s.parse(failed.Item).hasValue {
			return false, fmt.Errorf("%w: Acquire leaves it alone", ErrNotEntry)
		}
		return false, nil // an unexpired entry: the lease is held
	case err != nil:
		return false, err
	}
	return true, nil
}

// Release implements backend.Leaser with one DeleteItem conditional on the item's value being
// token, and on its having no fresh attribute, as a lease never has: a failed condition
// (another holder's lease, an entry, no item) leaves the item and is no error.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if err := backend.CheckKey(key); err != nil {
		return err
	}
	in := &dynamodb.DeleteItemInput{
		TableName:                 s.table(),
		Key:                       s.key(key),
		ConditionExpression:       aws.String("#v = :token AND attribute_not_exists(#f)"),
		ExpressionAttributeNames:  s.namesFor("#v", "#f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": valueAttribute([]byte(token))},
	}
	_, err := request(ctx, "DeleteItem", func(ctx context.Context) (*dynamodb.DeleteItemOutput, error) {
		return s.api.DeleteItem(ctx, in)
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil
	}
	return err
}
