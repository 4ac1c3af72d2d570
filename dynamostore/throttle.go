package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Throttler = (*Store)(nil)

// maxThrottleRequests bounds the requests of one Throttle. Past the second, each follows a
// race lost to another instance's write on the key, which rarely happens twice in a row.
const maxThrottleRequests = 8

// Throttle implements backend.Throttler with conditional writes, the TAT a number (N) in the
// value attribute, in Unix microseconds:
//
//   - A busy key, whose TAT is between now and tolerance - cost ahead of it, takes one
//     UpdateItem, SET value = value + cost conditional on that range: one request.
//   - A request that does not fit is denied in that same request: the failed condition's
//     answer carries the item (ReturnValuesOnConditionCheckFailure), and nothing is written.
//   - An idle key (no item, an expired one, or a TAT that has passed) fails that condition
//     too, and takes a PutItem of now + cost, conditional on the key being idle still at now:
//     two requests. A race lost to another instance, whose TAT is ahead of now, adds one or
//     two: an update, or the denial its answer tells.
//
// Every answer is judged at the one time the step runs at, now.
//
// The ttl attribute of a new TAT is its second rounded up. An update expression can add but
// not divide, so an update sets the ttl to the second of now + tolerance rounded up, a bound
// of the TAT it writes: the item may outlive its TAT by up to the tolerance, which changes no
// decision, a TAT that has passed counting as none.
//
// Now is this instance's clock (Options.Clock): DynamoDB has no time of its own to offer an
// expression, so an instance whose clock runs ahead of the fleet's by d admits a request up
// to d early. An item that is not an entry (another service's) is reported with ErrNotEntry
// and never written; an unexpired entry whose value is not a whole number, with ErrNotCounter:
// a value Set wrote is never a TAT, even one of digits, as it is never a counter.
func (s *Store) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	if err := s.usable(ctx); err != nil {
		return backend.Throttle{}, err
	}
	if err := backend.CheckKey(key); err != nil {
		return backend.Throttle{}, err
	}
	if err := backend.CheckThrottle(cost, tolerance); err != nil {
		return backend.Throttle{}, err
	}
	slack := tolerance.Microseconds() - cost.Microseconds()
	// The step runs at one time, now, against which every answer is judged, however many
	// requests it takes: judged at a later time, a key that a busy fleet keeps at its limit,
	// denied at the request's time, seemed to have room by the time its answer came; and on a
	// slow table, a key whose TAT passed between two requests was idle again, so that each
	// answer sent the step back to a race it could lose again, until the requests ran out.
	// At one time the TAT only moves forward under the step: idle, busy, then denied.
	now := s.o.Clock.Now().Truncate(time.Microsecond)
	var old map[string]types.AttributeValue // the item a failed condition found
	known := false                          // whether old is known; at first, a busy key is assumed
	for range maxThrottleRequests {
		var failed *types.ConditionalCheckFailedException
		if !known {
			tat, err := s.moveTAT(ctx, key, cost, tolerance, now)
			if err == nil {
				return backend.Throttle{Allowed: true, TAT: tat, Now: now}, nil
			}
			if !errors.As(err, &failed) {
				return backend.Throttle{}, err
			}
			old, known = failed.Item, true
			continue
		}
		stored, err := s.storedTAT(old, now)
		if err != nil {
			return backend.Throttle{}, err
		}
		tat := max(stored, now.UnixMicro())
		switch lead := tat - now.UnixMicro(); {
		case lead > slack:
			return backend.Throttle{TAT: time.UnixMicro(tat), Now: now}, nil
		case lead > 0:
			// Another instance wrote a TAT since the first answer: an update, which DynamoDB
			// runs in turn with the others', rather than a write that races them.
			known = false
			continue
		}
		tat += cost.Microseconds()
		err = s.newTAT(ctx, key, old, tat, now)
		if err == nil {
			return backend.Throttle{Allowed: true, TAT: time.UnixMicro(tat), Now: now}, nil
		}
		if !errors.As(err, &failed) {
			return backend.Throttle{}, err
		}
		old = failed.Item
	}
	return backend.Throttle{}, fmt.Errorf("dynamostore: Throttle: the item changed under each of %d requests", maxThrottleRequests)
}

