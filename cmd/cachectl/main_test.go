package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// result is what one run of cachectl did.
type result struct {
	code           int
	stdout, stderr string
}

// runArgs runs cachectl in process as main does, each run with a Cache of its own.
func runArgs(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// runAt runs cachectl as runArgs does, with limit's windows read on clock: a test that
// counts in a window stands it still, so that no run crosses the window's edge.
func runAt(t *testing.T, clock *cachetest.Clock, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := newCLI(&out, &errOut)
	c.clock = clock
	code := c.run(t.Context(), args)
	return result{code, out.String(), errOut.String()}
}

// session runs cachectl commands against one Store that outlives each run, as a remote
// backend would, on a clock that stands still.
type session struct {
	t     *testing.T
	store *memstore.Store
	clock *cachetest.Clock
	// configure, when set, adjusts each run's cli before it runs.
	configure func(*cli)
}

func newSession(t *testing.T) *session {
	t.Helper()
	clock := cachetest.NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	st, err := memstore.New(memstore.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &session{t: t, store: st, clock: clock}
}

// run runs one command line against the session's Store.
func (s *session) run(args ...string) result {
	s.t.Helper()
	return s.runContext(s.t.Context(), args...)
}

func (s *session) runContext(ctx context.Context, args ...string) result {
	s.t.Helper()
	var out, errOut bytes.Buffer
	c := newCLI(&out, &errOut)
	c.clock = s.clock
	c.open = func(cfg cacheenv.Config) (*cachekit.Cache, error) {
		// Open checks the Config as a real run would; the Cache then uses the session's Store.
		checked, err := cacheenv.Open(cfg)
		if err != nil {
			return nil, err
		}
		checked.Close()
		return cachekit.New(keepOpen{s.store}, cachekit.Options{Prefix: cfg.KeyPrefix, TTL: cfg.DefaultTTL})
	}
	if s.configure != nil {
		s.configure(c)
	}
	code := c.run(ctx, args)
	return result{code, out.String(), errOut.String()}
}

// keepOpen is a Store whose Close leaves the Store it wraps open for the next run. It unwraps,
// so that incr and limit find the abilities of the Store underneath.
type keepOpen struct{ cachekit.Store }

func (keepOpen) Close() error { return nil }

func (k keepOpen) Unwrap() cachekit.Store { return k.Store }

// brokenSession runs commands against a Store that fails every call, as a backend that is down.
func brokenSession(t *testing.T) *session {
	s := newSession(t)
	s.store.Close()
	return s
}

func (r result) check(t *testing.T, args []string, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("cachectl %q: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, code, r.stdout, r.stderr)
	}
}
