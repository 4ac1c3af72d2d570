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
// By default time is never waited for: the kit hands the store a Clock and moves it. A store
// that keeps real time, as in production, sets Harness.WallClock: the subtests that need time
// to pass then use short real TTLs and poll until the entry has expired.
//
// The subtests of an optional ability (backend.Leaser, backend.Counter, backend.Throttler) run
// when the Store under test has it, found by a type assertion on the Store itself, as callers
// find it, and skip otherwise: a decorator that does not pass the ability on is not asked for
// it. They skip too when the Store has the ability's methods but answers a first call with an
// error wrapping errors.ErrUnsupported, as a decorator that passes the ability on does over a
// store without it.
//
// Each subtest uses keys under a prefix of its own, random per run (after Harness.Prefix), so
// stores that share one table or server can run the kit side by side and leave their
// neighbours' keys alone; and each deletes its keys with Clear when it ends, whether it passed
// or failed, so that the kit leaves nothing on the server.
package cachetest
