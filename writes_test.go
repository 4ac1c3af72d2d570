package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

// TestSetManyOfThousandsUnderOpenDefaults: a batch far larger than one request, with no
// deadline of the caller's, is bounded per request by Open's default operation timeout, not
// as a whole: it succeeds, and every value is stored.
func TestSetManyOfThousandsUnderOpenDefaults(t *testing.T) {
	const n = 3000
	value := strings.Repeat("x", 1000)
	values := make(map[string]string, n)
	for i := range n {
		values[fmt.Sprintf("k%04d", i)] = value
	}
	backends := map[string]func(t *testing.T) cacheenv.Config{
		"dynamodb": func(t *testing.T) cacheenv.Config {
			client := testenv.DynamoDB(t)
			table := testenv.Name("cachekit-writes")
			if _, err := dynamostore.CreateTable(context.Background(), client, dynamostore.Options{Table: table}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
			})
			t.Setenv("AWS_ACCESS_KEY_ID", "local")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
			t.Setenv("AWS_REGION", "us-east-1")
			return cacheenv.Config{StorageType: cacheenv.StorageDynamoDB, TableName: table, DynamoDBEndpoint: testenv.DynamoDBEndpoint()}
		},
		"redis": func(t *testing.T) cacheenv.Config {
			testenv.Redis(t, testenv.RedisURL(), false)
			return cacheenv.Config{StorageType: cacheenv.StorageRedis, RedisURL: testenv.RedisURL()}
		},
	}
	for name, config := range backends {
		t.Run(name, func(t *testing.T) {
			cfg := config(t)
			cfg.KeyPrefix = testenv.Name("CACHE#many") + ":"
			c, err := cacheenv.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			defer c.Clear(context.Background())
			cv := cachekit.Typed[string](c, "", 0)
			ctx := context.Background()
			start := time.Now()
			if err := cv.SetMany(ctx, values, time.Hour); err != nil {
				t.Fatalf("SetMany of %d values of 1 KB under Open's defaults: %v", n, err)
			}
			t.Logf("SetMany of %d values of 1 KB on %s: %v", n, name, time.Since(start))
			found, err := cv.GetMany(ctx, slices.Collect(maps.Keys(values)))
			if err != nil || len(found) != n {
				t.Fatalf("GetMany after SetMany = %d values, %v; want %d", len(found), err, n)
			}
			start = time.Now()
			if err := cv.DeleteMany(ctx, slices.Collect(maps.Keys(values))...); err != nil {
				t.Fatalf("DeleteMany of %d keys under Open's defaults: %v", n, err)
			}
			t.Logf("DeleteMany of %d keys on %s: %v", n, name, time.Since(start))
		})
	}
}

// TestBatchErrorNamesTheCallersKeys: a Cache's and a view's BatchError list the keys as their
// caller wrote them, without the prefix.
func TestBatchErrorNamesTheCallersKeys(t *testing.T) {
	raw := testenv.Redis(t, testenv.RedisURL(), false)
	lost := &testenv.LostAnswer{Client: raw}
	s, _ := redisstore.New(lost, redisstore.Options{})
	prefix := testenv.Name("CACHE#callers") + ":"
	c, err := cachekit.New(s, cachekit.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer c.Clear(context.Background())
	view := cachekit.Typed[int](c, "v:", time.Minute)
	cv := cachekit.Typed[any](c, "", 0)

	ctx := context.Background()
	keys := make([]string, 1200)
	values := make(map[string]int, len(keys))
	anyValues := make(map[string]any, len(keys))
	for i := range keys {
		keys[i] = fmt.Sprintf("k%04d", i)
		values[keys[i]], anyValues[keys[i]] = i, i
	}
	for name, write := range map[string]func() error{
		"root view SetMany":    func() error { return cv.SetMany(ctx, anyValues, time.Minute) },
		"root view DeleteMany": func() error { return cv.DeleteMany(ctx, keys...) },
		"View.SetMany":         func() error { return view.SetMany(ctx, values, 0) },
		"View.DeleteMany":      func() error { return view.DeleteMany(ctx, keys...) },
	} {
		lost.Reset()
		lost.At = 2
		err := write()
		var be *cachekit.BatchError
		if !errors.As(err, &be) {
			t.Fatalf("%s with a pipeline's answers lost: %v, want a *BatchError", name, err)
		}
		all := slices.Concat(be.Written, be.Unknown, be.NotWritten)
		slices.Sort(all)
		if len(be.Written) == 0 || len(be.Unknown) == 0 || !slices.Equal(all, keys) {
			t.Errorf("%s: written %d, unknown %d, not written %d, keys %q…; want the caller's keys, without the prefix",
				name, len(be.Written), len(be.Unknown), len(be.NotWritten), all[:min(3, len(all))])
		}
	}
}
