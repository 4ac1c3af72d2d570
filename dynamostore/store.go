package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/cachekit/cachekit/backend"
)

// API is the part of *dynamodb.Client the Store uses. Pass your configured client.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Limits DynamoDB sets.
const (
	// MaxItemSize is DynamoDB's item size limit, attribute names included.
	MaxItemSize   = 400 * 1024
	maxBatchGet   = 100
	maxBatchWrite = 25
)

// Options configures a Store. Only Table is required; every zero field means its documented
// default.
type Options struct {
	// Table is the DynamoDB table's name.
	Table string
	// PartitionKey names the table's partition key attribute, of type S. Zero means "PK".
	PartitionKey string
	// SortKey names the table's sort key attribute, of type S, for tables that have one;
	// SortKeyValue is then the constant every cache item carries in it, such as "CACHE".
	SortKey      string
	SortKeyValue string
	// ValueAttribute, TTLAttribute and CreatedAtAttribute name the other attributes of an
	// item. Zero means "value", "ttl" and "createdAt".
	ValueAttribute     string
	TTLAttribute       string
	CreatedAtAttribute string
	// FreshAttribute names the attribute of type M in which an item keeps the freshness of a
	// value that a view with freshness options wrote (a backend.Envelope): when it stops
	// being fresh, how long its load took, and whether it is a tombstone. The value attribute
	// then holds the value alone, as for any entry. Zero means "fresh".
	FreshAttribute string
	// ConsistentRead makes reads strongly consistent, at twice the read cost.
	ConsistentRead bool
	// Concurrency bounds the requests one call sends at once: batch chunks, scan segments'
	// deletes. Zero means 8.
	Concurrency int
	// ScanSegments splits the scans of Count and Clear into parallel segments, for large
	// tables. Zero means 1.
	ScanSegments int
	// RetryBase and RetryMax bound the exponential backoff between retries of unprocessed
	// batch keys and items. Zero means 25ms and 5s.
	RetryBase, RetryMax time.Duration
	// Clock is the time source for expiry. Nil means the system clock.
	Clock backend.Clock
	// OnClose, if set, runs once when the Store is closed: a Store that owns its client
	// releases the client's connections there (see NewClient). Nil leaves the client alone.
	OnClose func()
}

// Store is a backend.Store on a DynamoDB table. Create it with New; it is safe for concurrent
// use and does no network I/O until its first call.
type Store struct {
	api       API
	o         Options
	names     map[string]string // expression attribute names: #pk, #v, #ttl, #c, #f, #sk
	closed    atomic.Bool
	closeOnce sync.Once
}

var _ backend.Store = (*Store)(nil)

