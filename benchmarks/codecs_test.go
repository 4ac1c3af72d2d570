package benchmarks

import (
	"bytes"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	"github.com/maypok86/otter/v2"
	segmentio "github.com/segmentio/encoding/json"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/msgpack"
)

// The values of the codec benchmarks: a 64-byte JSON value and a 2 KB one, as a service
// caches them (a geolocation, a user's profile with their recent orders).

type geo struct {
	City    string  `json:"city"`
	Country string  `json:"country"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
}

type item struct {
	SKU   string  `json:"sku"`
	Title string  `json:"title"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
}

type address struct {
	Street  string `json:"street"`
	City    string `json:"city"`
	Zip     string `json:"zip"`
	Country string `json:"country"`
}

type profile struct {
	ID      int64             `json:"id"`
	Name    string            `json:"name"`
	Email   string            `json:"email"`
	Created time.Time         `json:"created"`
	Active  bool              `json:"active"`
	Score   float64           `json:"score"`
	Tags    []string          `json:"tags"`
	Address address           `json:"address"`
	Items   []item            `json:"items"`
	Meta    map[string]string `json:"meta"`
	Note    string            `json:"note,omitempty"`
}

var small = geo{City: "Dublin", Country: "IE", Lat: 53.3498, Lon: -6.2603}

var large = func() profile {
	p := profile{
		ID: 123456789, Name: "Ada Lovelace", Email: "ada@example.com", Created: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Active: true, Score: 98.25, Tags: []string{"vip", "beta", "eu-west-1", "newsletter"},
		Address: address{"12 St James's Square", "London", "SW1Y 4JH", "GB"},
		Meta:    map[string]string{"source": "signup-form", "campaign": "spring-2024", "ref": "partner-42"},
		Note:    "Prefers e-mail; do not call before 10:00.",
	}
	for i := range 16 {
		p.Items = append(p.Items, item{SKU: "SKU-000123-" + string(rune('A'+i)), Title: "Analytical Engine punch cards, box of 100", Qty: i + 1, Price: 19.99 + float64(i)})
	}
	return p
}()

// sizes are the values under their size= label; the bytes of each are its JSON text, which
// the pass-through rows store.
var sizes = []struct {
	name  string
	value any
	new   func() any // a pointer to decode into
}{
	{"64B", small, func() any { return new(geo) }},
	{"2KB", large, func() any { return new(profile) }},
}

// codecEngine is a row of BenchmarkCodec.
type codecEngine struct {
	name string
	// identical reports whether the engine writes cachekit.JSON's bytes (see
	// TestCodecEnginesAgree): the codec may be built on it.
	identical bool
	codec     cachekit.Codec
}

// codecEngines are the JSON encoders tried for cachekit.JSON, and MessagePack. encoding/json/v2
// joins them under GOEXPERIMENT=jsonv2 (jsonv2_test.go).
var codecEngines = []codecEngine{
	{name: "encoding-json", identical: true, codec: stdJSON{}},
	{name: "go-json", identical: true, codec: cachekit.JSON},
	{name: "segmentio", codec: funcCodec{unescaped(segmentio.Marshal), segmentio.Unmarshal}},
	{name: "sonic", codec: funcCodec{unescaped(sonic.ConfigStd.Marshal), sonic.ConfigStd.Unmarshal}},
	{name: "msgpack", codec: msgpack.Codec},
}

type funcCodec struct {
	marshal   func(any) ([]byte, error)
	unmarshal func([]byte, any) error
}

func (c funcCodec) Marshal(v any) ([]byte, error)      { return c.marshal(v) }
func (c funcCodec) Unmarshal(data []byte, v any) error { return c.unmarshal(data, v) }

// unescaped undoes marshal's escapes of <, >, &, U+2028 and U+2029, as cachekit.JSON does.
func unescaped(marshal func(any) ([]byte, error)) func(any) ([]byte, error) {
	return func(v any) ([]byte, error) {
		b, err := marshal(v)
		if err != nil {
			return nil, err
		}
		return unescape(b), nil
	}
}

