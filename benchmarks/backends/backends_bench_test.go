package backends

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/redis/rueidis"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/redisstore"
	"github.com/cachekit/cachekit/tiered"
)

// The workload, the same for every backend: numKeys entries written before the benchmarks
// start, read one at a time (hits), read batch at a time (GetMany), keys never written
// (misses), and writes to keys of their own, all of the same value with the same TTL.
const (
	numKeys = 1000
	batch   = 100
	ttl     = time.Hour
)

// geo is the value every entry holds: an IP geolocation, about 200 bytes of JSON.
type geo struct {
	IP        string  `json:"ip"`
	City      string  `json:"city"`
	Region    string  `json:"region"`
	Country   string  `json:"country"`
	Postal    string  `json:"postal"`
	Latitude  float64 `json:"lat"`
	Longitude float64 `json:"lon"`
	Timezone  string  `json:"timezone"`
	ISP       string  `json:"isp"`
	ASN       int     `json:"asn"`
	Mobile    bool    `json:"mobile"`
	Proxy     bool    `json:"proxy"`
}

var value = geo{
	IP: "203.0.113.42", City: "Berlin", Region: "Berlin", Country: "DE", Postal: "10117",
	Latitude: 52.520008, Longitude: 13.404954, Timezone: "Europe/Berlin",
	ISP: "Example Telekom", ASN: 64500,
}

var (
	hitKeys  = keys("hit:")
	missKeys = keys("miss:")
	setKeys  = keys("set:")
)

func keys(kind string) []string {
	out := make([]string, numKeys)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", kind, i)
	}
	return out
}

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// backend is one store under test, behind a Cache that holds value under every hit key.
type backend struct {
	name  string
	cache *cachekit.View[geo]
	where string // what did not answer, when err is set
	err   error  // why the backend cannot be measured: need reports it
}

// need fails or skips tb when the backend did not answer.
func (be *backend) need(tb testing.TB) {
	tb.Helper()
	if be.err != nil {
		testenv.Missing(tb, be.where, be.err)
	}
}

// open builds every backend, in the order of the chart, each behind a Cache under a prefix of
// this run's own and filled with the hit keys. A backend that does not answer comes back with
// its error, for need to report; any other failure fails tb. tb's cleanup deletes what the
// run wrote (the DynamoDB table, the Redis keys) and closes every store.
func open(tb testing.TB) []*backend {
	tb.Helper()
	run := testenv.Name("cachekit-backends")
	var out []*backend
	add := func(name, where string, s cachekit.Store, err error) {
		be := &backend{name: name, where: where, err: err}
		if err == nil {
			be.cache = start(tb, run+"/"+name+"/", s)
		}
		out = append(out, be)
	}

	mem, err := memstore.New(memstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	add("memory", "", mem, nil)

	ddb, err := dynamoTable(tb, run)
	where := "DynamoDB Local at " + testenv.DynamoDBEndpoint()
	if err != nil {
		add("tiered", where, nil, err)
		add("dynamodb", where, nil, err)
	} else {
		l2, err := dynamostore.New(ddb, dynamostore.Options{Table: run})
		if err != nil {
			tb.Fatal(err)
		}
		tier, err := tiered.New(l2, tiered.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		add("tiered", "", tier, nil)
		s, err := dynamostore.New(ddb, dynamostore.Options{Table: run})
		if err != nil {
			tb.Fatal(err)
		}
		add("dynamodb", "", s, nil)
	}

	for _, r := range []struct {
		name, url string
		cluster   bool
	}{
		{"redis", testenv.RedisURL(), false},
		{"redis-cluster", testenv.RedisClusterURL(), true},
	} {
		s, err := redis(tb, r.url, r.cluster)
		add(r.name, "Redis at "+r.url, s, err)
	}
	return out
}

// start puts s behind a Cache under prefix and writes the hit keys; the Cache is cleared and
// closed when tb ends.
func start(tb testing.TB, prefix string, s cachekit.Store) *cachekit.View[geo] {
	tb.Helper()
	c, err := cachekit.New(s, cachekit.Options{Prefix: prefix})
	if err != nil {
		_ = s.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := c.Clear(ctx); err != nil {
			tb.Errorf("clearing %s: %v", prefix, err)
		}
		if err := c.Close(); err != nil {
			tb.Errorf("closing %s: %v", prefix, err)
		}
	})
	v := cachekit.Typed[geo](c, "", 0)
	entries := make(map[string]geo, numKeys)
	for _, k := range hitKeys {
		entries[k] = value
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := v.SetMany(ctx, entries, ttl); err != nil {
		tb.Fatalf("writing the hit keys under %s: %v", prefix, err)
	}
	return v
}

// dynamoTable creates a table named name in DynamoDB Local, deleted when tb ends, and returns
// a client for it; or why DynamoDB Local does not answer.
func dynamoTable(tb testing.TB, name string) (*dynamodb.Client, error) {
	tb.Helper()
	client := dynamodb.New(testenv.DynamoDBOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		return nil, err
	}
	if _, err := dynamostore.CreateTable(ctx, client, dynamostore.Options{Table: name}); err != nil {
		tb.Fatalf("creating table %s: %v", name, err)
	}
	// Registered before the Caches' cleanups, so it runs after them.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			tb.Errorf("deleting table %s: %v", name, err)
		}
	})
	return client, nil
}

