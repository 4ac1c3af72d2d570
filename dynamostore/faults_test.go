package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
)

// partial makes DynamoDB Local answer batches in part, as DynamoDB does under load: for its
// first `times` batch requests it leaves all but `keep` keys or items unprocessed. It works in
// the SDK's own middleware stack, on the real requests and responses.
type partial struct {
	keep  int
	times atomic.Int32
}

func (p *partial) install(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("partialBatches", p.handle), middleware.After)
	})
}

func (p *partial) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	switch req := in.Parameters.(type) {
	case *dynamodb.BatchWriteItemInput:
		if p.times.Add(-1) < 0 {
			break
		}
		var withheld map[string][]types.WriteRequest
		sent := *req
		sent.RequestItems = map[string][]types.WriteRequest{}
		for table, reqs := range req.RequestItems {
			k := min(p.keep, len(reqs))
			sent.RequestItems[table] = reqs[:k]
			if k < len(reqs) {
				withheld = map[string][]types.WriteRequest{table: reqs[k:]}
			}
		}
		if p.keep == 0 {
			// Nothing to send: DynamoDB refuses an empty batch, so answer for it.
			return middleware.InitializeOutput{Result: &dynamodb.BatchWriteItemOutput{UnprocessedItems: withheld}}, middleware.Metadata{}, nil
		}
		in.Parameters = &sent
		out, md, err := next.HandleInitialize(ctx, in)
		if err == nil && withheld != nil {
			out.Result.(*dynamodb.BatchWriteItemOutput).UnprocessedItems = withheld
		}
		return out, md, err
	case *dynamodb.BatchGetItemInput:
		out, md, err := next.HandleInitialize(ctx, in)
		if err != nil || p.times.Add(-1) < 0 {
			return out, md, err
		}
		res := out.Result.(*dynamodb.BatchGetItemOutput)
		for table, items := range res.Responses {
			k := min(p.keep, len(items))
			ka := req.RequestItems[table]
			ka.Keys = nil
			for _, it := range items[k:] {
				ka.Keys = append(ka.Keys, map[string]types.AttributeValue{"PK": it["PK"]})
			}
			res.Responses[table] = items[:k]
			if len(ka.Keys) > 0 {
				res.UnprocessedKeys = map[string]types.KeysAndAttributes{table: ka}
			}
		}
		return out, md, err
	}
	return next.HandleInitialize(ctx, in)
}

func TestUnprocessedBatchesAreRetried(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	opts.RetryBase, opts.RetryMax = time.Millisecond, 5*time.Millisecond
	flaky := &partial{keep: 7}
	var sent requests
	s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(flaky.install, sent.count)), opts)

	var entries []backend.Entry
	var keys []string
	for i := range 250 {
		k := fmt.Sprintf("CACHE#k%03d", i)
		keys = append(keys, k)
		if i < 60 {
			entries = append(entries, backend.Entry{Key: k, Value: []byte(fmt.Sprint(i)), TTL: time.Hour})
		}
	}
	flaky.times.Store(6)
	if err := s.SetMany(ctx, entries); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	if n := sent.of("BatchWriteItem"); n <= 3 {
		t.Errorf("SetMany sent %d BatchWriteItem requests; the injected partial answers should have made it retry", n)
	}
	if n, err := s.Count(ctx, "CACHE#"); err != nil || n != 60 {
		t.Fatalf("Count after SetMany of 60 with unprocessed items = %d, %v; want 60", n, err)
	}
	// Fill the rest without faults, then read all 250 with partial answers.
	var rest []backend.Entry
	for _, k := range keys[60:] {
		rest = append(rest, backend.Entry{Key: k, Value: []byte(`"r"`), TTL: time.Hour})
	}
	if err := s.SetMany(ctx, rest); err != nil {
		t.Fatal(err)
	}
	sent.reset()
	flaky.times.Store(5)
	got, err := s.GetMany(ctx, keys)
	if err != nil || len(got) != 250 {
		t.Fatalf("GetMany of 250 keys with unprocessed keys = %d entries, %v; want 250", len(got), err)
	}
	if string(got["CACHE#k007"]) != "7" || string(got["CACHE#k249"]) != `"r"` {
		t.Errorf("GetMany returned wrong values: k007=%q k249=%q", got["CACHE#k007"], got["CACHE#k249"])
	}
	if n := sent.of("BatchGetItem"); n <= 3 {
		t.Errorf("GetMany sent %d BatchGetItem requests; the injected partial answers should have made it retry", n)
	}
	// Deletes go the same way.
	flaky.times.Store(4)
	if err := s.Delete(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, "CACHE#"); n != 0 {
		t.Errorf("Count after deleting all with unprocessed items = %d, want 0", n)
	}
}

