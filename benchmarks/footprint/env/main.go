// Command env is a function whose cache comes from the CACHE_* environment variables, with
// every backend linked (see docs/footprint.md). Without a CACHE_* variable it caches in memory.
package main

import (
	"context"
	"fmt"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
)

func main() {
	v := cachekit.Typed[string](cacheenv.Default(), "geo:", 0)
	fmt.Println(v.GetOrLoad(context.Background(), "k", func(context.Context, string) (string, error) { return "v", nil }))
}