// redis returns a redisstore on a client for url, made as redisstore.Open makes it and closed
// when tb ends; or why the server does not answer, or why it is not what cluster asks for.
func redis(tb testing.TB, url string, cluster bool) (cachekit.Store, error) {
	tb.Helper()
	opt, err := redisstore.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	opt.Dialer.Timeout = 2 * time.Second
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = client.Do(ctx, client.B().Ping().Build()).Error()
	if isCluster := client.Mode() == rueidis.ClientModeCluster; err == nil && cluster != isCluster {
		err = fmt.Errorf("a server in cluster mode: %v; want %v", isCluster, cluster)
	}
	if err != nil {
		client.Close()
		return nil, err
	}
	s, err := redisstore.New(client, redisstore.Options{})
	if err != nil {
		client.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(client.Close) // after the Cache's cleanup, which needs it to clear the keys
	return s, nil
}

// An op is one of the measured operations, run on the i-th key of its kind; it reports a
// result the workload does not expect (a miss on a hit key, a hit on a miss key) as an error.
type op struct {
	name string
	do   func(ctx context.Context, c *cachekit.View[geo], i int) error
}

var ops = []op{
	{"GetHit", func(ctx context.Context, c *cachekit.View[geo], i int) error {
		_, err := c.Get(ctx, hitKeys[i%numKeys])
		return err
	}},
	{"GetMiss", func(ctx context.Context, c *cachekit.View[geo], i int) error {
		if _, err := c.Get(ctx, missKeys[i%numKeys]); !errors.Is(err, cachekit.ErrNotFound) {
			return fmt.Errorf("Get of a key never written: %v, want ErrNotFound", err)
		}
		return nil
	}},
	{"Set", func(ctx context.Context, c *cachekit.View[geo], i int) error {
		return c.Set(ctx, setKeys[i%numKeys], value, ttl)
	}},
	{fmt.Sprintf("GetMany%d", batch), getMany},
}

// getMany reads the i-th run of batch hit keys, in one call.
func getMany(ctx context.Context, c *cachekit.View[geo], i int) error {
	start := i * batch % numKeys
	got, err := c.GetMany(ctx, hitKeys[start:start+batch])
	if err != nil {
		return err
	}
	if len(got) != batch {
		return fmt.Errorf("GetMany of %d hit keys found %d", batch, len(got))
	}
	return nil
}

// BenchmarkBackends runs every op on every backend, one call at a time, named
// op=…/backend=… so that benchstat -col /backend puts the backends side by side.
func BenchmarkBackends(b *testing.B) {
	backends := open(b)
	ctx := context.Background()
	for _, op := range ops {
		b.Run("op="+op.name, func(b *testing.B) {
			for _, be := range backends {
				b.Run("backend="+be.name, func(b *testing.B) {
					be.need(b)
					warm(b, be.cache)
					for i := 0; b.Loop(); i++ {
						if err := op.do(ctx, be.cache, i); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// warm reads every hit key before the timing starts, so that connections are open and the
// tiered store's L1 holds its copies, as in a warm Lambda environment.
func warm(tb testing.TB, c *cachekit.View[geo]) {
	tb.Helper()
	for i := range numKeys / batch {
		if err := getMany(context.Background(), c, i); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestBackends runs each op once on every backend and checks what it read and wrote, so that
// a plain go test checks the benchmark's workload without timing it.
func TestBackends(t *testing.T) {
	if n := len(mustJSON(t, value)); n < 180 || n > 220 {
		t.Errorf("the value is %d bytes of JSON, want about 200", n)
	}
	ctx := context.Background()
	for _, be := range open(t) {
		t.Run(be.name, func(t *testing.T) {
			be.need(t)
			c := be.cache
			for _, op := range ops {
				if err := op.do(ctx, c, 0); err != nil {
					t.Errorf("%s: %v", op.name, err)
				}
			}

			if got, err := c.Get(ctx, hitKeys[7]); err != nil || got != value {
				t.Errorf("Get(%s) = %+v, %v; want %+v", hitKeys[7], got, err, value)
			}
			if _, err := c.Get(ctx, missKeys[7]); !errors.Is(err, cachekit.ErrNotFound) {
				t.Errorf("Get(%s) = %v, want ErrNotFound", missKeys[7], err)
			}
			if got, err := c.Get(ctx, setKeys[0]); err != nil || got != value { // written by op Set
				t.Errorf("Get(%s) after Set = %+v, %v; want %+v", setKeys[0], got, err, value)
			}
			if d, err := c.TTL(ctx, setKeys[0]); err != nil || d <= ttl-time.Minute || d > ttl+time.Second {
				t.Errorf("TTL(%s) = %v, %v; want about %v", setKeys[0], d, err, ttl)
			}
			many, err := c.GetMany(ctx, append(hitKeys[900:], missKeys[:3]...))
			if err != nil {
				t.Fatal(err)
			}
			if len(many) != batch {
				t.Errorf("GetMany of %d hits and 3 misses found %d entries, want %d", batch, len(many), batch)
			}
			for k, v := range many {
				if v != value {
					t.Errorf("GetMany: %s = %+v, want %+v", k, v, value)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
