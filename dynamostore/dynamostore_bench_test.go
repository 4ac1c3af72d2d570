package dynamostore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
)

// The benchmarks compare, against the same DynamoDB Local, a raw SDK call that does the same
// work (a GetItem whose ttl is checked, a PutItem of the same item) with the Store and with the
// Cache over it, and report the requests each operation sends.

type benchEnv struct {
	sent  *requests
	raw   *dynamodb.Client
	store *dynamostore.Store
	cache *cachekit.View[string]
	table string
	keys  []string
}

func newBenchEnv(b *testing.B) *benchEnv {
	client := testenv.DynamoDB(b)
	opts := testenv.DynamoDBTable(b, client, dynamostore.Options{Table: "cachekit-bench"})
	sent := &requests{}
	counted := dynamodb.New(testenv.DynamoDBOptions(sent.count))
	s, err := dynamostore.New(counted, opts)
	if err != nil {
		b.Fatal(err)
	}
	c, err := cachekit.New(s, cachekit.Options{Prefix: "CACHE#"})
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{sent: sent, raw: counted, store: s, cache: cachekit.Typed[string](c, "", time.Hour), table: opts.Table}
	var entries []backend.Entry
	for i := range 1000 {
		k := fmt.Sprintf("k%04d", i)
		e.keys = append(e.keys, k)
		entries = append(entries, backend.Entry{Key: "CACHE#" + k, Value: []byte(`"a value of some sixty-four bytes, as a geolocation might be"`), TTL: time.Hour})
	}
	if err := s.SetMany(context.Background(), entries); err != nil {
		b.Fatal(err)
	}
	sent.reset()
	return e
}

func (e *benchEnv) report(b *testing.B) {
	b.ReportMetric(float64(e.sent.total())/float64(b.N), "requests/op")
}

func BenchmarkGet(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	b.Run("impl=sdk", func(b *testing.B) {
		e.sent.reset()
		for i := 0; b.Loop(); i++ {
			out, err := e.raw.GetItem(ctx, &dynamodb.GetItemInput{
				TableName: aws.String(e.table), Key: pk("CACHE#" + e.keys[i%1000]),
				ProjectionExpression:     aws.String("#v, #ttl"),
				ExpressionAttributeNames: map[string]string{"#v": "value", "#ttl": "ttl"},
			})
			if err != nil {
				b.Fatal(err)
			}
			exp, _ := strconv.ParseInt(out.Item["ttl"].(*types.AttributeValueMemberN).Value, 10, 64)
			if time.Now().Unix() >= exp {
				b.Fatal("expired")
			}
			_ = []byte(out.Item["value"].(*types.AttributeValueMemberS).Value)
		}
		e.report(b)
	})
	b.Run("impl=store", func(b *testing.B) {
		e.sent.reset()
		for i := 0; b.Loop(); i++ {
			if _, err := e.store.Get(ctx, "CACHE#"+e.keys[i%1000]); err != nil {
				b.Fatal(err)
			}
		}
		e.report(b)
	})
	b.Run("impl=cache", func(b *testing.B) {
		e.sent.reset()
		for i := 0; b.Loop(); i++ {
			if _, err := e.cache.Get(ctx, e.keys[i%1000]); err != nil {
				b.Fatal(err)
			}
		}
		e.report(b)
	})
}

func BenchmarkSet(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	value := `"a value of some sixty-four bytes, as a geolocation might be"`
	b.Run("impl=sdk", func(b *testing.B) {
		e.sent.reset()
		for i := 0; b.Loop(); i++ {
			now := time.Now()
			_, err := e.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
				"PK":        &types.AttributeValueMemberS{Value: "CACHE#" + e.keys[i%1000]},
				"value":     &types.AttributeValueMemberS{Value: value},
				"ttl":       &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(time.Hour).Unix()+1, 10)},
				"createdAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)},
			}})
			if err != nil {
				b.Fatal(err)
			}
		}
		e.report(b)
	})
	b.Run("impl=store", func(b *testing.B) {
		e.sent.reset()
		for i := 0; b.Loop(); i++ {
			if err := e.store.Set(ctx, "CACHE#"+e.keys[i%1000], []byte(value), time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		e.report(b)
	})
	b.Run("impl=cache", func(b *testing.B) {
		e.sent.reset()
		for i := 0; b.Loop(); i++ {
			if err := e.cache.Set(ctx, e.keys[i%1000], "a value of some sixty-four bytes, as a geolocation might be", 0); err != nil {
				b.Fatal(err)
			}
		}
		e.report(b)
	})
}

func BenchmarkGetMany(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	for _, n := range []int{100, 250} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			e.sent.reset()
			for i := 0; b.Loop(); i++ {
				start := (i * n) % (1000 - n)
				if m, err := e.cache.GetMany(ctx, e.keys[start:start+n]); err != nil || len(m) != n {
					b.Fatal(len(m), err)
				}
			}
			e.report(b)
		})
	}
}

func BenchmarkSetMany(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	for _, n := range []int{25, 60} {
		vals := map[string]string{}
		for _, k := range e.keys[:n] {
			vals[k] = "v"
		}
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			e.sent.reset()
			for b.Loop() {
				if err := e.cache.SetMany(ctx, vals, 0); err != nil {
					b.Fatal(err)
				}
			}
			e.report(b)
		})
	}
}
