package memstore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/memstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func conformance(t *testing.T, wall bool) {
	cachetest.Run(t, cachetest.Harness{
		WallClock: wall,
		New: func(t *testing.T, clock backend.Clock) backend.Store {
			s, err := memstore.New(memstore.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestConformance(t *testing.T) { conformance(t, false) }

// TestConformanceWallClock runs the kit on the store as production builds it, with no clock:
// expiry by the process's monotonic clock.
func TestConformanceWallClock(t *testing.T) { conformance(t, true) }
