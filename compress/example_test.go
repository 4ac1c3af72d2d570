package compress_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/memstore"
)

// A Cache whose values of 1 KB or more are stored compressed with zstd; smaller ones stay
// JSON. The Store shows what it holds.
func Example() {
	codec, err := compress.New(cachekit.JSON, compress.Options{})
	if err != nil {
		log.Fatal(err)
	}
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	c, err := cachekit.New(store, cachekit.Options{Prefix: "CACHE#", Codec: codec})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx := context.Background()
	pages := cachekit.Typed[string](c, "page:", time.Hour)
	if err := pages.Set(ctx, "home", strings.Repeat("<p>Welcome</p>", 200), 0); err != nil {
		log.Fatal(err)
	}
	if err := pages.Set(ctx, "ping", "pong", 0); err != nil {
		log.Fatal(err)
	}
	home, _ := store.Get(ctx, "CACHE#page:home")
	ping, _ := store.Get(ctx, "CACHE#page:ping")
	fmt.Printf("home: compressed: %v, header % x, under 100 bytes: %v\n", compress.IsCompressed(home), home[:5], len(home) < 100)
	fmt.Printf("ping: %s\n", ping)
	page, err := pages.Get(ctx, "home")
	fmt.Println(len(page), err)
	// Output:
	// home: compressed: true, header c1 63 6b 02 01, under 100 bytes: true
	// ping: "pong"
	// 2800 <nil>
}
