package cachetest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/memstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Broken stores, each a memstore with one promise of the contract broken, and the subtest of
// the kit that must catch it.
var broken = map[string]struct {
	wrap   func(*memstore.Store) backend.Store
	caught string
	wall   bool // run on the wall clock, Harness.WallClock
}{
	"expire creates":                       {func(s *memstore.Store) backend.Store { return expireCreates{s} }, "ExpireMissingNeverCreates", false},
	"clear overreaches":                    {func(s *memstore.Store) backend.Store { return clearOverreaches{s} }, "CountAndClearScoped", false},
	"has ignores expiry":                   {func(s *memstore.Store) backend.Store { return &hasIgnoresExpiry{Store: s, seen: map[string]bool{}} }, "ExpiryOnEveryReadPath", false},
	"has ignores expiry on the wall clock": {func(s *memstore.Store) backend.Store { return &hasIgnoresExpiry{Store: s, seen: map[string]bool{}} }, "ExpiryOnEveryReadPath", true},
	"no key rules":                         {func(s *memstore.Store) backend.Store { return noKeyRules{s} }, "KeyRules", false},
	"close ignored":                        {func(s *memstore.Store) backend.Store { return closeIgnored{s} }, "Closed", false},
	"release ignores the token":            {func(s *memstore.Store) backend.Store { return releaseIgnoresToken{s} }, "Lease", false},
	"lease never expires":                  {func(s *memstore.Store) backend.Store { return &leaseNeverExpires{Store: s, held: map[string]bool{}} }, "LeaseExpires", false},
	"incr extends the TTL":                 {func(s *memstore.Store) backend.Store { return incrExtends{s} }, "CounterExpires", false},
	"incr overwrites a value":              {func(s *memstore.Store) backend.Store { return incrOverwrites{s} }, "CounterNotACounter", false},
}

// TestKitCatchesBrokenStores runs the kit, in a child process, against each broken store and
// checks that it fails in the subtest that covers the broken promise.
func TestKitCatchesBrokenStores(t *testing.T) {
	if name := os.Getenv("CACHETEST_BROKEN"); name != "" {
		b := broken[name]
		cachetest.Run(t, cachetest.Harness{WallClock: b.wall, New: func(t *testing.T, clock backend.Clock) backend.Store {
			s, err := memstore.New(memstore.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			return b.wrap(s)
		}})
		return
	}
	for name, b := range broken {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestKitCatchesBrokenStores$", "-test.v")
			cmd.Env = append(os.Environ(), "CACHETEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a store whose %s", name)
			}
			if !strings.Contains(string(out), "--- FAIL: TestKitCatchesBrokenStores/"+b.caught) {
				t.Errorf("the kit did not fail %s for a store whose %s:\n%s", b.caught, name, out)
			}
		})
	}
}

func TestKitPassesMemstore(t *testing.T) {
	for name, wall := range map[string]bool{"KitClock": false, "WallClock": true} {
		t.Run(name, func(t *testing.T) {
			cachetest.Run(t, cachetest.Harness{WallClock: wall, New: func(t *testing.T, clock backend.Clock) backend.Store {
				if wall && clock != nil {
					t.Fatalf("the kit passed a clock, %v, to a wall-clock store", clock)
				}
				s, err := memstore.New(memstore.Options{Clock: clock})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}})
		})
	}
}

// TestKitSkipsWhatTheStoreLacks runs the kit over a store with every optional ability's
// methods that answers each with errors.ErrUnsupported, as a decorator that passes the
// abilities on does over a store without them: their subtests skip, and the rest pass.
func TestKitSkipsWhatTheStoreLacks(t *testing.T) {
	cachetest.Run(t, cachetest.Harness{New: func(t *testing.T, clock backend.Clock) backend.Store {
		s, err := memstore.New(memstore.Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		return lacksAbilities{struct{ backend.Store }{s}}
	}})
}

// lacksAbilities has the methods of backend.Leaser, backend.Counter and backend.Throttler over
// a store without the abilities.
type lacksAbilities struct{ backend.Store }

var errLacks = fmt.Errorf("the store behind has no such ability: %w", errors.ErrUnsupported)

func (lacksAbilities) Acquire(context.Context, string, string, time.Duration) (bool, error) {
	return false, errLacks
}

func (lacksAbilities) Release(context.Context, string, string) error { return errLacks }

func (lacksAbilities) Incr(context.Context, string, int64, time.Duration) (int64, error) {
	return 0, errLacks
}

func (lacksAbilities) Throttle(context.Context, string, time.Duration, time.Duration) (backend.Throttle, error) {
	return backend.Throttle{}, errLacks
}

type expireCreates struct{ *memstore.Store }

func (s expireCreates) Expire(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.Store.Expire(ctx, key, ttl); err != nil {
		_ = s.Store.Set(ctx, key, []byte("null"), ttl)
		return err
	}
	return nil
}

type clearOverreaches struct{ *memstore.Store }

func (s clearOverreaches) Clear(ctx context.Context, prefix string) (int, error) {
	if len(prefix) > 1 {
		prefix = prefix[:len(prefix)-1]
	}
	return s.Store.Clear(ctx, prefix)
}

// hasIgnoresExpiry answers Has for every key ever set. It is safe for concurrent use, so that
// the kit's concurrency subtest finds nothing else wrong with it.
type hasIgnoresExpiry struct {
	*memstore.Store
	mu   sync.Mutex
	seen map[string]bool
}

func (s *hasIgnoresExpiry) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	s.seen[key] = true
	s.mu.Unlock()
	return s.Store.Set(ctx, key, value, ttl)
}

func (s *hasIgnoresExpiry) Has(ctx context.Context, key string) (bool, error) {
	if ok, err := s.Store.Has(ctx, key); ok || err != nil {
		return ok, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key], nil
}

type noKeyRules struct{ *memstore.Store }

func (s noKeyRules) Get(ctx context.Context, key string) ([]byte, error) {
	if backend.CheckKey(key) != nil {
		return nil, backend.ErrNotFound
	}
	return s.Store.Get(ctx, key)
}

type closeIgnored struct{ *memstore.Store }

func (s closeIgnored) Close() error { return nil }

type releaseIgnoresToken struct{ *memstore.Store }

func (s releaseIgnoresToken) Release(ctx context.Context, key, _ string) error {
	return s.Store.Delete(ctx, key)
}

// leaseNeverExpires refuses a lease on a key it ever granted one for, until a Release. It is
// safe for concurrent use.
type leaseNeverExpires struct {
	*memstore.Store
	mu   sync.Mutex
	held map[string]bool
}

func (s *leaseNeverExpires) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[key] {
		return false, nil
	}
	ok, err := s.Store.Acquire(ctx, key, token, ttl)
	s.held[key] = ok
	return ok, err
}

func (s *leaseNeverExpires) Release(ctx context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, key)
	return s.Store.Release(ctx, key, token)
}

// incrExtends gives a counter the TTL of every increment, as an INCR followed by an EXPIRE would.
type incrExtends struct{ *memstore.Store }

func (s incrExtends) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	n, err := s.Store.Incr(ctx, key, delta, ttl)
	if err == nil {
		err = s.Store.Expire(ctx, key, ttl)
	}
	return n, err
}

// incrOverwrites starts a counter over a value that is not one.
type incrOverwrites struct{ *memstore.Store }

func (s incrOverwrites) Incr(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	n, err := s.Store.Incr(ctx, key, delta, ttl)
	if errors.Is(err, backend.ErrNotCounter) {
		return delta, s.Store.Set(ctx, key, []byte(strconv.FormatInt(delta, 10)), ttl)
	}
	return n, err
}
