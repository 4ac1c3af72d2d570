package dynamostore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/apidata"
	"github.com/cachekit/cachekit/internal/testenv"
)

// TestItemsWithoutAValueAreNotEntries writes, with the plain SDK, items under the cache's
// prefix that another service could leave there but that are not cache entries (no value
// attribute, or one of a type the cache never writes), and checks that every operation
// passes them by: each read misses, Count leaves them out, Expire reports ErrNotFound, Acquire
// and Incr report ErrNotEntry and Release does nothing, and Clear leaves them as they were.
// An entry without a ttl, by contrast, is an entry that never expires, and a number in the
// value attribute is a counter, which reads as its digits.
func TestItemsWithoutAValueAreNotEntries(t *testing.T) {
	for name, opts := range map[string]dynamostore.Options{
		"partition key only":  {},
		"single-table design": {SortKey: "SK", SortKeyValue: "CACHE", ConsistentRead: true},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			client := testenv.DynamoDB(t)
			opts := newTable(t, client, opts)
			future := itoa(time.Now().Add(time.Hour).Unix())
			keyOf := func(k string) map[string]types.AttributeValue {
				key := pk(k)
				if opts.SortKey != "" {
					key[opts.SortKey] = &types.AttributeValueMemberS{Value: opts.SortKeyValue}
				}
				return key
			}
			with := func(k string, attrs ...any) map[string]types.AttributeValue {
				it := keyOf(k)
				for i := 0; i < len(attrs); i += 2 {
					it[attrs[i].(string)] = attrs[i+1].(types.AttributeValue)
				}
				return it
			}
			notEntries := map[string]map[string]types.AttributeValue{
				"CACHE#no-value": with("CACHE#no-value", "ttl", &types.AttributeValueMemberN{Value: future},
					"status", &types.AttributeValueMemberS{Value: "locked"}),
				"CACHE#no-value-no-ttl": with("CACHE#no-value-no-ttl", "owner", &types.AttributeValueMemberS{Value: "billing"}),
				"CACHE#map-value": with("CACHE#map-value", "value", &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					"a": &types.AttributeValueMemberS{Value: "b"}}}),
			}
			noTTL := with("CACHE#no-ttl", "value", &types.AttributeValueMemberS{Value: `"forever"`})
			number := with("CACHE#number-value", "value", &types.AttributeValueMemberN{Value: "42"},
				"ttl", &types.AttributeValueMemberN{Value: future})
			put := func(it map[string]types.AttributeValue) {
				t.Helper()
				if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(opts.Table), Item: it}); err != nil {
					t.Fatal(err)
				}
			}
			for _, it := range notEntries {
				put(it)
			}
			put(noTTL)
			put(number)
			s, err := dynamostore.New(client, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Set(ctx, "CACHE#entry", []byte(`"cached"`), time.Hour); err != nil {
				t.Fatal(err)
			}

			keys := slices.Sorted(maps.Keys(notEntries))
			for _, k := range keys {
				if v, err := s.Get(ctx, k); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("Get %s = %q, %v; want ErrNotFound", k, v, err)
				}
				if ok, err := s.Has(ctx, k); ok || err != nil {
					t.Errorf("Has %s = %v, %v; want false", k, ok, err)
				}
				if ttl, err := s.TTL(ctx, k); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("TTL %s = %v, %v; want ErrNotFound", k, ttl, err)
				}
				if err := s.Expire(ctx, k, time.Minute); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("Expire %s: %v, want ErrNotFound", k, err)
				}
				if entries, err := backend.ReadEntries(ctx, s, []string{k}); err != nil || len(entries) != 0 {
					t.Errorf("ReadEntries [%s] = %v, %v; want none", k, entries, err)
				}
				if ok, err := s.Acquire(ctx, k, "token", time.Minute); ok || !errors.Is(err, dynamostore.ErrNotEntry) {
					t.Errorf("Acquire %s = %v, %v; want false, ErrNotEntry", k, ok, err)
				}
				if err := s.Release(ctx, k, "token"); err != nil {
					t.Errorf("Release %s: %v", k, err)
				}
				if n, err := s.Incr(ctx, k, 1, time.Minute); !errors.Is(err, dynamostore.ErrNotEntry) {
					t.Errorf("Incr %s = %d, %v; want ErrNotEntry", k, n, err)
				}
			}
			// A number is a counter, and reads as its digits.
			if v, err := s.Get(ctx, "CACHE#number-value"); err != nil || string(v) != "42" {
				t.Errorf("Get of a number = %q, %v; want %q", v, err, "42")
			}
			if n, err := s.Incr(ctx, "CACHE#number-value", 1, time.Minute); n != 43 || err != nil {
				t.Errorf("Incr of a number = %d, %v; want 43", n, err)
			}
			// An entry without a ttl is a lease that is never free.
			if ok, err := s.Acquire(ctx, "CACHE#no-ttl", "token", time.Minute); ok || err != nil {
				t.Errorf("Acquire over an entry without ttl = %v, %v; want false, nil", ok, err)
			}
			all := append([]string{"CACHE#entry", "CACHE#no-ttl", "CACHE#number-value"}, keys...)
			if m, err := s.GetMany(ctx, all); err != nil || len(m) != 3 || string(m["CACHE#number-value"]) != "43" {
				t.Errorf("GetMany = %q, %v; want only the three entries", m, err)
			}
			if entries, err := backend.ReadEntries(ctx, s, all); err != nil || len(entries) != 3 {
				t.Errorf("ReadEntries = %v, %v; want only the three entries", entries, err)
			}
			// An entry without a ttl never expires, as DynamoDB's TTL leaves it alone.
			if v, err := s.Get(ctx, "CACHE#no-ttl"); err != nil || string(v) != `"forever"` {
				t.Errorf("Get of an entry without ttl = %q, %v", v, err)
			}
			if ttl, err := s.TTL(ctx, "CACHE#no-ttl"); err != nil || ttl != backend.MaxTTL {
				t.Errorf("TTL of an entry without ttl = %v, %v; want MaxTTL", ttl, err)
			}
			if n, err := s.Count(ctx, "CACHE#"); err != nil || n != 3 {
				t.Errorf("Count = %d, %v; want the 3 entries", n, err)
			}
			if n, err := s.Clear(ctx, "CACHE#"); err != nil || n != 3 {
				t.Errorf("Clear = %d, %v; want the 3 entries removed", n, err)
			}
			for _, k := range keys {
				// The numbers put are integers as DynamoDB writes them back.
				if got, want := rawGet(t, client, opts.Table, keyOf(k)), notEntries[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("the item %s is now %s", show(want), show(got))
				}
			}
			for _, k := range []string{"CACHE#no-ttl", "CACHE#number-value"} {
				if got := rawGet(t, client, opts.Table, keyOf(k)); got != nil {
					t.Errorf("Clear left the entry %s", show(got))
				}
			}
		})
	}
}

