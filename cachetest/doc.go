// Package cachetest is the conformance kit for cachekit backends: every behaviour the
// backend.Store contract promises, as one suite that every Store, and every decorator that is
// a Store, must pass.
//
// Run it from a backend's tests, on the model of testing/slogtest:
//
//	func TestConformance(t *testing.T) {
//		cachetest.Run(t, cachetest.Harness{
//			New: func(t *testing.T, clock backend.Clock) backend.Store {
//				s, err := memstore.New(memstore.Options{Clock: clock})
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			},
//		})
//	}
//
// Time is never waited for: the kit hands the store a Clock and moves it. Each subtest uses
// keys under a prefix of its own, random per run, so stores that share one table or server
// can run the kit side by side and leave their neighbours' keys alone.
package cachetest
