package cacheenv_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/resilient"
	"github.com/cachekit/cachekit/tiered"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestConfigFromLookup(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want cacheenv.Config
	}{
		{"nothing set", nil, cacheenv.Config{Background: true}},
		{"memory in full", map[string]string{
			"CACHE_STORAGE_TYPE":            " Memory ",
			"CACHE_KEY_PREFIX":              "CACHE#svc:",
			"CACHE_DEFAULT_TTL":             "24h",
			"CACHE_MEMORY_MAX_SIZE":         "500",
			"CACHE_MEMORY_CLEANUP_INTERVAL": "30s",
		}, cacheenv.Config{Background: true, StorageType: "memory", KeyPrefix: "CACHE#svc:", DefaultTTL: 24 * time.Hour, MemoryMaxSize: 500, MemoryCleanupInterval: 30 * time.Second}},
		{"seconds as plain numbers", map[string]string{"CACHE_DEFAULT_TTL": "300", "CACHE_MEMORY_CLEANUP_INTERVAL": "60"},
			cacheenv.Config{Background: true, DefaultTTL: 5 * time.Minute, MemoryCleanupInterval: time.Minute}},
		{"no sweeps", map[string]string{"CACHE_MEMORY_CLEANUP_INTERVAL": "0"}, cacheenv.Config{Background: true, MemoryCleanupInterval: -1}},
		{"empty means unset", map[string]string{"CACHE_STORAGE_TYPE": "", "CACHE_DEFAULT_TTL": " "}, cacheenv.Config{Background: true}},
		{"resilience and metrics", map[string]string{
			"CACHE_OP_TIMEOUT":            "250ms",
			"CACHE_BREAKER_FAILURES":      "3",
			"CACHE_BREAKER_OPEN_TIMEOUT":  "30s",
			"CACHE_HEALTH_CHECK_INTERVAL": "5m",
			"CACHE_METRICS":               "EMF",
			"CACHE_METRICS_NAMESPACE":     "shop",
			"CACHE_METRICS_INTERVAL":      "10s",
			"AWS_LAMBDA_FUNCTION_NAME":    "geo-fn",
		}, cacheenv.Config{OpTimeout: 250 * time.Millisecond, BreakerFailures: 3, BreakerOpenTimeout: 30 * time.Second,
			HealthCheckInterval: 5 * time.Minute, Metrics: "emf", MetricsNamespace: "shop", MetricsInterval: 10 * time.Second,
			ServiceName: "geo-fn"}},
		{"the service name wins over the function's", map[string]string{"CACHE_SERVICE_NAME": "geo", "AWS_LAMBDA_FUNCTION_NAME": "geo-fn-prod"},
			cacheenv.Config{ServiceName: "geo"}},
		{"no breaker, no health checks", map[string]string{"CACHE_BREAKER": "off", "CACHE_HEALTH_CHECK_INTERVAL": "0"},
			cacheenv.Config{Background: true, DisableBreaker: true, HealthCheckInterval: -1}},
		{"an L1 in front of DynamoDB", map[string]string{"CACHE_TABLE_NAME": "t", "CACHE_L1_MAX_SIZE": "500", "CACHE_L1_TTL": "5s"},
			cacheenv.Config{Background: true, TableName: "t", L1MaxSize: 500, L1TTL: 5 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cacheenv.LoadFrom(lookup(tc.env))
			if err != nil || got != tc.want {
				t.Errorf("ConfigFromLookup = %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"CACHE_STORAGE_TYPE":            {"CACHE_STORAGE_TYPE": "memcached"},
		"CACHE_DEFAULT_TTL":             {"CACHE_DEFAULT_TTL": "soon"},
		"CACHE_MEMORY_MAX_SIZE":         {"CACHE_MEMORY_MAX_SIZE": "-5"},
		"CACHE_MEMORY_CLEANUP_INTERVAL": {"CACHE_MEMORY_CLEANUP_INTERVAL": "-1m"},
		"CACHE_KEY_PREFIX":              {"CACHE_KEY_PREFIX": strings.Repeat("p", 2000)},
		"CACHE_OP_TIMEOUT":              {"CACHE_OP_TIMEOUT": "0"},
		"CACHE_BREAKER_OPEN_TIMEOUT":    {"CACHE_BREAKER_OPEN_TIMEOUT": "later"},
		"CACHE_BREAKER_FAILURES":        {"CACHE_BREAKER_FAILURES": "none"},
		"CACHE_BREAKER":                 {"CACHE_BREAKER": "maybe"},
		"CACHE_HEALTH_CHECK_INTERVAL":   {"CACHE_HEALTH_CHECK_INTERVAL": "-1s"},
		"CACHE_METRICS":                 {"CACHE_METRICS": "statsd"},
		"CACHE_METRICS_INTERVAL":        {"CACHE_METRICS_INTERVAL": "0s"},
		"CACHE_L1_MAX_SIZE":             {"CACHE_TABLE_NAME": "t", "CACHE_L1_MAX_SIZE": "many"},
		"CACHE_L1_TTL":                  {"CACHE_L1_TTL": "5s"}, // in front of memory
	} {
		_, err := cacheenv.LoadFrom(lookup(env))
		if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v, want ErrConfig naming %s", env, err, name)
		}
	}
	for _, tc := range []struct{ name, value string }{{"CACHE_DEFAULT_TTL", "0"}, {"CACHE_DEFAULT_TTL", "-1"}, {"CACHE_DEFAULT_TTL", "99999999999999"}, {"CACHE_MEMORY_MAX_SIZE", "0"}, {"CACHE_MEMORY_MAX_SIZE", "1e3"}} {
		if _, err := cacheenv.LoadFrom(lookup(map[string]string{tc.name: tc.value})); !errors.Is(err, cachekit.ErrConfig) {
			t.Errorf("%s=%q: %v, want ErrConfig", tc.name, tc.value, err)
		}
	}
}

// TestDefaultStorageFollowsTheTable checks the seed design's default: DynamoDB when a table is
// configured, memory otherwise.
func TestDefaultStorageFollowsTheTable(t *testing.T) {
	cfg, err := cacheenv.LoadFrom(lookup(map[string]string{"CACHE_TABLE_NAME": "orders"}))
	if err != nil || cfg.Backend() != cacheenv.StorageDynamoDB {
		t.Errorf("a table and no storage type: backend %q, %v; want dynamodb", cfg.Backend(), err)
	}
	_, err = cacheenv.LoadFrom(lookup(map[string]string{"CACHE_STORAGE_TYPE": "dynamodb"}))
	if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_TABLE_NAME") {
		t.Errorf("dynamodb without a table: %v, want ErrConfig naming CACHE_TABLE_NAME", err)
	}
	_, err = cacheenv.LoadFrom(lookup(map[string]string{"CACHE_STORAGE_TYPE": "redis"}))
	if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_REDIS_URL") {
		t.Errorf("redis without a URL: %v, want ErrConfig naming CACHE_REDIS_URL", err)
	}
	_, err = cacheenv.LoadFrom(lookup(map[string]string{"CACHE_STORAGE_TYPE": "redis", "CACHE_REDIS_URL": "redis://u:hunter2@h:1?cluster=maybe"}))
	if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_REDIS_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a bad CACHE_REDIS_URL: %v, want ErrConfig naming it, without the password", err)
	}
	_, err = cacheenv.LoadFrom(lookup(map[string]string{"CACHE_STORAGE_TYPE": "redis", "CACHE_REDIS_URL": "redis://h:1", "CACHE_FALLBACK_STORAGE_TYPE": "dynamodb"}))
	if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_TABLE_NAME") || !strings.Contains(err.Error(), "CACHE_FALLBACK_STORAGE_TYPE") {
		t.Errorf("a dynamodb fallback without a table: %v, want ErrConfig naming both variables", err)
	}
	_, err = cacheenv.LoadFrom(lookup(map[string]string{"CACHE_FALLBACK_STORAGE_TYPE": "redis", "CACHE_REDIS_URL": "redis://h:1", "CACHE_STORAGE_TYPE": "memory"}))
	if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_FALLBACK_STORAGE_TYPE") {
		t.Errorf("a fallback behind memory: %v, want ErrConfig naming CACHE_FALLBACK_STORAGE_TYPE", err)
	}
	if _, err := cacheenv.LoadFrom(lookup(map[string]string{"CACHE_STORAGE_TYPE": "redis", "CACHE_REDIS_URL": "redis://h:1",
		"CACHE_FALLBACK_STORAGE_TYPE": "memory", "CACHE_L1_MAX_SIZE": "100"})); err != nil {
		t.Errorf("an L1 in front of Redis with a memory fallback: %v, want it accepted", err)
	}
	_, err = cacheenv.LoadFrom(lookup(map[string]string{"CACHE_FALLBACK_STORAGE_TYPE": "memory"}))
	if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_FALLBACK_STORAGE_TYPE") {
		t.Errorf("a fallback of the same type: %v, want ErrConfig naming CACHE_FALLBACK_STORAGE_TYPE", err)
	}
	_, err = cacheenv.LoadFrom(lookup(map[string]string{"CACHE_TABLE_NAME": "t", "CACHE_DYNAMODB_SORT_KEY": "SK"}))
	if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_DYNAMODB_SORT_KEY_VALUE") {
		t.Errorf("a sort key without its value: %v, want ErrConfig naming CACHE_DYNAMODB_SORT_KEY_VALUE", err)
	}
	c, err := cacheenv.Open(cacheenv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.Store().(*memstore.Store); !ok || c.Prefix() != cachekit.DefaultPrefix {
		t.Errorf("Open of the zero Config = %T with prefix %q, want a memstore under %q", c.Store(), c.Prefix(), cachekit.DefaultPrefix)
	}
	s, err := cacheenv.OpenStore(cacheenv.Config{StorageType: "redis", RedisURL: "redis://127.0.0.1:1", L1MaxSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*tiered.Store); !ok {
		t.Errorf("OpenStore of Redis with an L1 = %T, want a tiered.Store", s)
	}
	if _, err := cacheenv.OpenStore(cacheenv.Config{StorageType: "disk"}); !errors.Is(err, cachekit.ErrConfig) {
		t.Errorf("OpenStore of an unknown backend: %v, want ErrConfig", err)
	}
}

func TestConfigDynamoDB(t *testing.T) {
	cfg, err := cacheenv.LoadFrom(lookup(map[string]string{
		"CACHE_STORAGE_TYPE": "dynamodb", "CACHE_TABLE_NAME": "app", "CACHE_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
		"CACHE_DYNAMODB_PARTITION_KEY": "pk", "CACHE_DYNAMODB_SORT_KEY": "sk", "CACHE_DYNAMODB_SORT_KEY_VALUE": "CACHE",
		"CACHE_DYNAMODB_CONSISTENT_READ": "true",
	}))
	want := cacheenv.Config{Background: true, StorageType: "dynamodb", TableName: "app", DynamoDBEndpoint: "http://127.0.0.1:8000",
		DynamoDBPartitionKey: "pk", DynamoDBSortKey: "sk", DynamoDBSortKeyValue: "CACHE", DynamoDBConsistentRead: true}
	if err != nil || cfg != want {
		t.Errorf("ConfigFromLookup = %+v, %v\nwant %+v", cfg, err, want)
	}
	if _, err := cacheenv.LoadFrom(lookup(map[string]string{"CACHE_DYNAMODB_CONSISTENT_READ": "sometimes"})); !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_DYNAMODB_CONSISTENT_READ") {
		t.Errorf("a bad CACHE_DYNAMODB_CONSISTENT_READ: %v", err)
	}
}

