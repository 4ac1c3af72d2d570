// Command dynamodb is a function that caches in DynamoDB only: what it links is what a
// DynamoDB-only service pays for cachekit (see docs/footprint.md). It makes no request.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dynamostore"
)

func main() {
	s, err := dynamostore.New(dynamodb.New(dynamodb.Options{Region: "us-east-1"}), dynamostore.Options{Table: "cache"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := cachekit.New(s, cachekit.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	v := cachekit.Typed[string](c, "geo:", 0)
	if len(os.Args) > 1 { // never in the measurement: no request leaves the process
		fmt.Println(v.GetOrLoad(context.Background(), os.Args[1], func(context.Context, string) (string, error) { return "v", nil }))
	}
}
