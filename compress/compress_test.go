package compress_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/internal/apidata"
	"github.com/cachekit/cachekit/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// raw is a codec for []byte that writes a value's bytes as they are, so that a test chooses
// the exact bytes the compressing codec gets.
type raw struct{}

func (raw) Marshal(v any) ([]byte, error) { return bytes.Clone(v.([]byte)), nil }

func (raw) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = bytes.Clone(data)
	return nil
}

func mustNew(t testing.TB, inner cachekit.Codec, opts compress.Options) *compress.Codec {
	t.Helper()
	c, err := compress.New(inner, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// roundTrip marshals v with c, unmarshals the result with c, and returns the stored bytes.
func roundTrip(t *testing.T, c cachekit.Codec, v []byte) []byte {
	t.Helper()
	stored, err := c.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal of %d bytes: %v", len(v), err)
	}
	var got []byte
	if err := c.Unmarshal(stored, &got); err != nil {
		t.Fatalf("Unmarshal of %d stored bytes: %v", len(stored), err)
	}
	if !bytes.Equal(got, v) {
		t.Fatalf("round trip of %d bytes gave %d other bytes", len(v), len(got))
	}
	return stored
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
		for _, level := range []compress.Level{compress.LevelFastest, compress.LevelBalanced, compress.LevelBetter, compress.LevelBest} {
			t.Run(fmt.Sprintf("%v/level%d", alg, level), func(t *testing.T) {
				c := mustNew(t, raw{}, compress.Options{Algorithm: alg, Level: level})
				for _, size := range []int{1 << 10, 10 << 10, 100 << 10} {
					v := apidata.Response(size, 1)
					stored := roundTrip(t, c, v)
					if !compress.IsCompressed(stored) || stored[4] != byte(alg) {
						t.Errorf("%d bytes are stored as % x…, want the marker and %v's byte", size, stored[:5], alg)
					}
					if len(stored) >= size {
						t.Errorf("%d bytes of JSON are stored in %d", size, len(stored))
					}
				}
			})
		}
	}
}

// TestTypedValues goes through the default inner codec, JSON, into a struct.
func TestTypedValues(t *testing.T) {
	type order struct {
		ID    string   `json:"id"`
		Lines []string `json:"lines"`
	}
	want := order{ID: "ord_1"}
	for i := range 200 {
		want.Lines = append(want.Lines, fmt.Sprintf("line %d of the order", i))
	}
	c := mustNew(t, nil, compress.Options{})
	stored, err := c.Marshal(want)
	if err != nil || !compress.IsCompressed(stored) {
		t.Fatalf("Marshal = % x…, %v; want a compressed value", stored[:5], err)
	}
	var got order
	if err := c.Unmarshal(stored, &got); err != nil || got.ID != want.ID || len(got.Lines) != len(want.Lines) {
		t.Errorf("Unmarshal = %+v, %v", got.ID, err)
	}
	plain, _ := cachekit.JSON.Marshal(want)
	var back json.RawMessage
	if err := c.Unmarshal(stored, &back); err != nil || !bytes.Equal(back, plain) {
		t.Errorf("the decompressed bytes are not what cachekit.JSON writes: %v", err)
	}
}

// TestThreshold: a value below the threshold is stored as the inner codec wrote it, one at
// the threshold is compressed.
func TestThreshold(t *testing.T) {
	c := mustNew(t, raw{}, compress.Options{Threshold: 2000})
	v := apidata.Response(2000, 1)
	if stored := roundTrip(t, c, v[:1999]); !bytes.Equal(stored, v[:1999]) {
		t.Error("a value one byte under the threshold was changed")
	}
	if stored := roundTrip(t, c, v); !compress.IsCompressed(stored) {
		t.Error("a value at the threshold was not compressed")
	}
	def := mustNew(t, raw{}, compress.Options{})
	if stored := roundTrip(t, def, v[:compress.DefaultThreshold-1]); compress.IsCompressed(stored) {
		t.Error("the default threshold compressed a value under 1 KB")
	}
	if stored := roundTrip(t, def, v[:compress.DefaultThreshold]); !compress.IsCompressed(stored) {
		t.Error("the default threshold did not compress a value of 1 KB")
	}
}

