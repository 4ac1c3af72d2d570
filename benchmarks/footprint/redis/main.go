// Command redis is a function that caches in Redis only: what it links is what a Redis-only
// service pays for cachekit (see docs/footprint.md). It connects only when given a URL.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/redisstore"
)

func main() {
	if len(os.Args) < 2 { // the measurement: no connection
		return
	}
	s, err := redisstore.Open(os.Args[1], redisstore.Options{})
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
	fmt.Println(v.GetOrLoad(context.Background(), "k", func(context.Context, string) (string, error) { return "v", nil }))
}
