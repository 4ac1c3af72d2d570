package ratelimit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/ratelimit"
)

// countingAPI is the client passed to dynamostore.New, counting the requests the Store sends
// through it, by operation.
type countingAPI struct {
	dynamostore.API
	mu  sync.Mutex
	ops map[string]int
}

func (c *countingAPI) add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops == nil {
		c.ops = map[string]int{}
	}
	c.ops[op]++
}

// take returns the requests counted since the last take, and their total.
func (c *countingAPI) take() (ops string, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(c.ops)) {
		parts = append(parts, fmt.Sprintf("%s×%d", op, c.ops[op]))
		total += c.ops[op]
	}
	c.ops = nil
	return strings.Join(parts, " "), total
}

func (c *countingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.add("GetItem")
	return c.API.GetItem(ctx, in, fns...)
}

func (c *countingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.add("PutItem")
	return c.API.PutItem(ctx, in, fns...)
}

func (c *countingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.add("UpdateItem")
	return c.API.UpdateItem(ctx, in, fns...)
}

func (c *countingAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.add("DeleteItem")
	return c.API.DeleteItem(ctx, in, fns...)
}

func (c *countingAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.add("BatchGetItem")
	return c.API.BatchGetItem(ctx, in, fns...)
}

func (c *countingAPI) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.add("BatchWriteItem")
	return c.API.BatchWriteItem(ctx, in, fns...)
}

func (c *countingAPI) Scan(ctx context.Context, in *dynamodb.ScanInput, fns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	c.add("Scan")
	return c.API.Scan(ctx, in, fns...)
}

// TestDynamoDBRequests counts the requests each Allow sends to DynamoDB Local, by algorithm
// and by the state of the key, and logs them: GCRA takes one conditional UpdateItem when the
// key is busy or the request is denied, and a PutItem besides on an idle key (new, or whose
// TAT has passed); a fixed window one UpdateItem (an ADD) always; a sliding window a GetItem
// of the previous window and the ADD, and a second ADD that takes back a denied request. The
// Store and the Limiters read one manual clock, so that the counts do not depend on timing.
func TestDynamoDBRequests(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := dynamostore.Options{Table: testenv.Name("ratebench")}
	if _, err := dynamostore.CreateTable(ctx, client, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(opts.Table)}); err != nil {
			t.Errorf("deleting table %s: %v", opts.Table, err)
		}
	})
	clock := cachetest.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	opts.Clock = clock
	api := &countingAPI{API: client}
	store, err := dynamostore.New(api, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	limiters := map[ratelimit.Algorithm]*ratelimit.Limiter{}
	for _, a := range []ratelimit.Algorithm{ratelimit.GCRA, ratelimit.FixedWindow, ratelimit.SlidingWindow} {
		if limiters[a], err = ratelimit.New(store, "rl:"+a.String()+":", ratelimit.Options{Algorithm: a, Clock: clock}); err != nil {
			t.Fatal(err)
		}
	}
	// Two a minute, in a burst of two under GCRA: one every 30s.
	lim := ratelimit.Limit{Rate: 2, Period: time.Minute, Burst: 2}
	steps := []struct {
		algorithm ratelimit.Algorithm
		state     string
		advance   time.Duration // before the step
		allowed   bool
		requests  int
	}{
		{ratelimit.GCRA, "a new key", 0, true, 2},
		{ratelimit.GCRA, "busy", 0, true, 1},
		{ratelimit.GCRA, "denied", 0, false, 1},
		{ratelimit.GCRA, "denied again", 0, false, 1},
		{ratelimit.GCRA, "busy, a request's room back", 30 * time.Second, true, 1},
		{ratelimit.GCRA, "after an idle gap (the TAT passed)", 2 * time.Minute, true, 2},
		{ratelimit.GCRA, "busy", 0, true, 1},

		{ratelimit.FixedWindow, "a new window", 0, true, 1},
		{ratelimit.FixedWindow, "busy", 0, true, 1},
		{ratelimit.FixedWindow, "denied", 0, false, 1},
		{ratelimit.FixedWindow, "the next window", time.Minute, true, 1},

		{ratelimit.SlidingWindow, "a new key", 0, true, 2},
		{ratelimit.SlidingWindow, "busy", 0, true, 2},
		{ratelimit.SlidingWindow, "denied (the count taken back)", 0, false, 3},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "requests per Allow on DynamoDB, %v:\n", lim)
	for _, st := range steps {
		clock.Advance(st.advance)
		res, err := limiters[st.algorithm].Allow(ctx, "client-42", lim)
		if err != nil {
			t.Fatalf("%v, %s: %v", st.algorithm, st.state, err)
		}
		ops, n := api.take()
		fmt.Fprintf(&report, "  %-14v %-36s allowed=%-5v %d request(s): %s\n", st.algorithm, st.state, res.Allowed, n, ops)
		if res.Allowed != st.allowed || n != st.requests {
			t.Errorf("%v, %s: allowed %v in %d requests (%s); want allowed %v in %d", st.algorithm, st.state, res.Allowed, n, ops, st.allowed, st.requests)
		}
	}
	t.Log(report.String())
}
