package redisstore_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

// TestGetManyCommands checks what GetMany sends and returns, on a client with only the
// store's Client methods: on a single server one MGET of every key as given; on a cluster one
// command per hash slot, a GET for a slot with one key and an MGET for the keys that share a
// hash tag. A missing key is left out, and a repeated one is kept once, either way.
func TestGetManyCommands(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			raw := testenv.Redis(t, tc.URL, tc.Cluster)
			rec := &recorder{Client: raw}
			s, err := redisstore.New(rec, redisstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			prefix := testenv.Name("CACHE#getmany") + ":"
			want := map[string][]byte{}
			var keys []string
			for i := range 20 {
				k := fmt.Sprintf("%sk%d", prefix, i)
				if i >= 15 {
					k = fmt.Sprintf("%s{tag}%d", prefix, i) // five keys in one slot
				}
				keys = append(keys, k)
				if i%5 == 3 {
					continue // missing: k3, k8, k13 and {tag}18
				}
				want[k] = fmt.Appendf(nil, `"value %d"`, i)
				if err := s.Set(ctx, k, want[k], time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() { s.Delete(context.Background(), keys...) })
			asked := append(slices.Clone(keys), keys[0], keys[16]) // two keys twice
			rec.take()

			found, err := s.GetMany(ctx, asked)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(found, want, slices.Equal) {
				t.Errorf("GetMany = %q, want %q", found, want)
			}
			sent := rec.take()
			if !tc.Cluster {
				if wantCmd := append([]string{"MGET"}, asked...); len(sent) != 1 || !slices.Equal(sent[0], wantCmd) {
					t.Errorf("GetMany sent %q, want one %q", sent, wantCmd)
				}
				return
			}
			// Each slot's keys as asked, the slots in order, as CLUSTER KEYSLOT places them.
			bySlot := map[int64][]string{}
			for _, k := range asked {
				n, err := raw.Do(ctx, raw.B().ClusterKeyslot().Key(k).Build()).AsInt64()
				if err != nil {
					t.Fatal(err)
				}
				bySlot[n] = append(bySlot[n], k)
			}
			var wantCmds [][]string
			for _, n := range slices.Sorted(maps.Keys(bySlot)) {
				if ks := bySlot[n]; len(ks) == 1 {
					wantCmds = append(wantCmds, []string{"GET", ks[0]})
				} else {
					wantCmds = append(wantCmds, append([]string{"MGET"}, ks...))
				}
			}
			if !slices.EqualFunc(sent, wantCmds, slices.Equal) {
				t.Errorf("GetMany sent %q, want %q", sent, wantCmds)
			}
		})
	}
}
