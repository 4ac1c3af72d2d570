package compress

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/cachekit/cachekit"
)

// Algorithm is a compression format. Its value is the byte that follows the marker in a
// compressed value.
type Algorithm byte

const (
	// Zstd is Zstandard (RFC 8878), the default: the better ratio on JSON of the two, 3.6×
	// on a 20 KB API response against S2's 2.4×, which is what DynamoDB bills.
	Zstd Algorithm = 0x01
	// S2 is klauspost's S2 written as Snappy-compatible blocks, which every Snappy library
	// reads: about a quarter of Zstd's CPU to compress and a third to a half to decompress,
	// at a lower ratio.
	S2 Algorithm = 0x02
)

// String returns the algorithm's name: "zstd", "s2", or its byte for one this package does not
// know.
func (a Algorithm) String() string {
	switch a {
	case Zstd:
		return "zstd"
	case S2:
		return "s2"
	}
	return fmt.Sprintf("Algorithm(%#02x)", byte(a))
}

// Level trades compression speed for ratio. Decompression speed hardly depends on it.
type Level int

const (
	// LevelFastest, the default, is zstd's fastest level (about zstd's level 1) and S2's
	// Snappy-compatible encoder. On the JSON responses of docs/compression.md, zstd takes
	// about 30% less CPU to compress at it than at LevelBalanced, for a ratio at most 1.3%
	// lower, which changed no DynamoDB unit at any size measured.
	LevelFastest Level = iota
	// LevelBalanced is zstd's default level (about zstd's level 3); for S2, LevelFastest.
	LevelBalanced
	// LevelBetter is about zstd's level 7, and S2's better encoder: a few percent smaller
	// than LevelFastest, for two to three times its CPU.
	LevelBetter
	// LevelBest is the smallest output each encoder makes, at the most CPU: for values
	// written once and read many times.
	LevelBest
)

// Defaults of the zero Options.
const (
	// DefaultThreshold is the size, in bytes of the inner codec's output, from which values
	// are compressed. DynamoDB bills writes per KB of item: below one, compressing saves no
	// unit.
	DefaultThreshold = 1024
	// DefaultMaxSize is the largest value a Codec compresses or decompresses: 8 MiB.
	DefaultMaxSize = 8 << 20
	// maxMaxSize bounds MaxSize: an S2 block declares at most 4 GiB, and no cache value
	// should come near 1 GiB.
	maxMaxSize = 1 << 30
)

// Options configures a Codec. The zero Options compresses with zstd's fastest level the values
// of 1 KB or more, up to 8 MiB.
type Options struct {
	// Algorithm compresses new values. Zero means Zstd. Values of either algorithm are read
	// whatever it is.
	Algorithm Algorithm
	// Level trades the algorithm's speed for its ratio. Zero means LevelFastest.
	Level Level
	// Threshold is the size, in bytes of the inner codec's output, from which a value is
	// compressed; smaller ones are stored as the inner codec wrote them, readable by any
	// client. Zero means DefaultThreshold (1 KB); 1 compresses every value but the empty one.
	// A Threshold above MaxSize compresses nothing, and the Codec only reads compressed values:
	// the first step of turning compression on across a fleet.
	Threshold int
	// MaxSize is the largest value, in bytes of the inner codec's output, that Marshal
	// compresses and that Unmarshal decompresses; past it both report ErrTooLarge, and
	// Unmarshal allocates nothing for the value. Zero means DefaultMaxSize (8 MiB); at most
	// 1 GiB.
	MaxSize int
}

// Errors of compressed values. Through a Cache, both are wrapped in cachekit.ErrEncode or
// cachekit.ErrDecode.
var (
	// ErrTooLarge reports a value larger than Options.MaxSize: one Marshal would compress,
	// or one a compressed value declares it decompresses to.
	ErrTooLarge = errors.New("compress: value larger than Options.MaxSize")
	// ErrCorrupt reports a compressed value that does not decompress: a truncated or altered
	// frame, an algorithm this package does not know, or a zstd frame that does not declare
	// its size.
	ErrCorrupt = errors.New("compress: corrupt compressed value")
)

