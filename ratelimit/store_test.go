package ratelimit_test

import (
	"testing"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
)

// openStore returns a fresh in-memory Store with both abilities on clock.
func openStore(t *testing.T, clock *cachetest.Clock) backend.Store {
	t.Helper()
	s := newFakeStore(clock)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
