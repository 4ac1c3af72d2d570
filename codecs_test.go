package cachekit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/msgpack"
)

// TestRaw checks the Raw codec on its own: each type it passes through, as it is, in copies
// both ways; and an error for every other type.
func TestRaw(t *testing.T) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	for _, tc := range []struct {
		v    any
		want string
		ptr  any // what Unmarshal fills in
	}{
		{binary, string(binary), new([]byte)},
		{[]byte{}, "", new([]byte)},
		{"Zürich <&> \xff", "Zürich <&> \xff", new(string)},
		{"", "", new(string)},
		{json.RawMessage(`{"a": [1, 2]}`), `{"a": [1, 2]}`, new(json.RawMessage)},
	} {
		data, err := cachekit.Raw.Marshal(tc.v)
		if err != nil || string(data) != tc.want {
			t.Fatalf("Marshal(%T %q) = %q, %v; want the bytes as they are", tc.v, tc.v, data, err)
		}
		if b, ok := tc.v.([]byte); ok && len(b) > 0 && &data[0] == &b[0] {
			t.Errorf("Marshal(%T) returned the caller's slice, which the Store may keep", tc.v)
		}
		if err := cachekit.Raw.Unmarshal(data, tc.ptr); err != nil {
			t.Fatalf("Unmarshal into %T: %v", tc.ptr, err)
		}
		got := reflect.ValueOf(tc.ptr).Elem().Interface()
		if !reflect.DeepEqual(got, tc.v) {
			t.Errorf("Unmarshal = %q; want %q", got, tc.v)
		}
		if len(data) > 0 {
			data[0]++ // the Store's bytes: the decoded value must not share them
			if got := reflect.ValueOf(tc.ptr).Elem().Interface(); !reflect.DeepEqual(got, tc.v) {
				t.Errorf("the value Unmarshal returned shares the Store's bytes: %q", got)
			}
		}
	}
	type blob []byte
	for _, v := range []any{1, blob("x"), &[]byte{}, map[string]string{}, nil} {
		if _, err := cachekit.Raw.Marshal(v); err == nil || !strings.HasPrefix(err.Error(), "cachekit: ") {
			t.Errorf("Marshal(%T) = %v; want an error", v, err)
		}
	}
	for _, p := range []any{new(int), new(blob), []byte{}, "s", nil, new(any)} {
		if err := cachekit.Raw.Unmarshal([]byte("x"), p); err == nil || !strings.HasPrefix(err.Error(), "cachekit: ") {
			t.Errorf("Unmarshal into %T = %v; want an error", p, err)
		}
	}
}

// TestRawThroughAView: a view of a type Raw passes through stores its bytes as they are, and
// hands out copies; a view of another type reports ErrEncode and ErrDecode.
func TestRawThroughAView(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{})
	v := cachekit.Typed[[]byte](c, "img:", 0).WithCodec(cachekit.Raw)
	in := []byte("\x89PNG\r\n\x1a\n")
	if err := v.Set(ctx, "logo", in, 0); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // the caller's slice stays the caller's
	stored, err := c.Store().Get(ctx, "CACHE#img:logo")
	if err != nil || string(stored) != "\x89PNG\r\n\x1a\n" {
		t.Fatalf("the Store holds %q, %v; want the bytes as they were set", stored, err)
	}
	got, err := v.Get(ctx, "logo")
	if err != nil || string(got) != "\x89PNG\r\n\x1a\n" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	got[0] = 'Y' // and so is the slice Get returns
	if again, _ := v.Get(ctx, "logo"); string(again) != "\x89PNG\r\n\x1a\n" {
		t.Errorf("changing what Get returned changed the cached value: %q", again)
	}

	// Raw reads whatever another codec wrote, as it is.
	_ = cachekit.Typed[map[string]int](c, "img:", 0).Set(ctx, "json", map[string]int{"a": 1}, 0)
	if got, err := cachekit.Typed[string](c, "img:", 0).WithCodec(cachekit.Raw).Get(ctx, "json"); err != nil || got != `{"a":1}` {
		t.Errorf("Raw Get of JSON = %q, %v", got, err)
	}

	n := cachekit.Typed[int](c, "n:", 0).WithCodec(cachekit.Raw)
	if err := n.Set(ctx, "k", 1, 0); !errors.Is(err, cachekit.ErrEncode) {
		t.Errorf("Set of an int with Raw: %v; want ErrEncode", err)
	}
	_ = c.Store().Set(ctx, "CACHE#n:k", []byte("1"), time.Minute)
	if _, err := n.Get(ctx, "k"); !errors.Is(err, cachekit.ErrDecode) {
		t.Errorf("Get of an int with Raw: %v; want ErrDecode", err)
	}
	if _, err := n.GetOrLoad(ctx, "k", func(context.Context, string) (int, error) { return 2, nil }); !errors.Is(err, cachekit.ErrEncode) {
		t.Errorf("GetOrLoad of an int with Raw: %v; want ErrEncode (the loaded value cannot be stored)", err)
	}
}

