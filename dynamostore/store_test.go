package dynamostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

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
	opts.Table = testenv.Name("cachekit-test")
	ctx := context.Background()
	if _, err := dynamostore.CreateTable(ctx, client, opts); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(opts.Table)})
	})
	return opts
}

func conformance(t *testing.T, opts dynamostore.Options) {
	client := testenv.DynamoDB(t)
	opts = newTable(t, client, opts)
	cachetest.Run(t, cachetest.Harness{
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
}

func TestConformance(t *testing.T) {
	conformance(t, dynamostore.Options{})
}

func TestConformanceSingleTableDesign(t *testing.T) {
	conformance(t, dynamostore.Options{
		PartitionKey: "pk", SortKey: "sk", SortKeyValue: "CACHE",
		ValueAttribute: "data", TTLAttribute: "expires", CreatedAtAttribute: "created",
		ConsistentRead: true, ScanSegments: 3,
	})
}

// fixedClock is a clock that reads the same instant until moved.
func fixedClock() *cachetest.Clock {
	return cachetest.NewClock(time.Date(2030, 6, 1, 12, 0, 0, 250_000_000, time.UTC))
}
