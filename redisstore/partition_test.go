package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

// TestPartition checks that a cluster's keys are named by their master's slot ranges once
// the store has made a call, and that a single server is one partition.
func TestPartition(t *testing.T) {
	ctx := context.Background()
	cluster, err := redisstore.New(testenv.Redis(t, testenv.RedisClusterURL(), true), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := cluster.Partition("CACHE#k"); p != "" {
		t.Errorf("Partition before the first call = %q, want the whole store", p)
	}
	if _, err := cluster.Has(ctx, testenv.Name("CACHE#partition")); err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for i := range 1000 {
		p := cluster.Partition(fmt.Sprintf("CACHE#partition:%d", i))
		if !strings.HasPrefix(p, "slots ") {
			t.Fatalf("Partition = %q, want a master's slot ranges", p)
		}
		names[p]++
	}
	if len(names) != 3 {
		t.Errorf("1000 keys fall in %d partitions (%v); want one per master of the 3", len(names), names)
	}
	if a, b := cluster.Partition("{user1}:a"), cluster.Partition("{user1}:b"); a != b {
		t.Errorf("keys of one hash tag fall in %q and %q; want one partition", a, b)
	}

	single, err := redisstore.New(testenv.Redis(t, testenv.RedisURL(), false), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := single.Has(ctx, "CACHE#partition"); err != nil {
		t.Fatal(err)
	}
	if p := single.Partition("CACHE#k"); p != "" {
		t.Errorf("Partition on a single server = %q, want the whole store", p)
	}
}
