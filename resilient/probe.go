package resilient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// DefaultProbePrefix is the default of FallbackOptions.ProbePrefix.
const DefaultProbePrefix = "CACHE#health:"

// probeTTL bounds a probe key's life, should its delete fail.
const probeTTL = 30 * time.Second

// probe reports whether s answers as a cache must: a key of its own under prefix is written,
// read back, compared and deleted. The delete runs even when an earlier step failed, to
// leave nothing behind. Its errors name the step that failed.
func probe(ctx context.Context, s backend.Store, prefix string) error {
	token := make([]byte, 8)
	_, _ = rand.Read(token)
	key := prefix + hex.EncodeToString(token)
	want := []byte(`"` + hex.EncodeToString(token) + `"`)
	err := s.Set(ctx, key, want, probeTTL)
	if err != nil {
		err = fmt.Errorf("set: %w", err)
	} else {
		switch got, gerr := s.Get(ctx, key); {
		case gerr != nil:
			err = fmt.Errorf("get: %w", gerr)
		case !bytes.Equal(got, want):
			err = errors.New("get: read back a different value than was written")
		}
	}
	if derr := s.Delete(ctx, key); derr != nil && err == nil {
		err = fmt.Errorf("delete: %w", derr)
	}
	return err
}
