package dynamostore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/klauspost/compress/zstd"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/apidata"
	"github.com/cachekit/cachekit/internal/testenv"
)

// rawGet reads an item with the plain SDK, no cachekit code.
func rawGet(t *testing.T, client *dynamodb.Client, table string, key map[string]types.AttributeValue) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	return out.Item
}

func pk(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: k}}
}

// TestWireFormat writes through a Cache and reads the item back with the plain SDK: the exact
// attribute names and types, the JSON text, and epoch seconds.
func TestWireFormat(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	clock := fixedClock() // 12:00:00.25
	opts.Clock = clock
	s, err := dynamostore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := cachekit.New(s, cachekit.Options{Prefix: "CACHE#geo:"})
	defer c.Close()
	type geo struct {
		City string  `json:"city"`
		Lat  float64 `json:"lat"`
	}
	if err := cachekit.Typed[geo](c, "", 0).Set(ctx, "1.1.1.1", geo{City: "Sydney", Lat: -33.87}, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	want := map[string]types.AttributeValue{
		"PK":        &types.AttributeValueMemberS{Value: "CACHE#geo:1.1.1.1"},
		"value":     &types.AttributeValueMemberS{Value: `{"city":"Sydney","lat":-33.87}`},
		"ttl":       &types.AttributeValueMemberN{Value: itoa(now.Unix() + 91)}, // 90.25s rounded up
		"createdAt": &types.AttributeValueMemberN{Value: itoa(now.Unix())},
	}
	got := rawGet(t, client, opts.Table, pk("CACHE#geo:1.1.1.1"))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("item = %s\nwant %s", show(got), show(want))
	}

	// Bytes that are not UTF-8 go in a B attribute, and come back unchanged.
	bin := []byte{0xff, 0x00, 0xfe}
	if err := s.Set(ctx, "CACHE#bin", bin, time.Minute); err != nil {
		t.Fatal(err)
	}
	if b, ok := rawGet(t, client, opts.Table, pk("CACHE#bin"))["value"].(*types.AttributeValueMemberB); !ok || !bytes.Equal(b.Value, bin) {
		t.Errorf("a binary value is stored as %s, want a B attribute", show(rawGet(t, client, opts.Table, pk("CACHE#bin"))))
	}
}

