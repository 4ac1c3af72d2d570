package resilient

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sony/gobreaker/v2"

	"github.com/cachekit/cachekit/backend"
)

// circuit is one circuit breaker: the whole Store's, or one partition's.
type circuit = gobreaker.TwoStepCircuitBreaker[struct{}]

// partitions is a Breaker's circuits per partition, for a Store that is a
// backend.Partitioner: a Redis cluster's masters fail apart, so each gets a circuit of its
// own, and an outage of one leaves the others' keys served. Keys whose partition is not
// known ("") go through the whole Store's circuit.
type partitions struct {
	of    backend.Partitioner // nil: one circuit for every key
	make  func(name string) *circuit
	mu    sync.RWMutex
	byKey map[string]*circuit // by partition name; few, as Partitioner promises
}

// circuit returns the circuit that judges calls on key.
func (b *Breaker) circuit(key string) *circuit {
	if b.parts.of == nil {
		return b.cb
	}
	name := b.parts.of.Partition(key)
	if name == "" {
		return b.cb
	}
	b.parts.mu.RLock()
	c := b.parts.byKey[name]
	b.parts.mu.RUnlock()
	if c != nil {
		return c
	}
	b.parts.mu.Lock()
	defer b.parts.mu.Unlock()
	if c = b.parts.byKey[name]; c == nil {
		if b.parts.byKey == nil {
			b.parts.byKey = map[string]*circuit{}
		}
		c = b.parts.make(b.o.Name + " " + name)
		b.parts.byKey[name] = c
	}
	return c
}

// group is the positions, in a batch, of the keys one circuit judges.
type group struct {
	c   *circuit
	at  []int
	key func(int) string
}

func (g group) keys() []string {
	keys := make([]string, len(g.at))
	for i, at := range g.at {
		keys[i] = g.key(at)
	}
	return keys
}

// split groups the n keys of a batch by the circuit that judges each, in the order of each
// circuit's first key: one group on a Store that is not partitioned.
func (b *Breaker) split(n int, key func(int) string) []group {
	if b.parts.of == nil {
		at := make([]int, n)
		for i := range at {
			at[i] = i
		}
		return []group{{c: b.cb, at: at, key: key}}
	}
	var groups []group
	index := map[*circuit]int{}
	for i := range n {
		c := b.circuit(key(i))
		g, ok := index[c]
		if !ok {
			g = len(groups)
			index[c] = g
			groups = append(groups, group{c: c, key: key})
		}
		groups[g].at = append(groups[g].at, i)
	}
	return groups
}

// each runs fn on every group: at once when there are several, so that a batch spread over a
// cluster costs one round trip, as it does through a Store that sends it to every node at
// once. It returns when every fn has.
func each(groups []group, fn func(group)) {
	if len(groups) == 1 {
		fn(groups[0])
		return
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() { fn(g) })
	}
	wg.Wait()
}

// partitionOpen reports whether the circuit of some partition is open.
func (b *Breaker) partitionOpen() bool {
	b.parts.mu.RLock()
	defer b.parts.mu.RUnlock()
	for _, c := range b.parts.byKey {
		if c.State() == gobreaker.StateOpen {
			return true
		}
	}
	return false
}

// errPartitionOpen is why a Count or Clear is refused while a partition's circuit is open:
// it would miss that partition's keys.
var errPartitionOpen = errors.New("a partition of the store is open")

// refuseWhole refuses a call on the whole Store (Count, Clear) while some partition's circuit
// is open, as the whole Store's open circuit would.
func (b *Breaker) refuseWhole() error {
	if !b.partitionOpen() {
		return nil
	}
	b.refused.Add(1)
	return fmt.Errorf("%w: %w", ErrOpen, errPartitionOpen)
}

// worstState is the state of the circuit that keeps the most from the backend: open over
// half-open over closed.
func (b *Breaker) worstState() gobreaker.State {
	worst := b.cb.State()
	b.parts.mu.RLock()
	defer b.parts.mu.RUnlock()
	for _, c := range b.parts.byKey {
		if s := c.State(); rank(s) > rank(worst) {
			worst = s
		}
	}
	return worst
}

func rank(s gobreaker.State) int {
	switch s {
	case gobreaker.StateOpen:
		return 2
	case gobreaker.StateHalfOpen:
		return 1
	}
	return 0
}

// openPartitions counts the partitions whose circuit is open.
func (b *Breaker) openPartitions() int {
	b.parts.mu.RLock()
	defer b.parts.mu.RUnlock()
	n := 0
	for _, c := range b.parts.byKey {
		if c.State() == gobreaker.StateOpen {
			n++
		}
	}
	return n
}
