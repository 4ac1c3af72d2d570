package redisstore

import (
	"context"
	"strings"

	"github.com/redis/rueidis"
)

// mget reads keys with MGET: one command on a single server; on a cluster one per hash
// slot, which DoMulti sends to each slot's node, pipelined per node. A key appears in the
// result once, with its reply.
func mget(ctx context.Context, c Client, keys []string) (map[string]rueidis.RedisMessage, error) {
	groups := [][]string{keys}
	if c.Mode() == rueidis.ClientModeCluster {
		bySlot := make(map[uint16]int, len(keys))
		groups = groups[:0]
		for _, k := range keys {
			s := slot(k)
			i, ok := bySlot[s]
			if !ok {
				i = len(groups)
				bySlot[s] = i
				groups = append(groups, nil)
			}
			groups[i] = append(groups[i], k)
		}
	}
	cmds := make(rueidis.Commands, len(groups))
	for i, g := range groups {
		cmds[i] = c.B().Mget().Key(g...).Build()
	}
	found := make(map[string]rueidis.RedisMessage, len(keys))
	for i, r := range doMulti(ctx, c, cmds...) {
		values, err := r.ToArray()
		if err != nil {
			return nil, err
		}
		for j, v := range values {
			found[groups[i][j]] = v
		}
	}
	return found, nil
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
