package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/resilient"
)

// lostAnswer lets DynamoDB Local apply the `at`-th BatchWriteItem (counting from 1) and then
// loses its answer, as a connection that breaks after the request went out: with `wait`, the
// answer is lost to the call's context ending, else to errLost. It works in the SDK's own
// middleware stack, on the real requests.
type lostAnswer struct {
	at   int32
	wait bool
	n    atomic.Int32
}

var errLost = errors.New("injected: the connection broke after the request was sent")

func (l *lostAnswer) install(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("lostAnswer",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if _, ok := in.Parameters.(*dynamodb.BatchWriteItemInput); !ok || l.n.Add(1) != l.at {
					return next.HandleInitialize(ctx, in)
				}
				out, md, err := next.HandleInitialize(ctx, in)
				if err != nil {
					return out, md, err
				}
				if !l.wait {
					return out, md, errLost
				}
				<-ctx.Done()
				return out, md, ctx.Err()
			}), middleware.After)
	})
}

func keysOf(entries []backend.Entry) []string {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	return keys
}

func entriesN(prefix string, n int) []backend.Entry {
	entries := make([]backend.Entry, n)
	for i := range entries {
		entries[i] = backend.Entry{Key: fmt.Sprintf("%s%03d", prefix, i), Value: []byte(`1`), TTL: time.Hour}
	}
	return entries
}

// TestBatchErrorSaysWhichKeysWereWritten: of four chunks sent one at a time, two are
// confirmed, the third is applied but its answer lost, and the fourth is never sent. The
// error says so key by key, and the table agrees.
func TestBatchErrorSaysWhichKeysWereWritten(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{Concurrency: 1})
	for _, op := range []string{"SetMany", "Delete"} {
		t.Run(op, func(t *testing.T) {
			entries := entriesN("CACHE#"+op+":", 100)
			keys := keysOf(entries)
			plain, _ := dynamostore.New(client, opts)
			if op == "Delete" {
				if err := plain.SetMany(ctx, entries); err != nil {
					t.Fatal(err)
				}
			}
			lost := &lostAnswer{at: 3}
			s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(lost.install)), opts)
			var err error
			if op == "SetMany" {
				err = s.SetMany(ctx, entries)
			} else {
				err = s.Delete(ctx, keys...)
			}
			var be *backend.BatchError
			if !errors.As(err, &be) || !errors.Is(err, errLost) {
				t.Fatalf("%s with the third chunk's answer lost: %v, want a *BatchError wrapping the cause", op, err)
			}
			if !slices.Equal(be.Written, keys[:50]) || !slices.Equal(be.Unknown, keys[50:75]) || !slices.Equal(be.NotWritten, keys[75:]) {
				t.Fatalf("%s: written %d, unknown %d, not written %d; want the first 50, the next 25, the last 25",
					op, len(be.Written), len(be.Unknown), len(be.NotWritten))
			}
			found, err := plain.GetMany(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range keys {
				_, ok := found[k]
				// The unknown chunk was in fact applied: the request went out.
				if want := (op == "SetMany") == (i < 75); ok != want {
					t.Errorf("%s: key %d present = %v, want %v", op, i, ok, want)
				}
			}
		})
	}
}

// TestBatchDeadlineSaysWhatIsUnknown: the caller's deadline passes while the first chunk's
// answer is awaited. The error wraps context.DeadlineExceeded, and says that chunk is
// unknown and the others not written.
func TestBatchDeadlineSaysWhatIsUnknown(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{Concurrency: 1})
	lost := &lostAnswer{at: 1, wait: true}
	s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(lost.install)), opts)
	entries := entriesN("CACHE#d:", 60)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.SetMany(ctx, entries)
	var be *backend.BatchError
	if !errors.As(err, &be) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SetMany past its deadline: %v, want a *BatchError wrapping context.DeadlineExceeded", err)
	}
	keys := keysOf(entries)
	if len(be.Written) != 0 || !slices.Equal(be.Unknown, keys[:25]) || !slices.Equal(be.NotWritten, keys[25:]) {
		t.Errorf("written %d, unknown %d, not written %d; want 0, the first 25, the other 35", len(be.Written), len(be.Unknown), len(be.NotWritten))
	}
}

// TestDeadlineErrorsWrapTheDeadline: whatever request a call was in when its deadline passed,
// its error wraps context.DeadlineExceeded. Every request waits for the deadline here.
func TestDeadlineErrorsWrapTheDeadline(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	hold := func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("hold",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					<-ctx.Done()
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	}
	s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(hold)), opts)
	calls := map[string]func(context.Context) error{
		"Get":     func(ctx context.Context) error { _, err := s.Get(ctx, "CACHE#a"); return err },
		"GetMany": func(ctx context.Context) error { _, err := s.GetMany(ctx, []string{"CACHE#a", "CACHE#b"}); return err },
		"Set":     func(ctx context.Context) error { return s.Set(ctx, "CACHE#a", []byte(`1`), time.Minute) },
		"SetMany": func(ctx context.Context) error { return s.SetMany(ctx, entriesN("CACHE#m", 30)) },
		"Delete":  func(ctx context.Context) error { return s.Delete(ctx, "CACHE#a", "CACHE#b") },
		"Count":   func(ctx context.Context) error { _, err := s.Count(ctx, "CACHE#"); return err },
		"Expire":  func(ctx context.Context) error { return s.Expire(ctx, "CACHE#a", time.Minute) },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s past its deadline: %v, want it to wrap context.DeadlineExceeded", name, err)
		}
	}
}

