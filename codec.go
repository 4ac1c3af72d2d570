package cachekit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Codec turns values into the bytes a Store keeps, and back. A Cache has one (Options.Codec,
// JSON by default), which its views use unless given another with View.WithCodec.
//
// Marshal must return a slice that does not share memory with the value, since the Store may
// keep it; Unmarshal must not keep data, which belongs to the Store. Both must be safe for
// concurrent use.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// Raw is the Codec that stores a []byte, a string or a json.RawMessage as its bytes, with no
// encoding: for values that are bytes already (an image, a compressed blob, JSON text another
// service wrote, a rendered page). It makes one copy each way, which the ownership rules of
// the Store contract require: the slice a caller passes to Set stays the caller's, and the
// one a Store returns stays the Store's. A view of one of those types with Raw (see
// View.WithCodec) makes that copy itself, without the Codec interface: a hit costs the
// Store's read, the copy and the key.
//
// Raw reads any stored bytes, whatever codec wrote them, into a []byte or a
// json.RawMessage (a string gets them as they are, valid UTF-8 or not). Any other type is an
// error: ErrEncode from a view's writes, ErrDecode from its reads.
var Raw Codec = rawCodec{}

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case []byte:
		return clone(v), nil
	case string:
		return []byte(v), nil
	case json.RawMessage:
		return clone(v), nil
	}
	return nil, fmt.Errorf("cachekit: the Raw codec stores a []byte, a string or a json.RawMessage, not a %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	switch p := v.(type) {
	case *[]byte:
		*p = clone(data)
	case *string:
		*p = string(data)
	case *json.RawMessage:
		*p = clone(data)
	default:
		return fmt.Errorf("cachekit: the Raw codec reads into a *[]byte, a *string or a *json.RawMessage, not a %T", v)
	}
	return nil
}

// clone returns a copy of b that is never nil, so that a hit on an empty value is an empty
// slice, not a missing one. Appending to nil allocates without zeroing what the copy
// overwrites, which make and copy would.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	return append([]byte(nil), b...)
}

// passThrough reports whether Raw passes values of type V through.
func passThrough[V any]() bool {
	switch any((*V)(nil)).(type) {
	case *[]byte, *string, *json.RawMessage:
		return true
	}
	return false
}

// rawBytes is Raw's Marshal of *p, for a V that passThrough accepts. The type switch on a
// pointer, not on the value, boxes nothing.
func rawBytes[V any](p *V) []byte {
	switch p := any(p).(type) {
	case *[]byte:
		return clone(*p)
	case *string:
		return []byte(*p)
	case *json.RawMessage:
		return clone(*p)
	}
	panic("cachekit: rawBytes of a type Raw does not pass through")
}

// rawValue is Raw's Unmarshal of data into *p, for a V that passThrough accepts.
func rawValue[V any](data []byte, p *V) {
	switch p := any(p).(type) {
	case *[]byte:
		*p = clone(data)
	case *string:
		*p = string(data)
	case *json.RawMessage:
		*p = clone(data)
	default:
		panic("cachekit: rawValue of a type Raw does not pass through")
	}
}

// JSON is the default Codec: JSON text, so that services in other languages can read what a
// Go service wrote. It writes what JavaScript's JSON.stringify writes for the same value: <,
// >, &, U+2028 and U+2029 as themselves, not escaped for HTML as encoding/json's Marshal does,
// so that equal values are equal bytes whichever language wrote them; otherwise its bytes are
// encoding/json's, and it reads as encoding/json does (field names matched without regard to
// case, unknown fields ignored, a value of the wrong type an error). Strings that need no
// escaping take a shorter path with the same bytes, in and out.
//
// The work is done by github.com/goccy/go-json, a drop-in for encoding/json, which writes the
// same bytes twice as fast and reads them five times as fast: on a hit from memory, decoding
// is most of the cost. It is the one module this package needs beyond the standard library,
// chosen by benchmark among the drop-ins as the only one that writes encoding/json's bytes
// (codec_compat_test.go holds it to them, on a table of awkward values and by fuzzing, and
// codec_test.go to Node's JSON.stringify); the price is 2.2 MB in a program's binary. A program
// built with the tag cachekit_stdjson (go build -tags cachekit_stdjson) runs it on
// encoding/json instead, with the same bytes, and links no go-json. See docs/benchmarks.md
// and docs/footprint.md for the figures.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error) {
	if s, ok := v.(string); ok && plain(s) {
		b := make([]byte, 0, len(s)+2)
		return append(append(append(b, '"'), s...), '"'), nil
	}
	b, err := engineMarshal(v)
	if err != nil {
		return nil, err
	}
	return unescape(b), nil
}

// unescape turns the escapes encoding/json's Marshal writes for <, > and & (\u003c, \u003e,
// \u0026), and for U+2028 and U+2029 (which it escapes whatever SetEscapeHTML says), back
// into the characters, as JSON.stringify leaves them. It rewrites b in place, which the
// shorter output allows, and returns it. Undoing the escapes after Marshal keeps Marshal's
// single allocation (an Encoder with SetEscapeHTML(false) needs a buffer and a copy out of
// it, and still escapes U+2028 and U+2029), and costs one scan for a backslash when there is
// none.
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
		// In encoding/json's output a backslash always starts an escape of two bytes or more.
		if c, ok := unescaped(b[i:]); ok {
			w += utf8.EncodeRune(b[w:], c)
			i += 6
			continue
		}
		// Any other escape, \\ included, is copied whole, so that its second byte is never
		// taken for the start of one.
		b[w], b[w+1] = b[i], b[i+1]
		w, i = w+2, i+2
	}
	return b[:w]
}

// unescaped returns the character of the escape at the start of b if it is one unescape undoes.
func unescaped(b []byte) (rune, bool) {
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

func (jsonCodec) Unmarshal(data []byte, v any) error {
	if p, ok := v.(*string); ok && len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' {
		if inner := data[1 : len(data)-1]; plain(inner) {
			*p = string(inner)
			return nil
		}
	}
	return engineUnmarshal(data, v)
}

// plain reports whether the JSON codec writes s between quotes as it is: valid UTF-8 with no
// quote, backslash or control character.
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
