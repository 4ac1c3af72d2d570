package cachekit_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

// stdJSON is the JSON codec as it was on encoding/json: the reference the codec's bytes are
// held to.
func stdJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return cachekit.Unescape(b), nil
}

type textKey struct{ A, B string }

func (k textKey) MarshalText() ([]byte, error) { return []byte(k.A + "<&>" + k.B), nil }

// spaced writes JSON with spaces and escapes of its own, which encoding/json compacts and
// escapes for HTML.
type spaced struct{ X int }

func (s spaced) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, ` { "x" : %d , "h":"<&>\u2028" , "arr": [ 1, 2 ] } `, s.X), nil
}

// onPointer has MarshalJSON on its pointer: encoding/json calls it on addressable values only.
type onPointer struct{ X int }

func (*onPointer) MarshalJSON() ([]byte, error) { return []byte(`"pointer"`), nil }

type Embedded struct {
	A    string    `json:"a"`
	B    int       // no tag: the field's name
	Dup  string    // at the depth of EmbeddedPtr's Dup: the two cancel out, and neither is written
	Time time.Time `json:"time,omitempty"`
}

type EmbeddedPtr struct {
	Dup string
	C   bool `json:"c,omitempty"`
}

type outer struct {
	Embedded
	*EmbeddedPtr
	Name    string             `json:"name"`
	Skip    string             `json:"-"`
	Dash    string             `json:"-,"`
	Num     int64              `json:"num,string"`
	F       float64            `json:"f,omitempty"`
	Bytes   []byte             `json:"bytes"`
	NilB    []byte             `json:"nilb"`
	Empty   []int              `json:"empty,omitempty"`
	M       map[string]int     `json:"m"`
	NilM    map[string]int     `json:"nilm"`
	Ptr     *int               `json:"ptr,omitempty"`
	Any     any                `json:"any"`
	Text    textKey            `json:"text"`
	TextMap map[textKey]int    `json:"textmap"`
	IntMap  map[int]string     `json:"intmap"`
	Spaced  spaced             `json:"spaced"`
	SpacedP *spaced            `json:"spacedp"`
	OnPtr   onPointer          `json:"onptr"`
	Raw     json.RawMessage    `json:"raw"`
	Number  json.Number        `json:"number"`
	U64     uint64             `json:"u64"`
	F32     float32            `json:"f32"`
	Arr     [3]int8            `json:"arr"`
	hidden  int                // unexported: never written
	Nested  []map[string][]any `json:"nested"`
}

