package compress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/apidata"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
)

// stores returns, for every backend the library ships, a function that makes a Store on the
// real server (DynamoDB Local, Redis, the Redis cluster) or in memory. A missing server fails
// the test under CACHEKIT_REQUIRE_BACKENDS=1, as in CI; a DynamoDB table made for the test is
// deleted when it ends, and the Store is closed.
func stores() map[string]func(t *testing.T) cachekit.Store {
	redis := func(url string, cluster bool) func(t *testing.T) cachekit.Store {
		return func(t *testing.T) cachekit.Store {
			testenv.Redis(t, url, cluster) // fails or skips when the server does not answer
			s, err := redisstore.Open(url, redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	}
	return map[string]func(t *testing.T) cachekit.Store{
		"memory": func(t *testing.T) cachekit.Store {
			s, err := memstore.New(memstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"dynamodb": func(t *testing.T) cachekit.Store {
			client := testenv.DynamoDB(t)
			opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-compress", ConsistentRead: true})
			s, err := dynamostore.New(client, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"redis":         redis(testenv.RedisURL(), false),
		"redis-cluster": redis(testenv.RedisClusterURL(), true),
	}
}

// TestThroughACache stores JSON API responses through a Cache with a compressing codec on
// every backend, by every write and read path, with and without freshness options (whose
// envelope then wraps the compressed bytes), and checks what the Store holds.
func TestThroughACache(t *testing.T) {
	for name, open := range stores() {
		for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
			t.Run(fmt.Sprintf("%s/%v", name, alg), func(t *testing.T) {
				ctx := context.Background()
				s := open(t)
				codec := mustNew(t, nil, compress.Options{Algorithm: alg})
				prefix := testenv.Name("compress") + ":"
				c, err := cachekit.New(s, cachekit.Options{Prefix: prefix, Codec: codec})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				defer func() { _, _ = c.Clear(ctx) }()
				small, large := json.RawMessage(apidata.Response(300, 1)), json.RawMessage(apidata.Response(20<<10, 1))
				plain := cachekit.Typed[json.RawMessage](c, "plain:", time.Minute)
				fresh := cachekit.Typed[json.RawMessage](c, "fresh:", time.Minute).With(cachekit.Freshness{Grace: time.Minute})
				for _, v := range []*cachekit.View[json.RawMessage]{plain, fresh} {
					if err := v.Set(ctx, "large", large, 0); err != nil {
						t.Fatal(err)
					}
					if err := v.SetMany(ctx, map[string]json.RawMessage{"small": small, "many": large}, 0); err != nil {
						t.Fatal(err)
					}
					if got, err := v.Get(ctx, "large"); err != nil || !bytes.Equal(got, large) {
						t.Errorf("%sGet large: %d bytes, %v", v.Prefix(), len(got), err)
					}
					got, err := v.GetMany(ctx, []string{"large", "small", "many"})
					if err != nil || !bytes.Equal(got["large"], large) || !bytes.Equal(got["small"], small) || !bytes.Equal(got["many"], large) {
						t.Errorf("%sGetMany: %d values, %v", v.Prefix(), len(got), err)
					}
					loaded, err := v.GetOrLoad(ctx, "large", func(context.Context, string) (json.RawMessage, error) {
						return nil, errors.New("loaded a value the cache holds")
					})
					if err != nil || !bytes.Equal(loaded, large) {
						t.Errorf("%sGetOrLoad of a stored value: %d bytes, %v", v.Prefix(), len(loaded), err)
					}
				}
				// What the Store holds: the small value as JSON; the large one compressed, in
				// an envelope on the view with freshness options.
				for key, want := range map[string]func([]byte) bool{
					"plain:small": func(b []byte) bool { return bytes.Equal(b, small) },
					"plain:large": compress.IsCompressed,
					"plain:many":  compress.IsCompressed,
					"fresh:small": func(b []byte) bool {
						env, ok := backend.ParseEnvelope(b)
						return ok && bytes.Equal(env.Value, small)
					},
					"fresh:large": func(b []byte) bool {
						env, ok := backend.ParseEnvelope(b)
						return ok && compress.IsCompressed(env.Value) && env.Value[4] == byte(alg)
					},
				} {
					b, err := s.Get(ctx, prefix+key)
					if err != nil || !want(b) {
						t.Errorf("the Store holds under %s: % x… (%d bytes), %v", key, b[:min(len(b), 24)], len(b), err)
					}
				}
			})
		}
	}
}

// TestUnreadableValues: a corrupt value and a zip bomb, put in the Store by another writer,
// are ErrDecode through the Cache, wrapping the codec's error; GetOrLoad and GetManyOrLoad
// load over them and store a good value; a value over MaxSize is not written.
func TestUnreadableValues(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			prefix := testenv.Name("compress") + ":"
			c, err := cachekit.New(s, cachekit.Options{Prefix: prefix, Codec: mustNew(t, nil, compress.Options{MaxSize: 1 << 20})})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			defer func() { _, _ = c.Clear(ctx) }()
			good, _ := mustNew(t, nil, compress.Options{}).Marshal(json.RawMessage(apidata.Response(10<<10, 1)))
			corrupt := bytes.Clone(good)
			corrupt[len(corrupt)-3] ^= 0xff // in the frame's checksum
			bomb, _ := mustNew(t, nil, compress.Options{MaxSize: 16 << 20}).Marshal(json.RawMessage(`"` + string(bytes.Repeat([]byte("a"), 16<<20-2)) + `"`))
			if len(bomb) > 4096 {
				t.Fatalf("the bomb takes %d bytes", len(bomb))
			}
			for _, v := range []*cachekit.View[json.RawMessage]{
				cachekit.Typed[json.RawMessage](c, "plain:", time.Minute),
				cachekit.Typed[json.RawMessage](c, "fresh:", time.Minute).With(cachekit.Freshness{Grace: time.Minute}),
			} {
				for what, tc := range map[string]struct {
					stored []byte
					want   error
				}{
					"corrupt": {corrupt, compress.ErrCorrupt},
					"bomb":    {bomb, compress.ErrTooLarge},
				} {
					stored := tc.stored
					if v.Freshness().Grace > 0 {
						stored = backend.Envelope{Value: stored, FreshUntil: time.Now().Add(time.Minute)}.Append(nil)
					}
					full := v.Prefix() + what
					if err := s.Set(ctx, full, stored, time.Minute); err != nil {
						t.Fatal(err)
					}
					if _, err := v.Get(ctx, what); !errors.Is(err, cachekit.ErrDecode) || !errors.Is(err, tc.want) {
						t.Errorf("%s: Get: %v, want ErrDecode wrapping %v", full, err, tc.want)
					}
					loads := 0
					got, err := v.GetOrLoad(ctx, what, func(context.Context, string) (json.RawMessage, error) {
						loads++
						return json.RawMessage(`{"loaded":true}`), nil
					})
					if err != nil || loads != 1 || string(got) != `{"loaded":true}` {
						t.Errorf("%s: GetOrLoad = %s, %v after %d loads; want the loaded value", full, got, err, loads)
					}
					if got, err := v.Get(ctx, what); err != nil || string(got) != `{"loaded":true}` {
						t.Errorf("%s: Get after GetOrLoad = %s, %v", full, got, err)
					}
					// Again, through GetManyOrLoad.
					if err := s.Set(ctx, full, stored, time.Minute); err != nil {
						t.Fatal(err)
					}
					many, err := v.GetManyOrLoad(ctx, []string{what}, func(_ context.Context, keys []string) (map[string]json.RawMessage, error) {
						return map[string]json.RawMessage{what: json.RawMessage(`{"loaded":2}`)}, nil
					})
					if err != nil || string(many[what]) != `{"loaded":2}` {
						t.Errorf("%s: GetManyOrLoad = %s, %v; want the loaded value", full, many, err)
					}
				}
				over := json.RawMessage(apidata.Response(1<<20+1, 1))
				if err := v.Set(ctx, "over", over, 0); !errors.Is(err, cachekit.ErrEncode) || !errors.Is(err, compress.ErrTooLarge) {
					t.Errorf("%sSet of a value over MaxSize: %v, want ErrEncode wrapping ErrTooLarge", v.Prefix(), err)
				}
			}
		})
	}
}