// New returns a Store over the table opts names, using api (a *dynamodb.Client). It sends
// nothing: a Lambda cold start pays no round trip for it.
func New(api API, opts Options) (*Store, error) {
	if api == nil {
		return nil, fmt.Errorf("dynamostore: nil client: %w", backend.ErrConfig)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	names := map[string]string{"#pk": o.PartitionKey, "#v": o.ValueAttribute, "#ttl": o.TTLAttribute, "#c": o.CreatedAtAttribute, "#f": o.FreshAttribute}
	if o.SortKey != "" {
		names["#sk"] = o.SortKey
	}
	return &Store{api: api, o: o, names: names}, nil
}

// withDefaults checks opts and fills in the defaults of its zero fields.
func (opts Options) withDefaults() (Options, error) {
	if opts.Table == "" {
		return opts, fmt.Errorf("dynamostore: Options.Table is empty: %w", backend.ErrConfig)
	}
	if (opts.SortKey == "") != (opts.SortKeyValue == "") {
		return opts, fmt.Errorf("dynamostore: Options.SortKey and SortKeyValue go together: %w", backend.ErrConfig)
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&opts.PartitionKey, "PK")
	def(&opts.ValueAttribute, "value")
	def(&opts.TTLAttribute, "ttl")
	def(&opts.CreatedAtAttribute, "createdAt")
	def(&opts.FreshAttribute, "fresh")
	attrs := []string{opts.PartitionKey, opts.SortKey, opts.ValueAttribute, opts.TTLAttribute, opts.CreatedAtAttribute, opts.FreshAttribute}
	for i, a := range attrs {
		if a != "" && slices.Contains(attrs[i+1:], a) {
			return opts, fmt.Errorf("dynamostore: Options name the attribute %q twice: %w", a, backend.ErrConfig)
		}
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.ScanSegments <= 0 {
		opts.ScanSegments = 1
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 25 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	return opts, nil
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// usable reports why no call may proceed: a closed store or a done context.
func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return backend.ErrClosed
	}
	return backend.ContextErr(ctx)
}

// key returns the primary key of the item for a cache key.
func (s *Store) key(k string) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{s.o.PartitionKey: &types.AttributeValueMemberS{Value: k}}
	if s.o.SortKey != "" {
		m[s.o.SortKey] = &types.AttributeValueMemberS{Value: s.o.SortKeyValue}
	}
	return m
}

// names picks the expression attribute names an expression uses.
func (s *Store) namesFor(placeholders ...string) map[string]string {
	m := make(map[string]string, len(placeholders))
	for _, p := range placeholders {
		if n, ok := s.names[p]; ok {
			m[p] = n
		}
	}
	return m
}

// expiresAt turns a TTL into the epoch second of expiry, rounded up so that an entry lives at
// least its TTL.
func expiresAt(now time.Time, ttl time.Duration) int64 {
	t := now.Add(ttl)
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// item builds the item for one entry, an envelope's value in the value attribute and the rest
// in the fresh attribute, or reports ErrValueTooLarge.
func (s *Store) item(e backend.Entry, now time.Time) (map[string]types.AttributeValue, error) {
	var fresh types.AttributeValue
	if env, ok := backend.ParseEnvelope(e.Value); ok {
		e.Value, fresh = env.Value, freshAttribute(env)
	}
	return s.build(e, fresh, now)
}

// build builds the item of an entry whose value goes in the value attribute as it is, with
// the fresh attribute when fresh is not nil, or reports ErrValueTooLarge.
func (s *Store) build(e backend.Entry, fresh types.AttributeValue, now time.Time) (map[string]types.AttributeValue, error) {
	it := s.key(e.Key)
	it[s.o.ValueAttribute] = valueAttribute(e.Value)
	if fresh != nil {
		it[s.o.FreshAttribute] = fresh
	}
	it[s.o.TTLAttribute] = number(expiresAt(now, e.TTL))
	it[s.o.CreatedAtAttribute] = number(now.Unix())
	if size := itemSize(it); size > MaxItemSize {
		return nil, fmt.Errorf("%w: the item would be %d bytes, over DynamoDB's %d", backend.ErrValueTooLarge, size, MaxItemSize)
	}
	return it, nil
}

// valueAttribute is v as the value attribute holds it: S when v is UTF-8, as JSON is, so that
// other services read the text; else B.
func valueAttribute(v []byte) types.AttributeValue {
	if !utf8.Valid(v) {
		return &types.AttributeValueMemberB{Value: v}
	}
	return &types.AttributeValueMemberS{Value: string(v)}
}

func number(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// itemSize is DynamoDB's size of an item of the attributes the store writes: the names' bytes
// plus the values' sizes.
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize is DynamoDB's size of an attribute value: the bytes of S and B, 1 byte for BOOL,
// a number counted at the most it can take (21 bytes), and a map's 3 bytes, plus each
// element's name, value and 1 byte.
func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL:
		return 1
	case *types.AttributeValueMemberM:
		n := 3
		for name, e := range v.Value {
			n += len(name) + valueSize(e) + 1
		}
		return n
	}
	return 21
}

// entry is what a read found in an item.
type entry struct {
	value     []byte
	hasValue  bool
	expiresAt int64 // 0: the item carries no ttl, and never expires
}

// parse reads an item's value and expiry. An item without a readable ttl never expires, as
// DynamoDB's TTL ignores it too. A value with a well-formed fresh attribute is joined with it
// into the envelope it was written from; with a malformed one, it is read as it is.
func (s *Store) parse(it map[string]types.AttributeValue) entry {
	var e entry
	switch v := it[s.o.ValueAttribute].(type) {
	case *types.AttributeValueMemberS:
		e.value, e.hasValue = []byte(v.Value), true
	case *types.AttributeValueMemberB:
		e.value, e.hasValue = v.Value, true
	case *types.AttributeValueMemberN:
		e.value, e.hasValue = []byte(v.Value), true // a counter: its digits, a JSON number
	}
	if f, ok := it[s.o.FreshAttribute]; ok && e.hasValue {
		if env, ok := parseFresh(f); ok {
			env.Value = e.value
			e.value = env.Append(make([]byte, 0, envelopeHeader+len(e.value)))
		}
	}
	if n, ok := it[s.o.TTLAttribute].(*types.AttributeValueMemberN); ok {
		e.expiresAt, _ = strconv.ParseInt(n.Value, 10, 64)
	}
	return e
}

// isEntry is a condition true of a cache entry: an item whose value attribute is a string or
// bytes, or a number (a counter), the types parse reads. An item under the prefix without
// one, which another service wrote, is not an entry, and every operation passes it by: reads,
// Count, Expire and Clear. It uses #v and the values entryTypes adds.
const isEntry = "(attribute_type(#v, :typeS) OR attribute_type(#v, :typeB) OR attribute_type(#v, :typeN))"

// entryTypes adds to values the type names isEntry compares with, and returns values.
func entryTypes(values map[string]types.AttributeValue) map[string]types.AttributeValue {
	values[":typeS"] = &types.AttributeValueMemberS{Value: "S"}
	values[":typeB"] = &types.AttributeValueMemberS{Value: "B"}
	values[":typeN"] = &types.AttributeValueMemberS{Value: "N"}
	return values
}

// alive reports whether an entry expiring at the epoch second exp is still readable at now.
func alive(exp int64, now time.Time) bool {
	return exp == 0 || now.Unix() < exp
}

// wrap names the operation in err, and maps DynamoDB's errors to the contract's: a
// validation error the server gives for a value or key it refuses becomes ErrValueTooLarge or
// ErrInvalidKey, keeping the server's message; and once ctx is done, the error also wraps
// ctx.Err(), whatever the SDK made of it.
func wrap(ctx context.Context, op string, err error) error {
	err = backend.CallErr(ctx, err)
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return fmt.Errorf("dynamostore: %s: table not found: %w", op, err)
	}
	if sentinel := refusedInput(err); sentinel != nil {
		return fmt.Errorf("dynamostore: %s: %w: %w", op, sentinel, err)
	}
	return fmt.Errorf("dynamostore: %s: %w", op, err)
}