// awkward are values whose JSON text tells encoders apart: escapes, invalid UTF-8, map key
// order, number formats, the marshaler interfaces, time, embedding, omitempty and []byte.
func awkward() []any {
	seven := 7
	return []any{
		"plain", "<script>alert('x')</script>", "a & b > c < d",
		"line\u2028separator\u2029paragraph", "quote \" backslash \\ slash /",
		`\u003c and \u2028 written out`, "\\\u2028", "tab\tnewline\ncr\rbs\bff\f",
		"\x00\x01\x1f\x7f", "Zürich 日本語 🎉 e\u0301", "", "\xff", "a\xc0\xafb", "\xed\xa0\x80", "\ufffd",
		"\u0085\u00a0\ufeff",
		map[string]any{"z": 1, "a": 2, "<": "&", "m": nil, "\u2028": []int{}, "\xff": "x"},
		map[int]string{10: "a", 2: "b", -1: "c"},
		map[uint8]bool{200: true, 3: false},
		map[textKey]int{{"b", "1"}: 1, {"a", "2"}: 2},
		[]any{0, -1, 1.5, 1e21, 1e20, 1e-7, 1e-6, 123456789.125, 9007199254740993, 5e-324, math.MaxFloat64, math.Copysign(0, -1), true, false, nil},
		float32(3.14), float32(1e21), float32(1e-7), float32(math.Copysign(0, -1)), float64(float32(0.1)),
		[]float32{16777216, 1.0e-45, 3.4028235e38},
		int8(-5), uint16(65535), uint64(math.MaxUint64), int64(math.MinInt64), uintptr(5),
		time.Date(2024, 2, 29, 13, 4, 5, 123456789, time.FixedZone("X", 5*3600+30*60)),
		time.Date(2024, 2, 29, 13, 4, 5, 0, time.UTC), time.Time{},
		[]byte("hello <world>\x00\xff"), []byte{}, []byte(nil), [][]byte{[]byte("a"), nil},
		spaced{3}, &spaced{4}, textKey{"x", "y"}, onPointer{1}, &onPointer{2},
		json.RawMessage(` { "raw" : "<>&" , "n":[1, 2] } `), json.Number("1e400"),
		outer{
			Embedded: Embedded{A: "<a>", B: 2, Dup: "hidden"}, Name: "n\u2028", Skip: "x", Dash: "d", Num: 42,
			Bytes: []byte{1, 2, 3, 250}, M: map[string]int{"b": 1, "a": 2}, Ptr: &seven, Any: []any{"<", 1.0},
			Text: textKey{"t", "u"}, TextMap: map[textKey]int{{"z", ""}: 1, {"a", ""}: 2}, IntMap: map[int]string{3: "c", 1: "a"},
			Spaced: spaced{1}, SpacedP: &spaced{2}, OnPtr: onPointer{1}, Raw: json.RawMessage(`[ 1 , "<" ]`), Number: "3.0",
			U64: math.MaxUint64, F32: 0.1, Arr: [3]int8{-128, 0, 127}, hidden: 1,
			Nested: []map[string][]any{{"k": {1, "two", nil}}},
		},
		&outer{EmbeddedPtr: &EmbeddedPtr{Dup: "ambiguous", C: true}},
		struct {
			A int            `json:"a,omitempty"`
			B string         `json:",omitempty"`
			C *int           `json:",omitempty"`
			D bool           `json:"d,omitempty"`
			E []int          `json:"e,omitempty"`
			F map[string]int `json:"f,omitempty"`
			G struct{}       `json:"g,omitempty"`
			H time.Time      `json:"h,omitempty"`
			I any            `json:"i,omitempty"`
			J [0]int         `json:"j,omitempty"`
			K float64        `json:"k,omitempty"`
		}{},
		struct {
			Space int `json:"with space"`
			Punct int `json:"!#$%&()*+-./:;<=>?@[]^_{|}~"`
			Acute int `json:"é"`
			Quote int `json:"\"bad"`
		}{1, 2, 3, 4},
		[]any{}, map[string]any{}, []string(nil), map[string]string(nil), (*int)(nil), nil,
		struct{ P **int }{}, struct{ S []struct{ A int } }{S: []struct{ A int }{{1}, {2}}},
		struct{ E error }{errors.New("x")},
	}
}

// TestJSONMatchesEncodingJSON holds the codec's bytes to encoding/json's (less the escapes
// JSON.stringify does not write) on awkward values, and its errors to encoding/json's.
func TestJSONMatchesEncodingJSON(t *testing.T) {
	for i, v := range awkward() {
		want, werr := stdJSON(v)
		got, err := cachekit.JSON.Marshal(v)
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Errorf("#%d %T:\n encoding/json %s, %v\n         JSON %s, %v", i, v, want, werr, got, err)
		}
	}
	cycle := map[string]any{}
	cycle["self"] = cycle
	for _, v := range []any{math.NaN(), math.Inf(-1), make(chan int), func() {}, complex(1, 2),
		map[[2]int]int{{1, 2}: 3}, map[any]any{1: 2}, map[float64]int{1: 1}, cycle, struct{ C chan int }{}} {
		if _, err := cachekit.JSON.Marshal(v); err == nil {
			t.Errorf("Marshal(%T) = nil error; encoding/json refuses it", v)
		}
	}
}

type target struct {
	Name  string
	Count int
	Sub   *struct{ X float64 }
	Bytes []byte
	When  time.Time
	Any   any
	M     map[string]int
	Raw   json.RawMessage
}

