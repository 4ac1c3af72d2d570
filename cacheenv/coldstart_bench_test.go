package cacheenv_test

import (
	"path/filepath"
	"testing"

	"github.com/cachekit/cachekit/cacheenv"
)

// BenchmarkColdStartOpen measures what the first call of Default costs a Lambda function's
// cold start, per backend: reading the CACHE_* environment and building the Cache, with its
// breaker and health checker, as Lambda's environment asks for them (on demand, no
// goroutines). Metrics stay off only because Close would write an EMF line per iteration. No network I/O happens here: the DynamoDB client loads its configuration
// (region and credentials from the environment) and the Redis client connects on the first
// cache call. Close is inside the loop, so every iteration starts from nothing.
func BenchmarkColdStartOpen(b *testing.B) {
	for _, bc := range []struct {
		name string
		env  map[string]string
	}{
		{"dynamodb", map[string]string{"CACHE_TABLE_NAME": "geo"}},
		{"redis", map[string]string{"CACHE_REDIS_URL": "redis://127.0.0.1:6379"}},
		{"memory", map[string]string{"CACHE_STORAGE_TYPE": "memory"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// What Lambda sets, and no shared AWS files, profile or CA bundle: a function has
			// none. (An AWS_CA_BUNDLE alone costs milliseconds: the SDK parses every
			// certificate in it.)
			nowhere := filepath.Join(b.TempDir(), "none")
			for k, v := range map[string]string{
				"AWS_CA_BUNDLE":               "",
				"AWS_PROFILE":                 "",
				"AWS_LAMBDA_FUNCTION_NAME":    "geo",
				"AWS_ACCESS_KEY_ID":           "AKIDEXAMPLE",
				"AWS_SECRET_ACCESS_KEY":       "secret",
				"AWS_SESSION_TOKEN":           "token",
				"AWS_REGION":                  "us-east-1",
				"AWS_EC2_METADATA_DISABLED":   "true",
				"AWS_CONFIG_FILE":             nowhere,
				"AWS_SHARED_CREDENTIALS_FILE": nowhere,
			} {
				b.Setenv(k, v)
			}
			for k, v := range bc.env {
				b.Setenv(k, v)
			}
			b.ReportAllocs()
			for b.Loop() {
				cfg, err := cacheenv.Load()
				if err != nil {
					b.Fatal(err)
				}
				c, err := cacheenv.Open(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