// TestExpiredItemsStayInvisible shows the pitfall the store avoids: DynamoDB keeps expired
// items readable until its background deletion runs, the store never returns them.
func TestExpiredItemsStayInvisible(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	clock := fixedClock()
	opts.Clock = clock
	s, _ := dynamostore.New(client, opts)
	if err := s.Set(ctx, "CACHE#k", []byte(`1`), time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if rawGet(t, client, opts.Table, pk("CACHE#k")) == nil {
		t.Fatal("the item is gone from the table already; the test shows nothing")
	}
	if _, err := s.Get(ctx, "CACHE#k"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Get of an expired item still in the table: %v, want ErrNotFound", err)
	}
}

// TestBusinessItemsUntouched puts business items in the cache's table, runs every cache
// operation, Clear included, and checks that each business item is exactly as it was.
func TestBusinessItemsUntouched(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     dynamostore.Options
		business []map[string]types.AttributeValue
	}{
		{"partition key only", dynamostore.Options{}, []map[string]types.AttributeValue{
			item("PK", "ORDER#1"), item("PK", "user-42"), item("PK", "CACHE"), item("PK", "CACHE"+"$geo:1"),
			item("PK", "cache#geo:1"), item("PK", "CACHE#geo"), item("PK", "CACHE#geO:1"),
		}},
		{"single-table design", dynamostore.Options{SortKey: "SK", SortKeyValue: "CACHE"}, []map[string]types.AttributeValue{
			item("PK", "ORDER#1", "SK", "ORDER"), item("PK", "CACHE#geo:1", "SK", "ORDER"),
			item("PK", "CACHE#geo:2", "SK", "CACHE#2"), item("PK", "user-42", "SK", "CACHE"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			client := testenv.DynamoDB(t)
			opts := newTable(t, client, tc.opts)
			keyOf := func(it map[string]types.AttributeValue) map[string]types.AttributeValue {
				key := map[string]types.AttributeValue{"PK": it["PK"]}
				if sk, ok := it["SK"]; ok {
					key["SK"] = sk
				}
				return key
			}
			// The items as DynamoDB keeps them (it normalises numbers), to compare with after.
			var before []map[string]types.AttributeValue
			for _, it := range tc.business {
				if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(opts.Table), Item: it}); err != nil {
					t.Fatal(err)
				}
				before = append(before, rawGet(t, client, opts.Table, keyOf(it)))
			}
			s, _ := dynamostore.New(client, opts)
			c, _ := cachekit.New(s, cachekit.Options{Prefix: "CACHE#geo:"})
			defer c.Close()
			v := cachekit.Typed[any](c, "", 0)
			ops := []error{
				v.Set(ctx, "1", "cached", 0),
				v.SetMany(ctx, map[string]any{"2": 2, "3": 3, "4": 4}, time.Minute),
			}
			_, err := v.Get(ctx, "1")
			ops = append(ops, err)
			_, err = v.GetMany(ctx, []string{"1", "2", "ORDER#1"})
			ops = append(ops, err,
				v.Expire(ctx, "2", time.Hour),
				v.Delete(ctx, "3"),
				v.DeleteMany(ctx, "4", "5", "6"),
			)
			_, err = v.Has(ctx, "1")
			ops = append(ops, err)
			_, err = v.TTL(ctx, "1")
			ops = append(ops, err)
			_, err = c.Stats(ctx)
			ops = append(ops, err)
			n, err := c.Clear(ctx)
			ops = append(ops, err)
			for i, err := range ops {
				if err != nil {
					t.Errorf("operation %d: %v", i, err)
				}
			}
			if n != 2 {
				t.Errorf("Clear removed %d items, want the 2 cache entries left", n)
			}
			for _, want := range before {
				if got := rawGet(t, client, opts.Table, keyOf(want)); !reflect.DeepEqual(got, want) {
					t.Errorf("business item %s is now %s", show(want), show(got))
				}
			}
		})
	}
}

// item builds a business item from key attribute pairs, with a payload of its own.
func item(kv ...string) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		"value":  &types.AttributeValueMemberS{Value: `{"business":true}`},
		"ttl":    &types.AttributeValueMemberN{Value: "1"}, // long past: never to be read as a cache hit
		"amount": &types.AttributeValueMemberN{Value: "12.50"},
	}
	for i := 0; i < len(kv); i += 2 {
		it[kv[i]] = &types.AttributeValueMemberS{Value: kv[i+1]}
	}
	return it
}

func TestValueTooLarge(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	var sent requests
	counted := dynamodb.New(testenv.DynamoDBOptions(sent.count))
	s, _ := dynamostore.New(counted, opts)
	room := dynamostore.MaxItemSize - len("PK") - len("CACHE#big") - len("value") - len("ttl") - len("createdAt") - 2*21
	if err := s.Set(ctx, "CACHE#big", bytes.Repeat([]byte("x"), room+1), time.Minute); !errors.Is(err, backend.ErrValueTooLarge) {
		t.Errorf("Set of a value one byte over the item limit: %v, want ErrValueTooLarge", err)
	}
	err := s.SetMany(ctx, []backend.Entry{
		{Key: "CACHE#ok", Value: []byte("1"), TTL: time.Minute},
		{Key: "CACHE#big", Value: bytes.Repeat([]byte("x"), 500<<10), TTL: time.Minute},
	})
	if !errors.Is(err, backend.ErrValueTooLarge) {
		t.Errorf("SetMany with one value over the limit: %v, want ErrValueTooLarge", err)
	}
	if n := sent.total(); n != 0 {
		t.Errorf("%d requests were sent for values over the limit, want none", n)
	}
	if err := s.Set(ctx, "CACHE#big", bytes.Repeat([]byte("x"), room), time.Minute); err != nil {
		t.Errorf("Set of a value that fills the item exactly: %v", err)
	}
	if ok, _ := s.Has(ctx, "CACHE#ok"); ok {
		t.Error("SetMany wrote part of a batch it refused")
	}
}

