package dynamostore_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
)

func fresh(attrs map[string]types.AttributeValue) *types.AttributeValueMemberM {
	return &types.AttributeValueMemberM{Value: attrs}
}

func num(s string) *types.AttributeValueMemberN { return &types.AttributeValueMemberN{Value: s} }

// TestWireFormatOfEnvelopes writes envelopes, with Set and with SetMany, and reads the items
// back with the plain SDK: the value attribute holds the value alone, as for any entry, so
// that other services read the JSON; the fresh attribute holds the rest. Every read path
// joins them into the very bytes written.
func TestWireFormatOfEnvelopes(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	s, clock, opts := clocked(t, client, client, dynamostore.Options{})
	now := clock.Now()
	until := now.Add(30*time.Second + 5*time.Millisecond)
	value := backend.Envelope{Value: []byte(`{"city":"Sydney"}`), FreshUntil: until, LoadTime: 42 * time.Millisecond}.Append(nil)
	tombstone := backend.Envelope{FreshUntil: until, LoadTime: 1500 * time.Millisecond, NotFound: true}.Append(nil)
	binary := backend.Envelope{Value: []byte{0xff, 0x00, 0xfe}, FreshUntil: until}.Append(nil)
	if err := s.Set(ctx, "CACHE#value", value, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	err := s.SetMany(ctx, []backend.Entry{
		{Key: "CACHE#tombstone", Value: tombstone, TTL: 90 * time.Second},
		{Key: "CACHE#binary", Value: binary, TTL: 90 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	untilMs := itoa(until.UnixMilli())
	common := func(key string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"PK":        &types.AttributeValueMemberS{Value: key},
			"ttl":       num(itoa(now.Unix() + 91)), // 90.25s rounded up
			"createdAt": num(itoa(now.Unix())),
		}
	}
	want := map[string]map[string]types.AttributeValue{
		"CACHE#value":     common("CACHE#value"),
		"CACHE#tombstone": common("CACHE#tombstone"),
		"CACHE#binary":    common("CACHE#binary"),
	}
	want["CACHE#value"]["value"] = &types.AttributeValueMemberS{Value: `{"city":"Sydney"}`}
	want["CACHE#value"]["fresh"] = fresh(map[string]types.AttributeValue{"until": num(untilMs), "loadMs": num("42")})
	want["CACHE#tombstone"]["value"] = &types.AttributeValueMemberS{Value: ""}
	want["CACHE#tombstone"]["fresh"] = fresh(map[string]types.AttributeValue{
		"until": num(untilMs), "loadMs": num("1500"), "notFound": &types.AttributeValueMemberBOOL{Value: true},
	})
	want["CACHE#binary"]["value"] = &types.AttributeValueMemberB{Value: []byte{0xff, 0x00, 0xfe}}
	want["CACHE#binary"]["fresh"] = fresh(map[string]types.AttributeValue{"until": num(untilMs), "loadMs": num("0")})
	for key, w := range want {
		if got := rawGet(t, client, opts.Table, pk(key)); !reflect.DeepEqual(got, w) {
			t.Errorf("item %s = %s\nwant %s", key, show(got), show(w))
		}
	}

	written := map[string][]byte{"CACHE#value": value, "CACHE#tombstone": tombstone, "CACHE#binary": binary}
	keys := []string{"CACHE#value", "CACHE#tombstone", "CACHE#binary"}
	m, err := s.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := s.GetEntries(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if !bytes.Equal(en.Value, written[en.Key]) {
			t.Errorf("GetEntries %s = %x, want %x", en.Key, en.Value, written[en.Key])
		}
	}
	for _, k := range keys {
		if got, err := s.Get(ctx, k); err != nil || !bytes.Equal(got, written[k]) {
			t.Errorf("Get %s = %x, %v; want %x", k, got, err, written[k])
		}
		if !bytes.Equal(m[k], written[k]) {
			t.Errorf("GetMany[%s] = %x, want %x", k, m[k], written[k])
		}
	}
	if len(entries) != len(keys) {
		t.Errorf("GetEntries found %d entries, want %d", len(entries), len(keys))
	}

	// Expire changes ttl alone: the item keeps its freshness.
	if err := s.Expire(ctx, "CACHE#value", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "CACHE#value"); err != nil || !bytes.Equal(got, value) {
		t.Errorf("Get after Expire = %x, %v; want %x", got, err, value)
	}
	// A plain value written over an envelope leaves no fresh attribute behind.
	if err := s.Set(ctx, "CACHE#value", []byte(`"plain"`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if it := rawGet(t, client, opts.Table, pk("CACHE#value")); it["fresh"] != nil {
		t.Errorf("a plain value over an envelope left %s", show(it))
	}
}

// TestFreshAttributeFromAnotherWriter puts items as another service could, with the plain SDK:
// a well-formed fresh attribute, one name of which the store does not know, joins its value
// into an envelope; a malformed one leaves the value to be read as it is, on every read path.
func TestFreshAttributeFromAnotherWriter(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{SortKey: "SK", SortKeyValue: "CACHE", FreshAttribute: "meta"})
	s, err := dynamostore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	future := itoa(time.Now().Add(time.Hour).Unix())
	put := func(key string, meta types.AttributeValue) {
		t.Helper()
		it := map[string]types.AttributeValue{
			"PK":    &types.AttributeValueMemberS{Value: key},
			"SK":    &types.AttributeValueMemberS{Value: "CACHE"},
			"value": &types.AttributeValueMemberS{Value: `{"a":1}`},
			"ttl":   num(future),
			"meta":  meta,
		}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(opts.Table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	put("CACHE#good", fresh(map[string]types.AttributeValue{
		"until": num("1900000000123"), "loadMs": num("7"), "notFound": &types.AttributeValueMemberBOOL{Value: false},
		"source": &types.AttributeValueMemberS{Value: "billing"},
	}))
	good := backend.Envelope{Value: []byte(`{"a":1}`), FreshUntil: time.UnixMilli(1900000000123), LoadTime: 7 * time.Millisecond}.Append(nil)
	malformed := map[string]types.AttributeValue{
		"CACHE#not-a-map":       &types.AttributeValueMemberS{Value: "fresh"},
		"CACHE#no-until":        fresh(map[string]types.AttributeValue{"loadMs": num("7")}),
		"CACHE#no-load":         fresh(map[string]types.AttributeValue{"until": num("1")}),
		"CACHE#until-a-string":  fresh(map[string]types.AttributeValue{"until": &types.AttributeValueMemberS{Value: "1"}, "loadMs": num("7")}),
		"CACHE#until-fraction":  fresh(map[string]types.AttributeValue{"until": num("1.5"), "loadMs": num("7")}),
		"CACHE#load-negative":   fresh(map[string]types.AttributeValue{"until": num("1"), "loadMs": num("-1")}),
		"CACHE#load-too-long":   fresh(map[string]types.AttributeValue{"until": num("1"), "loadMs": num("4294967296")}),
		"CACHE#notfound-string": fresh(map[string]types.AttributeValue{"until": num("1"), "loadMs": num("7"), "notFound": &types.AttributeValueMemberS{Value: "true"}}),
	}
	for k, meta := range malformed {
		put(k, meta)
	}
	want := map[string][]byte{"CACHE#good": good}
	for k := range malformed {
		want[k] = []byte(`{"a":1}`)
	}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	m, err := s.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := backend.ReadEntries(ctx, s, keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if !bytes.Equal(en.Value, want[en.Key]) {
			t.Errorf("ReadEntries %s = %q, want %q", en.Key, en.Value, want[en.Key])
		}
	}
	for _, k := range keys {
		if got, err := s.Get(ctx, k); err != nil || !bytes.Equal(got, want[k]) {
			t.Errorf("Get %s = %q, %v; want %q", k, got, err, want[k])
		}
		if !bytes.Equal(m[k], want[k]) {
			t.Errorf("GetMany[%s] = %q, want %q", k, m[k], want[k])
		}
	}
	if len(entries) != len(keys) {
		t.Errorf("ReadEntries found %d entries, want %d", len(entries), len(keys))
	}
}

// TestFreshAttributeCountsInItemSize fills an item with an envelope's value up to the limit,
// the fresh attribute counted: one byte more is refused before sending.
func TestFreshAttributeCountsInItemSize(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := newTable(t, client, dynamostore.Options{})
	var sent requests
	s, _ := dynamostore.New(dynamodb.New(testenv.DynamoDBOptions(sent.count)), opts)
	defer s.Close()
	// The fresh attribute: its name, a map's 3 bytes, and per element its name, a number
	// counted at 21 bytes, and 1 byte.
	freshSize := len("fresh") + 3 + len("until") + 21 + 1 + len("loadMs") + 21 + 1
	room := dynamostore.MaxItemSize - len("PK") - len("CACHE#big") - len("value") - len("ttl") - len("createdAt") - 2*21 - freshSize
	envelope := func(n int) []byte {
		return backend.Envelope{Value: bytes.Repeat([]byte("x"), n), FreshUntil: time.Now()}.Append(nil)
	}
	if err := s.Set(ctx, "CACHE#big", envelope(room+1), time.Minute); !errors.Is(err, backend.ErrValueTooLarge) {
		t.Errorf("Set of an envelope one byte over the item limit: %v, want ErrValueTooLarge", err)
	}
	if n := sent.total(); n != 0 {
		t.Errorf("%d requests were sent for an envelope over the limit, want none", n)
	}
	if err := s.Set(ctx, "CACHE#big", envelope(room), time.Minute); err != nil {
		t.Errorf("Set of an envelope that fills the item exactly: %v", err)
	}
	if got, err := s.Get(ctx, "CACHE#big"); err != nil || len(got) != 17+room {
		t.Errorf("Get of the full item = %d bytes, %v; want %d", len(got), err, 17+room)
	}
}
