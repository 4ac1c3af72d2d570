package cachekit

// Unescape is unescape, for the tests that hold the JSON codec to encoding/json.
var Unescape = unescape
