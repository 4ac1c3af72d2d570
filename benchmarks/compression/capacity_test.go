package compression

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/compress"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/apidata"
	"github.com/cachekit/cachekit/internal/testenv"
)

// On-demand prices of DynamoDB in us-east-1 (Standard table class), in US dollars per
// million request units, as published since the price cut of November 2024.
const (
	writePrice = 0.625
	readPrice  = 0.125
)

// metered is the client the Store is given: it asks DynamoDB for the capacity each GetItem and
// PutItem consumes (ReturnConsumedCapacity=TOTAL) and keeps the last answer.
type metered struct {
	dynamostore.API
	mu   sync.Mutex
	last *types.ConsumedCapacity
}

func (m *metered) GetItem(ctx context.Context, in *dynamodb.GetItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.API.GetItem(ctx, in, fns...)
	if err == nil {
		m.keep(out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) PutItem(ctx context.Context, in *dynamodb.PutItemInput, fns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.API.PutItem(ctx, in, fns...)
	if err == nil {
		m.keep(out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) keep(c *types.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = c
}

// take returns the capacity units of the last request, or NaN when DynamoDB reported none.
func (m *metered) take() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.last
	m.last = nil
	if c == nil || c.CapacityUnits == nil {
		return math.NaN()
	}
	return *c.CapacityUnits
}

// itemSize is the item's size by DynamoDB's documented rules: each attribute's name and
// value, a string or binary by its length, a number by about one byte per two significant
// digits plus one.
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += (len(strings.Trim(v.Value, "0"))+1)/2 + 1
		}
	}
	return n
}

// row is what one value costs.
type row struct {
	size            int
	codec           string
	stored, item    int
	wcu, rcu, rcuSC float64 // reported: Set, Get eventually consistent, Get strongly consistent
}

// TestConsumedCapacity writes and reads JSON responses of 1, 10, 20 and 100 KB through a
// Cache on DynamoDB Local, plain and compressed, and takes the capacity units DynamoDB reports
// for each PutItem (Set) and GetItem (Get, eventually consistent as the Store reads by default,
// and strongly consistent as with Options.ConsistentRead). It checks them against the units
// AWS's item-size rules give, and the goal: a 20 KB response costs at least 3× fewer write
// units compressed with the default settings. With -v it prints the table of
// docs/compression.md.
func TestConsumedCapacity(t *testing.T) {
	ctx := context.Background()
	client := testenv.DynamoDB(t)
	opts := testenv.DynamoDBTable(t, client, dynamostore.Options{Table: "cachekit-capacity"})
	api := &metered{API: client}
	// cache returns a Cache on its own Store, reading strongly consistently or not.
	cache := func(codec cachekit.Codec, consistent bool) *cachekit.Cache {
		o := opts
		o.ConsistentRead = consistent
		s, err := dynamostore.New(api, o)
		if err != nil {
			t.Fatal(err)
		}
		c, err := cachekit.New(s, cachekit.Options{Prefix: "CACHE#", Codec: codec})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	codecs := []struct {
		name  string
		codec cachekit.Codec
	}{{"plain (JSON)", cachekit.JSON}}
	for _, alg := range []compress.Algorithm{compress.Zstd, compress.S2} {
		c, err := compress.New(cachekit.JSON, compress.Options{Algorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		codecs = append(codecs, struct {
			name  string
			codec cachekit.Codec
		}{alg.String(), c})
	}

	var rows []row
	for _, size := range sizes {
		value := json.RawMessage(apidata.Response(size, 1))
		for _, cd := range codecs {
			r := row{size: size, codec: cd.name}
			for _, consistent := range []bool{false, true} {
				v := cachekit.Typed[json.RawMessage](cache(cd.codec, consistent), "", time.Hour)
				key := fmt.Sprintf("%d/%s", size, cd.name)
				if err := v.Set(ctx, key, value, 0); err != nil {
					t.Fatal(err)
				}
				r.wcu = api.take()
				if _, err := v.Get(ctx, key); err != nil {
					t.Fatal(err)
				}
				if consistent {
					r.rcuSC = api.take()
				} else {
					r.rcu = api.take()
				}
				out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(opts.Table),
					Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "CACHE#" + key}}})
				if err != nil {
					t.Fatal(err)
				}
				r.item = itemSize(out.Item)
				switch v := out.Item["value"].(type) {
				case *types.AttributeValueMemberS:
					r.stored = len(v.Value)
				case *types.AttributeValueMemberB:
					r.stored = len(v.Value)
				}
			}
			rows = append(rows, r)
		}
	}

	// The units AWS's rules give for the item's size: a write unit per KB, a read unit per
	// 4 KB strongly consistent, half of one eventually consistent.
	for _, r := range rows {
		wcu := math.Ceil(float64(r.item) / 1024)
		rcuSC := math.Ceil(float64(r.item) / 4096)
		for what, got := range map[string][2]float64{"write": {r.wcu, wcu}, "strong read": {r.rcuSC, rcuSC}, "eventual read": {r.rcu, rcuSC / 2}} {
			if got[0] != got[1] {
				t.Errorf("%d KB %s: DynamoDB Local reports %v %s units; an item of %d bytes takes %v", r.size>>10, r.codec, got[0], what, r.item, got[1])
			}
		}
	}

	var b strings.Builder
	fmt.Fprintln(&b, "| JSON | stored as | value bytes | item bytes | WCU per Set | RCU per Get (eventual / strong) | $ per million Sets | $ per million Gets (eventual / strong) | $ per million Sets and Gets (eventual) |")
	fmt.Fprintln(&b, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d KB | %s | %d | %d | %g | %g / %g | %.3f | %.4f / %.4f | %.4f |\n", r.size>>10, r.codec, r.stored, r.item,
			r.wcu, r.rcu, r.rcuSC, r.wcu*writePrice, r.rcu*readPrice, r.rcuSC*readPrice, r.wcu*writePrice+r.rcu*readPrice)
	}
	t.Logf("capacity units as DynamoDB Local reports them, and their on-demand price in us-east-1 ($%.3f per million write units, $%.3f per million read units):\n%s", writePrice, readPrice, b.String())

	for _, r := range rows {
		if r.size == 20<<10 && r.codec == compress.Zstd.String() {
			plain := rows[0]
			for _, p := range rows {
				if p.size == r.size && p.codec == "plain (JSON)" {
					plain = p
				}
			}
			if ratio := plain.wcu / r.wcu; ratio < 3 {
				t.Errorf("a 20 KB response takes %g write units plain and %g compressed: %.2f× fewer, want 3× or more", plain.wcu, r.wcu, ratio)
			} else {
				t.Logf("the goal: a 20 KB response takes %g write units plain and %g compressed with zstd, %.2f× fewer", plain.wcu, r.wcu, ratio)
			}
		}
	}
}
