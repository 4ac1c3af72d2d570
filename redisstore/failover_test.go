package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

// TestFailover kills a cluster master while goroutines read and write, and reports how long
// until every slot serves again; no call may outlive its context deadline.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own; skipped with -short")
	}
	nodes := testenv.StartCluster(t)
	url := testenv.ClusterURL(nodes)
	s, err := redisstore.Open(url, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var entries []backend.Entry
	var keys []string
	for i := range 300 {
		k := fmt.Sprintf("CACHE#failover:%d", i)
		keys = append(keys, k)
		entries = append(entries, backend.Entry{Key: k, Value: []byte(strconv.Itoa(i)), TTL: time.Hour})
	}
	if err := s.SetMany(context.Background(), entries); err != nil {
		t.Fatal(err)
	}

	// The load: each call bounded by a deadline; record the longest overrun and the failures.
	const deadline = 500 * time.Millisecond
	var calls, failures atomic.Int64
	var worstOverrun atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[rng.IntN(len(keys))]
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				start := time.Now()
				var err error
				if rng.IntN(10) == 0 {
					err = s.Set(ctx, k, []byte(`1`), time.Hour)
				} else {
					_, err = s.Get(ctx, k)
				}
				if over := time.Since(start) - deadline; over > time.Duration(worstOverrun.Load()) {
					worstOverrun.Store(int64(over))
				}
				cancel()
				calls.Add(1)
				if err != nil {
					failures.Add(1)
				}
			}
		})
	}

	victim := -1
	for i, n := range nodes {
		if role, _ := testenv.RedisCLI("-p", strconv.Itoa(n.Port), "role"); strings.HasPrefix(role, "master") {
			victim = i
			break
		}
	}
	if victim < 0 {
		t.Fatal("no master found")
	}
	killed := time.Now()
	nodes[victim].Kill()

	// Every slot serves again when a write of all 300 keys, which span every master, succeeds.
	var recovered time.Duration
	testenv.WaitFor(t, "every slot to serve again after the master was killed", 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if s.SetMany(ctx, entries) != nil {
			return false
		}
		recovered = time.Since(killed)
		return true
	})
	close(stop)
	wg.Wait()

	t.Logf("failover: every slot served again %v after a master was killed (goal: under 10s); "+
		"%d calls under load, %d failed during the outage; longest overrun of a %v deadline: %v",
		recovered.Round(time.Millisecond), calls.Load(), failures.Load(), deadline, time.Duration(worstOverrun.Load()).Round(time.Millisecond))
	// A hung call would outlive its deadline by the seconds the failover takes; the slack
	// leaves room for a loaded CI machine's scheduling, not for a hang.
	if over := time.Duration(worstOverrun.Load()); over > time.Second {
		t.Errorf("a call outlived its %v deadline by %v: a hung backend must cost the caller no more than its deadline", deadline, over)
	}
	got, err := s.GetMany(context.Background(), keys)
	if err != nil || len(got) != len(keys) {
		t.Errorf("GetMany after the failover = %d entries, %v; want all %d", len(got), err, len(keys))
	}
}