// refusedInput returns the sentinel for a ValidationException that refuses the request's
// items or keys, which DynamoDB checks beyond what the Store can (its exact size rules), or
// nil for any other error. A ValidationException of another kind (a key that does not
// match the table's schema) is a configuration error, and stays as it is.
func refusedInput(err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		return nil
	}
	msg := strings.ToLower(api.ErrorMessage())
	switch {
	case strings.Contains(msg, "item size"), strings.Contains(msg, "maximum allowed size"),
		strings.Contains(msg, "request size"):
		return backend.ErrValueTooLarge
	case strings.Contains(msg, "size of hashkey"), strings.Contains(msg, "size of rangekey"),
		strings.Contains(msg, "key attribute cannot contain an empty string"):
		return backend.ErrInvalidKey
	}
	return nil
}

// refused reports whether err is the server's refusal of a request, which it did not apply:
// input it refused, or any error it blames on the client (throttling, a missing table).
// Anything else (a timeout, a broken connection, an internal error) leaves the request's
// fate unknown.
func refused(err error) bool {
	if errors.Is(err, backend.ErrValueTooLarge) || errors.Is(err, backend.ErrInvalidKey) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorFault() == smithy.FaultClient || api.ErrorCode() == "ValidationException")
}

// request sends one request within the timeout ctx carries for each (see
// backend.RequestContext), and wraps its error.
func request[T any](ctx context.Context, op string, send func(context.Context) (T, error)) (T, error) {
	rctx, cancel := backend.RequestContext(ctx)
	defer cancel()
	out, err := send(rctx)
	if err != nil {
		return out, wrap(rctx, op, err)
	}
	return out, nil
}

// BoundsRequests implements backend.RequestBounder: every request a call sends (each chunk
// of a batch, each page of a scan) is bounded by the request timeout of its context.
func (s *Store) BoundsRequests() {}

var _ backend.RequestBounder = (*Store)(nil)

// Close makes later calls report backend.ErrClosed and runs Options.OnClose; the client is
// otherwise left as it is. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.o.OnClose != nil {
			s.o.OnClose()
		}
	})
	return nil
}

// table is the table name as the SDK takes it.
func (s *Store) table() *string { return aws.String(s.o.Table) }