// TestWithCodec: WithCodec keeps the view's prefix, TTL and Freshness, With keeps the codec,
// nil is the Cache's codec, and the calls count in the view's statistics.
func TestWithCodec(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{Codec: upperCodec{}})
	f := cachekit.Freshness{Grace: time.Minute}
	base := cachekit.Typed[string](c, "s:", 10*time.Minute)
	for name, v := range map[string]*cachekit.View[string]{
		"WithCodec then With": base.WithCodec(cachekit.Raw).With(f),
		"With then WithCodec": base.With(f).WithCodec(cachekit.Raw),
	} {
		t.Run(name, func(t *testing.T) {
			if v.Codec() != cachekit.Raw || v.Prefix() != "CACHE#s:" || v.Freshness() != f {
				t.Fatalf("codec %T, prefix %q, freshness %+v", v.Codec(), v.Prefix(), v.Freshness())
			}
			if err := v.Set(ctx, name, "lower", 0); err != nil {
				t.Fatal(err)
			}
			ttl, err := v.TTL(ctx, name)
			if err != nil || ttl <= 10*time.Minute || ttl > 11*time.Minute {
				t.Errorf("TTL = %v, %v; want the view's 10 minutes and the minute of grace", ttl, err)
			}
			data, _ := c.Store().Get(ctx, "CACHE#s:"+name)
			env, ok := backend.ParseEnvelope(data)
			if !ok || string(env.Value) != "lower" {
				t.Errorf("stored %q; want Raw's bytes in an envelope", data)
			}
		})
	}
	if got := base.WithCodec(cachekit.Raw).WithCodec(nil).Codec(); got != (upperCodec{}) {
		t.Errorf("WithCodec(nil).Codec() = %T; want the Cache's", got)
	}
	raw := base.WithCodec(cachekit.Raw)
	before := base.Counters()
	_ = raw.Set(ctx, "k", "v", 0)
	_, _ = raw.Get(ctx, "k")
	_, _ = raw.Get(ctx, "missing")
	after := base.Counters()
	if after.Sets-before.Sets != 1 || after.Hits-before.Hits != 1 || after.Misses-before.Misses != 1 {
		t.Errorf("the view's counters moved by %d sets, %d hits, %d misses; want 1 of each", after.Sets-before.Sets, after.Hits-before.Hits, after.Misses-before.Misses)
	}
	if got, _ := raw.Get(ctx, "k"); got != "v" {
		t.Errorf("Raw Get = %q", got)
	}
	if got, _ := base.Get(ctx, "k"); got != "v" { // upperCodec reads back what it finds
		t.Errorf("the Cache's codec read %q", got)
	}
}

