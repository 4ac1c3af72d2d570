package dynamostore_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestThrottleItem reads a TAT with the plain SDK (a number in the value attribute, in Unix
// microseconds) and counts the requests of each step: two on an idle key, one when busy, one
// when denied, two again once the TAT has passed, the item still in the table.
func TestThrottleItem(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	clock := fixedClock() // 12:00:00.25
	opts.Clock = clock
	var sent requests
	s, err := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(sent.count)), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const key = "CACHE#throttle"
	now := clock.Now()
	step := func(what string, wantAllowed bool, wantTAT time.Time, wantRequests int) {
		t.Helper()
		sent.reset()
		r, err := s.Throttle(ctx, key, 1500*time.Millisecond, 3*time.Second)
		if err != nil || r.Allowed != wantAllowed || !r.TAT.Equal(wantTAT) || !r.Now.Equal(clock.Now()) {
			t.Fatalf("Throttle %s = %+v, %v; want allowed %v, TAT %v, now %v", what, r, err, wantAllowed, wantTAT, clock.Now())
		}
		if n := sent.total(); n != wantRequests {
			t.Errorf("Throttle %s sent %d requests (%d UpdateItem, %d PutItem), want %d", what, n, sent.of("UpdateItem"), sent.of("PutItem"), wantRequests)
		}
	}
	step("on an idle key", true, now.Add(1500*time.Millisecond), 2)
	want := map[string]types.AttributeValue{
		"PK":        &types.AttributeValueMemberS{Value: key},
		"value":     num(itoa(now.Add(1500 * time.Millisecond).UnixMicro())),
		"ttl":       num(itoa(now.Unix() + 2)), // the TAT, 12:00:01.75, rounded up
		"createdAt": num(itoa(now.Unix())),
	}
	if got := rawGet(t, client, opts.Table, pk(key)); !reflect.DeepEqual(got, want) {
		t.Errorf("TAT item = %s\nwant %s", show(got), show(want))
	}
	step("on a busy key", true, now.Add(3*time.Second), 1)
	want["value"] = num(itoa(now.Add(3 * time.Second).UnixMicro()))
	want["ttl"] = num(itoa(now.Unix() + 4)) // now plus the tolerance, 12:00:03.25, rounded up
	if got := rawGet(t, client, opts.Table, pk(key)); !reflect.DeepEqual(got, want) {
		t.Errorf("TAT item after an update = %s\nwant %s", show(got), show(want))
	}
	step("over the tolerance", false, now.Add(3*time.Second), 1)
	if got := rawGet(t, client, opts.Table, pk(key)); !reflect.DeepEqual(got, want) {
		t.Errorf("TAT item after a denied step = %s\nwant it unchanged, %s", show(got), show(want))
	}
	if v, err := s.Get(ctx, key); err != nil || string(v) != itoa(now.Add(3*time.Second).UnixMicro()) {
		t.Errorf("Get = %q, %v; want the TAT's digits", v, err)
	}

	clock.Advance(time.Minute)
	if rawGet(t, client, opts.Table, pk(key)) == nil {
		t.Fatal("the expired item is gone from the table already; the test shows nothing")
	}
	step("once the TAT has passed", true, clock.Now().Add(1500*time.Millisecond), 2)
}

// TestThrottleRacesOnAnIdleKey throttles an idle key from many goroutines at once, through
// stores of their own, as instances of a fleet: one creates the TAT, the others lose that race
// and update it, and exactly the burst is allowed.
func TestThrottleRacesOnAnIdleKey(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	opts.Clock = fixedClock()
	const instances, burst = 16, 10
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range instances {
		s, err := dynamostore.New(client, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wg.Go(func() {
			r, err := s.Throttle(context.Background(), "CACHE#raced", time.Second, burst*time.Second)
			if err != nil {
				t.Errorf("Throttle: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if r.Allowed {
				allowed++
			}
		})
	}
	wg.Wait()
	if allowed != burst {
		t.Errorf("%d instances raced on an idle key and %d were allowed, want the burst, %d", instances, allowed, burst)
	}
}

// TestThrottleBusyFleet keeps a key at its limit from 32 goroutines, each a store of its own,
// for a second: every step is answered, allowed or denied. A denial was once judged at the
// time its answer came back rather than the time of its request: on a key the fleet keeps at
// its limit the TAT then seemed to leave room, the update was tried again and lost again, and
// a few steps in a hundred ran out of requests with an error.
func TestThrottleBusyFleet(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	stop := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	for range 32 {
		s, err := dynamostore.New(client, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := s.Throttle(context.Background(), "CACHE#busy", 10*time.Millisecond, time.Second); err != nil {
					t.Errorf("Throttle: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestThrottleLeavesOtherItemsAlone throttles keys whose items are not TATs: another service's
// item (no value attribute) is ErrNotEntry, an entry that is not a number ErrNotCounter, and
// both are left as they were.
func TestThrottleLeavesOtherItemsAlone(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	clock := fixedClock()
	opts.Clock = clock
	s, err := dynamostore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	future := itoa(clock.Now().Add(time.Hour).Unix())
	items := map[string]map[string]types.AttributeValue{
		"CACHE#other-service": {"PK": &types.AttributeValueMemberS{Value: "CACHE#other-service"}, "status": &types.AttributeValueMemberS{Value: "locked"}},
		"CACHE#text": {"PK": &types.AttributeValueMemberS{Value: "CACHE#text"}, "value": &types.AttributeValueMemberS{Value: `"v"`},
			"ttl": num(future)},
		"CACHE#fraction": {"PK": &types.AttributeValueMemberS{Value: "CACHE#fraction"}, "value": num("1.5"), "ttl": num(future)},
	}
	for _, it := range items {
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(opts.Table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	for k, want := range map[string]error{"CACHE#other-service": dynamostore.ErrNotEntry, "CACHE#text": backend.ErrNotCounter, "CACHE#fraction": backend.ErrNotCounter} {
		if r, err := s.Throttle(ctx, k, time.Second, time.Minute); r.Allowed || !errors.Is(err, want) {
			t.Errorf("Throttle %s = %+v, %v; want %v", k, r, err, want)
		}
		if got := rawGet(t, client, opts.Table, pk(k)); !reflect.DeepEqual(got, items[k]) {
			t.Errorf("the item %s is now %s", show(items[k]), show(got))
		}
	}

	// A value Set wrote is never a TAT, even one of digits.
	digits := itoa(clock.Now().Add(30 * time.Second).UnixMicro())
	if err := s.Set(ctx, "CACHE#digits", []byte(digits), time.Minute); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Throttle(ctx, "CACHE#digits", time.Second, time.Hour); r.Allowed || !errors.Is(err, backend.ErrNotCounter) {
		t.Errorf("Throttle of digits Set wrote = %+v, %v; want ErrNotCounter", r, err)
	}
	if v, err := s.Get(ctx, "CACHE#digits"); err != nil || string(v) != digits {
		t.Errorf("Get of the digits Set wrote = %q, %v; want them unchanged", v, err)
	}
}
