package backend

import (
	"encoding/binary"
	"time"
)

// Envelope is a value together with what a view with freshness options keeps beside it: when
// it stops being fresh, how long loading it took, and whether it stands for a key the source of
// truth lacks (a tombstone). A Store keeps an envelope's bytes as they are, or, where its
// format has room for attributes beside a value (DynamoDB), splits them into the value and an
// attribute, and joins them again on the way back: every Store hands back the bytes it was given.
//
// The bytes are a 17-byte header, then the value:
//
//	offset  size  field
//	0       4     magic: 0xC1 'c' 'k' 0x01 (0xC1 begins no JSON text, UTF-8 string or MessagePack value)
//	4       1     flags: bit 0 set for a tombstone; the other bits are zero
//	5       8     fresh until, Unix milliseconds, big-endian signed
//	13      4     the last load's duration, milliseconds, big-endian unsigned
//	17      …     the value, as the view's codec wrote it (empty for a tombstone)
//
// The value may itself begin with 0xC1 'c' 'k' 0x02, the marker of a value package compress
// compressed: the two headers differ in their fourth byte, and nest only this way.
type Envelope struct {
	// Value is the encoded value; empty for a tombstone.
	Value []byte
	// FreshUntil is when the value stops being fresh. After it, until the entry's TTL ends,
	// a view with a grace period serves it stale while one refresh runs.
	FreshUntil time.Time
	// LoadTime is how long the load that produced the value took, which scales how early a
	// view refreshes it (XFetch).
	LoadTime time.Duration
	// NotFound marks a tombstone: the source of truth had no value for the key.
	NotFound bool
}

const (
	envelopeHeader = 17
	flagNotFound   = 1
)

var envelopeMagic = [4]byte{0xC1, 'c', 'k', 0x01}

// Append appends the envelope's bytes to dst and returns the extended slice.
func (e Envelope) Append(dst []byte) []byte {
	var h [envelopeHeader]byte
	copy(h[:], envelopeMagic[:])
	if e.NotFound {
		h[4] = flagNotFound
	}
	binary.BigEndian.PutUint64(h[5:], uint64(e.FreshUntil.UnixMilli()))
	ms := e.LoadTime.Milliseconds()
	binary.BigEndian.PutUint32(h[13:], uint32(min(max(ms, 0), 1<<32-1)))
	return append(append(dst, h[:]...), e.Value...)
}

// IsEnvelope reports whether data holds an envelope's bytes.
func IsEnvelope(data []byte) bool {
	return len(data) >= envelopeHeader && [4]byte(data[:4]) == envelopeMagic && data[4]&^flagNotFound == 0
}

// ParseEnvelope returns the envelope data holds, and whether it holds one. The envelope's Value
// shares data's memory. Every envelope Append writes parses back to itself, to the millisecond
// (a load time below zero comes back as zero, one over 2³²−1 ms as that), and every one
// ParseEnvelope accepts appends back to the same bytes.
func ParseEnvelope(data []byte) (Envelope, bool) {
	if !IsEnvelope(data) {
		return Envelope{}, false
	}
	return Envelope{
		Value:      data[envelopeHeader:],
		FreshUntil: time.UnixMilli(int64(binary.BigEndian.Uint64(data[5:]))),
		LoadTime:   time.Duration(binary.BigEndian.Uint32(data[13:])) * time.Millisecond,
		NotFound:   data[4]&flagNotFound != 0,
	}, true
}
