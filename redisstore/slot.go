package redisstore

import (
	"cmp"
	"context"
	"iter"
	"slices"
	"strings"

	"github.com/redis/rueidis"
)

// mget reads keys into found, which gets the value of each key that is there. On a single
// server it sends one MGET. On a cluster, where MGET takes the keys of one hash slot, it sends
// one command per slot, which DoMulti pipelines to each slot's node: a GET for a slot with one
// of the keys, whose reply is the value itself rather than an array of one, and an MGET for a
// slot with more (keys that share a hash tag). A repeated key is read twice and kept once.
func mget(ctx context.Context, c Client, keys []string, found map[string][]byte) error {
	if c.Mode() != rueidis.ClientModeCluster {
		values, err := do(ctx, c, c.B().Mget().Key(keys...).Build()).ToArray()
		if err != nil {
			return err
		}
		for i := range values {
			if err := keep(found, keys[i], &values[i]); err != nil {
				return err
			}
		}
		return nil
	}
	sorted, ends := bySlot(keys)
	cmds := make(rueidis.Commands, len(ends))
	for i, start := range starts(ends) {
		if ends[i]-start == 1 {
			cmds[i] = c.B().Get().Key(sorted[start]).Build()
		} else {
			cmds[i] = c.B().Mget().Key(sorted[start:ends[i]]...).Build()
		}
	}
	res := doMulti(ctx, c, cmds...)
	for i, start := range starts(ends) {
		if ends[i]-start == 1 {
			if err := keep(found, sorted[start], res[i]); err != nil {
				return err
			}
			continue
		}
		values, err := res[i].ToArray()
		if err != nil {
			return err
		}
		for j := range values {
			if err := keep(found, sorted[start+j], &values[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// keep puts key's value, a reply to GET or one of MGET's, in found, unless the reply is nil:
// the key is not there.
func keep[R interface{ AsBytes() ([]byte, error) }](found map[string][]byte, key string, reply R) error {
	v, err := reply.AsBytes()
	switch {
	case rueidis.IsRedisNil(err):
		return nil
	case err != nil:
		return err
	}
	found[key] = v
	return nil
}

// bySlot returns keys ordered by hash slot, each slot's in the order given, and where each
// slot's run of them ends: the keys of the i-th slot are sorted[ends[i-1]:ends[i]], from 0
// for the first.
func bySlot(keys []string) (sorted []string, ends []int) {
	type slotted struct {
		slot uint16
		key  string
	}
	all := make([]slotted, len(keys))
	for i, k := range keys {
		all[i] = slotted{slot(k), k}
	}
	slices.SortStableFunc(all, func(a, b slotted) int { return cmp.Compare(a.slot, b.slot) })
	sorted = make([]string, len(keys))
	for i, e := range all {
		sorted[i] = e.key
		if i+1 == len(all) || all[i+1].slot != e.slot {
			ends = append(ends, i+1)
		}
	}
	return sorted, ends
}

// starts returns the start of each run that ends gives the ends of.
func starts(ends []int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		start := 0
		for i, end := range ends {
			if !yield(i, start) {
				return
			}
			start = end
		}
	}
}

// slot returns a key's Redis Cluster hash slot: CRC16 (XMODEM) of the key, or of its hash
// tag — the part between the first { and the next } when that part is not empty — mod 16384.
func slot(key string) uint16 {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^key[i]]
	}
	return crc & 16383
}

// crcTable is CRC16-XMODEM's (polynomial 0x1021) table, one entry per byte.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
