package redisstore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

// recorder is a Client with nothing but the store's Client methods, which records the
// commands each call sends.
type recorder struct {
	redisstore.Client
	mu   sync.Mutex
	sent [][]string
}

func (r *recorder) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	r.mu.Lock()
	r.sent = append(r.sent, slices.Clone(cmd.Commands()))
	r.mu.Unlock()
	return r.Client.Do(ctx, cmd)
}

func (r *recorder) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	r.mu.Lock()
	for _, cmd := range cmds {
		r.sent = append(r.sent, slices.Clone(cmd.Commands()))
	}
	r.mu.Unlock()
	return r.Client.DoMulti(ctx, cmds...)
}

// recorded opens a Store on the server tc names through a recorder, closed when t ends, and
// returns it with the recorder and the raw client behind it.
func recorded(t *testing.T, tc testenv.RedisTarget) (*redisstore.Store, *recorder, rueidis.Client) {
	t.Helper()
	raw := testenv.Redis(t, tc.URL, tc.Cluster)
	rec := &recorder{Client: raw}
	s, err := redisstore.New(rec, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, rec, raw
}

// take returns the commands sent since the last take.
func (r *recorder) take() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	sent := r.sent
	r.sent = nil
	return sent
}

// TestLeaseCommands checks what a lease sends, on a client with only the store's Client
// methods: Acquire one SET … NX PX, its TTL in milliseconds rounded up; Release one EVAL. A
// plain client reads the lease as a string holding the token, with its own TTL.
func TestLeaseCommands(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, rec, raw := recorded(t, tc)
			key := testenv.Name("CACHE#lease") + ":k"
			t.Cleanup(func() { raw.Do(context.Background(), raw.B().Del().Key(key).Build()) })
			if _, err := s.Has(ctx, key); err != nil { // a cluster's first call learns the slots
				t.Fatal(err)
			}
			rec.take()

			if ok, err := s.Acquire(ctx, key, "token-1", 1500*time.Microsecond); !ok || err != nil {
				t.Fatalf("Acquire = %v, %v; want true, nil", ok, err)
			}
			want := []string{"SET", key, "token-1", "NX", "PX", "2"}
			if sent := rec.take(); len(sent) != 1 || !slices.Equal(sent[0], want) {
				t.Errorf("Acquire sent %q, want one %q", sent, want)
			}
			// Another holder's lease, which the 2ms one may or may not have made way for.
			if err := raw.Do(ctx, raw.B().Set().Key(key).Value("token-3").PxMilliseconds(time.Minute.Milliseconds()).Build()).Error(); err != nil {
				t.Fatal(err)
			}
			rec.take()

			if err := s.Release(ctx, key, "token-1"); err != nil {
				t.Fatalf("Release with another token: %v", err)
			}
			sent := rec.take()
			if len(sent) != 1 || sent[0][0] != "EVAL" || !slices.Contains(sent[0], key) {
				t.Errorf("Release sent %q, want one EVAL on the key", sent)
			}
			v, err := raw.Do(ctx, raw.B().Get().Key(key).Build()).ToString()
			pttl, _ := raw.Do(ctx, raw.B().Pttl().Key(key).Build()).AsInt64()
			if err != nil || v != "token-3" || pttl <= 0 || pttl > time.Minute.Milliseconds() {
				t.Errorf("after a Release with another token, GET = %q, %v, PTTL = %d; want token-3 with its TTL", v, err, pttl)
			}
			if err := s.Release(ctx, key, "token-3"); err != nil {
				t.Fatalf("Release: %v", err)
			}
			if n, _ := raw.Do(ctx, raw.B().Exists().Key(key).Build()).AsInt64(); n != 0 {
				t.Errorf("the key is still there after its holder's Release")
			}
		})
	}
}
