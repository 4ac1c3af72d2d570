package cachekit

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Codec turns values into the bytes a Store keeps, and back.
//
// Marshal must return a slice that does not share memory with the value, since the Store may
// keep it; Unmarshal must not keep data, which belongs to the Store. Both must be safe for
// concurrent use.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec: encoding/json, so that services in other languages can read
// what a Go service wrote. It writes what JavaScript's JSON.stringify writes for the same
// value: <, >, &, U+2028 and U+2029 as themselves, not escaped for HTML as encoding/json's
// Marshal does, so that equal values are equal bytes whichever language wrote them. Strings
// that need no escaping take a shorter path with the same bytes, in and out.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error) {
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

// unescape turns the escapes encoding/json's Marshal writes for <, > and & (\u003c, \u003e,
// \u0026), and for U+2028 and U+2029 (which it escapes whatever SetEscapeHTML says), back
// into the characters, as JSON.stringify leaves them. It rewrites b in place, which the
// shorter output allows, and returns it. Undoing the escapes after Marshal keeps Marshal's
// single allocation (a json.Encoder with SetEscapeHTML(false) needs a buffer and a copy out of
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
	return json.Unmarshal(data, v)
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
