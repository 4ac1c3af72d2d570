package fleet

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cachekit/cachekit"
)

// Value is what the source of truth returns for a key: the key, so that a reader can tell it
// was served its own key's value, and when the source answered, so that it can tell how stale
// the value is.
type Value struct {
	Key      string `json:"k"`
	LoadedAt int64  `json:"t"` // Unix nanoseconds
}

// The keys of a run: the hot key, the Zipf keys ("k0", "k1", ...), and the keys the source
// lacks ("m0", "m1", ...).
const (
	hotKey     = "hot"
	keyPrefix  = "k"
	missPrefix = "m"
)

// call is one call of the source for a key, as offsets from the start of the run: end is
// zero for a call that was cancelled before it answered.
type call struct {
	start, end time.Duration
}

// source is the source of truth: every call takes its latency, and is counted per key.
type source struct {
	latency time.Duration
	t0      time.Time

	mu    sync.Mutex
	calls map[string][]call
}

func newSource(latency time.Duration, t0 time.Time) *source {
	return &source{latency: latency, t0: t0, calls: map[string][]call{}}
}

// load is the views' Loader: it answers after the source's latency, or when ctx ends, with the
// key's value, or an error wrapping cachekit.ErrNotFound for a key the source lacks.
func (s *source) load(ctx context.Context, key string) (Value, error) {
	s.mu.Lock()
	i := len(s.calls[key])
	s.calls[key] = append(s.calls[key], call{start: time.Since(s.t0)})
	s.mu.Unlock()

	t := time.NewTimer(s.latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return Value{}, fmt.Errorf("fleet: source: %w", ctx.Err())
	case <-t.C:
	}
	now := time.Now()
	s.mu.Lock()
	s.calls[key][i].end = now.Sub(s.t0)
	s.mu.Unlock()
	if strings.HasPrefix(key, missPrefix) {
		return Value{}, fmt.Errorf("fleet: source: no %q: %w", key, cachekit.ErrNotFound)
	}
	return Value{Key: key, LoadedAt: now.UnixNano()}, nil
}

// snapshot returns a copy of the calls of every key that started before end.
func (s *source) snapshot(end time.Duration) map[string][]call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]call, len(s.calls))
	for k, cs := range s.calls {
		for _, c := range cs {
			if c.start < end {
				out[k] = append(out[k], c)
			}
		}
	}
	return out
}
