// Command memory is a function that caches in memory only: what it links is what a
// memory-only service pays for cachekit (see docs/footprint.md).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
)

func main() {
	s, err := memstore.New(memstore.Options{})
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
	got, err := v.GetOrLoad(context.Background(), "k", func(context.Context, string) (string, error) { return "v", nil })
	fmt.Println(got, err)
}
