package dynamostore_test

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// newTable creates a fresh table for opts (its Table name made unique) on client, deleted
// when the test ends, and returns the options with the name filled in.
func newTable(t *testing.T, client *dynamodb.Client, opts dynamostore.Options) dynamostore.Options {
	t.Helper()
	opts.Table = "cachekit-test"
	return testenv.DynamoDBTable(t, client, opts)
}

// conformance runs the kit on a fresh table, with the kit's clock or, with wall, with the
// system clock as in production, and checks with a Scan that it left no item behind.
func conformance(t *testing.T, opts dynamostore.Options, wall bool) {
	client := testenv.DynamoDB(t)
	opts = newTable(t, client, opts)
	prefix := testenv.Name("cachetest") + ":"
	cachetest.Run(t, cachetest.Harness{
		Prefix:    prefix,
		WallClock: wall,
		New: func(t *testing.T, clock backend.Clock) backend.Store {
			o := opts
			o.Clock = clock
			s, err := dynamostore.New(client, o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
	pk := cmp.Or(opts.PartitionKey, "PK")
	p := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{
		TableName:                 aws.String(opts.Table),
		FilterExpression:          aws.String("begins_with(#pk, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#pk": pk},
		ExpressionAttributeValues: map[string]types.AttributeValue{":prefix": &types.AttributeValueMemberS{Value: prefix}},
	})
	var left []string
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		for _, it := range out.Items {
			left = append(left, show(it))
		}
	}
	if len(left) > 0 {
		t.Errorf("the kit left %d items under %q, such as %.200s", len(left), prefix, left[0])
	}
}

func TestConformance(t *testing.T) {
	conformance(t, dynamostore.Options{}, false)
}

// TestConformanceWallClock runs the kit on the store as production builds it, with no clock.
func TestConformanceWallClock(t *testing.T) {
	conformance(t, dynamostore.Options{}, true)
}

func TestConformanceSingleTableDesign(t *testing.T) {
	conformance(t, dynamostore.Options{
		PartitionKey: "pk", SortKey: "sk", SortKeyValue: "CACHE",
		ValueAttribute: "data", TTLAttribute: "expires", CreatedAtAttribute: "created",
		ConsistentRead: true, ScanSegments: 3,
	}, false)
}

// fixedClock is a clock that reads the same instant until moved.
func fixedClock() *cachetest.Clock {
	return cachetest.NewClock(time.Date(2030, 6, 1, 12, 0, 0, 250_000_000, time.UTC))
}
