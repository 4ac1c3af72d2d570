package ratelimit_test

import (
	"testing"

	"github.com/cachekit/cachekit/internal/testenv"
)

func TestMain(m *testing.M) { testenv.VerifyNoLeaks(m) }
