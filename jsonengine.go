//go:build !cachekit_stdjson

package cachekit

import gojson "github.com/goccy/go-json"

// The JSON codec runs on go-json unless the program is built with the tag cachekit_stdjson
// (see jsonengine_std.go).

func engineMarshal(v any) ([]byte, error) { return gojson.Marshal(v) }

func engineUnmarshal(data []byte, v any) error { return gojson.Unmarshal(data, v) }
