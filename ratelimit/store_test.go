package ratelimit_test

import (
	"testing"
	"time"

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

// fleetBackends returns, for every backend, a function that opens n Stores on one shared
// backend, as n instances of a service would.
func fleetBackends() map[string]func(t *testing.T, n int) []backend.Store {
	return map[string]func(t *testing.T, n int) []backend.Store{
		"memory": func(t *testing.T, n int) []backend.Store {
			s := newFakeStore(systemClock{})
			out := make([]backend.Store, n)
			for i := range out {
				out[i] = s
			}
			return out
		},
	}
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
