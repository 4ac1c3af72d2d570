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

// startCluster starts a cluster of its own: three masters with a replica each, on free ports,
// with the node timeout of the shared test cluster. It returns the nodes' servers.
func startCluster(t *testing.T) []*testenv.RedisServer {
	t.Helper()
	dir := t.TempDir()
	var nodes []*testenv.RedisServer
	var addrs []string
	for range 6 {
		s := testenv.StartRedis(t, dir, 0, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
			"--cluster-require-full-coverage", "no", "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
			"--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, len(nodes)))
		nodes = append(nodes, s)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(s.Port))
	}
	for _, n := range nodes {
		testenv.WaitFor(t, "a cluster node", 10*time.Second, func() bool {
			out, _ := testenv.RedisCLI("-p", strconv.Itoa(n.Port), "ping")
			return out == "PONG"
		})
	}
	if out, err := testenv.RedisCLI(append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")...); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	testenv.WaitFor(t, "the cluster to cover every slot with replicas in sync", 60*time.Second, func() bool {
		for _, n := range nodes {
			p := strconv.Itoa(n.Port)
			info, _ := testenv.RedisCLI("-p", p, "cluster", "info")
			repl, _ := testenv.RedisCLI("-p", p, "info", "replication")
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") ||
				strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return false
			}
		}
		return true
	})
	return nodes
}

// TestFailover kills a cluster master while goroutines read and write, and reports how long
// until every slot serves again; no call may outlive its context deadline.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own; skipped with -short")
	}
	nodes := startCluster(t)
	url := fmt.Sprintf("redis://127.0.0.1:%d?addr=127.0.0.1:%d&addr=127.0.0.1:%d", nodes[0].Port, nodes[1].Port, nodes[2].Port)
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