// TestCompressedValuesFromAnotherWriter puts, with the plain SDK, the items a service in
// another language writes in the compress format (docs/compression.md): the marker, the
// algorithm's byte and a zstd frame of its own encoder's settings, or a Snappy block, in a B
// attribute. A Cache with the compress codec reads them; one without reads neither, reports
// ErrDecode, and GetOrLoad loads over them.
func TestCompressedValuesFromAnotherWriter(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	value := apidata.Response(10<<10, 7)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderCRC(false))
	items := map[string][]byte{
		"zstd":   enc.EncodeAll(value, []byte{0xC1, 'c', 'k', 0x02, 0x01}),
		"snappy": s2.EncodeSnappy(nil, value),
	}
	items["snappy"] = append([]byte{0xC1, 'c', 'k', 0x02, 0x02}, items["snappy"]...)
	future := itoa(time.Now().Add(time.Hour).Unix())
	for name, b := range items {
		it := pk("CACHE#" + name)
		it["value"] = &types.AttributeValueMemberB{Value: b}
		it["ttl"] = &types.AttributeValueMemberN{Value: future}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(opts.Table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := dynamostore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := compress.New(cachekit.JSON, compress.Options{})
	c, _ := cachekit.New(s, cachekit.Options{Prefix: "CACHE#", Codec: codec})
	defer c.Close()
	plain, _ := cachekit.New(s, cachekit.Options{Prefix: "CACHE#"})
	defer plain.Close()
	for name := range items {
		if got, err := cachekit.Typed[json.RawMessage](c, "", 0).Get(ctx, name); err != nil || !bytes.Equal(got, value) {
			t.Errorf("%s: Get with the compress codec = %d bytes, %v; want the %d bytes written", name, len(got), err, len(value))
		}
		v := cachekit.Typed[json.RawMessage](plain, "", 0)
		if _, err := v.Get(ctx, name); !errors.Is(err, cachekit.ErrDecode) {
			t.Errorf("%s: Get with the JSON codec: %v, want ErrDecode", name, err)
		}
		got, err := v.GetOrLoad(ctx, name, func(context.Context, string) (json.RawMessage, error) {
			return json.RawMessage(`"loaded"`), nil
		})
		if err != nil || string(got) != `"loaded"` {
			t.Errorf("%s: GetOrLoad with the JSON codec = %s, %v; want the loaded value", name, got, err)
		}
	}
}
