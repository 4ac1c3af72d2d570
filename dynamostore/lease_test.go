package dynamostore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestLeaseItem reads a lease with the plain SDK (an entry holding the token) and takes it
// again once it has expired but is still in the table, as DynamoDB's TTL deletion leaves it
// for up to two days; each Acquire and Release is one request.
func TestLeaseItem(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	var sent requests
	s, clock, opts := clocked(t, client, dynamodb.New(testenv.DynamoDBOptions(sent.count)), dynamostore.Options{})
	now := clock.Now()
	if ok, err := s.Acquire(ctx, "CACHE#lease", "holder-1", 1500*time.Millisecond); !ok || err != nil {
		t.Fatalf("Acquire = %v, %v; want true, nil", ok, err)
	}
	want := map[string]types.AttributeValue{
		"PK":        &types.AttributeValueMemberS{Value: "CACHE#lease"},
		"value":     &types.AttributeValueMemberS{Value: "holder-1"},
		"ttl":       num(itoa(now.Unix() + 2)), // 1.75s rounded up
		"createdAt": num(itoa(now.Unix())),
	}
	if got := rawGet(t, client, opts.Table, pk("CACHE#lease")); !reflect.DeepEqual(got, want) {
		t.Errorf("lease item = %s\nwant %s", show(got), show(want))
	}
	if ok, err := s.Acquire(ctx, "CACHE#lease", "holder-2", time.Minute); ok || err != nil {
		t.Errorf("Acquire of a held lease = %v, %v; want false, nil", ok, err)
	}
	clock.Advance(2 * time.Second)
	if rawGet(t, client, opts.Table, pk("CACHE#lease")) == nil {
		t.Fatal("the expired lease is gone from the table already; the test shows nothing")
	}
	sent.reset()
	if ok, err := s.Acquire(ctx, "CACHE#lease", "holder-2", time.Minute); !ok || err != nil {
		t.Errorf("Acquire of an expired lease still in the table = %v, %v; want true, nil", ok, err)
	}
	if err := s.Release(ctx, "CACHE#lease", "holder-1"); err != nil {
		t.Errorf("Release by the expired holder: %v", err)
	}
	if n, puts, deletes := sent.total(), sent.of("PutItem"), sent.of("DeleteItem"); n != 2 || puts != 1 || deletes != 1 {
		t.Errorf("Acquire and Release sent %d requests (%d PutItem, %d DeleteItem), want one of each", n, puts, deletes)
	}
	if v, ok := rawGet(t, client, opts.Table, pk("CACHE#lease"))["value"].(*types.AttributeValueMemberS); !ok || v.Value != "holder-2" {
		t.Errorf("after the expired holder's Release, the lease holds %v, want holder-2's", v)
	}
	if err := s.Release(ctx, "CACHE#lease", "holder-2"); err != nil {
		t.Fatal(err)
	}
	if it := rawGet(t, client, opts.Table, pk("CACHE#lease")); it != nil {
		t.Errorf("the lease is still there after its holder's Release: %s", show(it))
	}
}
