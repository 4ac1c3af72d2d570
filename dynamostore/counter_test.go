package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestCounterItem reads a counter with the plain SDK (the count a number in the value
// attribute, with ttl and createdAt from its creation, which increments leave), and counts
// the requests: one UpdateItem per Incr, and a PutItem besides only to start again a counter
// that has expired but is still in the table, as DynamoDB's TTL deletion leaves it for up to
// two days. An unexpired entry that is not a counter is reported, with one request, and left
// as it was. In a table with a sort key too.
func TestCounterItem(t *testing.T) {
	for name, opts := range map[string]dynamostore.Options{
		"partition key only":  {},
		"single-table design": {SortKey: "SK", SortKeyValue: "CACHE"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			client := testenv.DynamoDB(t)
			var sent requests
			s, clock, opts := clocked(t, client, dynamodb.New(testenv.DynamoDBOptions(sent.count)), opts)
			keyOf := func(k string) map[string]types.AttributeValue {
				key := pk(k)
				if opts.SortKey != "" {
					key[opts.SortKey] = &types.AttributeValueMemberS{Value: opts.SortKeyValue}
				}
				return key
			}
			counter := func(k, count string, ttl, created int64) map[string]types.AttributeValue {
				it := keyOf(k)
				it["value"], it["ttl"], it["createdAt"] = num(count), num(itoa(ttl)), num(itoa(created))
				return it
			}
			incr := func(k string, delta int64, ttl time.Duration, want int64, requests int) {
				t.Helper()
				sent.reset()
				if n, err := s.Incr(ctx, k, delta, ttl); n != want || err != nil {
					t.Fatalf("Incr %s by %d = %d, %v; want %d, nil", k, delta, n, err, want)
				}
				if n := sent.total(); n != requests {
					t.Errorf("Incr %s sent %d requests, want %d", k, n, requests)
				}
			}
			now := clock.Now()
			incr("CACHE#count", 5, 1500*time.Millisecond, 5, 1)
			want := counter("CACHE#count", "5", now.Unix()+2, now.Unix()) // 1.75s rounded up
			if got := rawGet(t, client, opts.Table, keyOf("CACHE#count")); !reflect.DeepEqual(got, want) {
				t.Errorf("counter item = %s\nwant %s", show(got), show(want))
			}
			clock.Advance(time.Second)
			incr("CACHE#count", -7, time.Hour, -2, 1)
			want = counter("CACHE#count", "-2", now.Unix()+2, now.Unix()) // the TTL of its creation
			if got := rawGet(t, client, opts.Table, keyOf("CACHE#count")); !reflect.DeepEqual(got, want) {
				t.Errorf("counter item after an increment = %s\nwant %s", show(got), show(want))
			}
			if v, err := s.Get(ctx, "CACHE#count"); err != nil || string(v) != "-2" {
				t.Errorf("Get of the counter = %q, %v; want %q", v, err, "-2")
			}

			clock.Advance(time.Second) // 12:00:02.25, past the ttl of 12:00:02
			if rawGet(t, client, opts.Table, keyOf("CACHE#count")) == nil {
				t.Fatal("the expired counter is gone from the table already; the test shows nothing")
			}
			incr("CACHE#count", 1, time.Minute, 1, 2)
			if n := sent.of("PutItem"); n != 1 {
				t.Errorf("starting the expired counter again sent %d PutItem, want 1", n)
			}
			now = clock.Now()
			want = counter("CACHE#count", "1", now.Unix()+61, now.Unix())
			if got := rawGet(t, client, opts.Table, keyOf("CACHE#count")); !reflect.DeepEqual(got, want) {
				t.Errorf("counter item started again = %s\nwant %s", show(got), show(want))
			}

			if err := s.Set(ctx, "CACHE#entry", []byte(`"text"`), time.Minute); err != nil {
				t.Fatal(err)
			}
			before := rawGet(t, client, opts.Table, keyOf("CACHE#entry"))
			sent.reset()
			if n, err := s.Incr(ctx, "CACHE#entry", 1, time.Minute); !errors.Is(err, backend.ErrNotCounter) {
				t.Errorf("Incr of an entry that is not a counter = %d, %v; want ErrNotCounter", n, err)
			}
			if n := sent.total(); n != 1 {
				t.Errorf("Incr of an entry that is not a counter sent %d requests, want 1", n)
			}
			if got := rawGet(t, client, opts.Table, keyOf("CACHE#entry")); !reflect.DeepEqual(got, before) {
				t.Errorf("after Incr, the entry is %s\nwant it as it was, %s", show(got), show(before))
			}
		})
	}
}

// TestCounterStartsAgainOnceUnderARace increments, from many goroutines at once, a counter
// that has expired but is still in the table: one of them starts it again, the others add to
// the new counter, and no increment is lost or counted twice.
func TestCounterStartsAgainOnceUnderARace(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	s, clock, _ := clocked(t, client, client, dynamostore.Options{})
	if _, err := s.Incr(ctx, "CACHE#count", 1000, time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	const workers, rounds = 8, 5
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				n, err := s.Incr(ctx, "CACHE#count", 1, time.Minute)
				if err != nil {
					t.Errorf("Incr: %v", err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("the increments returned %v, want each of 1 to %d once", got, workers*rounds)
		}
	}
	if v, err := s.Get(ctx, "CACHE#count"); err != nil || string(v) != fmt.Sprint(workers*rounds) {
		t.Errorf("Get = %q, %v; want %d", v, err, workers*rounds)
	}
}
