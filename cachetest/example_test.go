package cachetest_test

import (
	"testing"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/memstore"
)

// TestConformance is how a backend author runs the kit, as docs/api.md shows it: one test in
// the backend's own package, whose New builds the store under test on the kit's clock. Here
// the store is memstore; a new backend puts its own constructor in New.
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
