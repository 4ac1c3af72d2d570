//go:build !race

package cachekit_test

// raceEnabled reports whether the tests run under the race detector, which changes what
// allocates.
const raceEnabled = false
