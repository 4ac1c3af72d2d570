package msgpack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/cachekit/cachekit"
)

// Codec writes values as MessagePack, with integers in their shortest form, and reads them
// back; see the package documentation.
var Codec cachekit.Codec = codec{}

type codec struct{}

// maxPooled bounds the buffers kept for later encodes, so that one large value does not keep
// its buffer for the life of the process.
const maxPooled = 64 << 10

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Marshal encodes v into a pooled buffer and returns a copy of exactly its size: one
// allocation, where msgpack.Marshal grows a buffer of its own from nothing.
func (codec) Marshal(v any) ([]byte, error) {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	enc := msgpack.GetEncoder()
	enc.Reset(buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	err := enc.Encode(v)
	msgpack.PutEncoder(enc)
	var out []byte
	if err == nil {
		out = bytes.Clone(buf.Bytes())
	}
	if buf.Cap() <= maxPooled {
		buffers.Put(buf)
	}
	if err != nil {
		return nil, fmt.Errorf("msgpack: %w", err)
	}
	return out, nil
}

var readers = sync.Pool{New: func() any { return new(bytes.Reader) }}

// Unmarshal checks data (see check) and decodes it into v. The decoder copies what it keeps:
// strings and byte slices in v do not share data's memory.
func (codec) Unmarshal(data []byte, v any) error {
	if err := check(data); err != nil {
		return fmt.Errorf("msgpack: %w", err)
	}
	r := readers.Get().(*bytes.Reader)
	r.Reset(data)
	dec := msgpack.GetDecoder()
	dec.Reset(r)
	dec.SetCustomStructTag("json")
	dec.UsePreallocateValues(true)
	err := dec.Decode(v)
	msgpack.PutDecoder(dec)
	r.Reset(nil)
	readers.Put(r)
	if err != nil {
		return fmt.Errorf("msgpack: %w", err)
	}
	return nil
}

var errTruncated = errors.New("a length or a count runs past the end of the value")

// check walks the MessagePack value at the start of data, without allocating, and reports an
// error when a header is malformed or a length or count claims more than data holds: the
// decoder sizes its allocations by those lengths before it reads, so a few corrupt bytes
// would otherwise cost gigabytes. Bytes after the value are left to the decoder, which
// ignores them.
func check(data []byte) error {
	pending := 1 // values still to walk
	i := 0
	for pending > 0 {
		if i >= len(data) {
			return errTruncated
		}
		c := data[i]
		i++
		pending--
		var skip, items int // bytes of payload to skip; values that follow inside this one
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, booleans
		case c <= 0x8f: // fixmap
			items = 2 * int(c&0x0f)
		case c <= 0x9f: // fixarray
			items = int(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = int(c & 0x1f)
		default:
			h := headers[c]
			if !h.known {
				return fmt.Errorf("invalid code 0x%02x at byte %d", c, i-1)
			}
			n := h.fixed
			if h.size > 0 {
				if len(data)-i < h.size {
					return errTruncated
				}
				switch h.size {
				case 1:
					n = uint64(data[i])
				case 2:
					n = uint64(binary.BigEndian.Uint16(data[i:]))
				case 4:
					n = uint64(binary.BigEndian.Uint32(data[i:]))
				}
				i += h.size
			}
			if n > uint64(len(data)) {
				return errTruncated
			}
			switch h.kind {
			case payload:
				skip = int(n) + h.extra
			case array:
				items = int(n)
			case object:
				items = 2 * int(n)
			}
		}
		if len(data)-i < skip {
			return errTruncated
		}
		i += skip
		// Every value takes a byte at least: a count beyond the bytes left cannot be honest.
		if pending+items > len(data)-i {
			return errTruncated
		}
		pending += items
	}
	return nil
}

// header describes a code whose value is more than its first byte: size bytes of length or
// count, or else fixed bytes of payload; extra bytes before a payload of that length (an ext's
// type); and what the length counts.
type header struct {
	known bool
	size  int
	fixed uint64
	extra int
	kind  int
}

const (
	payload = iota // skip the bytes
	array          // n values follow
	object         // n pairs follow
)

var headers = [256]header{
	0xc4: {known: true, size: 1}, 0xc5: {known: true, size: 2}, 0xc6: {known: true, size: 4}, // bin 8, 16, 32
	0xc7: {known: true, size: 1, extra: 1}, 0xc8: {known: true, size: 2, extra: 1}, 0xc9: {known: true, size: 4, extra: 1}, // ext 8, 16, 32
	0xca: {known: true, fixed: 4}, 0xcb: {known: true, fixed: 8}, // float 32, 64
	0xcc: {known: true, fixed: 1}, 0xcd: {known: true, fixed: 2}, 0xce: {known: true, fixed: 4}, 0xcf: {known: true, fixed: 8}, // uint 8–64
	0xd0: {known: true, fixed: 1}, 0xd1: {known: true, fixed: 2}, 0xd2: {known: true, fixed: 4}, 0xd3: {known: true, fixed: 8}, // int 8–64
	0xd4: {known: true, fixed: 2}, 0xd5: {known: true, fixed: 3}, 0xd6: {known: true, fixed: 5}, 0xd7: {known: true, fixed: 9}, 0xd8: {known: true, fixed: 17}, // fixext 1–16, with its type
	0xd9: {known: true, size: 1}, 0xda: {known: true, size: 2}, 0xdb: {known: true, size: 4}, // str 8, 16, 32
	0xdc: {known: true, size: 2, kind: array}, 0xdd: {known: true, size: 4, kind: array}, // array 16, 32
	0xde: {known: true, size: 2, kind: object}, 0xdf: {known: true, size: 4, kind: object}, // map 16, 32
}
