package dynamostore_test

import (
	"context"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dynamostore"
)

// A Cache in a single-table design's table, with a client configured by the caller.
// (Compiled, not run: it needs AWS.)
func ExampleNew() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(dynamodb.NewFromConfig(awsCfg), dynamostore.Options{
		Table:        "orders-service",
		SortKey:      "SK",
		SortKeyValue: "CACHE",
	})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := cachekit.New(store, cachekit.Options{Prefix: "CACHE#geo:", TTL: 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	geo := cachekit.Typed[map[string]string](cache, "", 0)
	_ = geo.Set(ctx, "1.1.1.1", map[string]string{"city": "Sydney"}, 0)
}

// Making the table ready, as `cachectl table create` does.
func ExampleCreateTable() {
	ctx := context.Background()
	client, closeIdle, err := dynamostore.NewClient(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer closeIdle()
	st, err := dynamostore.CreateTable(ctx, client, dynamostore.Options{Table: "my-service"})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("created %v, TTL turned on %v", st.Created, st.TTLEnabled)
}
