package cachekit_test

import (
	"testing"

	"github.com/cachekit/cachekit"
)

// BenchmarkJSONMarshal measures the default codec on a plain string (its short path), a
// string that needs escaping and a small struct.
func BenchmarkJSONMarshal(b *testing.B) {
	type geo struct {
		City    string  `json:"city"`
		Country string  `json:"country"`
		Lat     float64 `json:"lat"`
		Lon     float64 `json:"lon"`
	}
	for _, bc := range []struct {
		name string
		v    any
	}{
		{"plain", "203.0.113.7 resolved to Dublin, Ireland"},
		{"escaped", "<a href=\"/x?a=1&b=2\">Dublin</a>\n"},
		{"struct", geo{City: "Dublin", Country: "IE", Lat: 53.35, Lon: -6.26}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cachekit.JSON.Marshal(bc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
