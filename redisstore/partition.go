package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit/backend"
)

var _ backend.Partitioner = (*Store)(nil)

// slotParts maps each hash slot to the part of a cluster that serves it: the slot ranges one
// master held when the store first learned the topology.
type slotParts struct {
	names []string     // names[0] is "", for a slot no master held
	owner [16384]uint8 // index into names; a cluster has at most 255 masters here, else one part
}

// Partition implements backend.Partitioner. On a cluster it names the slot ranges of the
// master that serves key's hash slot, such as "slots 0-5460": a replica promoted in a
// failover takes over the same ranges, so the name outlives the failover. On a single server,
// and on a cluster until the store's first call has learned its slots, it returns "": the
// whole store. The ranges are learned once per store; a resharding after that leaves the
// old grouping, in which one name may then cover the slots of two masters.
func (s *Store) Partition(key string) string {
	p := s.parts.Load()
	if p == nil {
		return ""
	}
	return p.names[p.owner[slot(key)]]
}

// learnSlots reads the cluster's slot ranges, once: the first call that finds them unknown
// asks, within its own context, and the others go on without waiting. A failure leaves them
// unknown for a later call to ask again.
func (s *Store) learnSlots(ctx context.Context, c Client) {
	if s.parts.Load() != nil || c.Mode() != rueidis.ClientModeCluster || !s.learning.CompareAndSwap(false, true) {
		return
	}
	defer s.learning.Store(false)
	reply, err := c.Do(ctx, c.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return
	}
	if p, ok := parseSlots(reply); ok {
		s.parts.Store(p)
	}
}

// parseSlots reads a CLUSTER SLOTS reply: one entry per slot range, [start, end, master,
// replicas…], the master as [host, port, id, …].
func parseSlots(reply []rueidis.RedisMessage) (*slotParts, bool) {
	ranges := map[string][][2]int64{} // by master
	for _, r := range reply {
		e, err := r.ToArray()
		if err != nil || len(e) < 3 {
			return nil, false
		}
		start, err1 := e[0].AsInt64()
		end, err2 := e[1].AsInt64()
		node, err3 := e[2].ToArray()
		if err1 != nil || err2 != nil || err3 != nil || len(node) < 2 || start < 0 || end >= 16384 || start > end {
			return nil, false
		}
		host, _ := node[0].ToString()
		port, _ := node[1].AsInt64()
		master := host + ":" + strconv.FormatInt(port, 10)
		ranges[master] = append(ranges[master], [2]int64{start, end})
	}
	if len(ranges) == 0 || len(ranges) > 255 {
		return nil, false
	}
	p := &slotParts{names: []string{""}}
	for _, rs := range ranges {
		slices.SortFunc(rs, func(a, b [2]int64) int { return int(a[0] - b[0]) })
		parts := make([]string, len(rs))
		for i, r := range rs {
			parts[i] = fmt.Sprintf("%d-%d", r[0], r[1])
		}
		p.names = append(p.names, "slots "+strings.Join(parts, ","))
		for _, r := range rs {
			for i := r[0]; i <= r[1]; i++ {
				p.owner[i] = uint8(len(p.names) - 1)
			}
		}
	}
	return p, true
}
