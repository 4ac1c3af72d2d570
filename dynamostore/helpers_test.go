package dynamostore_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/dynamostore"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// show renders an item for messages.
func show(it map[string]types.AttributeValue) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(it)) {
		switch v := it[k].(type) {
		case *types.AttributeValueMemberS:
			parts = append(parts, fmt.Sprintf("%s:S=%q", k, v.Value))
		case *types.AttributeValueMemberN:
			parts = append(parts, fmt.Sprintf("%s:N=%s", k, v.Value))
		case *types.AttributeValueMemberB:
			parts = append(parts, fmt.Sprintf("%s:B=%x", k, v.Value))
		case *types.AttributeValueMemberBOOL:
			parts = append(parts, fmt.Sprintf("%s:BOOL=%v", k, v.Value))
		case *types.AttributeValueMemberM:
			parts = append(parts, fmt.Sprintf("%s:M=%s", k, show(v.Value)))
		default:
			parts = append(parts, fmt.Sprintf("%s:%T", k, v))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// requests counts the requests a client sends, by operation, through the SDK's own middleware
// stack; pass its count method as a client option.
type requests struct {
	mu  sync.Mutex
	ops map[string]int
	in  []any // every input, in order
}

func (r *requests) count(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countRequests",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				r.mu.Lock()
				if r.ops == nil {
					r.ops = map[string]int{}
				}
				r.ops[middleware.GetOperationName(ctx)]++
				r.in = append(r.in, in.Parameters)
				r.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

func (r *requests) of(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops[op]
}

func (r *requests) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.ops {
		n += c
	}
	return n
}

func (r *requests) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops, r.in = nil, nil
}

func (r *requests) inputs() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.in)
}

// clocked opens a Store over api on a fresh table for opts (see newTable), on a manual clock
// at 12:00:00.25 (fixedClock), closed when t ends; it returns the Store, its clock and the
// options it was opened with.
func clocked(t *testing.T, client *dynamodb.Client, api dynamostore.API, opts dynamostore.Options) (*dynamostore.Store, *cachetest.Clock, dynamostore.Options) {
	t.Helper()
	opts = newTable(t, client, opts)
	clock := fixedClock()
	opts.Clock = clock
	s, err := dynamostore.New(api, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock, opts
}
