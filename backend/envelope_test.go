package backend_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/cachekit/cachekit/backend"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	at := time.UnixMilli(946684800123)
	for _, e := range []backend.Envelope{
		{Value: []byte(`{"a":1}`), FreshUntil: at, LoadTime: 250 * time.Millisecond},
		{NotFound: true, FreshUntil: at},
		{Value: []byte{}, FreshUntil: time.UnixMilli(math.MinInt64)},
		{Value: []byte("x"), FreshUntil: time.UnixMilli(math.MaxInt64), LoadTime: (1<<32 - 1) * time.Millisecond},
	} {
		data := e.Append([]byte("kept"))
		if !bytes.HasPrefix(data, []byte("kept")) {
			t.Fatalf("Append(%+v) dropped dst: %q", e, data)
		}
		got, ok := backend.ParseEnvelope(data[4:])
		if !ok || !sameEnvelope(got, e) {
			t.Errorf("ParseEnvelope(Append(%+v)) = %+v, %v", e, got, ok)
		}
	}
	// Load times Append cannot hold are written as the nearest it can.
	for in, want := range map[time.Duration]time.Duration{
		-time.Second:            0,
		1500 * time.Microsecond: time.Millisecond,
		math.MaxInt64:           (1<<32 - 1) * time.Millisecond,
	} {
		got, _ := backend.ParseEnvelope(backend.Envelope{LoadTime: in}.Append(nil))
		if got.LoadTime != want {
			t.Errorf("LoadTime %v came back as %v, want %v", in, got.LoadTime, want)
		}
	}
}

func TestParseEnvelopeRefusesOtherBytes(t *testing.T) {
	valid := backend.Envelope{Value: []byte("v")}.Append(nil)
	for name, data := range map[string][]byte{
		"nil":          nil,
		"JSON":         []byte(`{"fresh":true,"value":"0123456789abcdef"}`),
		"short header": valid[:16],
		"other magic":  append([]byte{0xC1, 'c', 'k', 0x02}, valid[4:]...),
		"unknown flag": append(append([]byte{}, valid[:4]...), append([]byte{0x02}, valid[5:]...)...),
	} {
		if _, ok := backend.ParseEnvelope(data); ok || backend.IsEnvelope(data) {
			t.Errorf("%s: %q parsed as an envelope", name, data)
		}
	}
}

// FuzzEnvelope checks ParseEnvelope on any bytes (a value another writer left, or a hostile
// one): it never panics, and what it accepts appends back to the same bytes; and that what
// Append writes parses back to the envelope it was given, to the millisecond.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(nil), int64(0), int64(0), false, []byte(nil))
	f.Add(backend.Envelope{Value: []byte(`"v"`), FreshUntil: time.UnixMilli(1e12), LoadTime: time.Second}.Append(nil), int64(1e12), int64(time.Second), false, []byte(`"v"`))
	f.Add(backend.Envelope{NotFound: true}.Append(nil), int64(-1), int64(-1), true, []byte("left in a tombstone"))
	f.Add([]byte{0xC1, 'c', 'k', 0x01, 0xFF}, int64(math.MinInt64), int64(math.MaxInt64), false, []byte{0xC1})
	f.Fuzz(func(t *testing.T, data []byte, ms, load int64, notFound bool, value []byte) {
		if env, ok := backend.ParseEnvelope(data); ok {
			if again := env.Append(nil); !bytes.Equal(again, data) {
				t.Fatalf("ParseEnvelope(%x) = %+v, which appends as %x", data, env, again)
			}
			if len(env.Value) > 0 && &env.Value[0] != &data[len(data)-len(env.Value)] {
				t.Fatalf("ParseEnvelope(%x): the value does not share data's memory", data)
			}
		} else if backend.IsEnvelope(data) {
			t.Fatalf("IsEnvelope(%x) is true but ParseEnvelope refused it", data)
		}

		e := backend.Envelope{Value: value, FreshUntil: time.UnixMilli(ms), LoadTime: time.Duration(load), NotFound: notFound}
		got, ok := backend.ParseEnvelope(e.Append(nil))
		want := e
		want.LoadTime = min(max(e.LoadTime.Truncate(time.Millisecond), 0), (1<<32-1)*time.Millisecond)
		if !ok || !sameEnvelope(got, want) {
			t.Fatalf("ParseEnvelope(Append(%+v)) = %+v, %v; want %+v", e, got, ok, want)
		}
	})
}

func sameEnvelope(a, b backend.Envelope) bool {
	return bytes.Equal(a.Value, b.Value) && a.FreshUntil.Equal(b.FreshUntil) && a.LoadTime == b.LoadTime && a.NotFound == b.NotFound
}