// TestIncompressibleStaysPlain: bytes that do not shrink are stored as they are.
func TestIncompressibleStaysPlain(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]byte, 8<<10)
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
		if stored := roundTrip(t, mustNew(t, raw{}, compress.Options{Algorithm: alg}), v); !bytes.Equal(stored, v) {
			t.Errorf("%v: random bytes were stored in %d bytes, not as they are", alg, len(stored))
		}
	}
}

// TestMarkerIsEscaped: a value of the inner codec that begins with the marker, of any size,
// compressible or not, comes back as itself.
func TestMarkerIsEscaped(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	c := mustNew(t, raw{}, compress.Options{})
	for _, v := range [][]byte{
		{0xC1, 'c', 'k', 0x02},       // the marker alone: too short to be a compressed value
		{0xC1, 'c', 'k', 0x02, 0x01}, // the header alone
		{0xC1, 'c', 'k', 0x02, 0x01, 0x28, 0xb5, 0x2f, 0xfd},
		append([]byte{0xC1, 'c', 'k', 0x02, 0x02}, noise...),
		{0xC1, 'c', 'k', 0x01, 0x00}, // the envelope's magic is not the marker
	} {
		roundTrip(t, c, v)
	}
}

// TestReadsEitherAlgorithm: a Codec reads what the other algorithm wrote, and one whose
// threshold no value reaches reads compressed values and writes none.
func TestReadsEitherAlgorithm(t *testing.T) {
	v := apidata.Response(10<<10, 2)
	readOnly := mustNew(t, raw{}, compress.Options{Threshold: compress.DefaultMaxSize + 1})
	if stored := roundTrip(t, readOnly, v); !bytes.Equal(stored, v) {
		t.Error("a Codec whose threshold is over MaxSize compressed a value")
	}
	for _, w := range []compress.Algorithm{compress.Zstd, compress.S2} {
		stored, _ := mustNew(t, raw{}, compress.Options{Algorithm: w}).Marshal(v)
		for _, r := range []compress.Algorithm{compress.Zstd, compress.S2} {
			var got []byte
			if err := mustNew(t, raw{}, compress.Options{Algorithm: r}).Unmarshal(stored, &got); err != nil || !bytes.Equal(got, v) {
				t.Errorf("a %v Codec reading %v: %v", r, w, err)
			}
		}
		var got []byte
		if err := readOnly.Unmarshal(stored, &got); err != nil || !bytes.Equal(got, v) {
			t.Errorf("the read-only Codec reading %v: %v", w, err)
		}
	}
}

