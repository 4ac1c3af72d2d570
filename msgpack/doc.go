// Package msgpack is a cachekit.Codec that writes MessagePack
// (github.com/vmihailenco/msgpack/v5), as go-redis/cache does: for services written in Go
// alone that want values smaller than JSON's (15 to 20% smaller for typical structs, whose
// field names MessagePack keeps). It is no faster: cachekit.JSON reads twice as fast (see
// docs/benchmarks.md).
//
// Give it to a Cache (cachekit.Options{Codec: msgpack.Codec}) or to one view
// (View.WithCodec(msgpack.Codec)). Values written with it are read back with it only: a view
// with the JSON codec reports ErrDecode on them, and services in other languages need a
// MessagePack library and the same field names. Struct fields are named by their msgpack
// tags, or else by their json tags, so that a type written for the JSON codec keeps its field
// names, omitempty and "-" here. A time.Time comes back as the same instant in the local time
// zone: MessagePack's timestamps carry none.
//
// Every stored value is checked before it is decoded: a length that claims more bytes than
// the value holds is an error, not an allocation of that size (the decoder allocates what a
// length claims, up to 4 GiB for a string, before reading it).
package msgpack
