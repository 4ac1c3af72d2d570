//go:build cachekit_stdjson

package cachekit

import "encoding/json"

// Under the tag cachekit_stdjson the JSON codec runs on the standard library's encoding/json,
// for a program that would rather be 2.2 MB smaller than decode faster: the same bytes.

func engineMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func engineUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
