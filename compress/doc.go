// Package compress is a cachekit.Codec that compresses the values another codec writes once
// they reach a size, with zstd or S2 (github.com/klauspost/compress), in a format that other
// languages read with their standard zstd or Snappy library.
//
// It trades CPU for bytes: on DynamoDB, which bills a write unit per 1 KB and a read unit per
// 4 KB of item, a 20 KB JSON response takes 6 write units compressed with zstd instead of 21,
// for about 70 µs of CPU, and a value past DynamoDB's 400 KB item limit fits when it
// compresses below it; on Redis it takes less memory and network. Pass the Codec New returns
// as cachekit.Options.Codec (see the Example); docs/compression.md has the figures.
//
// # The format
//
// A value below Options.Threshold, or one that compression does not make smaller, is stored
// as the inner codec wrote it: JSON text stays JSON, readable by any client. A compressed
// value is a 5-byte header, then one standard frame:
//
//	offset  size  field
//	0       4     marker: 0xC1 'c' 'k' 0x02
//	4       1     algorithm: 0x01 zstd, 0x02 Snappy (S2's Snappy-compatible blocks)
//	5       …     0x01: one zstd frame (RFC 8878) that declares its content size;
//	              0x02: one Snappy block (the raw block format, not the framed stream),
//	              which starts with the decoded length as a varint
//
// 0xC1 begins no JSON text, no UTF-8 string and no MessagePack value, so no value any codec
// of cachekit writes is taken for a compressed one; to be sure of it with a codec that writes
// any bytes, a value that begins with the marker is always compressed. The marker differs from
// backend.Envelope's (0xC1 'c' 'k' 0x01) in its last byte: a view with freshness options wraps
// the compressed value in an envelope, whose value then begins with this marker. A reader in
// another language strips the envelope's 17 bytes if it finds that magic, then this header,
// then decompresses the rest.
//
// # Limits
//
// Unmarshal refuses, with ErrTooLarge, a value that would decompress to more than
// Options.MaxSize, before it allocates for it: it reads the size a zstd frame or a Snappy block
// declares, allocates that, and the decoder stops within one zstd block (128 KiB) of it when a
// frame holds more than it declares. A shared table or server may hold values
// another writer put there, and a few bytes that claim gigabytes must not take a reader's
// memory. Marshal refuses a value over MaxSize too, which its readers would refuse. A value
// that does not decompress (a truncated or altered frame, an unknown algorithm byte, a zstd
// frame without its content size) is ErrCorrupt. Through a Cache either is cachekit.ErrDecode,
// and GetOrLoad loads over it as over a value that no longer decodes.
//
// A Codec reads values of either algorithm, whatever Options.Algorithm says, and values the
// inner codec wrote plainly: switching algorithms, or turning compression on, needs no
// migration of stored values. A reader without this package, a plain cachekit.JSON among
// them, cannot read compressed values: roll the readers out first (a Codec with a Threshold
// no value reaches reads compressed values and writes none), then the writers.
package compress
