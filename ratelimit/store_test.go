package ratelimit_test

import (
	"context"
	"testing"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
)

// opener opens n Stores on one fresh backend, as n instances of a service would (n clients of
// one Redis, of one DynamoDB table, or one memstore), with clock as their time when it is not
// nil, and a prefix of the test's own for the Limiter's keys: what the test wrote under it is
// gone when the test ends.
type opener func(t *testing.T, n int, clock backend.Clock) (stores []backend.Store, prefix string)

// backends returns an opener for every backend: memory, Redis (a server and a cluster) and
// DynamoDB Local. A missing server skips the test, or fails it under
// CACHEKIT_REQUIRE_BACKENDS=1.
func backends() map[string]opener {
	return map[string]opener{
		"memory": func(t *testing.T, n int, clock backend.Clock) ([]backend.Store, string) {
			s, err := memstore.New(memstore.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			out := make([]backend.Store, n)
			for i := range out {
				out[i] = unclosed{s}
			}
			return out, "rl:"
		},
		"redis":         openRedis(testenv.RedisURL(), false),
		"redis-cluster": openRedis(testenv.RedisClusterURL(), true),
		"dynamodb": func(t *testing.T, n int, clock backend.Clock) ([]backend.Store, string) {
			client := testenv.DynamoDB(t)
			opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-ratelimit", ConsistentRead: true, Clock: clock})
			out := make([]backend.Store, n)
			for i := range out {
				s, err := dynamostore.New(client, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				out[i] = s
			}
			return out, "rl:"
		},
	}
}

// openRedis opens Stores on the shared Redis at url, each its own client. Other tests share
// the server, and a Clock set in the future keeps keys until then: the test's prefix is its
// own, and cleared when it ends.
func openRedis(url string, cluster bool) opener {
	return func(t *testing.T, n int, clock backend.Clock) ([]backend.Store, string) {
		testenv.Redis(t, url, cluster) // fails or skips when the server does not answer
		out := make([]backend.Store, n)
		for i := range out {
			s, err := redisstore.Open(url, redisstore.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			out[i] = s
		}
		prefix := testenv.Name("rl") + ":"
		// Registered last, so run first: before the Stores close.
		t.Cleanup(func() { _, _ = out[0].Clear(context.Background(), prefix) })
		return out, prefix
	}
}

// unclosed is the memstore the instances of a test share, closed once by the test.
type unclosed struct{ *memstore.Store }

func (unclosed) Close() error { return nil }
