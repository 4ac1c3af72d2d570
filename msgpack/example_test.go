package msgpack_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/msgpack"
)

type Session struct {
	UserID   int64     `json:"user_id"`
	Roles    []string  `json:"roles"`
	Expires  time.Time `json:"expires"`
	Password string    `json:"-"` // never cached, as with the JSON codec
}

// One view of a Cache in MessagePack, for values only Go services read; the Cache's other
// views keep its codec, JSON by default.
func Example() {
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		panic(err)
	}
	cache, err := cachekit.New(store, cachekit.Options{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	ctx := context.Background()
	sessions := cachekit.Typed[Session](cache, "session:", 30*time.Minute).WithCodec(msgpack.Codec)
	in := Session{UserID: 42, Roles: []string{"admin"}, Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Password: "hunter2"}
	if err := sessions.Set(ctx, "abc", in, 0); err != nil {
		panic(err)
	}
	got, err := sessions.Get(ctx, "abc")
	if err != nil {
		panic(err)
	}
	fmt.Println(got.UserID, got.Roles, got.Expires.Format(time.RFC3339), got.Password == "")

	stored, _ := store.Get(ctx, "CACHE#session:abc")
	json, _ := cachekit.JSON.Marshal(in)
	fmt.Println(len(stored) < len(json))
	// Output:
	// 42 [admin] 2030-01-02T03:04:05Z true
	// true
}
