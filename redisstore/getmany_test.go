package redisstore_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/internal/testenv"
)

// TestGetManyCommands checks what GetMany sends and returns, on a client with only the
// store's Client methods: on a single server one MGET of every key as given; on a cluster one
// command per hash slot, a GET for a slot with one key and an MGET for the keys that share a
// hash tag, or a key asked twice. A missing key is left out, and a repeated one is kept once,
// either way.
func TestGetManyCommands(t *testing.T) {
	for name, tc := range testenv.RedisTargets() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, rec, raw := recorded(t, tc)
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
			for _, asked := range [][]string{
				append(slices.Clone(keys), keys[0], keys[16]), // two keys twice
				keys[:15], // no hash tag, each key once
			} {
				rec.take()
				found, err := s.GetMany(ctx, asked)
				if err != nil {
					t.Fatal(err)
				}
				if wantFound := maps.Collect(func(yield func(string, []byte) bool) {
					for _, k := range asked {
						if v, ok := want[k]; ok && !yield(k, v) {
							return
						}
					}
				}); !maps.EqualFunc(found, wantFound, slices.Equal) {
					t.Errorf("GetMany(%q) = %q, want %q", asked, found, wantFound)
				}
				sent, wantCmds := rec.take(), getManyCommands(t, raw, asked, tc.Cluster)
				byText := func(a, b []string) int { return slices.Compare(a, b) }
				slices.SortFunc(sent, byText) // the order of the commands is the store's to choose
				slices.SortFunc(wantCmds, byText)
				if !slices.EqualFunc(sent, wantCmds, slices.Equal) {
					t.Errorf("GetMany sent %q, want %q", sent, wantCmds)
				}
			}
		})
	}
}

// getManyCommands returns what GetMany should send for keys: one MGET of them all on a single
// server; on a cluster, for each slot CLUSTER KEYSLOT places them in, a GET of a key alone in
// its slot, or an MGET of several in the order asked.
func getManyCommands(t *testing.T, raw rueidis.Client, keys []string, cluster bool) [][]string {
	t.Helper()
	if !cluster {
		return [][]string{append([]string{"MGET"}, keys...)}
	}
	bySlot := map[int64][]string{}
	for _, k := range keys {
		n, err := raw.Do(context.Background(), raw.B().ClusterKeyslot().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		bySlot[n] = append(bySlot[n], k)
	}
	var cmds [][]string
	for _, ks := range bySlot {
		if len(ks) == 1 {
			cmds = append(cmds, []string{"GET", ks[0]})
		} else {
			cmds = append(cmds, append([]string{"MGET"}, ks...))
		}
	}
	return cmds
}
