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
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestThrottleItem reads a TAT with the plain SDK (a number in the value attribute, in Unix
// microseconds) and counts the requests of each step: two on an idle key, one when busy, one
// when denied, two again once the TAT has passed, the item still in the table.
func TestThrottleItem(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	var sent requests
	s, clock, opts := clocked(t, client, dynamodb.New(testenv.DynamoDBOptions(sent.count)), dynamostore.Options{})
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

// hooked is a DynamoDB client that lets a test act between a store's requests, as other
// instances of a fleet do.
type hooked struct {
	*dynamodb.Client
	afterFailedUpdate, beforePut func()
	sent                         int
}

func (h *hooked) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	h.sent++
	out, err := h.Client.UpdateItem(ctx, in, optFns...)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) && h.afterFailedUpdate != nil {
		h.afterFailedUpdate()
	}
	return out, err
}

func (h *hooked) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	h.sent++
	if h.beforePut != nil {
		h.beforePut()
	}
	return h.Client.PutItem(ctx, in, optFns...)
}

// TestThrottleJudgedAtItsTime keeps a key at its limit while one step is under way, as a busy
// fleet does: time passes while each answer travels, and other instances fill the room it
// frees before the step's next request. The step is denied by its first answer, judged at the
// time of its request. Judged at the time the answer came, the key seemed to have room, the
// update was tried again and lost again, and the step ran out of requests with an error.
func TestThrottleJudgedAtItsTime(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	clock := fixedClock()
	opts.Clock = clock
	const cost, tolerance = time.Second, 10 * time.Second
	others, err := dynamostore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer others.Close()
	api := &hooked{Client: client}
	s, err := dynamostore.New(api, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const key = "CACHE#busy"
	for range 10 { // the burst: the key at its limit
		if r, err := others.Throttle(ctx, key, cost, tolerance); err != nil || !r.Allowed {
			t.Fatalf("burst: %+v, %v", r, err)
		}
	}
	api.afterFailedUpdate = func() {
		clock.Advance(2 * cost) // the answer's journey frees two emissions
		for range 2 {           // which the fleet takes
			if r, err := others.Throttle(ctx, key, cost, tolerance); err != nil || !r.Allowed {
				t.Errorf("the fleet: %+v, %v", r, err)
			}
		}
	}
	start := clock.Now()
	r, err := s.Throttle(ctx, key, cost, tolerance)
	if err != nil || r.Allowed || !r.Now.Equal(start) {
		t.Errorf("Throttle = %+v, %v; want denied at the time it started, %v", r, err, start)
	}
	if api.sent != 1 {
		t.Errorf("Throttle sent %d requests, want 1: its first answer denies it", api.sent)
	}
}

// TestThrottleRestartsAnIdleKey restarts an idle key while another instance restarts it too,
// at a time far enough before this one's that its TAT has passed by this one's time, as on a
// table slower than the rate: the write goes over it, in the step's second request, since
// GCRA admits both. Conditional on the item found, it lost each time the other instance wrote
// again, and the step ran out of requests with an error.
func TestThrottleRestartsAnIdleKey(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	earlier, later := opts, opts
	earlier.Clock = fixedClock()
	later.Clock = fixedClock()
	later.Clock.(*cachetest.Clock).Advance(time.Minute)
	const cost, tolerance = time.Second, 10 * time.Second
	other, err := dynamostore.New(client, earlier)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	api := &hooked{Client: client}
	s, err := dynamostore.New(api, later)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const key = "CACHE#idle"
	api.beforePut = func() { // the other instance, whose time is a minute before, throttles first
		if r, err := other.Throttle(ctx, key, cost, tolerance); err != nil || !r.Allowed {
			t.Errorf("the other instance: %+v, %v", r, err)
		}
	}
	r, err := s.Throttle(ctx, key, cost, tolerance)
	if want := later.Clock.Now().Add(cost); err != nil || !r.Allowed || !r.TAT.Equal(want) {
		t.Errorf("Throttle = %+v, %v; want allowed, TAT %v", r, err, want)
	}
	if api.sent > 3 {
		t.Errorf("Throttle sent %d requests, want at most 3: an update, a put that finds the key created, and a put over it", api.sent)
	}
}

// TestThrottleLeavesOtherItemsAlone throttles keys whose items are not TATs: another service's
// item (no value attribute) is ErrNotEntry, an entry that is not a number ErrNotCounter, and
// both are left as they were.
func TestThrottleLeavesOtherItemsAlone(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	s, clock, opts := clocked(t, client, client, dynamostore.Options{})
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