func TestUnprocessedRetriesStopWithTheContext(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	// A backoff far longer than the deadline, so that the deadline comes while the store waits
	// to retry, not during a request, however slow the machine: the error then names what is
	// left.
	opts.RetryBase, opts.RetryMax = 1000*time.Hour, 1000*time.Hour
	flaky := &partial{keep: 0}
	flaky.times.Store(1 << 30) // never answers in full
	s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(flaky.install)), opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.SetMany(ctx, []backend.Entry{{Key: "CACHE#a", Value: []byte("1"), TTL: time.Minute}, {Key: "CACHE#b", Value: []byte("1"), TTL: time.Minute}})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unprocessed") {
		t.Errorf("SetMany that DynamoDB never finishes: %v, want the deadline, naming the unprocessed items", err)
	}
}

// faultyHTTP answers the first `times` requests of every operation with an HTTP error as
// DynamoDB sends it, so that the SDK deserializes it and its retryer decides as in production.
// It is the client's own HTTPClient hook; other requests go to DynamoDB Local.
type faultyHTTP struct {
	next   *http.Client
	status int
	code   string // the error's __type, such as ProvisionedThroughputExceededException
	times  int

	mu   sync.Mutex
	seen map[string]int
}

func (f *faultyHTTP) Do(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	f.mu.Lock()
	if f.seen == nil {
		f.seen = map[string]int{}
	}
	f.seen[op]++
	fail := f.seen[op] <= f.times
	f.mu.Unlock()
	if !fail {
		return f.next.Do(req)
	}
	body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected"}`, f.code)
	return &http.Response{
		StatusCode: f.status,
		Status:     http.StatusText(f.status),
		Header:     http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"injected"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}, nil
}

// install puts the faults in the client, with quick retries and no retry quota so that the
// test does not wait on backoff.
func (f *faultyHTTP) install(o *dynamodb.Options) {
	f.next = testenv.HTTPClient()
	o.HTTPClient = f
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 4
		so.RateLimiter = ratelimit.None
		so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

func TestThrottlingIsRetried(t *testing.T) {
	for name, fault := range map[string]*faultyHTTP{
		"ProvisionedThroughputExceeded": {status: 400, code: "ProvisionedThroughputExceededException"},
		"ThrottlingException":           {status: 400, code: "ThrottlingException"},
		"InternalServerError":           {status: 500, code: "InternalServerError"},
		"ServiceUnavailable":            {status: 503, code: "ServiceUnavailable"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			client := testenv.DynamoDB(t)
			opts := newTable(t, client, dynamostore.Options{})
			fault.times = 2
			s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(fault.install)), opts)
			if err := s.Set(ctx, "CACHE#a", []byte(`1`), time.Minute); err != nil {
				t.Fatalf("Set through 2 injected faults: %v", err)
			}
			if err := s.SetMany(ctx, []backend.Entry{{Key: "CACHE#b", Value: []byte(`2`), TTL: time.Minute}, {Key: "CACHE#c", Value: []byte(`3`), TTL: time.Minute}}); err != nil {
				t.Fatalf("SetMany through 2 injected faults: %v", err)
			}
			if v, err := s.Get(ctx, "CACHE#a"); err != nil || string(v) != "1" {
				t.Errorf("Get through 2 injected faults = %q, %v", v, err)
			}
			if m, err := s.GetMany(ctx, []string{"CACHE#a", "CACHE#b", "CACHE#c"}); err != nil || len(m) != 3 {
				t.Errorf("GetMany through 2 injected faults = %v, %v", m, err)
			}
			if err := s.Expire(ctx, "CACHE#a", time.Hour); err != nil {
				t.Errorf("Expire through 2 injected faults: %v", err)
			}
		})
	}
}

