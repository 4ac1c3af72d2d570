package benchmarks

import "testing"

// TestHitRatio holds memstore's policy to its goals on the Zipf trace: no worse than the FIFO map
// of the seed design, and within one point of otter, whose W-TinyLFU it wraps.
func TestHitRatio(t *testing.T) {
	trace := zipfTrace()
	ratio := func(spec engineSpec) float64 {
		t.Helper()
		e, err := spec.new(capacity)
		if err != nil {
			t.Fatalf("%s: %v", spec.name, err)
		}
		defer e.Close()
		return replay(e, trace) * 100
	}
	mem, otter, fifo := ratio(engineNamed(t, "memstore")), ratio(engineNamed(t, "otter")), ratio(fifoSpec)
	t.Logf("hit%%: memstore %.2f, otter %.2f, fifo %.2f", mem, otter, fifo)
	if mem < fifo {
		t.Errorf("memstore hit%% %.2f is below FIFO's %.2f", mem, fifo)
	}
	if mem < otter-1 {
		t.Errorf("memstore hit%% %.2f is more than 1 point below otter's %.2f", mem, otter)
	}
}

// engineNamed returns the spec of the engine called name.
func engineNamed(t *testing.T, name string) engineSpec {
	t.Helper()
	for _, spec := range engines {
		if spec.name == name {
			return spec
		}
	}
	t.Fatalf("no engine %q", name)
	return engineSpec{}
}
