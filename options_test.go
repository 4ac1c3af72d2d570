package cachekit_test

import (
	"errors"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/resilient"
	"github.com/cachekit/cachekit/tiered"
)

// TestConstructorsRefuseOptionsWithErrConfig: every store, decorator and cache refuses options
// it cannot use with an error that wraps ErrConfig, one vocabulary across the packages.
func TestConstructorsRefuseOptionsWithErrConfig(t *testing.T) {
	ms, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	guarded, err := resilient.New(ms, resilient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, build := range map[string]func() error{
		"memstore negative MaxSize":   func() error { _, err := memstore.New(memstore.Options{MaxSize: -1}); return err },
		"dynamostore nil client":      func() error { _, err := dynamostore.New(nil, dynamostore.Options{Table: "t"}); return err },
		"redisstore nil client":       func() error { _, err := redisstore.New(nil, redisstore.Options{}); return err },
		"redisstore bad URL":          func() error { _, err := redisstore.Open("http://\x00", redisstore.Options{}); return err },
		"resilient nil Store":         func() error { _, err := resilient.New(nil, resilient.Options{}); return err },
		"resilient negative timeout":  func() error { _, err := resilient.New(ms, resilient.Options{OpenTimeout: -1}); return err },
		"resilient negative tracking": func() error { _, err := resilient.New(ms, resilient.Options{MaxTracked: -1}); return err },
		"fallback without fallback":   func() error { _, err := resilient.NewFallback(guarded, nil, resilient.FallbackOptions{}); return err },
		"fallback negative tracking": func() error {
			_, err := resilient.NewFallback(guarded, ms, resilient.FallbackOptions{MaxTracked: -1})
			return err
		},
		"tiered nil L2":          func() error { _, err := tiered.New(nil, tiered.Options{}); return err },
		"tiered negative MaxTTL": func() error { _, err := tiered.New(ms, tiered.Options{MaxTTL: -1}); return err },
		"cache nil Store":        func() error { _, err := cachekit.New(nil, cachekit.Options{}); return err },
		"cache bad prefix":       func() error { _, err := cachekit.New(ms, cachekit.Options{Prefix: "app"}); return err },
	} {
		if err := build(); !errors.Is(err, cachekit.ErrConfig) {
			t.Errorf("%s: %v, want an error wrapping ErrConfig", name, err)
		}
	}
}
