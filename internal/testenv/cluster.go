package testenv

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartCluster starts a Redis cluster of the test's own: three masters with a replica each,
// on free ports, with the node timeout of the shared test cluster, for what the shared
// cluster must not be put through (a master killed). It returns the six nodes' servers once
// every slot is served and every replica is in sync.
func StartCluster(t testing.TB) []*RedisServer {
	t.Helper()
	dir := t.TempDir()
	var nodes []*RedisServer
	var addrs []string
	for range 6 {
		s := StartRedis(t, dir, 0, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
			"--cluster-require-full-coverage", "no", "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
			"--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, len(nodes)))
		nodes = append(nodes, s)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(s.Port))
	}
	for _, n := range nodes {
		WaitFor(t, "a cluster node", 10*time.Second, func() bool {
			out, _ := RedisCLI("-p", strconv.Itoa(n.Port), "ping")
			return out == "PONG"
		})
	}
	if out, err := RedisCLI(append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")...); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	WaitFor(t, "the cluster to cover every slot with replicas in sync", 60*time.Second, func() bool {
		for _, n := range nodes {
			p := strconv.Itoa(n.Port)
			info, _ := RedisCLI("-p", p, "cluster", "info")
			repl, _ := RedisCLI("-p", p, "info", "replication")
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") ||
				strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return false
			}
		}
		return true
	})
	return nodes
}

// IsMaster reports whether the node answers ROLE as a master.
func (s *RedisServer) IsMaster() bool {
	role, _ := RedisCLI("-p", strconv.Itoa(s.Port), "role")
	return strings.HasPrefix(role, "master")
}

// ClusterURL is the URL of a cluster StartCluster started, with its first three nodes as seeds.
func ClusterURL(nodes []*RedisServer) string {
	return fmt.Sprintf("redis://127.0.0.1:%d?addr=127.0.0.1:%d&addr=127.0.0.1:%d", nodes[0].Port, nodes[1].Port, nodes[2].Port)
}
