package resilient

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/cachekit/cachekit/backend"
)

// pending is a bounded set of keys whose values in a store may be older than the latest
// write or delete, and must be invalidated there before they are read there again. Past its
// limit it keeps instead the longest prefix its keys share, which a Clear invalidates. The
// zero value is empty.
type pending struct {
	keys     map[string]struct{}
	overflow bool   // past the limit, or a Clear was recorded: common is the prefix to clear
	common   string // the longest prefix of every key and prefix added; meaningful when some
	some     bool   // something was added
}

// add records keys, keeping at most limit of them.
func (p *pending) add(limit int, keys ...string) {
	for _, k := range keys {
		if p.some {
			p.common = commonPrefix(p.common, k)
		} else {
			p.common, p.some = k, true
		}
		if p.overflow {
			continue
		}
		if p.keys == nil {
			p.keys = map[string]struct{}{}
		}
		p.keys[k] = struct{}{}
		if len(p.keys) > limit {
			p.overflow, p.keys = true, nil
		}
	}
}

// addPrefix records a Clear of prefix: its keys are unknown, so the prefix is cleared.
func (p *pending) addPrefix(prefix string) {
	p.add(0, prefix) // a limit of 0 overflows at once
}

// merge adds what o holds.
func (p *pending) merge(o pending, limit int) {
	if o.overflow {
		p.addPrefix(o.common)
	}
	for k := range o.keys {
		p.add(limit, k)
	}
}

// covers reports whether key's value may be stale.
func (p *pending) covers(key string) bool {
	switch {
	case !p.some:
		return false
	case p.overflow:
		return strings.HasPrefix(key, p.common)
	}
	_, ok := p.keys[key]
	return ok
}

// take returns what p holds and empties it.
func (p *pending) take() pending {
	o := *p
	*p = pending{}
	return o
}

// invalidate deletes p's keys on every store, or clears the prefix they share, and returns
// how many keys it invalidated.
func (p pending) invalidate(ctx context.Context, stores ...backend.Store) (int, error) {
	if !p.some {
		return 0, nil
	}
	if p.overflow {
		if p.common == "" {
			return 0, errors.New("the changed keys share no prefix to clear")
		}
		n := 0
		for _, s := range stores {
			m, err := s.Clear(ctx, p.common)
			if err != nil {
				return n, err
			}
			n = max(n, m)
		}
		return n, nil
	}
	keys := slices.Collect(maps.Keys(p.keys))
	done := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		for _, s := range stores {
			if err := s.Delete(ctx, batch...); err != nil {
				return done, err
			}
		}
		done += len(batch)
		keys = keys[len(batch):]
	}
	return done, nil
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return strings.ToValidUTF8(a[:i], "")
}
