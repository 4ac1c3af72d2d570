package redisstore

import "testing"

// TestSlot checks the hash slots against the values the Redis Cluster specification and
// CLUSTER KEYSLOT give, hash tags included.
func TestSlot(t *testing.T) {
	for key, want := range map[string]uint16{
		"123456789":            12739, // CRC16 0x31C3, the specification's check value
		"foo":                  12182,
		"{user1000}.following": 3443,
		"{user1000}.followers": 3443,
		"user1000":             3443,
		"foo{}{bar}":           8363, // an empty tag: the whole key
		"foo{{bar}}zap":        4015, // the tag is "{bar"
		"foo{bar}{zap}":        5061, // the first tag only
		"":                     0,
	} {
		if got := slot(key); got != want {
			t.Errorf("slot(%q) = %d, want %d", key, got, want)
		}
	}
}