// TestStandardFrames: what follows the header is a standard zstd frame that declares its size,
// or a Snappy block, which the reference decoders of either format read.
func TestStandardFrames(t *testing.T) {
	v := apidata.Response(20<<10, 3)
	stored, _ := mustNew(t, raw{}, compress.Options{Algorithm: compress.Zstd}).Marshal(v)
	var h zstd.Header
	if err := h.Decode(stored[5:]); err != nil || !h.HasFCS || h.FrameContentSize != uint64(len(v)) || !h.HasCheckSum {
		t.Errorf("zstd frame header = %+v, %v; want the content size %d and a checksum", h, err, len(v))
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	if got, err := dec.DecodeAll(stored[5:], nil); err != nil || !bytes.Equal(got, v) {
		t.Errorf("zstd.DecodeAll of the frame: %v", err)
	}
	stored, _ = mustNew(t, raw{}, compress.Options{Algorithm: compress.S2}).Marshal(v)
	if got, err := s2.Decode(nil, stored[5:]); err != nil || !bytes.Equal(got, v) {
		t.Errorf("s2.Decode of the block: %v", err)
	}
	// The Snappy-compatible encoder, so that Snappy's own decoder reads the block too; the
	// test in other languages (readers_test.go) reads it with python-snappy and snappyjs.
	if n, err := s2.DecodedLen(stored[5:]); err != nil || n != len(v) {
		t.Errorf("the block declares %d bytes, %v; want %d", n, err, len(v))
	}
}

func TestMaxSize(t *testing.T) {
	c := mustNew(t, raw{}, compress.Options{MaxSize: 4096})
	v := apidata.Response(4097, 1)
	if _, err := c.Marshal(v); !errors.Is(err, compress.ErrTooLarge) {
		t.Errorf("Marshal of a value over MaxSize: %v, want ErrTooLarge", err)
	}
	roundTrip(t, c, v[:4096])
	// A value below the threshold is stored plain whatever its size: nobody decompresses it.
	// With a threshold over MaxSize, nothing is compressed, and nothing refused.
	readOnly := mustNew(t, raw{}, compress.Options{MaxSize: 100, Threshold: 200})
	for _, n := range []int{150, 4097} {
		if stored := roundTrip(t, readOnly, v[:n]); !bytes.Equal(stored, v[:n]) {
			t.Errorf("a Codec whose threshold is over MaxSize changed a value of %d bytes", n)
		}
	}
}

func TestOptionsChecked(t *testing.T) {
	for name, o := range map[string]compress.Options{
		"algorithm":          {Algorithm: 3},
		"level":              {Level: compress.LevelBest + 1},
		"negative level":     {Level: -1},
		"negative threshold": {Threshold: -1},
		"negative max size":  {MaxSize: -1},
		"max size over 1GiB": {MaxSize: 1<<30 + 1},
	} {
		if _, err := compress.New(nil, o); !errors.Is(err, cachekit.ErrConfig) {
			t.Errorf("New with a bad %s: %v, want ErrConfig", name, err)
		}
	}
	if got := fmt.Sprint(compress.Zstd, " ", compress.S2, " ", compress.Algorithm(9)); got != "zstd s2 Algorithm(0x09)" {
		t.Errorf("Algorithm names: %q", got)
	}
}

// zeros returns what a writer with a larger MaxSize stores for n zero bytes: a few hundred
// bytes that decompress to n.
func zeros(t *testing.T, alg compress.Algorithm, n int) []byte {
	t.Helper()
	c := mustNew(t, raw{}, compress.Options{Algorithm: alg, MaxSize: n})
	stored, err := c.Marshal(make([]byte, n))
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestZipBombsRefused: values that claim, or hold, more than MaxSize are refused before the
// reader allocates for them.
func TestZipBombsRefused(t *testing.T) {
	const limit = 1 << 20
	reader := mustNew(t, raw{}, compress.Options{MaxSize: limit})
	var got []byte
	_ = reader.Unmarshal(zeros(t, compress.Zstd, 2048), &got) // the decoder is made once, not counted below

	// A zstd frame, without its content size: the stream encoder cannot know it.
	var stream bytes.Buffer
	w, _ := zstd.NewWriter(&stream, zstd.WithEncoderConcurrency(1))
	_, _ = w.Write(make([]byte, 16<<20))
	_ = w.Close()
	noSize := append([]byte{0xC1, 'c', 'k', 0x02, 0x01}, stream.Bytes()...)

	// Two frames: a small one, then one of 16 MiB, which a decoder that took every frame of
	// its input would write after the first.
	small := zeros(t, compress.Zstd, 2048)
	twoFrames := append(bytes.Clone(small), zeros(t, compress.Zstd, 16<<20)[5:]...)

	// A frame that declares 200,000 bytes and holds 16 MiB: the decoder stops within a block
	// of what it declares.
	lying := zeros(t, compress.Zstd, 16<<20)
	if lying[9]>>6 != 2 || lying[9]&(1<<5) == 0 {
		t.Fatalf("frame header descriptor %#x: want a single segment and a 4-byte content size", lying[9])
	}
	binary.LittleEndian.PutUint32(lying[10:], 200_000)

	// A Snappy block that declares 4 GiB - 1, and holds nothing.
	huge := []byte{0xC1, 'c', 'k', 0x02, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f}

	for _, tc := range []struct {
		name  string
		value []byte
		want  error
	}{
		{"zstd, 16 MiB declared", zeros(t, compress.Zstd, 16<<20), compress.ErrTooLarge},
		{"zstd, 1 byte over", zeros(t, compress.Zstd, limit+1), compress.ErrTooLarge},
		{"s2, 16 MiB declared", zeros(t, compress.S2, 16<<20), compress.ErrTooLarge},
		{"s2, 4 GiB declared", huge, compress.ErrTooLarge},
		{"zstd, no declared size", noSize, compress.ErrCorrupt},
		{"zstd, a second frame", twoFrames, compress.ErrCorrupt},
		{"zstd, more than declared", lying, compress.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			var err error
			n := allocated(func() { err = reader.Unmarshal(tc.value, &got) })
			t.Logf("%d bytes allocated: %v", n, err)
			if !errors.Is(err, tc.want) {
				t.Errorf("Unmarshal: %v, want %v", err, tc.want)
			}
			// Whatever the value claims, the reader allocates no more than the value it
			// accepts at most, and one block of zstd's beyond: a margin for the decoder's
			// own buffers, not for the value.
			if n > limit+256<<10 {
				t.Errorf("Unmarshal allocated %d bytes, over MaxSize (%d)", n, limit)
			}
		})
	}
	// At the limit, the value is read.
	if err := reader.Unmarshal(zeros(t, compress.Zstd, limit), &got); err != nil || len(got) != limit {
		t.Errorf("Unmarshal of a value of MaxSize: %d bytes, %v", len(got), err)
	}
}

// TestCorruptValues: a compressed value that does not decompress is ErrCorrupt, whatever is
// wrong with it, and never a panic.
func TestCorruptValues(t *testing.T) {
	v := apidata.Response(10<<10, 4)
	for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
		c := mustNew(t, raw{}, compress.Options{Algorithm: alg})
		stored, _ := c.Marshal(v)
		flipped := bytes.Clone(stored)
		flipped[len(flipped)/2] ^= 0x55
		cases := map[string][]byte{
			"header only":       stored[:5],
			"truncated":         stored[:len(stored)-7],
			"half":              stored[:len(stored)/2],
			"a byte changed":    flipped,
			"unknown algorithm": append([]byte{0xC1, 'c', 'k', 0x02, 0x7f}, stored[5:]...),
			"other algorithm":   append([]byte{0xC1, 'c', 'k', 0x02, byte(3 - alg)}, stored[5:]...),
		}
		for name, data := range cases {
			var got []byte
			if err := c.Unmarshal(data, &got); !errors.Is(err, compress.ErrCorrupt) {
				t.Errorf("%v, %s: Unmarshal = %d bytes, %v; want ErrCorrupt", alg, name, len(got), err)
			}
		}
	}
}

// TestConcurrentUse shares one Codec of each algorithm among goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	values := [][]byte{apidata.Response(1<<10, 5), apidata.Response(10<<10, 6), apidata.Response(100<<10, 7)}
	for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
		c := mustNew(t, raw{}, compress.Options{Algorithm: alg})
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 30 {
					v := values[(g+i)%len(values)]
					stored, err := c.Marshal(v)
					var got []byte
					if err == nil {
						err = c.Unmarshal(stored, &got)
					}
					if err != nil || !bytes.Equal(got, v) {
						t.Errorf("%v, goroutine %d: %v", alg, g, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}

// TestMarshalAllocatesTheValueOnly: the stored slice is allocated at its size, from a buffer
// the Codec keeps, so a Store that keeps the slice keeps no spare capacity.
func TestMarshalAllocatesTheValueOnly(t *testing.T) {
	v := apidata.Response(10<<10, 8)
	for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
		c := mustNew(t, raw{}, compress.Options{Algorithm: alg})
		stored, _ := c.Marshal(v)
		if cap(stored) != len(stored) {
			t.Errorf("%v: the stored slice has %d bytes and room for %d", alg, len(stored), cap(stored))
		}
	}
}
