package redisstore_test

import (
	"context"
	"log"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/redisstore"
)

// A Cache on an ElastiCache cluster with in-transit encryption and an ACL user; the store
// connects on its first call. (Compiled, not run: it needs a server.)
func ExampleOpen() {
	store, err := redisstore.Open("rediss://cache-user:secret@my-cache.example.com:6379", redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := cachekit.New(store, cachekit.Options{Prefix: "CACHE#session:", TTL: 30 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	sessions := cachekit.Typed[string](cache, "", 0)
	_ = sessions.Set(context.Background(), "abc", "user-42", 0)
}

// A store on a client the caller configured and keeps.
func ExampleNew() {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}, DisableCache: true})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close() // the store leaves it open
	store, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_ = store.Set(context.Background(), "CACHE#k", []byte(`"v"`), time.Minute)
}