func FuzzLoadFrom(f *testing.F) {
	f.Add("memory", "CACHE#", "5m", "100", "1m")
	f.Add("redis", "", "300", "-1", "0")
	f.Add("", "\xff", "1h30m", "99999999999999999999", "1e9")
	f.Fuzz(func(t *testing.T, storage, prefix, ttl, size, interval string) {
		env := map[string]string{
			"CACHE_STORAGE_TYPE": storage, "CACHE_KEY_PREFIX": prefix, "CACHE_DEFAULT_TTL": ttl,
			"CACHE_MEMORY_MAX_SIZE": size, "CACHE_MEMORY_CLEANUP_INTERVAL": interval,
		}
		cfg, err := cacheenv.LoadFrom(lookup(env))
		if err != nil {
			if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_") {
				t.Fatalf("error %v does not wrap ErrConfig and name a variable", err)
			}
			return
		}
		c, err := cacheenv.Open(cfg)
		if err != nil {
			t.Fatalf("Open refused a Config that ConfigFromLookup accepted: %+v: %v", cfg, err)
		}
		c.Close()
	})
}

// TestDefault runs the test binary again with a given environment, since Default is built once
// per process.
func TestDefault(t *testing.T) {
	if scenario := os.Getenv("CACHEKIT_TEST_DEFAULT"); scenario != "" {
		defaultScenario(t, scenario)
		return
	}
	testenv.Redis(t, testenv.RedisURL(), false)
	client := testenv.DynamoDB(t)
	table := testenv.Name("cachekit-default")
	if _, err := dynamostore.CreateTable(context.Background(), client, dynamostore.Options{Table: table}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	// Credentials for DynamoDB Local, and no instance metadata lookups.
	aws := []string{"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}
	aws = aws[:len(aws):len(aws)] // each scenario appends to a copy of its own
	for _, tc := range []struct {
		scenario string
		env      []string
	}{
		{"memory", []string{"CACHE_KEY_PREFIX=CACHE#svc:", "CACHE_DEFAULT_TTL=90"}},
		{"invalid", []string{"CACHE_STORAGE_TYPE=memcache"}},
		{"dynamodb", append(aws, "CACHE_TABLE_NAME="+table, "CACHE_DYNAMODB_ENDPOINT="+testenv.DynamoDBEndpoint())},
		// The AWS SDK's own variable for the endpoint works as well.
		{"dynamodb", append(aws, "CACHE_TABLE_NAME="+table, "AWS_ENDPOINT_URL_DYNAMODB="+testenv.DynamoDBEndpoint())},
		{"dynamodb-unreachable", append(aws, "CACHE_TABLE_NAME="+table, "CACHE_DYNAMODB_ENDPOINT=http://127.0.0.1:9")},
		{"redis", []string{"CACHE_STORAGE_TYPE=redis", "CACHE_REDIS_URL=" + testenv.RedisURL(), "CACHE_KEY_PREFIX=" + testenv.Name("CACHE#default") + ":"}},
		{"redis-l1", []string{"CACHE_STORAGE_TYPE=redis", "CACHE_REDIS_URL=" + testenv.RedisURL(), "CACHE_KEY_PREFIX=" + testenv.Name("CACHE#l1") + ":", "CACHE_L1_MAX_SIZE=100"}},
		{"lambda", append(aws, "AWS_LAMBDA_FUNCTION_NAME=geo-fn", "CACHE_METRICS=emf", "CACHE_STORAGE_TYPE=redis", "CACHE_REDIS_URL="+testenv.RedisURL(),
			"CACHE_KEY_PREFIX="+testenv.Name("CACHE#lambda")+":")},
		{"redis-fallback", append(aws, "CACHE_STORAGE_TYPE=redis", "CACHE_REDIS_URL="+testenv.RedisURL(), "CACHE_KEY_PREFIX="+testenv.Name("CACHE#default")+":",
			"CACHE_FALLBACK_STORAGE_TYPE=dynamodb", "CACHE_TABLE_NAME="+table, "CACHE_DYNAMODB_ENDPOINT="+testenv.DynamoDBEndpoint())},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDefault$", "-test.v")
			cmd.Env = append(os.Environ(), append(tc.env, "CACHEKIT_TEST_DEFAULT="+tc.scenario)...)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestDefault") {
				t.Errorf("scenario %s: %v\n%s", tc.scenario, err, out)
			}
			if tc.scenario == "lambda" {
				// Flush's line, and Close's, which reports what happened after Flush.
				for _, want := range []string{`"Service":"geo-fn"`, `"Backend":"redis"`, `"Hits":1,`, `"Misses":1,`, `"BreakerOpen":0,`, `"ReadLatencyP99":`} {
					if !strings.Contains(string(out), want) {
						t.Errorf("no EMF line with %s in the function's output:\n%s", want, out)
					}
				}
			}
		})
	}
}