func TestPersistentThrottlingIsReported(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	fault := &faultyHTTP{status: 400, code: "ProvisionedThroughputExceededException", times: 1 << 30}
	s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(fault.install)), opts)
	_, err := s.Get(context.Background(), "CACHE#a")
	var throttled *types.ProvisionedThroughputExceededException
	if !errors.As(err, &throttled) || !strings.HasPrefix(err.Error(), "dynamostore: GetItem: ") {
		t.Errorf("Get under persistent throttling: %v, want the throttling error, named", err)
	}
	if errors.Is(err, backend.ErrNotFound) {
		t.Error("throttling was reported as a miss")
	}
}

// TestRequestsPerOperation counts what each operation sends: batches in DynamoDB's sizes with
// duplicates folded, no request for an empty batch, and one GetItem for each of Get, Has and
// TTL.
func TestRequestsPerOperation(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	var sent requests
	s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(sent.count)), opts)
	keys := func(n int) []string {
		var ks []string
		for i := range n {
			ks = append(ks, fmt.Sprintf("CACHE#k%d", i))
		}
		return ks
	}
	entries := func(n int) []backend.Entry {
		var es []backend.Entry
		for _, k := range keys(n) {
			es = append(es, backend.Entry{Key: k, Value: []byte(`"v"`), TTL: time.Hour})
		}
		return es
	}
	for _, tc := range []struct {
		name string
		call func() error
		op   string
		want int
	}{
		{"SetMany(60)", func() error { return s.SetMany(ctx, entries(60)) }, "BatchWriteItem", 3},
		{"SetMany(250)", func() error { return s.SetMany(ctx, entries(250)) }, "BatchWriteItem", 10},
		{"SetMany(30 with 10 twice)", func() error { return s.SetMany(ctx, append(entries(20), entries(10)...)) }, "BatchWriteItem", 1},
		{"GetMany(250)", func() error { _, err := s.GetMany(ctx, keys(250)); return err }, "BatchGetItem", 3},
		{"GetMany(100 and 100 again)", func() error { _, err := s.GetMany(ctx, append(keys(100), keys(100)...)); return err }, "BatchGetItem", 1},
		{"GetMany(none)", func() error { _, err := s.GetMany(ctx, nil); return err }, "BatchGetItem", 0},
		{"SetMany(none)", func() error { return s.SetMany(ctx, nil) }, "BatchWriteItem", 0},
		{"Delete(60)", func() error { return s.Delete(ctx, keys(60)...) }, "BatchWriteItem", 3},
		{"Delete(none)", func() error { return s.Delete(ctx) }, "BatchWriteItem", 0},
		{"Get", func() error { _, err := s.Get(ctx, "CACHE#k1"); return err }, "GetItem", 1},
		{"Has", func() error { _, err := s.Has(ctx, "CACHE#k1"); return err }, "GetItem", 1},
		{"TTL", func() error { _, err := s.TTL(ctx, "CACHE#k1"); return err }, "GetItem", 1},
		{"Set", func() error { return s.Set(ctx, "CACHE#k1", []byte("1"), time.Hour) }, "PutItem", 1},
		{"Expire", func() error { return s.Expire(ctx, "CACHE#k1", time.Hour) }, "UpdateItem", 1},
	} {
		sent.reset()
		if err := tc.call(); err != nil && !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if n := sent.of(tc.op); n != tc.want || sent.total() != tc.want {
			t.Errorf("%s sent %d %s requests (%d in all), want %d", tc.name, n, tc.op, sent.total(), tc.want)
		}
	}
}