// BenchmarkCodec encodes and decodes each size with each engine.
func BenchmarkCodec(b *testing.B) {
	for _, size := range sizes {
		for _, e := range codecEngines {
			data, err := e.codec.Marshal(size.value)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("op=Marshal/size="+size.name+"/engine="+e.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.codec.Marshal(size.value); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=Unmarshal/size="+size.name+"/engine="+e.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := e.codec.Unmarshal(data, size.new()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestCodecEnginesAgree checks the identical flags of codecEngines on the benchmark's values.
func TestCodecEnginesAgree(t *testing.T) {
	for _, size := range sizes {
		want, _ := stdJSON{}.Marshal(size.value)
		for _, e := range codecEngines {
			got, err := e.codec.Marshal(size.value)
			if err != nil {
				t.Fatal(err)
			}
			if e.identical && !bytes.Equal(got, want) {
				t.Errorf("%s writes %s; encoding/json %s", e.name, got, want)
			}
		}
	}
}

// hitEngine is a row of BenchmarkViewHit: a cache holding the value of one size under every
// key, and a read of one key.
type hitEngine struct {
	name string
	new  func(b *testing.B, value any, keys []string) func(key string) error
}

// hitKeys is how many keys BenchmarkViewHit reads, in turn.
const hitKeys = 1024

// BenchmarkViewHit reads, from every CPU, values of each size through a cachekit view over a
// memstore with each codec, beside the Store-level read of the same bytes and the local
// caches of other libraries.
func BenchmarkViewHit(b *testing.B) {
	keys := allKeys()[:hitKeys]
	for _, size := range sizes {
		for _, e := range hitEngines {
			b.Run("size="+size.name+"/engine="+e.name, func(b *testing.B) {
				get := e.new(b, size.value, keys)
				var goroutines atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := int(goroutines.Add(1)) * goroutineStride
					for pb.Next() {
						if err := get(keys[i&(hitKeys-1)]); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			})
		}
	}
}

var hitEngines = []hitEngine{
	{"memstore", storeHit},
	{"view-raw", viewHit(cachekit.Raw, true)},
	{"view-json-encoding-json", viewHit(stdJSON{}, false)},
	{"view-json", viewHit(cachekit.JSON, false)},
	{"view-msgpack", viewHit(msgpack.Codec, false)},
	{"otter", otterHit},
	{"go-redis-cache", goRedisCacheHit},
	{"eko-gocache", ekoHit},
}

// storeHit reads the value's JSON text from a memstore by whole key: the floor of a view.
func storeHit(b *testing.B, value any, keys []string) func(string) error {
	s, err := memstore.New(memstore.Options{MaxSize: 2 * hitKeys})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	data, _ := cachekit.JSON.Marshal(value)
	for _, k := range keys {
		must(s.Set(ctx, k, data, ttl))
	}
	return func(k string) error {
		_, err := s.Get(ctx, k)
		return err
	}
}

// viewHit returns the engine of a view with codec over a memstore; raw views hold the value's
// JSON text as a []byte, the others the value.
func viewHit(codec cachekit.Codec, raw bool) func(b *testing.B, value any, keys []string) func(string) error {
	return func(b *testing.B, value any, keys []string) func(string) error {
		s, err := memstore.New(memstore.Options{MaxSize: 2 * hitKeys})
		if err != nil {
			b.Fatal(err)
		}
		c, err := cachekit.New(s, cachekit.Options{Codec: codec})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if raw {
			data, _ := cachekit.JSON.Marshal(value)
			return viewGet(b, cachekit.Typed[[]byte](c, "v:", ttl), data, keys)
		}
		switch v := value.(type) {
		case geo:
			return viewGet(b, cachekit.Typed[geo](c, "v:", ttl), v, keys)
		case profile:
			return viewGet(b, cachekit.Typed[profile](c, "v:", ttl), v, keys)
		}
		panic("benchmarks: no view for this value")
	}
}

func viewGet[V any](b *testing.B, v *cachekit.View[V], value V, keys []string) func(string) error {
	for _, k := range keys {
		if err := v.Set(ctx, k, value, 0); err != nil {
			b.Fatal(err)
		}
	}
	return func(k string) error {
		_, err := v.Get(ctx, k)
		return err
	}
}

// otterHit reads the value itself from otter: no codec, no copy.
func otterHit(b *testing.B, value any, keys []string) func(string) error {
	c, err := otter.New(&otter.Options[string, any]{
		MaximumSize:      2 * hitKeys,
		ExpiryCalculator: otter.ExpiryWriting[string, any](ttl),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.StopAllGoroutines() })
	for _, k := range keys {
		c.Set(k, value)
	}
	return func(k string) error {
		if _, ok := c.GetIfPresent(k); !ok {
			return errMiss
		}
		return nil
	}
}

// stdJSON is cachekit.JSON as it was on encoding/json, kept here to measure against. It is a
// copy on purpose: the library picks its engine by build tag, one per binary, and these
// benchmarks set both engines side by side in one run.
type stdJSON struct{}

func (stdJSON) Marshal(v any) ([]byte, error) {
	if s, ok := v.(string); ok && plain(s) {
		b := make([]byte, 0, len(s)+2)
		return append(append(append(b, '"'), s...), '"'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return unescape(b), nil
}

func (stdJSON) Unmarshal(data []byte, v any) error {
	if p, ok := v.(*string); ok && len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' {
		if inner := data[1 : len(data)-1]; plain(inner) {
			*p = string(inner)
			return nil
		}
	}
	return json.Unmarshal(data, v)
}

func unescape(b []byte) []byte {
	i := bytes.IndexByte(b, '\\')
	if i < 0 {
		return b
	}
	w := i
	for i < len(b) {
		if b[i] != '\\' {
			b[w] = b[i]
			w, i = w+1, i+1
			continue
		}
		if c, ok := unescaped1(b[i:]); ok {
			w += utf8.EncodeRune(b[w:], c)
			i += 6
			continue
		}
		b[w], b[w+1] = b[i], b[i+1]
		w, i = w+2, i+2
	}
	return b[:w]
}

func unescaped1(b []byte) (rune, bool) {
	if len(b) < 6 || b[1] != 'u' {
		return 0, false
	}
	switch string(b[2:6]) {
	case "003c":
		return '<', true
	case "003e":
		return '>', true
	case "0026":
		return '&', true
	case "2028":
		return '\u2028', true
	case "2029":
		return '\u2029', true
	}
	return 0, false
}

func plain[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	switch s := any(s).(type) {
	case []byte:
		return utf8.Valid(s)
	case string:
		return utf8.ValidString(s)
	}
	return false
}