func TestNoRequestAtConstruction(t *testing.T) {
	var sent requests
	client := dynamodb.New(testenv.DynamoDBOptions(sent.count))
	if _, err := dynamostore.New(client, dynamostore.Options{Table: "t"}); err != nil {
		t.Fatal(err)
	}
	if n := sent.total(); n != 0 {
		t.Errorf("New sent %d requests, want none", n)
	}
	for name, o := range map[string]dynamostore.Options{
		"no table":          {},
		"sort key no value": {Table: "t", SortKey: "SK"},
		"value no sort key": {Table: "t", SortKeyValue: "CACHE"},
		"fresh named value": {Table: "t", FreshAttribute: "value"},
		"ttl named PK":      {Table: "t", TTLAttribute: "PK"},
	} {
		if _, err := dynamostore.New(client, o); err == nil || !strings.HasPrefix(err.Error(), "dynamostore: ") {
			t.Errorf("New with %s: %v, want a dynamostore error", name, err)
		}
	}
}

func TestCreateTableIsIdempotent(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := dynamostore.Options{Table: testenv.Name("cachekit-create"), SortKey: "SK", SortKeyValue: "CACHE"}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(opts.Table)})
	})
	st, err := dynamostore.CreateTable(ctx, client, opts)
	if err != nil || !st.Created || !st.TTLEnabled {
		t.Fatalf("first CreateTable = %+v, %v; want created with TTL turned on", st, err)
	}
	st, err = dynamostore.CreateTable(ctx, client, opts)
	if err != nil || st.Created || st.TTLEnabled {
		t.Errorf("second CreateTable = %+v, %v; want nothing to do", st, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(opts.Table)})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "ttl" {
		t.Errorf("DescribeTimeToLive = %+v, %v; want enabled on ttl", ttl.TimeToLiveDescription, err)
	}
	desc, _ := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(opts.Table)})
	if bm := desc.Table.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v, want on demand", bm)
	}
	mismatch := opts
	mismatch.SortKey, mismatch.SortKeyValue = "", ""
	if _, err := dynamostore.CreateTable(ctx, client, mismatch); err == nil || !strings.Contains(err.Error(), "key schema") {
		t.Errorf("CreateTable over a table with another key schema: %v, want an error naming the key schema", err)
	}
}

func TestClearPaginatesLargeScans(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{ScanSegments: 2})
	s, _ := dynamostore.New(client, opts)
	// 300 items of 8 KiB: more than one 1 MB scan page per segment.
	value := bytes.Repeat([]byte("v"), 8<<10)
	var entries []backend.Entry
	for i := range 300 {
		entries = append(entries, backend.Entry{Key: "CACHE#k" + itoa(int64(i)), Value: value, TTL: time.Hour})
	}
	if err := s.SetMany(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx, "CACHE#"); err != nil || n != 300 {
		t.Fatalf("Count = %d, %v; want 300", n, err)
	}
	if n, err := s.Clear(ctx, "CACHE#"); err != nil || n != 300 {
		t.Errorf("Clear = %d, %v; want 300", n, err)
	}
	if n, err := s.Count(ctx, "CACHE#"); err != nil || n != 0 {
		t.Errorf("Count after Clear = %d, %v; want 0", n, err)
	}
}

