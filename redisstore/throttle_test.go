package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestThrottleCommands checks what a Throttle sends, without a Clock, as in production: one
// EVAL on the key, at the server's time, whatever the process's clock says. A plain client
// reads the key as the TAT's decimal Unix microseconds, expiring at the TAT's millisecond
// rounded up.
func TestThrottleCommands(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, rec, raw := recorded(t, tc)
			key := testenv.Name("CACHE#throttle") + ":k"
			t.Cleanup(func() { raw.Do(context.Background(), raw.B().Del().Key(key).Build()) })
			if _, err := s.Has(ctx, key); err != nil { // a cluster's first call learns the slots
				t.Fatal(err)
			}
			rec.take()

			before := serverTime(t, raw, key)
			r, err := s.Throttle(ctx, key, time.Hour, 2*time.Hour)
			after := serverTime(t, raw, key)
			if err != nil || !r.Allowed {
				t.Fatalf("Throttle = %+v, %v; want allowed", r, err)
			}
			if sent := rec.take(); len(sent) != 1 || sent[0][0] != "EVAL" || sent[0][3] != key {
				t.Errorf("Throttle sent %q, want one EVAL on the key", sent)
			}
			if r.Now.Before(before) || r.Now.After(after) {
				t.Errorf("Throttle ran at %v, want the server's time, between %v and %v", r.Now, before, after)
			}
			if want := r.Now.Add(time.Hour); !r.TAT.Equal(want) {
				t.Errorf("TAT = %v, want a cost after now, %v", r.TAT, want)
			}
			v, err := raw.Do(ctx, raw.B().Get().Key(key).Build()).ToString()
			if want := strconv.FormatInt(r.TAT.UnixMicro(), 10); err != nil || v != want {
				t.Errorf("GET = %q, %v; want the TAT's Unix microseconds, %s", v, err, want)
			}
			at, err := raw.Do(ctx, raw.B().Pexpiretime().Key(key).Build()).AsInt64()
			if want := (r.TAT.UnixMicro() + 999) / 1000; err != nil || at != want {
				t.Errorf("PEXPIRETIME = %d, %v; want the TAT's millisecond rounded up, %d", at, err, want)
			}

			r, err = s.Throttle(ctx, key, time.Hour, 2*time.Hour)
			if err != nil || !r.Allowed {
				t.Fatalf("second Throttle = %+v, %v; want allowed", r, err)
			}
			tat := r.TAT
			r, err = s.Throttle(ctx, key, time.Hour, 2*time.Hour)
			if err != nil || r.Allowed || !r.TAT.Equal(tat) {
				t.Errorf("third Throttle = %+v, %v; want denied at the TAT %v", r, err, tat)
			}
			if sent := rec.take(); len(sent) != 2 {
				t.Errorf("two Throttle calls sent %q, want one EVAL each", sent)
			}

			// A key of another type is no TAT, and is left as it was.
			hash := testenv.Name("CACHE#throttle") + ":hash"
			t.Cleanup(func() { raw.Do(context.Background(), raw.B().Del().Key(hash).Build()) })
			if err := raw.Do(ctx, raw.B().Hset().Key(hash).FieldValue().FieldValue("f", "v").Build()).Error(); err != nil {
				t.Fatal(err)
			}
			if r, err := s.Throttle(ctx, hash, time.Second, time.Minute); r.Allowed || !errors.Is(err, backend.ErrNotCounter) {
				t.Errorf("Throttle of a hash = %+v, %v; want ErrNotCounter", r, err)
			}
			if v, err := raw.Do(ctx, raw.B().Hget().Key(hash).Field("f").Build()).ToString(); err != nil || v != "v" {
				t.Errorf("HGET of the hash after Throttle = %q, %v; want it unchanged", v, err)
			}
		})
	}
}

// serverTime reads the TIME of the node that holds key.
func serverTime(t *testing.T, c rueidis.Client, key string) time.Time {
	t.Helper()
	// A command on the key reaches its node; TIME alone could go to any node of a cluster.
	reply, err := c.Do(context.Background(), c.B().Eval().Script(`local t = redis.call('TIME') return t[1] * 1000000 + t[2]`).Numkeys(1).Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	return time.UnixMicro(reply)
}
