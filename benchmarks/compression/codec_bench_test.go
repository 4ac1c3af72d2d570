package compression

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	{"zstd-fastest", compress.Options{Algorithm: compress.Zstd}},
	{"zstd-balanced", compress.Options{Algorithm: compress.Zstd, Level: compress.LevelBalanced}},
	{"zstd-better", compress.Options{Algorithm: compress.Zstd, Level: compress.LevelBetter}},
	{"s2-fastest", compress.Options{Algorithm: compress.S2}},
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

// BenchmarkPaired compresses and decompresses the same response with every setting in turn,
// 16 times each within every iteration, and reports the CPU time of the benchmark's thread per
// operation for each (CLOCK_THREAD_CPUTIME_ID), where BenchmarkCompress and BenchmarkDecompress
// report wall time. On a shared machine, other processes stretch wall time and hardly touch a
// thread's CPU time, and a slow moment falls on every setting alike. sec/op is the wall time of
// a whole turn.
func BenchmarkPaired(b *testing.B) {
	const batch = 16
	for _, size := range sizes {
		v := apidata.Response(size, 1)
		b.Run(fmt.Sprintf("size=%dKB", size>>10), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			codecs := make([]*compress.Codec, len(settings))
			stored := make([][]byte, len(settings))
			for i, s := range settings {
				codecs[i] = codec(b, s.opts)
				stored[i], _ = codecs[i].Marshal(v)
			}
			compressing := make([]time.Duration, len(settings))
			decompressing := make([]time.Duration, len(settings))
			var got []byte
			for b.Loop() {
				for i, c := range codecs {
					start := threadCPU(b)
					for range batch {
						stored[i], _ = c.Marshal(v)
					}
					mid := threadCPU(b)
					for range batch {
						_ = c.Unmarshal(stored[i], &got)
					}
					compressing[i] += mid - start
					decompressing[i] += threadCPU(b) - mid
				}
			}
			for i, s := range settings {
				b.ReportMetric(float64(compressing[i].Nanoseconds())/float64(b.N*batch), s.name+"-compress-cpu-ns/op")
				b.ReportMetric(float64(decompressing[i].Nanoseconds())/float64(b.N*batch), s.name+"-decompress-cpu-ns/op")
			}
		})
	}
}

// threadCPU returns the CPU time the calling thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}
