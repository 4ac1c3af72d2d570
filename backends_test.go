package cachekit_test

import (
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
)

// realStores returns, for every backend the library ships, a function that makes a fresh
// Store on the real server (DynamoDB Local, Redis, the Redis cluster) or in memory. A missing
// server fails the test under CACHEKIT_REQUIRE_BACKENDS=1, as in CI. The Store's owner closes
// it; a DynamoDB table made for it is deleted when the test ends.
func realStores() map[string]func(t *testing.T) cachekit.Store {
	return map[string]func(t *testing.T) cachekit.Store{
		"memory": func(t *testing.T) cachekit.Store {
			s, err := memstore.New(memstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"dynamodb": func(t *testing.T) cachekit.Store {
			client := testenv.DynamoDB(t)
			opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-root"})
			s, err := dynamostore.New(client, opts)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"redis":         func(t *testing.T) cachekit.Store { return openRedis(t, testenv.RedisURL(), false) },
		"redis-cluster": func(t *testing.T) cachekit.Store { return openRedis(t, testenv.RedisClusterURL(), true) },
	}
}

func openRedis(t *testing.T, url string, cluster bool) cachekit.Store {
	testenv.Redis(t, url, cluster) // fails or skips when the server does not answer
	s, err := redisstore.Open(url, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
