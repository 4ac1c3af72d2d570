package ratelimit_test

// TEST-ONLY STAND-IN, to be removed once memstore, redisstore and dynamostore implement
// backend.Counter and backend.Throttler: a minimal in-memory Store with both abilities, behind
// one mutex, on an injected clock. It follows the two contracts (backend/counter.go,
// backend/throttle.go) and nothing more; every other Store method panics.

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/cachekit/cachekit/backend"
)

type fakeEntry struct {
	value   []byte
	expires time.Time
}

type fakeStore struct {
	backend.Store // nil: the methods the limiter never calls panic
	clock         backend.Clock
	mu            sync.Mutex
	entries       map[string]fakeEntry
}

func newFakeStore(clock backend.Clock) *fakeStore {
	return &fakeStore{clock: clock, entries: map[string]fakeEntry{}}
}

// live returns the unexpired entry under key; the caller holds mu.
func (s *fakeStore) live(key string) (fakeEntry, bool) {
	e, ok := s.entries[key]
	if ok && !s.clock.Now().Before(e.expires) {
		delete(s.entries, key)
		return fakeEntry{}, false
	}
	return e, ok
}

func (s *fakeStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := backend.ContextErr(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key)
	if !ok {
		return nil, backend.ErrNotFound
	}
	return e.value, nil
}

func (s *fakeStore) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	if err := backend.ContextErr(ctx); err != nil {
		return 0, err
	}
	if err := backend.CheckKey(key); err != nil {
		return 0, err
	}
	if err := backend.CheckTTL(ttl); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key)
	var n int64
	if ok {
		var err error
		if n, err = strconv.ParseInt(string(e.value), 10, 64); err != nil {
			return 0, backend.ErrNotCounter
		}
	} else {
		e.expires = s.clock.Now().Add(ttl)
	}
	n += delta
	e.value = []byte(strconv.FormatInt(n, 10))
	s.entries[key] = e
	return n, nil
}

func (s *fakeStore) Throttle(ctx context.Context, key string, cost, tolerance time.Duration) (backend.Throttle, error) {
	if err := backend.ContextErr(ctx); err != nil {
		return backend.Throttle{}, err
	}
	if err := backend.CheckKey(key); err != nil {
		return backend.Throttle{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	tat := now
	if e, ok := s.live(key); ok {
		us, err := strconv.ParseInt(string(e.value), 10, 64)
		if err != nil {
			return backend.Throttle{}, backend.ErrNotCounter
		}
		tat = time.UnixMicro(us)
	}
	stored := tat
	tat = later(tat, now)
	if tat.Add(cost - tolerance).After(now) {
		return backend.Throttle{Allowed: false, TAT: stored, Now: now}, nil
	}
	next := tat.Add(cost)
	s.entries[key] = fakeEntry{value: []byte(strconv.FormatInt(next.UnixMicro(), 10)), expires: next}
	return backend.Throttle{Allowed: true, TAT: next, Now: now}, nil
}

func (s *fakeStore) Close() error { return nil }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
