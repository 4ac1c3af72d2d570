package cacheenv_test

import (
	"testing"

	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/internal/testenv"
)

func TestMain(m *testing.M) {
	// The process-wide Cache lives as long as the process; close it before looking for leaks.
	testenv.VerifyNoLeaks(m, func() { _ = cacheenv.Default().Close() })
}
