package benchmarks

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, after the tests, that no cache under comparison left a goroutine running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
