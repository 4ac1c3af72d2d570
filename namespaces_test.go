package cachekit_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestPrefixesEndWithASeparator: a prefix that does not end with a separator could be the
// start of another ("a" of "ab"), and is refused wherever a Cache or view is built.
func TestPrefixesEndWithASeparator(t *testing.T) {
	ctx := context.Background()
	for _, p := range []string{"a", "ab", "CACHE", "CACHE#[x]", "CACHE#geo", "CACHE#geo:-", "x."} {
		if _, err := cachekit.New(quiet(t), cachekit.Options{Prefix: p}); !errors.Is(err, cachekit.ErrInvalidKey) || !errors.Is(err, cachekit.ErrConfig) {
			t.Errorf("New with prefix %q: %v; want ErrInvalidKey and ErrConfig", p, err)
		}
		cfg := cacheenv.Config{StorageType: "memory", KeyPrefix: p}
		if err := cfg.Validate(); !errors.Is(err, cachekit.ErrInvalidKey) {
			t.Errorf("Config with key prefix %q: %v; want ErrInvalidKey", p, err)
		}
	}
	c := newCache(t, nil, cachekit.Options{})
	for _, p := range []string{"geo", "a:b", "[x]"} {
		v := cachekit.Typed[int](c, p, 0)
		if err := v.Set(ctx, "k", 1, 0); !errors.Is(err, cachekit.ErrInvalidKey) {
			t.Errorf("Set on view %q: %v; want ErrInvalidKey", p, err)
		}
	}
	for _, p := range []string{"CACHE#", "CACHE#geo:", "svc/", "svc|", "a:b#"} {
		if _, err := cachekit.New(quiet(t), cachekit.Options{Prefix: p}); err != nil {
			t.Errorf("New with prefix %q: %v", p, err)
		}
	}
	for _, p := range []string{"", "geo:", "a/b/", "[x]|"} {
		if err := cachekit.Typed[int](c, p, 0).Set(ctx, "k", 1, 0); err != nil {
			t.Errorf("Set on view %q: %v", p, err)
		}
	}
}

func quiet(t *testing.T) cachekit.Store {
	t.Helper()
	s := realStores()["memory"](t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestNamespacesDoNotBleed runs, on every backend, views whose prefixes share a start ("a:"
// and "ab:", "[x]:" and "[x]y:"): each sees and clears its own entries only, while the
// parent, by design, sees and clears all of them.
func TestNamespacesDoNotBleed(t *testing.T) {
	for name, open := range realStores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			parent, err := cachekit.New(open(t), cachekit.Options{Prefix: testenv.Name("CACHE#ns") + ":"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = parent.Clear(context.Background())
				_ = parent.Close()
			})
			views := map[string]*cachekit.View[string]{}
			for _, p := range []string{"a:", "ab:", "[x]:", "[x]y:"} {
				v := cachekit.Typed[string](parent, p, 0)
				views[p] = v
				// "bk1" under "a:" is what "k1" under "ab:" was before prefixes ended with a
				// separator: the same whole key.
				if err := v.SetMany(ctx, map[string]string{"k1": p + "k1", "bk1": p + "bk1", "yk1": p + "yk1"}, 0); err != nil {
					t.Fatal(err)
				}
			}
			for p, v := range views {
				for _, k := range []string{"k1", "bk1", "yk1"} {
					if got, err := v.Get(ctx, k); err != nil || got != p+k {
						t.Errorf("%s Get(%s) = %q, %v; want %q", p, k, got, err, p+k)
					}
					if ok, err := v.Has(ctx, k); err != nil || !ok {
						t.Errorf("%s Has(%s) = %v, %v; want true", p, k, ok, err)
					}
				}
				if _, err := v.Get(ctx, "missing"); !errors.Is(err, cachekit.ErrNotFound) {
					t.Errorf("%s Get(missing) = %v; want ErrNotFound", p, err)
				}
				got, err := v.GetMany(ctx, []string{"k1", "bk1", "yk1", "1", "y", "]y:k1"})
				if err != nil || len(got) != 3 {
					t.Errorf("%s GetMany = %v, %v; want its own 3 entries", p, got, err)
				}
				if st, err := v.Stats(ctx); err != nil || st.Keys != 3 {
					t.Errorf("%s Stats.Keys = %d, %v; want 3", p, st.Keys, err)
				}
			}
			if st, err := parent.Stats(ctx); err != nil || st.Keys != 12 {
				t.Errorf("parent Stats.Keys = %d, %v; want all 12 of its views' entries", st.Keys, err)
			}
			// Clearing one view leaves every other view's entries alone.
			for _, p := range []string{"a:", "[x]:"} {
				if n, err := views[p].Clear(ctx); err != nil || n != 3 {
					t.Errorf("%s Clear = %d, %v; want its 3 entries", p, n, err)
				}
			}
			for _, p := range slices.Sorted(maps.Keys(views)) {
				want := 3
				if p == "a:" || p == "[x]:" {
					want = 0
				}
				if st, err := views[p].Stats(ctx); err != nil || st.Keys != want {
					t.Errorf("after clearing a: and [x]:, %s Stats.Keys = %d, %v; want %d", p, st.Keys, err, want)
				}
			}
			// The parent's Clear reaches into every view: nesting by design.
			if n, err := parent.Clear(ctx); err != nil || n != 6 {
				t.Errorf("parent Clear = %d, %v; want the 6 entries left in its views", n, err)
			}
			if st, err := views["ab:"].Stats(ctx); err != nil || st.Keys != 0 {
				t.Errorf("after the parent's Clear, ab: Stats.Keys = %d, %v; want 0", st.Keys, err)
			}
		})
	}
}