// record is a value for the JSON and MessagePack codecs, with the kinds of field they treat
// apart.
type record struct {
	Name  string            `json:"name"`
	Count int64             `json:"count"`
	Ratio float64           `json:"ratio"`
	Blob  []byte            `json:"blob"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
	When  time.Time         `json:"when"`
	Note  string            `json:"note,omitempty"`
}

// TestCodecsOnRealBackends writes and reads values with each codec on every backend, through
// a plain view and one with Freshness (whose envelope wraps the codec's bytes), by every read
// and write call, and checks the bytes the Store holds.
func TestCodecsOnRealBackends(t *testing.T) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	rec := record{
		Name: "Zürich <&> \u2028", Count: -1 << 40, Ratio: 0.1, Blob: binary, Tags: []string{"a", ""},
		Attrs: map[string]string{"k": "v"}, When: time.Date(2024, 2, 29, 13, 4, 5, 6, time.UTC),
	}
	for name, open := range realStores() {
		t.Run(name, func(t *testing.T) {
			c, err := cachekit.New(open(t), cachekit.Options{Prefix: testenv.Name("CACHE#codecs") + ":"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_, _ = c.Clear(context.Background())
				_ = c.Close()
			})
			for _, fresh := range []bool{false, true} {
				view := "plain"
				if fresh {
					view = "fresh"
				}
				t.Run(view+"/Raw/bytes", func(t *testing.T) {
					roundTrips(t, c, view+"-raw-bytes:", fresh, cachekit.Raw, []byte("\x00\xff binary"), binary, []byte{})
				})
				t.Run(view+"/Raw/string", func(t *testing.T) {
					roundTrips(t, c, view+"-raw-string:", fresh, cachekit.Raw, "Zürich <&>", "not UTF-8 \xff", "")
				})
				t.Run(view+"/Raw/RawMessage", func(t *testing.T) {
					roundTrips(t, c, view+"-raw-json:", fresh, cachekit.Raw, json.RawMessage(`{"a": [1, 2]}`), json.RawMessage(`"<&>"`))
				})
				t.Run(view+"/JSON", func(t *testing.T) {
					roundTrips(t, c, view+"-json:", fresh, cachekit.JSON, rec, record{})
				})
				t.Run(view+"/msgpack", func(t *testing.T) {
					roundTrips(t, c, view+"-msgpack:", fresh, msgpack.Codec, rec, record{})
				})
			}
		})
	}
}

// roundTrips writes vals under a view of c with codec, by Set, SetMany, GetOrLoad and
// GetManyOrLoad, and reads each back by Get, GetMany and GetOrLoad, checking the bytes the
// Store holds: codec's, in an envelope when fresh.
func roundTrips[V any](t *testing.T, c *cachekit.Cache, prefix string, fresh bool, codec cachekit.Codec, vals ...V) {
	ctx := context.Background()
	v := cachekit.Typed[V](c, prefix, time.Hour).WithCodec(codec)
	if fresh {
		v = v.With(cachekit.Recommended(time.Hour))
	}
	key := func(how string, i int) string { return how + string(rune('a'+i)) }
	many := map[string]V{}
	for i, val := range vals {
		if err := v.Set(ctx, key("set", i), val, 0); err != nil {
			t.Fatalf("Set: %v", err)
		}
		many[key("setmany", i)] = val
		got, err := v.GetOrLoad(ctx, key("load", i), func(context.Context, string) (V, error) { return val, nil })
		if err != nil || !same(got, val) {
			t.Errorf("GetOrLoad (a miss) = %v, %v; want %v", got, err, val)
		}
	}
	if err := v.SetMany(ctx, many, 0); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	loaded, err := v.GetManyOrLoad(ctx, []string{key("loadmany", 0)}, func(_ context.Context, keys []string) (map[string]V, error) {
		return map[string]V{keys[0]: vals[0]}, nil
	})
	if err != nil || !same(loaded[key("loadmany", 0)], vals[0]) {
		t.Errorf("GetManyOrLoad (a miss) = %v, %v", loaded, err)
	}

	var keys []string
	for i, val := range vals {
		for _, how := range []string{"set", "setmany", "load"} {
			k := key(how, i)
			keys = append(keys, k)
			got, err := v.Get(ctx, k)
			if err != nil || !same(got, val) {
				t.Errorf("Get(%s) = %v, %v; want %v", k, got, err, val)
			}
			got, err = v.GetOrLoad(ctx, k, func(context.Context, string) (V, error) {
				t.Errorf("GetOrLoad(%s) loaded a key it holds", k)
				return val, nil
			})
			if err != nil || !same(got, val) {
				t.Errorf("GetOrLoad(%s) = %v, %v; want %v", k, got, err, val)
			}
			stored, err := c.Store().Get(ctx, v.Prefix()+k)
			if err != nil {
				t.Fatal(err)
			}
			if env, ok := backend.ParseEnvelope(stored); ok != fresh {
				t.Errorf("%s: an envelope: %v; want %v", k, ok, fresh)
			} else if ok {
				stored = env.Value
			}
			var back V
			if err := codec.Unmarshal(stored, &back); err != nil || !same(back, val) {
				t.Errorf("%s: the Store holds %q, which the codec reads as %v, %v", k, stored, back, err)
			}
		}
	}
	got, err := v.GetMany(ctx, append(keys, "missing"))
	if err != nil || len(got) != len(keys) {
		t.Fatalf("GetMany = %d values, %v; want %d", len(got), err, len(keys))
	}
	for i, k := range keys {
		if want := vals[i/3]; !same(got[k], want) {
			t.Errorf("GetMany[%s] = %v; want %v", k, got[k], want)
		}
	}
}

// same reports whether a and b are equal, with times equal as instants (MessagePack gives
// them back in the local time zone).
func same[V any](a, b V) bool {
	if ra, ok := any(a).(record); ok {
		rb := any(b).(record)
		if !ra.When.Equal(rb.When) {
			return false
		}
		ra.When, rb.When = time.Time{}, time.Time{}
		if len(ra.Blob) == 0 && len(rb.Blob) == 0 { // JSON and MessagePack may not keep nil apart from empty
			ra.Blob, rb.Blob = nil, nil
		}
		if len(ra.Tags) == 0 && len(rb.Tags) == 0 {
			ra.Tags, rb.Tags = nil, nil
		}
		if len(ra.Attrs) == 0 && len(rb.Attrs) == 0 {
			ra.Attrs, rb.Attrs = nil, nil
		}
		return reflect.DeepEqual(ra, rb)
	}
	if ba, ok := any(a).([]byte); ok {
		return bytes.Equal(ba, any(b).([]byte)) && ba != nil
	}
	return reflect.DeepEqual(a, b)
}

// TestAllocs counts the allocations of a hit through a view on a memstore: Raw's copy of the
// value and the whole key (the prefix before the caller's key), which a Store needs as one
// string.
func TestAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocations are counted without instrumentation")
	}
	ctx := context.Background()
	c := newCache(t, nil, cachekit.Options{})
	bytesView := cachekit.Typed[[]byte](c, "b:", 0).WithCodec(cachekit.Raw)
	stringView := cachekit.Typed[string](c, "s:", 0).WithCodec(cachekit.Raw)
	_ = bytesView.Set(ctx, "k", make([]byte, 64), 0)
	_ = stringView.Set(ctx, "k", strings.Repeat("x", 64), 0)
	val := make([]byte, 64)
	load := func(context.Context, string) ([]byte, error) { return val, nil }
	// A batch of 100 through JSON: the whole keys, the map of what the Store found and the
	// view's, and per value its key and the string the codec makes; the values themselves
	// decode into one slice, not one escaped V each.
	jsonView := cachekit.Typed[string](c, "j:", 0)
	keys := make([]string, 100)
	vals := make(map[string]string, len(keys))
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		vals[keys[i]] = strings.Repeat("y", 32)
	}
	if err := jsonView.SetMany(ctx, vals, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := jsonView.GetMany(ctx, append(keys, keys[0], keys[1])); err != nil || len(got) != len(keys) {
		t.Fatalf("GetMany with two keys repeated = %d values, %v; want %d", len(got), err, len(keys))
	}
	for _, tc := range []struct {
		name string
		max  float64
		run  func()
	}{
		{"Raw []byte Get hit", 2, func() { _, _ = bytesView.Get(ctx, "k") }},
		{"Raw string Get hit", 2, func() { _, _ = stringView.Get(ctx, "k") }},
		{"Raw []byte GetOrLoad hit", 2, func() { _, _ = bytesView.GetOrLoad(ctx, "k", load) }},
		{"Raw []byte Set", 3, func() { _ = bytesView.Set(ctx, "k", val, 0) }},
		{"JSON GetMany of 100", 330, func() { _, _ = jsonView.GetMany(ctx, keys) }},
	} {
		if n := testing.AllocsPerRun(100, tc.run); n > tc.max {
			t.Errorf("%s: %v allocations; want at most %v", tc.name, n, tc.max)
		}
	}
}

// TestCodecsOnDynamoDBWire writes through views with each codec and reads the items with the
// plain SDK, as another service would: the value attribute is S, the text itself, when the
// codec's bytes are UTF-8 (JSON, Raw strings), and B, the bytes, when they are not (binary
// Raw values, most MessagePack).
func TestCodecsOnDynamoDBWire(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-codecs"})
	s, err := dynamostore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cachekit.New(s, cachekit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := record{Name: "n", Count: 1, Blob: []byte{0xff}}
	packed, _ := msgpack.Codec.Marshal(rec)
	jsonText, _ := cachekit.JSON.Marshal(rec)
	for _, tc := range []struct {
		key  string
		set  func(key string) error
		want types.AttributeValue
	}{
		{"raw-string", func(k string) error {
			return cachekit.Typed[string](c, "", 0).WithCodec(cachekit.Raw).Set(ctx, k, "Zürich <&>", 0)
		}, &types.AttributeValueMemberS{Value: "Zürich <&>"}},
		{"raw-bytes", func(k string) error {
			return cachekit.Typed[[]byte](c, "", 0).WithCodec(cachekit.Raw).Set(ctx, k, []byte{0, 0xff, 'x'}, 0)
		}, &types.AttributeValueMemberB{Value: []byte{0, 0xff, 'x'}}},
		{"raw-json", func(k string) error {
			return cachekit.Typed[json.RawMessage](c, "", 0).WithCodec(cachekit.Raw).Set(ctx, k, json.RawMessage(`{"a": 1}`), 0)
		}, &types.AttributeValueMemberS{Value: `{"a": 1}`}},
		{"msgpack", func(k string) error {
			return cachekit.Typed[record](c, "", 0).WithCodec(msgpack.Codec).Set(ctx, k, rec, 0)
		}, &types.AttributeValueMemberB{Value: packed}},
		{"json", func(k string) error {
			return cachekit.Typed[record](c, "", 0).Set(ctx, k, rec, 0)
		}, &types.AttributeValueMemberS{Value: string(jsonText)}},
	} {
		if err := tc.set(tc.key); err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(opts.Table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "CACHE#" + tc.key}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Item["value"]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: the value attribute is %#v; want %#v", tc.key, got, tc.want)
		}
	}
}