// TestJSONUnmarshalMatchesEncodingJSON holds the codec's reads to encoding/json's: the same
// value where both succeed, and an error where encoding/json reports one.
func TestJSONUnmarshalMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"name":"a","COUNT":3,"unknown":{"deep":[1,2]},"sub":{"x":1.5},"bytes":"AQID","when":"2024-01-02T03:04:05Z","any":{"a":[1,"x",null]},"m":{"a":1},"raw":[1, "<" ]}`,
		`{"Name":"x","Count":2,"Name":"y"}`, `{"name":"k","nAmE":"K"}`, `{"ſount":1}`, `{"Name":"\ud800 \u2028 \/"}`,
		`{"Name":"\xff"}`, ` {"Name" : "spaces" } `, `{"Sub":null}`, `null`, `{}`, `{"Any":1e400}`,
		`{"Name":1}`, `{"Count":"3"}`, `{"Count":1.5}`, `{"Count":99999999999999999999}`, `{"Bytes":"not base64!"}`,
		`{"M":{"a":"b"}}`, `[1]`, `{"Name":"a"} trailing`, `{"Name":"a",}`, `{"Name":"a"`, ``, `{"When":"yesterday"}`,
	} {
		var want, got target
		werr := json.Unmarshal([]byte(in), &want)
		err := cachekit.JSON.Unmarshal([]byte(in), &got)
		if (err == nil) != (werr == nil) || werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("Unmarshal(%s):\n encoding/json %+v, %v\n         JSON %+v, %v", in, want, werr, got, err)
		}
	}
}

// FuzzJSONMatchesEncodingJSON builds a value from the fuzzer's bytes (strings of any bytes,
// floats of any bits, nested maps and slices) and holds the codec to encoding/json on it:
// the same bytes written, and the same value read back, from the text written and from the
// fuzzer's bytes taken as JSON text.
func FuzzJSONMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte("hello\x00<&>\u2028 world\xff"))
	f.Add([]byte{6, 3, 1, 'a', 2, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f})
	f.Add([]byte(`{"a":[1,2.5e300,"\u2028",{"b":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &valueGen{data}
		for _, v := range []any{g.value(0), g.record()} {
			want, werr := stdJSON(v)
			got, err := cachekit.JSON.Marshal(v)
			if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("Marshal(%#v):\n encoding/json %s, %v\n         JSON %s, %v", v, want, werr, got, err)
			}
			if werr == nil {
				sameRead(t, want)
			}
		}
		sameRead(t, data)
	})
}

// sameRead holds the codec's reads of data to encoding/json's, into an any and a struct.
func sameRead(t *testing.T, data []byte) {
	t.Helper()
	var want, got any
	werr := json.Unmarshal(data, &want)
	err := cachekit.JSON.Unmarshal(data, &got)
	if (err == nil) != (werr == nil) || werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("Unmarshal(%q) into any:\n encoding/json %#v, %v\n         JSON %#v, %v", data, want, werr, got, err)
	}
	var wantR, gotR fuzzRecord
	werr = json.Unmarshal(data, &wantR)
	err = cachekit.JSON.Unmarshal(data, &gotR)
	if (err == nil) != (werr == nil) || werr == nil && !reflect.DeepEqual(gotR, wantR) {
		t.Fatalf("Unmarshal(%q) into a struct:\n encoding/json %#v, %v\n         JSON %#v, %v", data, wantR, werr, gotR, err)
	}
}

type fuzzRecord struct {
	A string             `json:"a"`
	B float64            `json:"b,omitempty"`
	C []byte             `json:"c"`
	D map[string]float32 `json:"d"`
	E any                `json:"e,omitempty"`
	F *fuzzRecord        `json:"f,omitempty"`
	G json.RawMessage    `json:"g,omitempty"`
}

// valueGen draws values from a fuzzer's bytes; it draws zeros once they run out.
type valueGen struct{ b []byte }

func (g *valueGen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

func (g *valueGen) str() string {
	n := min(int(g.byte()%12), len(g.b))
	s := string(g.b[:n])
	g.b = g.b[n:]
	return s
}

func (g *valueGen) float() float64 {
	var x [8]byte
	for i := range x {
		x[i] = g.byte()
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(x[:]))
	if math.IsNaN(f) || math.IsInf(f, 0) { // which no encoder writes: draw a decimal instead
		return float64(int8(x[0])) * math.Pow(10, float64(int8(x[1])%30))
	}
	return f
}

func (g *valueGen) value(depth int) any {
	kind := g.byte() % 10
	if depth > 3 {
		kind %= 5
	}
	switch kind {
	case 0:
		return nil
	case 1:
		return g.byte()&1 == 0
	case 2:
		return g.float()
	case 3:
		return g.str()
	case 4:
		return float32(g.float())
	case 5:
		a := make([]any, g.byte()%5)
		for i := range a {
			a[i] = g.value(depth + 1)
		}
		return a
	case 6:
		m := map[string]any{}
		for range g.byte() % 5 {
			m[g.str()] = g.value(depth + 1)
		}
		return m
	case 7:
		return []byte(g.str())
	case 8:
		return int64(binary.LittleEndian.Uint64(append([]byte(g.str()), make([]byte, 8)...)))
	default:
		return map[int]any{int(int8(g.byte())): g.value(depth + 1), int(int8(g.byte())): g.str()}
	}
}

func (g *valueGen) record() fuzzRecord {
	r := fuzzRecord{A: g.str(), B: g.float(), C: []byte(g.str()), D: map[string]float32{g.str(): float32(g.float())}, E: g.value(1)}
	r.F = &fuzzRecord{A: g.str(), E: g.value(2)}
	if raw := g.str(); json.Valid([]byte(raw)) {
		r.G = json.RawMessage(raw)
	}
	return r
}
