package compress_test

import (
	"errors"
	"testing"

	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/internal/apidata"
)

// FuzzUnmarshal feeds the decoder any bytes, as a shared table may hold: it must never panic,
// never return more than MaxSize, and fail only with ErrCorrupt or ErrTooLarge.
func FuzzUnmarshal(f *testing.F) {
	const limit = 64 << 10
	for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
		w, err := compress.New(raw{}, compress.Options{Algorithm: alg, Threshold: 1, MaxSize: 1 << 20})
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range [][]byte{apidata.Response(2048, 1), apidata.Response(limit+1, 2), make([]byte, 300), []byte("x")} {
			stored, err := w.Marshal(v)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(stored)
			f.Add(stored[:len(stored)/2])
		}
	}
	f.Add([]byte{0xC1, 'c', 'k', 0x02, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0xC1, 'c', 'k', 0x02, 0x01, 0x28, 0xb5, 0x2f, 0xfd, 0x00})
	f.Add([]byte(`{"plain":"json"}`))
	r, err := compress.New(raw{}, compress.Options{MaxSize: limit})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []byte
		err := r.Unmarshal(data, &got)
		switch {
		case err != nil && !errors.Is(err, compress.ErrCorrupt) && !errors.Is(err, compress.ErrTooLarge):
			t.Fatalf("Unmarshal: %v, want ErrCorrupt or ErrTooLarge", err)
		case err != nil && !compress.IsCompressed(data):
			t.Fatalf("Unmarshal of bytes without the marker: %v", err)
		case err == nil && compress.IsCompressed(data) && len(got) > limit:
			t.Fatalf("Unmarshal returned %d bytes, over MaxSize (%d)", len(got), limit)
		}
	})
}
