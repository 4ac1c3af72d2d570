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

func TestConformance(t *testing.T) {
	cachetest.Run(t, cachetest.Harness{
		New: func(t *testing.T, clock backend.Clock) backend.Store {
			s, err := memstore.New(memstore.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
