package cachekit

import "encoding/json"

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
// what a Go service wrote.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
