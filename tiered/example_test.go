package tiered_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/tiered"
)

// An L1 in memory in front of a remote store, for Lambda's warm starts: the first read
// fills L1 from L2, the next ones stay in the process. Here L2 is a memstore, so that the
// example runs anywhere; in production it is a dynamostore or redisstore Store.
func ExampleNew() {
	l2, _ := memstore.New(memstore.Options{}) // dynamostore.New(client, dynamostore.Options{Table: "my-service"})
	store, err := tiered.New(l2, tiered.Options{MaxSize: 5000, MaxTTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	cache, _ := cachekit.New(store, cachekit.Options{}) // closes L1 and L2
	defer cache.Close()

	ctx := context.Background()
	flags := cachekit.Typed[bool](cache, "flag:", time.Hour)
	_ = l2.Set(ctx, "CACHE#flag:beta", []byte("true"), time.Hour) // written by another instance
	for range 3 {
		on, _ := flags.Get(ctx, "beta")
		fmt.Println(on)
	}
	st := store.Stats()
	fmt.Printf("L2 reads %d, L1 hits %d\n", st.L2Reads, st.L1Hits)
	// Output:
	// true
	// true
	// true
	// L2 reads 1, L1 hits 2
}
