package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestCounterCommands checks what Incr sends, on a client with only the store's Client
// methods: one EVAL on the key, for the increment that creates a counter as for those that add
// to it. A plain client reads the counter as a string of decimal digits, with the TTL it was
// created with, in milliseconds rounded up, which later increments leave as it is. A value a
// plain client left without expiry keeps none; a key of another type is ErrNotCounter.
func TestCounterCommands(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, rec, raw := recorded(t, tc)
			base := testenv.Name("CACHE#counter")
			key, forever, list := base+":k", base+":forever", base+":list"
			t.Cleanup(func() {
				for _, k := range []string{key, forever, list} { // on three slots of a cluster
					raw.Do(context.Background(), raw.B().Del().Key(k).Build())
				}
			})
			if _, err := s.Has(ctx, key); err != nil { // a cluster's first call learns the slots
				t.Fatal(err)
			}
			rec.take()

			if n, err := s.Incr(ctx, key, 40, 59999500*time.Microsecond); n != 40 || err != nil {
				t.Fatalf("Incr = %d, %v; want 40, nil", n, err)
			}
			at, _ := raw.Do(ctx, raw.B().Pexpiretime().Key(key).Build()).AsInt64()
			if n, err := s.Incr(ctx, key, 2, time.Hour); n != 42 || err != nil {
				t.Fatalf("Incr = %d, %v; want 42, nil", n, err)
			}
			sent := rec.take()
			if len(sent) != 2 || sent[0][0] != "EVAL" || sent[1][0] != "EVAL" || !slices.Contains(sent[0], key) {
				t.Errorf("two Incrs sent %q, want one EVAL each, on the key", sent)
			}
			v, err := raw.Do(ctx, raw.B().Get().Key(key).Build()).ToString()
			if err != nil || v != "42" {
				t.Errorf("GET = %q, %v; want %q", v, err, "42")
			}
			pttl, _ := raw.Do(ctx, raw.B().Pttl().Key(key).Build()).AsInt64()
			if later, _ := raw.Do(ctx, raw.B().Pexpiretime().Key(key).Build()).AsInt64(); later != at || pttl <= 0 || pttl > 60000 {
				t.Errorf("after an increment, PEXPIRETIME = %d, PTTL = %d; want the creation's %d, with at most 60000ms left", later, pttl, at)
			}

			if err := raw.Do(ctx, raw.B().Set().Key(forever).Value("7").Build()).Error(); err != nil {
				t.Fatal(err)
			}
			if n, err := s.Incr(ctx, forever, 1, time.Minute); n != 8 || err != nil {
				t.Errorf("Incr of a value without expiry = %d, %v; want 8, nil", n, err)
			}
			if pttl, _ := raw.Do(ctx, raw.B().Pttl().Key(forever).Build()).AsInt64(); pttl != -1 {
				t.Errorf("after Incr, the value left without expiry has PTTL %d, want -1", pttl)
			}

			if err := raw.Do(ctx, raw.B().Rpush().Key(list).Element("a").Build()).Error(); err != nil {
				t.Fatal(err)
			}
			if n, err := s.Incr(ctx, list, 1, time.Minute); !errors.Is(err, backend.ErrNotCounter) {
				t.Errorf("Incr of a list = %d, %v; want ErrNotCounter", n, err)
			}
			if n, _ := raw.Do(ctx, raw.B().Llen().Key(list).Build()).AsInt64(); n != 1 {
				t.Errorf("the list has %d elements after Incr, want 1", n)
			}
		})
	}
}
