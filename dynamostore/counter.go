package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Counter = (*Store)(nil)

// incrUpdate adds the delta to a counter, creating it at zero first where no item is, and
// gives it a ttl and a createdAt only when it has none: an increment never extends a counter.
// It uses #v, #ttl, #c, :delta, :exp and :now.
const incrUpdate = "ADD #v :delta SET #ttl = if_not_exists(#ttl, :exp), #c = if_not_exists(#c, :now)"

// incrCondition lets incrUpdate run where no item is, or on a counter (a value of type N) that
// has not expired and that the delta keeps within int64 (between :lo and :hi). Anything else
// fails it and is left as it was: an entry of another type, which ADD would refuse, an
// expired counter, which must start again from zero, another service's item. A counter
// without a ttl, which only another writer leaves, passes, and gets the ttl of this Incr. It
// uses #pk, #v, #ttl, :now, :lo, :hi and :typeN.
const incrCondition = "attribute_not_exists(#pk) OR (attribute_type(#v, :typeN) AND #v BETWEEN :lo AND :hi" +
	" AND (attribute_not_exists(#ttl) OR #ttl > :now))"

// maxIncrRounds bounds Incr's rounds of an UpdateItem and a PutItem. A round fails only when
// another writer changed the item between the two, so that the next UpdateItem finds a live
// counter; the bound is for clocks so far apart that writers keep restarting each other's.
const maxIncrRounds = 4

// Incr implements backend.Counter with one UpdateItem (incrUpdate on incrCondition): the
// count is a number in the value attribute, which ADD adds to atomically, with its ttl and
// createdAt set when it is created. ReturnValues UPDATED_NEW gives the new count.
//
// A failed condition returns the item (ReturnValuesOnConditionCheckFailure, which costs no
// capacity). An expired counter or entry that DynamoDB has not deleted yet then costs a second
// request, a PutItem of a new counter conditional on the item's still being expired (as
// Acquire's): two requests, only when the counter starts again. An unexpired entry of
// another type, or a count the delta would take past int64, is reported with
// backend.ErrNotCounter, and another service's item with ErrNotEntry; both are left alone.
// A number that is not an integer, which only another writer leaves, is added to and then
// reported with backend.ErrNotCounter.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	if err := backend.CheckKey(key); err != nil {
		return 0, err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return 0, err
	}
	for range maxIncrRounds {
		now := s.o.Clock.Now()
		n, failed, err := s.add(ctx, key, delta, ttl, now)
		if err != nil || failed == nil {
			return n, err
		}
		old := failed.Item
		if old == nil {
			continue // deleted since: the next round creates it
		}
		e := s.parse(old)
		_, isNumber := old[s.o.ValueAttribute].(*types.AttributeValueMemberN)
		switch {
		case !e.hasValue:
			return 0, fmt.Errorf("%w: Incr leaves it alone", ErrNotEntry)
		case !alive(e.expiresAt, now):
			// Expired, and still in the table: the counter starts again.
		case isNumber:
			return 0, fmt.Errorf("dynamostore: %w: %s%+d is out of the range of int64", backend.ErrNotCounter, e.value, delta)
		default:
			return 0, fmt.Errorf("dynamostore: %w: the value is not a number", backend.ErrNotCounter)
		}
		if ok, err := s.restart(ctx, key, delta, ttl, now); ok || err != nil {
			return delta, err
		}
	}
	return 0, fmt.Errorf("dynamostore: Incr: the item changed under %d rounds of UpdateItem and PutItem", maxIncrRounds)
}

// add sends Incr's UpdateItem and returns the new count, or, when the condition failed, the
// failure, which holds the item that failed it.
func (s *Store) add(ctx context.Context, key string, delta int64, ttl time.Duration, now time.Time) (int64, *types.ConditionalCheckFailedException, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if delta < 0 {
		lo -= delta
	} else {
		hi -= delta
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                s.table(),
		Key:                      s.key(key),
		UpdateExpression:         aws.String(incrUpdate),
		ConditionExpression:      aws.String(incrCondition),
		ExpressionAttributeNames: s.namesFor("#pk", "#v", "#ttl", "#c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":delta": number(delta),
			":exp":   number(expiresAt(now, ttl)),
			":now":   number(now.Unix()),
			":lo":    number(lo),
			":hi":    number(hi),
			":typeN": &types.AttributeValueMemberS{Value: "N"},
		},
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	out, err := request(ctx, "UpdateItem", func(ctx context.Context) (*dynamodb.UpdateItemOutput, error) {
		return s.api.UpdateItem(ctx, in)
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return 0, failed, nil
	case err != nil:
		return 0, nil, err
	}
	v, ok := out.Attributes[s.o.ValueAttribute].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil, fmt.Errorf("dynamostore: UpdateItem returned no count in %q", s.o.ValueAttribute)
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("dynamostore: %w: the number %s is not an int64", backend.ErrNotCounter, v.Value)
	}
	return n, nil, nil
}

// restart writes a new counter holding delta over an expired item, with one PutItem on
// Acquire's condition (no item, or an expired entry), and reports whether it did: false when
// another writer changed the item since it was read.
func (s *Store) restart(ctx context.Context, key string, delta int64, ttl time.Duration, now time.Time) (bool, error) {
	it := s.key(key)
	it[s.o.ValueAttribute] = number(delta)
	it[s.o.TTLAttribute] = number(expiresAt(now, ttl))
	it[s.o.CreatedAtAttribute] = number(now.Unix())
	in := &dynamodb.PutItemInput{
		TableName:                 s.table(),
		Item:                      it,
		ConditionExpression:       aws.String(acquireCondition),
		ExpressionAttributeNames:  s.namesFor("#pk", "#v", "#ttl"),
		ExpressionAttributeValues: entryTypes(map[string]types.AttributeValue{":now": number(now.Unix())}),
	}
	_, err := request(ctx, "PutItem", func(ctx context.Context) (*dynamodb.PutItemOutput, error) {
		return s.api.PutItem(ctx, in)
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return false, nil
	}
	return err == nil, err
}
