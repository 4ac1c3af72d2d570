// Package compression measures package compress on JSON API responses of 1, 10, 20 and
// 100 KB (internal/apidata): zstd against S2, at each level, for the speed of compressing and
// decompressing and the ratio (BenchmarkCompress, BenchmarkDecompress), and what compression
// saves on DynamoDB, in the capacity units DynamoDB Local reports for each Get and Set of
// those values, plain and compressed, and their on-demand price (TestConsumedCapacity).
// docs/compression.md shows how to run them and what they found.
//
// TestConsumedCapacity needs the DynamoDB Local that scripts/services starts
// (CACHEKIT_DYNAMODB_ENDPOINT names another) and skips without it, or fails under
// CACHEKIT_REQUIRE_BACKENDS=1; it makes a table of its own and deletes it when it ends.
package compression