// refusingHTTP answers every request of one operation with DynamoDB's ValidationException
// and the given message, as DynamoDB does for an item it refuses; the SDK deserializes it as
// in production. Other requests go to DynamoDB Local.
type refusingHTTP struct {
	next    *http.Client
	op      string // X-Amz-Target's operation, such as PutItem
	message string
}

func (r *refusingHTTP) Do(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.Header.Get("X-Amz-Target"), "."+r.op) {
		return r.next.Do(req)
	}
	body := fmt.Sprintf(`{"__type":"com.amazon.coral.validate#ValidationException","message":%q}`, r.message)
	return &http.Response{
		StatusCode: 400,
		Status:     http.StatusText(400),
		Header:     http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"injected"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}, nil
}

func (r *refusingHTTP) install(o *dynamodb.Options) {
	r.next = testenv.HTTPClient()
	o.HTTPClient = r
}

// TestServerValidationErrorsAreTyped: the items and keys DynamoDB refuses beyond the Store's
// own checks come back as the contract's sentinels, with the server's message, and a
// resilient.Breaker does not count them as the backend's failures.
func TestServerValidationErrorsAreTyped(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	for _, tc := range []struct {
		op, message string
		want        error
	}{
		{"PutItem", "Item size has exceeded the maximum allowed size", backend.ErrValueTooLarge},
		{"BatchWriteItem", "Item size has exceeded the maximum allowed size", backend.ErrValueTooLarge},
		{"PutItem", "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes", backend.ErrInvalidKey},
	} {
		t.Run(tc.op+"/"+tc.message, func(t *testing.T) {
			ctx := context.Background()
			refuse := &refusingHTTP{op: tc.op, message: tc.message}
			s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(refuse.install)), opts)
			b, err := resilient.New(s, resilient.Options{FailureThreshold: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for i := range 10 {
				if tc.op == "PutItem" {
					err = b.Set(ctx, "CACHE#big", []byte(`1`), time.Minute)
				} else {
					err = b.SetMany(ctx, entriesN("CACHE#big", 3))
				}
				if i == 0 && (!errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message)) {
					t.Errorf("a write the server refuses: %v, want %v with the server's message", err, tc.want)
				}
			}
			var be *backend.BatchError
			if errors.As(err, &be) && (len(be.Unknown) != 0 || len(be.Written) != 0) {
				t.Errorf("a refused batch: written %d, unknown %d; want none of either", len(be.Written), len(be.Unknown))
			}
			if st := b.Stats(); st.State != "closed" {
				t.Errorf("after 10 writes the server refused, the breaker is %s; want closed", st.State)
			}
			if _, err := b.Get(ctx, "CACHE#other"); !errors.Is(err, backend.ErrNotFound) || errors.Is(err, backend.ErrSkipped) {
				t.Errorf("a read after refused writes: %v, want a real miss from the backend", err)
			}
		})
	}
}

// TestBreakerBoundsEachRequestOfABatch: behind a resilient.Breaker, with no deadline of the
// caller's, a batch whose second request hangs ends after the Breaker's OpTimeout, with the
// first chunk written. A Store the Breaker cannot tell to bound its requests (here the same
// Store, hidden behind the bare contract) is bounded whole by OpTimeout instead.
func TestBreakerBoundsEachRequestOfABatch(t *testing.T) {
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{Concurrency: 1})
	entries := entriesN("CACHE#hang:", 60)
	for name, hide := range map[string]bool{"RequestBounder": false, "bare Store": true} {
		t.Run(name, func(t *testing.T) {
			hang := &lostAnswer{at: 2, wait: true}
			s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(hang.install)), opts)
			var next backend.Store = s
			if hide {
				next = struct{ backend.Store }{s}
			}
			b, err := resilient.New(next, resilient.Options{OpTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			start := time.Now()
			err = b.SetMany(context.Background(), entries)
			t.Logf("SetMany with a hung request ended after %v", time.Since(start))
			var be *backend.BatchError
			if !errors.As(err, &be) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("SetMany with a hung request: %v, want a *BatchError wrapping context.DeadlineExceeded", err)
			}
			if keys := keysOf(entries); !slices.Equal(be.Written, keys[:25]) || !slices.Equal(be.Unknown, keys[25:50]) {
				t.Errorf("written %d, unknown %d; want the first chunk written, the second unknown", len(be.Written), len(be.Unknown))
			}
		})
	}
}