// TestWireFormatOfCompressedValues writes through a Cache whose codec compresses (package
// compress) and reads the items back with the plain SDK: a value of 1 KB or more is a B
// attribute, the compress marker then a zstd frame any zstd library decompresses to the JSON;
// a smaller one stays the JSON text in an S attribute; on a view with freshness options the
// fresh attribute sits beside the compressed value, as beside any.
func TestWireFormatOfCompressedValues(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	s, err := dynamostore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := compress.New(cachekit.JSON, compress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := cachekit.New(s, cachekit.Options{Prefix: "CACHE#", Codec: codec})
	defer c.Close()
	large, small := json.RawMessage(apidata.Response(20<<10, 1)), json.RawMessage(`{"city":"Sydney"}`)
	plain := cachekit.Typed[json.RawMessage](c, "", time.Minute)
	withFresh := cachekit.Typed[json.RawMessage](c, "fresh:", time.Minute).With(cachekit.Freshness{Grace: time.Minute})
	if err := plain.Set(ctx, "large", large, 0); err != nil {
		t.Fatal(err)
	}
	if err := plain.Set(ctx, "small", small, 0); err != nil {
		t.Fatal(err)
	}
	if err := withFresh.SetMany(ctx, map[string]json.RawMessage{"large": large}, 0); err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	for _, key := range []string{"CACHE#large", "CACHE#fresh:large"} {
		it := rawGet(t, client, opts.Table, pk(key))
		b, ok := it["value"].(*types.AttributeValueMemberB)
		if !ok || !bytes.HasPrefix(b.Value, []byte{0xC1, 'c', 'k', 0x02, 0x01}) {
			t.Errorf("%s: value = %T, want a B attribute that starts with the marker and zstd's byte", key, it["value"])
			continue
		}
		if got, err := dec.DecodeAll(b.Value[5:], nil); err != nil || !bytes.Equal(got, large) {
			t.Errorf("%s: the frame after the header does not decompress to the JSON: %v", key, err)
		}
		if _, ok := it["fresh"]; ok != (key == "CACHE#fresh:large") {
			t.Errorf("%s: fresh attribute present: %v", key, ok)
		}
	}
	if v, ok := rawGet(t, client, opts.Table, pk("CACHE#small"))["value"].(*types.AttributeValueMemberS); !ok || v.Value != string(small) {
		t.Errorf("a value under the threshold is stored as %v, want the JSON text", v)
	}
	for _, v := range []*cachekit.View[json.RawMessage]{plain, withFresh} {
		if got, err := v.Get(ctx, "large"); err != nil || !bytes.Equal(got, large) {
			t.Errorf("%sGet large: %d bytes, %v", v.Prefix(), len(got), err)
		}
	}
}

// TestLargeValuesFitCompressed: a JSON value of 1 MB, over DynamoDB's 400 KB item limit,
// fits compressed, since the Store checks the size of the bytes it is given; one that does
// not compress below the limit is still refused with ErrValueTooLarge, before any request.
func TestLargeValuesFitCompressed(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	var sent requests
	s, err := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(sent.count)), opts)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := compress.New(cachekit.JSON, compress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := cachekit.New(s, cachekit.Options{Prefix: "CACHE#", Codec: codec})
	defer c.Close()
	v := cachekit.Typed[json.RawMessage](c, "", time.Minute)

	big := json.RawMessage(apidata.Response(1<<20, 1))
	// The same value through a Cache without compression, as a control.
	plainCache, _ := cachekit.New(s, cachekit.Options{Prefix: "CACHE#plain:"})
	if err := cachekit.Typed[json.RawMessage](plainCache, "", time.Minute).Set(ctx, "big", big, 0); !errors.Is(err, cachekit.ErrValueTooLarge) {
		t.Errorf("Set of 1 MB of JSON uncompressed: %v, want ErrValueTooLarge", err)
	}
	if err := v.Set(ctx, "big", big, 0); err != nil {
		t.Fatalf("Set of 1 MB of JSON compressed: %v", err)
	}
	stored := rawGet(t, client, opts.Table, pk("CACHE#big"))["value"].(*types.AttributeValueMemberB).Value
	t.Logf("%d bytes of JSON stored in %d", len(big), len(stored))
	if got, err := v.Get(ctx, "big"); err != nil || !bytes.Equal(got, big) {
		t.Errorf("Get of the compressed 1 MB: %d bytes, %v", len(got), err)
	}

	// Random bytes in base64 shrink by a quarter at most: 800 KB stays over the limit.
	noise := make([]byte, 600<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	dense, _ := json.Marshal(noise)
	sent.reset()
	if err := v.Set(ctx, "dense", dense, 0); !errors.Is(err, cachekit.ErrValueTooLarge) {
		t.Errorf("Set of %d bytes that compress to over the limit: %v, want ErrValueTooLarge", len(dense), err)
	}
	if n := sent.total(); n != 0 {
		t.Errorf("%d requests were sent for a value over the limit, want none", n)
	}
}
