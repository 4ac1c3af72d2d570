package compression

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/internal/apidata"
	"github.com/cachekit/cachekit/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// raw is a codec for []byte that writes a value's bytes as they are, so that the benchmarks
// time compression alone, not JSON.
type raw struct{}

func (raw) Marshal(v any) ([]byte, error) { return v.([]byte), nil }

func (raw) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = data
	return nil
}

// sizes are the JSON responses measured, in bytes.
var sizes = []int{1 << 10, 10 << 10, 20 << 10, 100 << 10}

// settings are the algorithms and levels measured, by name.
var settings = []struct {
	name string
	opts compress.Options
}{
	{"zstd-fastest", compress.Options{Algorithm: compress.Zstd, Level: compress.LevelFastest}},
	{"zstd-default", compress.Options{Algorithm: compress.Zstd}},
	{"zstd-better", compress.Options{Algorithm: compress.Zstd, Level: compress.LevelBetter}},
	{"s2-default", compress.Options{Algorithm: compress.S2}},
	{"s2-better", compress.Options{Algorithm: compress.S2, Level: compress.LevelBetter}},
}

func codec(b *testing.B, opts compress.Options) *compress.Codec {
	opts.Threshold = 1
	c, err := compress.New(raw{}, opts)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkCompress times Marshal of a JSON response already encoded, and reports the ratio:
// the JSON's size over the stored value's, header included. MB/s is of JSON.
func BenchmarkCompress(b *testing.B) {
	for _, size := range sizes {
		v := apidata.Response(size, 1)
		for _, s := range settings {
			b.Run(fmt.Sprintf("size=%dKB/codec=%s", size>>10, s.name), func(b *testing.B) {
				c := codec(b, s.opts)
				stored, err := c.Marshal(v)
				if err != nil || !compress.IsCompressed(stored) {
					b.Fatalf("Marshal: %d bytes, %v", len(stored), err)
				}
				b.SetBytes(int64(len(v)))
				b.ReportAllocs()
				for b.Loop() {
					stored, _ = c.Marshal(v)
				}
				b.ReportMetric(float64(len(v))/float64(len(stored)), "ratio")
			})
		}
	}
}

// BenchmarkDecompress times Unmarshal of a stored value back to its JSON. MB/s is of JSON.
func BenchmarkDecompress(b *testing.B) {
	for _, size := range sizes {
		v := apidata.Response(size, 1)
		for _, s := range settings {
			b.Run(fmt.Sprintf("size=%dKB/codec=%s", size>>10, s.name), func(b *testing.B) {
				c := codec(b, s.opts)
				stored, err := c.Marshal(v)
				if err != nil {
					b.Fatal(err)
				}
				var got []byte
				if err := c.Unmarshal(stored, &got); err != nil || !bytes.Equal(got, v) {
					b.Fatalf("Unmarshal: %v", err)
				}
				b.SetBytes(int64(len(v)))
				b.ReportAllocs()
				for b.Loop() {
					_ = c.Unmarshal(stored, &got)
				}
			})
		}
	}
}