// moveTAT moves a busy key's TAT on by cost, when it is from now to tolerance - cost ahead, and
// returns the new TAT; otherwise it fails with a ConditionalCheckFailedException carrying the
// item. The condition's bounds are two comparisons, not BETWEEN, which DynamoDB refuses when
// they are the wrong way round, as they are for a cost over the tolerance.
func (s *Store) moveTAT(ctx context.Context, key string, cost, tolerance time.Duration, now time.Time) (time.Time, error) {
	us := now.UnixMicro()
	in := &dynamodb.UpdateItemInput{
		TableName:                s.table(),
		Key:                      s.key(key),
		UpdateExpression:         aws.String("SET #v = #v + :cost, #ttl = :exp, #c = :sec"),
		ConditionExpression:      aws.String("attribute_type(#v, :typeN) AND #v >= :now AND #v <= :limit AND (attribute_not_exists(#ttl) OR #ttl > :sec)"),
		ExpressionAttributeNames: s.namesFor("#v", "#ttl", "#c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":typeN": &types.AttributeValueMemberS{Value: "N"},
			":cost":  number(cost.Microseconds()),
			":now":   number(us),
			":limit": number(us + tolerance.Microseconds() - cost.Microseconds()),
			":exp":   number(expiresAt(now, tolerance)),
			":sec":   number(now.Unix()),
		},
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	out, err := request(ctx, "UpdateItem", func(ctx context.Context) (*dynamodb.UpdateItemOutput, error) {
		return s.api.UpdateItem(ctx, in)
	})
	if err != nil {
		return time.Time{}, err
	}
	n, ok := out.Attributes[s.o.ValueAttribute].(*types.AttributeValueMemberN)
	if !ok {
		return time.Time{}, fmt.Errorf("dynamostore: Throttle: UpdateItem answered without the new TAT")
	}
	tat, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("dynamostore: Throttle: UpdateItem answered the TAT %q: %w", n.Value, err)
	}
	return time.UnixMicro(tat), nil
}

// storedTAT returns the TAT, in Unix microseconds, of old, the item under the key or nil: zero
// when there is none or old has expired. Another service's item is ErrNotEntry, and an
// unexpired entry that is not a whole number (N), ErrNotCounter: a value Set wrote is never a
// TAT, whatever its text, as it is never a counter.
func (s *Store) storedTAT(old map[string]types.AttributeValue, now time.Time) (int64, error) {
	if old == nil {
		return 0, nil
	}
	e := s.parse(old)
	switch {
	case !e.hasValue:
		return 0, fmt.Errorf("%w: Throttle leaves it alone", ErrNotEntry)
	case !alive(e.expiresAt, now):
		return 0, nil
	}
	n, ok := old[s.o.ValueAttribute].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("dynamostore: Throttle: %w: the value is not a number", backend.ErrNotCounter)
	}
	tat, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dynamostore: Throttle: %w: the value is not a TAT", backend.ErrNotCounter)
	}
	return tat, nil
}

// newTAT writes the item of the TAT tat, in Unix microseconds, over old, the item an answer
// found under the key (an expired item, or a TAT that has passed), or where there is none.
// Its condition is that the key is still idle at now: no item, or an expired one, or a TAT
// that has passed. Another instance that restarted the key since, at a time far enough
// before now that its TAT has passed too, does not stop it, since GCRA would admit both; one
// whose TAT is still ahead of now does, and the write fails with a
// ConditionalCheckFailedException carrying the item.
func (s *Store) newTAT(ctx context.Context, key string, old map[string]types.AttributeValue, tat int64, now time.Time) error {
	it := s.key(key)
	it[s.o.ValueAttribute] = number(tat)
	it[s.o.TTLAttribute] = number(expiresAt(time.UnixMicro(tat), 0))
	it[s.o.CreatedAtAttribute] = number(now.Unix())
	cond, names, values := "attribute_not_exists(#pk)", s.namesFor("#pk"), map[string]types.AttributeValue(nil)
	if old != nil {
		cond = "(attribute_type(#v, :typeN) AND #v <= :now) OR #ttl <= :sec"
		names = s.namesFor("#v", "#ttl")
		values = map[string]types.AttributeValue{
			":typeN": &types.AttributeValueMemberS{Value: "N"},
			":now":   number(now.UnixMicro()),
			":sec":   number(now.Unix()),
		}
	}
	in := &dynamodb.PutItemInput{
		TableName:                           s.table(),
		Item:                                it,
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	_, err := request(ctx, "PutItem", func(ctx context.Context) (*dynamodb.PutItemOutput, error) {
		return s.api.PutItem(ctx, in)
	})
	return err
}
