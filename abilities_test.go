package cachekit_test

import (
	"log/slog"
	"testing"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
	"github.com/cachekit/cachekit/tiered"
)

// wrapper is a user's own decorator: it declares nothing but Unwrap, and the abilities of
// the Stores behind it are still found.
type wrapper struct{ backend.Store }

func (w wrapper) Unwrap() backend.Store { return w.Store }

// TestAbilitiesAreFoundThroughDecorators: a Cache finds the breaker's status, the tier's L2
// and the sweeper along any chain of decorators, a user's own included.
func TestAbilitiesAreFoundThroughDecorators(t *testing.T) {
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := resilient.New(wrapper{ms}, resilient.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tier, err := tiered.New(b, tiered.Options{})
	if err != nil {
		t.Fatal(err)
	}
	top := wrapper{tier}
	defer top.Close()

	if r, ok := backend.Find[backend.StatusReporter](top); !ok || r.Status().Breaker != "closed" {
		t.Errorf("Find[StatusReporter] = %v, %v; want the breaker behind the tier, closed", r, ok)
	}
	if tr, ok := backend.Find[backend.Tier](top); !ok || tr.L2() != b {
		t.Errorf("Find[Tier] = %v, %v; want the tier, whose L2 is the breaker", tr, ok)
	}
	if s, ok := backend.Find[backend.Sweeper](top); !ok || s != backend.Sweeper(tier) {
		t.Errorf("Find[Sweeper] = %v, %v; want the tier, the first sweeper along the chain", s, ok)
	}
	if _, ok := backend.Find[backend.Partitioner](top); ok {
		t.Error("Find[Partitioner] found one; no Store in the chain is partitioned")
	}
	if s, ok := backend.Find[backend.Sweeper](wrapper{b}); !ok || s != backend.Sweeper(ms) {
		t.Errorf("Find[Sweeper] through the breaker = %v, %v; want the memstore", s, ok)
	}
}