// marker begins every compressed value; the algorithm's byte follows it.
var marker = [4]byte{0xC1, 'c', 'k', 0x02}

// headerSize is the marker and the algorithm's byte.
const headerSize = len(marker) + 1

// IsCompressed reports whether data is a compressed value: the marker and an algorithm byte,
// known or not.
func IsCompressed(data []byte) bool {
	return len(data) >= headerSize && [4]byte(data[:4]) == marker
}

// Codec is a cachekit.Codec that compresses what its inner codec writes, from a threshold on.
// Make one with New; it is safe for concurrent use, and its encoders and decoders are shared by
// its calls.
type Codec struct {
	inner     cachekit.Codec
	alg       Algorithm
	level     Level
	threshold int
	maxSize   int
	encoder   func() (*zstd.Encoder, error)
	decoder   func() (*zstd.Decoder, error)
}

var _ cachekit.Codec = (*Codec)(nil)

// New returns a Codec that compresses what inner writes, as opts says; nil inner means
// cachekit.JSON. It reports an invalid option with cachekit.ErrConfig.
func New(inner cachekit.Codec, opts Options) (*Codec, error) {
	if inner == nil {
		inner = cachekit.JSON
	}
	if opts.Algorithm == 0 {
		opts.Algorithm = Zstd
	}
	if opts.Threshold == 0 {
		opts.Threshold = DefaultThreshold
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	switch {
	case opts.Algorithm != Zstd && opts.Algorithm != S2:
		return nil, fmt.Errorf("compress: Options.Algorithm %v is neither Zstd nor S2: %w", opts.Algorithm, cachekit.ErrConfig)
	case opts.Level < LevelFastest || opts.Level > LevelBest:
		return nil, fmt.Errorf("compress: Options.Level %d is not a Level: %w", opts.Level, cachekit.ErrConfig)
	case opts.Threshold < 0:
		return nil, fmt.Errorf("compress: Options.Threshold %d is negative: %w", opts.Threshold, cachekit.ErrConfig)
	case opts.MaxSize < 0 || opts.MaxSize > maxMaxSize:
		return nil, fmt.Errorf("compress: Options.MaxSize %d is not within 0 to 1 GiB: %w", opts.MaxSize, cachekit.ErrConfig)
	}
	c := &Codec{inner: inner, alg: opts.Algorithm, level: opts.Level, threshold: opts.Threshold, maxSize: opts.MaxSize}
	// Made on first use: a service that writes S2 and never reads zstd pays for no zstd state,
	// and a Lambda function's cold start for none until a value needs it.
	c.encoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		// A single-segment frame always declares its content size, which Unmarshal requires;
		// without the flag, a frame of less than 256 bytes would not.
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstdLevels[c.level]), zstd.WithSingleSegment(true))
	})
	c.decoder = sync.OnceValues(func() (*zstd.Decoder, error) {
		// The size check of Unmarshal comes first; these bound what a frame that lies about
		// its size can make the decoder write.
		return zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(c.maxSize)), zstd.WithDecodeAllCapLimit(true))
	})
	return c, nil
}

var zstdLevels = [...]zstd.EncoderLevel{
	LevelFastest:  zstd.SpeedFastest,
	LevelBalanced: zstd.SpeedDefault,
	LevelBetter:   zstd.SpeedBetterCompression,
	LevelBest:     zstd.SpeedBestCompression,
}

// Marshal encodes v with the inner codec and compresses the result when it reaches the
// threshold and compression makes it smaller.
func (c *Codec) Marshal(v any) ([]byte, error) {
	data, err := c.inner.Marshal(v)
	// A value that begins with the marker is compressed whatever its size, so that it cannot
	// be read back as a compressed one. A threshold over MaxSize compresses nothing, and so
	// refuses nothing: a Codec that only reads compressed values writes what the inner codec
	// would alone.
	plain := len(data) < c.threshold || c.threshold > c.maxSize
	if err != nil || plain && !IsCompressed(data) {
		return data, err
	}
	if len(data) > c.maxSize {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, len(data), c.maxSize)
	}
	out, err := c.compress(data)
	if err != nil {
		return nil, err
	}
	if len(out) >= len(data) && !IsCompressed(data) {
		return data, nil
	}
	return out, nil
}

