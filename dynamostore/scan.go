package dynamostore

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/cachekit/cachekit/backend"
)

// Count implements backend.Store with a paginated Scan that counts the unexpired cache entries
// whose key starts with prefix. See the package documentation for its cost.
func (s *Store) Count(ctx context.Context, prefix string) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	var n atomic.Int64
	err := s.scan(ctx, prefix, true, func(_ context.Context, out *dynamodb.ScanOutput) error {
		n.Add(int64(out.Count))
		return nil
	})
	return int(n.Load()), err
}

// Clear implements backend.Store: a paginated Scan for the keys under prefix, and for each a
// DeleteItem conditional on the key starting with prefix (and on the sort key's constant) and
// on the item being a cache entry, so that no business item can be removed whatever the scan
// returned, not even one under the prefix. It counts the deletes that took effect, expired
// entries not yet removed by DynamoDB included.
func (s *Store) Clear(ctx context.Context, prefix string) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	if err := backend.CheckPrefix(prefix); err != nil {
		return 0, err
	}
	cond, names := "begins_with(#pk, :prefix) AND "+isEntry, s.namesFor("#pk", "#sk", "#v")
	values := entryTypes(map[string]types.AttributeValue{":prefix": &types.AttributeValueMemberS{Value: prefix}})
	if s.o.SortKey != "" {
		cond += " AND #sk = :sk"
		values[":sk"] = &types.AttributeValueMemberS{Value: s.o.SortKeyValue}
	}
	var n atomic.Int64
	err := s.scan(ctx, prefix, false, func(ctx context.Context, out *dynamodb.ScanOutput) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.o.Concurrency)
		for _, it := range out.Items {
			pk, ok := it[s.o.PartitionKey].(*types.AttributeValueMemberS)
			if !ok {
				continue
			}
			g.Go(func() error {
				_, err := request(gctx, "DeleteItem", func(ctx context.Context) (*dynamodb.DeleteItemOutput, error) {
					return s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
						TableName:                 s.table(),
						Key:                       s.key(pk.Value),
						ConditionExpression:       aws.String(cond),
						ExpressionAttributeNames:  names,
						ExpressionAttributeValues: values,
					})
				})
				var failed *types.ConditionalCheckFailedException
				switch {
				case errors.As(err, &failed):
					return nil // gone already, or not a cache item: left alone
				case err != nil:
					return err
				}
				n.Add(1)
				return nil
			})
		}
		return g.Wait()
	})
	return int(n.Load()), err
}

// scan runs a paginated Scan of the cache entries under prefix, in Options.ScanSegments parallel
// segments, and hands each page to page. With count, it counts unexpired items only.
func (s *Store) scan(ctx context.Context, prefix string, count bool, page func(context.Context, *dynamodb.ScanOutput) error) error {
	filter := "begins_with(#pk, :prefix) AND " + isEntry
	placeholders := []string{"#pk", "#v"}
	values := entryTypes(map[string]types.AttributeValue{":prefix": &types.AttributeValueMemberS{Value: prefix}})
	if s.o.SortKey != "" {
		filter += " AND #sk = :sk"
		placeholders = append(placeholders, "#sk")
		values[":sk"] = &types.AttributeValueMemberS{Value: s.o.SortKeyValue}
	}
	in := dynamodb.ScanInput{TableName: s.table(), ConsistentRead: aws.Bool(s.o.ConsistentRead)}
	if count {
		filter += " AND (attribute_not_exists(#ttl) OR #ttl > :now)"
		placeholders = append(placeholders, "#ttl")
		values[":now"] = number(s.o.Clock.Now().Unix())
		in.Select = types.SelectCount
	} else {
		in.ProjectionExpression = aws.String("#pk")
	}
	in.FilterExpression = aws.String(filter)
	in.ExpressionAttributeNames = s.namesFor(placeholders...)
	in.ExpressionAttributeValues = values

	g, gctx := errgroup.WithContext(ctx)
	for seg := range s.o.ScanSegments {
		g.Go(func() error {
			in := in
			if s.o.ScanSegments > 1 {
				in.Segment, in.TotalSegments = aws.Int32(int32(seg)), aws.Int32(int32(s.o.ScanSegments))
			}
			p := dynamodb.NewScanPaginator(s.api, &in)
			for p.HasMorePages() {
				out, err := request(gctx, "Scan", func(ctx context.Context) (*dynamodb.ScanOutput, error) {
					return p.NextPage(ctx)
				})
				if err != nil {
					return err
				}
				if err := page(gctx, out); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}
