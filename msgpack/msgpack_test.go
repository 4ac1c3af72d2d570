package msgpack

import (
	"bytes"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

type inner struct {
	A string `msgpack:"a"`
	B []byte
}

type value struct {
	Name    string            `json:"name"`
	Skipped string            `json:"-"`
	Empty   string            `json:"empty,omitempty"`
	Tagged  int               `json:"j" msgpack:"m"`
	Count   int64             `json:"count"`
	Ratio   float64           `json:"ratio"`
	When    time.Time         `json:"when"`
	Blob    []byte            `json:"blob"`
	Tags    []string          `json:"tags"`
	Attrs   map[string]any    `json:"attrs"`
	Inner   inner             `json:"inner"`
	Ptr     *inner            `json:"ptr"`
	Nums    map[string]uint64 `json:"nums"`
}

func TestRoundTrip(t *testing.T) {
	in := value{
		Name: "Zürich <&>", Skipped: "secret", Tagged: 7, Count: -1 << 40, Ratio: math.Pi,
		When: time.Date(2024, 2, 29, 13, 4, 5, 6, time.UTC), Blob: []byte{0, 1, 0xff},
		Tags: []string{"a", ""}, Attrs: map[string]any{"n": int8(3), "s": "x", "nil": nil},
		Inner: inner{A: "in", B: []byte("b")}, Ptr: &inner{A: "p"}, Nums: map[string]uint64{"max": math.MaxUint64},
	}
	data, err := Codec.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out value
	if err := Codec.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	want := in
	want.Skipped = ""
	// MessagePack's timestamps carry no time zone: the decoder gives the same instant in
	// the local one.
	if !out.When.Equal(in.When) || out.When.Location() != time.Local {
		t.Errorf("time: got %v, want %v in the local time zone", out.When, in.When)
	}
	out.When = in.When
	if !reflect.DeepEqual(out, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, want)
	}
	// Field names come from msgpack tags, else json tags; json's "-" and omitempty hold.
	var m map[string]any
	if err := Codec.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "m", "count", "inner"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no field %q in %v", k, m)
		}
	}
	for _, k := range []string{"Skipped", "-", "empty", "j", "Name"} {
		if _, ok := m[k]; ok {
			t.Errorf("field %q in %v", k, m)
		}
	}
}

// TestUnmarshalKeepsNothing: Unmarshal must not keep data, which belongs to the Store.
func TestUnmarshalKeepsNothing(t *testing.T) {
	data, _ := Codec.Marshal(value{Name: "name", Blob: []byte("blob"), Tags: []string{"tag"}, Inner: inner{A: "a", B: []byte("b")}})
	var out value
	if err := Codec.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'X'
	}
	if out.Name != "name" || string(out.Blob) != "blob" || out.Tags[0] != "tag" || out.Inner.A != "a" || string(out.Inner.B) != "b" {
		t.Errorf("decoded value changed with the bytes it came from: %+v", out)
	}
}

// TestMarshalSharesNothing: the bytes Marshal returns are the caller's, and a later Marshal
// (which reuses a pooled buffer) does not change them.
func TestMarshalSharesNothing(t *testing.T) {
	a, _ := Codec.Marshal("first value")
	want := bytes.Clone(a)
	b, _ := Codec.Marshal("second")
	if !bytes.Equal(a, want) || bytes.Equal(a, b) {
		t.Errorf("a later Marshal changed an earlier result: %q, want %q", a, want)
	}
}

// TestLengthBombs: a header that claims more bytes or values than the value holds is an error
// before any allocation of that size. Each of these costs the decoder alone 2 to 32 GiB.
func TestLengthBombs(t *testing.T) {
	for name, data := range map[string][]byte{
		"bin32":        {0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3},
		"str32":        {0xdb, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3},
		"array32":      {0xdd, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3},
		"map32":        {0xdf, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3},
		"ext32":        {0xc9, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3},
		"nested":       {0x91, 0x92, 0xdd, 0x7f, 0xff, 0xff, 0xff},
		"array16":      {0xdc, 0xff, 0xff, 1, 2},
		"short header": {0xc6, 0x00},
		"empty":        {},
		"invalid code": {0xc1},
		"fixarray":     {0x9f, 1, 2},
		"fixstr":       {0xbf, 'a'},
	} {
		t.Run(name, func(t *testing.T) {
			var targets = []any{new([]byte), new(string), new([]int), new(map[string]int), new(any), new(value)}
			for _, v := range targets {
				if err := Codec.Unmarshal(data, v); err == nil {
					t.Errorf("Unmarshal(%x, %T) = nil; want an error", data, v)
				}
				// Bytes, not a count: the count varies with the pooled decoders, which the
				// race detector's sync.Pool drops at random.
				if n := allocatedBytes(func() { _ = Codec.Unmarshal(data, v) }); n > 1<<20 {
					t.Errorf("Unmarshal(%x, %T) allocated %d bytes", data, v, n)
				}
			}
		})
	}
}

// allocatedBytes is how many bytes the heap gave out while f ran. Other goroutines count too,
// which only makes it larger; the bound it is held to is far below a bomb's gigabytes.
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestWrongType(t *testing.T) {
	data, _ := Codec.Marshal(map[string]string{"a": "b"})
	var n int
	if err := Codec.Unmarshal(data, &n); err == nil || !strings.HasPrefix(err.Error(), "msgpack: ") {
		t.Errorf("Unmarshal of a map into an int: %v", err)
	}
	if _, err := Codec.Marshal(make(chan int)); err == nil || !strings.HasPrefix(err.Error(), "msgpack: ") {
		t.Errorf("Marshal of a channel: %v", err)
	}
}

// FuzzCheck: check accepts everything the encoder writes and no strict prefix of it, and what
// it accepts decodes without panicking.
func FuzzCheck(f *testing.F) {
	for _, v := range []any{nil, true, 1, -1 << 40, 1.5, "s", strings.Repeat("x", 300), []byte{1, 2},
		[]any{1, "a", []any{nil}}, map[string]any{"a": map[string]any{"b": []byte("c")}},
		time.Unix(1e9, 5), value{Name: "n", Tags: []string{"t"}}} {
		data, err := Codec.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0xc6, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if check(data) != nil {
			return
		}
		var v any
		if err := vmsgpack.Unmarshal(data, &v); err != nil {
			return
		}
		again, err := Codec.Marshal(v)
		if err != nil {
			return // a value the decoder reads but the encoder cannot write back (a map key of a slice)
		}
		if err := check(again); err != nil {
			t.Fatalf("check refuses the encoding of %#v: %x: %v", v, again, err)
		}
		for n := range len(again) {
			if check(again[:n]) == nil {
				t.Fatalf("check accepts %x, a strict prefix of %x", again[:n], again)
			}
		}
	})
}
