package cachekit

import (
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
// what a Go service wrote. Strings that need no escaping take a shorter path with the same
// bytes as encoding/json's, in and out.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error) {
	if s, ok := v.(string); ok && plain(s) {
		b := make([]byte, 0, len(s)+2)
		return append(append(append(b, '"'), s...), '"'), nil
	}
	return json.Marshal(v)
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

// plain reports whether encoding/json writes s between quotes as it is: valid UTF-8 with no
// quote, backslash or control character, none of the <, > and & it escapes for HTML, and
// neither U+2028 nor U+2029.
func plain[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			return false // U+2028, U+2029
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
