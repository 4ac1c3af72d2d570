//go:build goexperiment.jsonv2

package benchmarks

import (
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
)

// Under GOEXPERIMENT=jsonv2 (Go 1.25 and 1.26), encoding/json/v2 with encoding/json's options,
// less its HTML escaping, joins the codec benchmark. Without the experiment the package does
// not exist, so cachekit cannot build on it; and with it, encoding/json itself runs on v2, so
// the encoding-json row measures that implementation too.
var v2Options = jsonv2.JoinOptions(json.DefaultOptionsV1(), jsontext.EscapeForHTML(false), jsontext.EscapeForJS(false))

func init() {
	codecEngines = append(codecEngines, codecEngine{name: "json-v2", codec: funcCodec{
		unescaped(func(v any) ([]byte, error) { return jsonv2.Marshal(v, v2Options) }),
		func(data []byte, v any) error { return jsonv2.Unmarshal(data, v, v2Options) },
	}})
}
