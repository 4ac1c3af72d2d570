package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

func entriesN(prefix string, n int, value []byte) []backend.Entry {
	entries := make([]backend.Entry, n)
	for i := range entries {
		entries[i] = backend.Entry{Key: fmt.Sprintf("%s%04d", prefix, i), Value: value, TTL: time.Minute}
	}
	return entries
}

func keysOf(entries []backend.Entry) []string {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	return keys
}

// TestBatchErrorSaysWhichKeysWereWritten: a batch of three pipelines whose second loses its
// answers after the server applied it. The error says, key by key, that the first pipeline
// was written, the second is unknown and the third was never sent; the server agrees.
func TestBatchErrorSaysWhichKeysWereWritten(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			raw := testenv.Redis(t, tc.URL, tc.Cluster)
			plain, _ := redisstore.New(raw, redisstore.Options{})
			prefix := testenv.Name("CACHE#batch") + ":"
			t.Cleanup(func() { _, _ = plain.Clear(context.Background(), prefix) })
			entries := entriesN(prefix, 1200, []byte(`1`))
			keys := keysOf(entries)
			for _, op := range []string{"SetMany", "Delete"} {
				if op == "Delete" {
					if err := plain.SetMany(ctx, entries); err != nil {
						t.Fatal(err)
					}
				}
				s, _ := redisstore.New(&testenv.LostAnswer{Client: raw, At: 2}, redisstore.Options{})
				var err error
				if op == "SetMany" {
					err = s.SetMany(ctx, entries)
				} else {
					err = s.Delete(ctx, keys...)
				}
				var be *backend.BatchError
				if !errors.As(err, &be) || !errors.Is(err, context.Canceled) {
					t.Fatalf("%s with the second pipeline's answers lost: %v, want a *BatchError wrapping the client's error", op, err)
				}
				written, unknown, notSent := be.Written, be.Unknown, be.NotWritten
				if len(written) == 0 || len(unknown) == 0 || len(notSent) == 0 ||
					!slices.Equal(slices.Concat(written, unknown, notSent), keys) {
					t.Fatalf("%s: written %d, unknown %d, not written %d; want three runs in the batch's order",
						op, len(written), len(unknown), len(notSent))
				}
				found, err := plain.GetMany(ctx, keys)
				if err != nil {
					t.Fatal(err)
				}
				for i, k := range keys {
					_, ok := found[k]
					// The unknown pipeline was in fact applied: it reached the server.
					if want := (op == "SetMany") == (i < len(written)+len(unknown)); ok != want {
						t.Fatalf("%s: key %d present = %v, want %v", op, i, ok, want)
					}
				}
			}
		})
	}
}

// TestBatchDeadlineOnAHungServer: the server stops answering; a batch's error wraps
// context.DeadlineExceeded and says its first pipeline is unknown and the rest not sent.
func TestBatchDeadlineOnAHungServer(t *testing.T) {
	srv := testenv.StartRedis(t, t.TempDir(), 0)
	url := fmt.Sprintf("redis://127.0.0.1:%d", srv.Port)
	testenv.WaitFor(t, "redis-server", 10*time.Second, func() bool { return testenv.RedisCLIErr("-p", fmt.Sprint(srv.Port), "ping") == nil })
	s, err := redisstore.Open(url, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, "CACHE#warm", []byte(`1`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	defer srv.Resume()
	entries := entriesN("CACHE#hung:", 1000, []byte(`1`))
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = s.SetMany(ctx, entries)
	var be *backend.BatchError
	if !errors.As(err, &be) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SetMany on a hung server: %v, want a *BatchError wrapping context.DeadlineExceeded", err)
	}
	if len(be.Written) != 0 || len(be.Unknown) == 0 || len(be.NotWritten) == 0 || !slices.Equal(slices.Concat(be.Unknown, be.NotWritten), keysOf(entries)) {
		t.Errorf("written %d, unknown %d, not written %d; want none, the first pipeline, the rest", len(be.Written), len(be.Unknown), len(be.NotWritten))
	}
}

// TestFirstCallsWrapTheDeadline: a fresh Store's first calls, cut short by a 1ms deadline
// while connecting or in their first request, report an error that wraps
// context.DeadlineExceeded, whatever the client made of it.
func TestFirstCallsWrapTheDeadline(t *testing.T) {
	testenv.Redis(t, testenv.RedisURL(), false)
	for i := range 20 {
		s, err := redisstore.Open(testenv.RedisURL(), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func(context.Context) error{
			"Count":   func(ctx context.Context) error { _, err := s.Count(ctx, "CACHE#x"); return err },
			"GetMany": func(ctx context.Context) error { _, err := s.GetMany(ctx, []string{"CACHE#a", "CACHE#b"}); return err },
			"SetMany": func(ctx context.Context) error { return s.SetMany(ctx, entriesN("CACHE#dl:", 3, []byte(`1`))) },
		} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			err := call(ctx)
			<-ctx.Done()
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("round %d: %s with a 1ms deadline: %v, want it to wrap context.DeadlineExceeded", i, name, err)
			}
		}
		s.Close()
	}
}