func defaultScenario(t *testing.T, scenario string) {
	ctx := context.Background()
	c := cacheenv.Default()
	if cacheenv.Default() != c {
		t.Fatal("Default returned two different Caches")
	}
	geo := cachekit.Typed[string](c, "geo:", 0)
	switch scenario {
	case "memory":
		if err := geo.Set(ctx, "ip", "Oslo", 0); err != nil {
			t.Fatal(err)
		}
		// 90s less the time since the Set, which a loaded machine may make seconds.
		if ttl, _ := geo.TTL(ctx, "ip"); ttl <= 60*time.Second || ttl > 90*time.Second {
			t.Errorf("TTL = %v, want CACHE_DEFAULT_TTL's 90s", ttl)
		}
		if _, err := c.Store().Get(ctx, "CACHE#svc:geo:ip"); err != nil {
			t.Errorf("the entry is not under CACHE_KEY_PREFIX: %v", err)
		}
		// Swap in another store, as a test or a degradation does.
		s, _ := memstore.New(memstore.Options{})
		old, err := c.SetStore(s)
		if err != nil {
			t.Fatal(err)
		}
		old.Close()
		if _, err := geo.Get(ctx, "ip"); !errors.Is(err, cachekit.ErrNotFound) {
			t.Errorf("Get after SetStore: %v, want a miss in the new store", err)
		}
		c.Close()
	case "dynamodb":
		if _, ok := c.Store().(*resilient.Breaker); !ok {
			t.Fatalf("Default's store is %T, want a dynamostore behind a resilient.Breaker", c.Store())
		}
		if err := geo.Set(ctx, "ip", "Oslo", 0); err != nil {
			t.Fatal(err)
		}
		if got, err := geo.Get(ctx, "ip"); err != nil || got != "Oslo" {
			t.Errorf("Get = %q, %v; want Oslo from DynamoDB Local", got, err)
		}
		if raw, err := c.Store().Get(ctx, "CACHE#geo:ip"); err != nil || string(raw) != `"Oslo"` {
			t.Errorf("the item under CACHE#geo:ip = %q, %v", raw, err)
		}
		c.Close() // releases the client Default built, as goleak checks
	case "redis":
		if _, ok := c.Store().(*resilient.Breaker); !ok {
			t.Fatalf("Default's store is %T, want a redisstore behind a resilient.Breaker", c.Store())
		}
		if err := geo.Set(ctx, "ip", "Oslo", 0); err != nil {
			t.Fatal(err)
		}
		if got, err := geo.Get(ctx, "ip"); err != nil || got != "Oslo" {
			t.Errorf("Get = %q, %v; want Oslo from Redis", got, err)
		}
		if n, err := c.Clear(ctx); err != nil || n != 1 {
			t.Errorf("Clear = %d, %v; want 1", n, err)
		}
		if st := c.Counters(); st.Breaker != "closed" || st.Health != nil {
			t.Errorf("Counters = %+v; want a closed breaker, and no health check yet outside Lambda (it runs on its interval)", st)
		}
		c.Close()
	case "redis-l1":
		ts, ok := c.Store().(*tiered.Store)
		if !ok {
			t.Fatalf("Default's store is %T, want a tiered.Store", c.Store())
		}
		if _, ok := ts.L2().(*resilient.Breaker); !ok {
			t.Errorf("L2 is %T, want Redis behind a resilient.Breaker", ts.L2())
		}
		_ = geo.Set(ctx, "ip", "Oslo", 0)
		for range 2 {
			if got, err := geo.Get(ctx, "ip"); err != nil || got != "Oslo" {
				t.Errorf("Get = %q, %v; want Oslo", got, err)
			}
		}
		if st := ts.Stats(); st.L1Hits != 2 || st.L2Reads != 0 {
			t.Errorf("tiered Stats = %+v, want both reads from L1", st)
		}
		if n, err := c.Clear(ctx); err != nil || n != 1 {
			t.Errorf("Clear = %d, %v; want 1", n, err)
		}
		c.Close()
	case "lambda":
		// In Lambda, checks and flushes run inside calls, and none in a cold start's first
		// call; Flush writes the invocation's metrics on standard output.
		if _, err := geo.Get(ctx, "ip"); !errors.Is(err, cachekit.ErrNotFound) {
			t.Errorf("first Get: %v, want a miss", err)
		}
		_ = geo.Set(ctx, "ip", "Oslo", 0)
		_, _ = geo.Get(ctx, "ip")
		if st := c.Counters(); st.HealthChecks != 0 || st.Breaker != "closed" {
			t.Errorf("Counters = %+v; want no health check yet, and the breaker closed", st)
		}
		if err := c.Flush(); err != nil {
			t.Error(err)
		}
		_, _ = c.Clear(ctx)
		c.Close()
	case "redis-fallback":
		if _, ok := c.Store().(*resilient.Fallback); !ok {
			t.Fatalf("Default's store is %T, want a resilient.Fallback", c.Store())
		}
		if err := geo.Set(ctx, "ip", "Oslo", 0); err != nil {
			t.Fatal(err)
		}
		if got, err := geo.Get(ctx, "ip"); err != nil || got != "Oslo" {
			t.Errorf("Get = %q, %v; want Oslo from the primary", got, err)
		}
		if _, err := c.Clear(ctx); err != nil {
			t.Error(err)
		}
		c.Close()
	case "dynamodb-unreachable":
		// Building Default sent nothing; the first call is the first request, and fails as a
		// backend error, not a configuration one.
		if _, ok := c.Store().(*resilient.Breaker); !ok {
			t.Fatalf("Default's store is %T, want a dynamostore behind a resilient.Breaker", c.Store())
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := geo.Get(ctx, "ip"); err == nil || errors.Is(err, cachekit.ErrConfig) || errors.Is(err, cachekit.ErrNotFound) {
			t.Errorf("Get with DynamoDB unreachable: %v, want a backend error", err)
		}
		c.Close()
	case "invalid":
		err := geo.Set(ctx, "ip", "Oslo", 0)
		if !errors.Is(err, cachekit.ErrConfig) || !strings.Contains(err.Error(), "CACHE_STORAGE_TYPE") {
			t.Errorf("Set on a misconfigured Default: %v, want ErrConfig naming CACHE_STORAGE_TYPE", err)
		}
		if _, err := c.Stats(ctx); !errors.Is(err, cachekit.ErrConfig) {
			t.Errorf("Stats on a misconfigured Default: %v, want ErrConfig", err)
		}
	}
}

func FuzzKeys(f *testing.F) {
	for _, k := range []string{"a", "", "\xff", "日本", "CACHE#x", strings.Repeat("k", 1100), "a\x00b"} {
		f.Add(k)
	}
	s, _ := memstore.New(memstore.Options{})
	c, _ := cachekit.New(s, cachekit.Options{})
	f.Cleanup(func() { c.Close() })
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		v := cachekit.Typed[string](c, "", 0)
		err := v.Set(ctx, key, key, 0)
		if err != nil {
			if !errors.Is(err, cachekit.ErrInvalidKey) {
				t.Fatalf("Set: %v, want nil or ErrInvalidKey", err)
			}
			if strings.Contains(err.Error(), key) && len(key) > 3 {
				t.Fatalf("the error quotes the key: %v", err)
			}
			return
		}
		if got, err := v.Get(ctx, key); err != nil || got != key {
			t.Fatalf("Get = %q, %v; want the key back", got, err)
		}
		m, err := v.GetMany(ctx, []string{key})
		if err != nil || m[key] != key {
			t.Fatalf("GetMany = %v, %v", m, err)
		}
	})
}