// scratch holds the buffers values are compressed into before the result is copied out at
// its size: a Store keeps the slice Marshal returns (memstore, tiered's L1), and spare
// capacity would stay with it.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// maxScratch bounds the buffers put back in scratch, so that one large value does not keep
// its buffer alive for every later small one.
const maxScratch = 1 << 20

// compress returns data compressed with the Codec's algorithm, after the header.
func (c *Codec) compress(data []byte) ([]byte, error) {
	bp := scratch.Get().(*[]byte)
	buf := append((*bp)[:0], marker[0], marker[1], marker[2], marker[3], byte(c.alg))
	switch c.alg {
	case Zstd:
		enc, err := c.encoder()
		if err != nil {
			return nil, fmt.Errorf("compress: zstd encoder: %w", err)
		}
		buf = enc.EncodeAll(data, buf)
	case S2:
		// The encoder writes into dst only when dst has room for the worst case.
		need := headerSize + s2.MaxEncodedLen(len(data))
		if cap(buf) < need {
			buf = append(make([]byte, 0, need), buf...)
		}
		n := len(s2Encoders[c.level](buf[headerSize:need], data))
		buf = buf[:headerSize+n]
	}
	out := make([]byte, len(buf))
	copy(out, buf)
	if cap(buf) <= maxScratch {
		*bp = buf
		scratch.Put(bp)
	}
	return out, nil
}

var s2Encoders = [...]func(dst, src []byte) []byte{
	LevelFastest:  s2.EncodeSnappy,
	LevelBalanced: s2.EncodeSnappy,
	LevelBetter:   s2.EncodeSnappyBetter,
	LevelBest:     s2.EncodeSnappyBest,
}

// Unmarshal decompresses data if it is compressed, and decodes the result with the inner
// codec into v.
func (c *Codec) Unmarshal(data []byte, v any) error {
	if !IsCompressed(data) {
		return c.inner.Unmarshal(data, v)
	}
	plain, err := c.decompress(data)
	if err != nil {
		return err
	}
	return c.inner.Unmarshal(plain, v)
}

// decompress returns what the compressed value data holds, or ErrTooLarge or ErrCorrupt. It
// reads the size the frame or block declares before it allocates, and allocates that size.
func (c *Codec) decompress(data []byte) ([]byte, error) {
	alg, frame := Algorithm(data[len(marker)]), data[headerSize:]
	switch alg {
	case Zstd:
		var h zstd.Header
		if err := h.Decode(frame); err != nil {
			return nil, fmt.Errorf("%w: zstd frame header: %w", ErrCorrupt, err)
		}
		switch {
		case h.Skippable || !h.HasFCS:
			return nil, fmt.Errorf("%w: the zstd frame does not declare its content size", ErrCorrupt)
		case h.FrameContentSize > uint64(c.maxSize):
			return nil, fmt.Errorf("%w: the zstd frame declares %d bytes, over %d", ErrTooLarge, h.FrameContentSize, c.maxSize)
		}
		dec, err := c.decoder()
		if err != nil {
			return nil, fmt.Errorf("compress: zstd decoder: %w", err)
		}
		// With the decoder's cap limit, DecodeAll writes no more than the declared size.
		out, err := dec.DecodeAll(frame, make([]byte, 0, h.FrameContentSize))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
		}
		if uint64(len(out)) != h.FrameContentSize {
			return nil, fmt.Errorf("%w: the zstd frame declares %d bytes and holds %d", ErrCorrupt, h.FrameContentSize, len(out))
		}
		return out, nil
	case S2:
		n, err := s2.DecodedLen(frame)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: s2 block header: %w", ErrCorrupt, err)
		case n > c.maxSize:
			return nil, fmt.Errorf("%w: the s2 block declares %d bytes, over %d", ErrTooLarge, n, c.maxSize)
		}
		out, err := s2.Decode(make([]byte, n), frame)
		if err != nil {
			return nil, fmt.Errorf("%w: s2: %w", ErrCorrupt, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown algorithm %#02x (written by a newer version?)", ErrCorrupt, byte(alg))
}
