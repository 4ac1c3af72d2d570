// Package testenv gives tests the real backends that scripts/services starts, and decides
// what happens when one is missing: with CACHEKIT_REQUIRE_BACKENDS=1, as scripts/test and CI
// set it, the test fails; otherwise it is skipped with a message that says how to start it.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/redis/rueidis"
	"go.uber.org/goleak"
)

// Missing fails or skips t for a backend that does not answer, or a program it needs that is
// not installed.
func Missing(t testing.TB, backend string, err error) {
	t.Helper()
	const how = "start it with: eval \"$(scripts/services start)\", or run ./scripts/test"
	if os.Getenv("CACHEKIT_REQUIRE_BACKENDS") == "1" {
		t.Fatalf("%s is required (CACHEKIT_REQUIRE_BACKENDS=1) but does not answer: %v; %s", backend, err, how)
	}
	t.Skipf("%s does not answer (%v); skipping. To run this test, %s", backend, err, how)
}

// DynamoDBEndpoint is where DynamoDB Local listens: CACHEKIT_DYNAMODB_ENDPOINT, or
// http://127.0.0.1:8000.
func DynamoDBEndpoint() string {
	if e := os.Getenv("CACHEKIT_DYNAMODB_ENDPOINT"); e != "" {
		return e
	}
	return "http://127.0.0.1:8000"
}

// transport carries every test client's requests, so that CloseIdleConnections can end its
// connections' goroutines before a package's leak check.
var transport = http.DefaultTransport.(*http.Transport).Clone()

// HTTPClient returns an HTTP client on the tests' shared transport.
func HTTPClient() *http.Client { return &http.Client{Transport: transport} }

// CloseIdleConnections closes the idle connections of every test client; TestMain calls it
// before looking for leaked goroutines.
func CloseIdleConnections() { transport.CloseIdleConnections() }

// DynamoDBOptions configures a client for DynamoDB Local: static credentials, a region, the
// endpoint, the shared transport, and no checksum validation (DynamoDB Local's error responses
// lack the CRC header, and the SDK would warn on each).
func DynamoDBOptions(fns ...func(*dynamodb.Options)) dynamodb.Options {
	o := dynamodb.Options{
		HTTPClient:                      HTTPClient(),
		Region:                          "us-east-1",
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint:                    aws.String(DynamoDBEndpoint()),
		DisableValidateResponseChecksum: true,
	}
	for _, fn := range fns {
		fn(&o)
	}
	return o
}

var dynamoOnce = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := dynamodb.New(DynamoDBOptions()).ListTables(ctx, &dynamodb.ListTablesInput{})
	return err
})

// DynamoDB returns a client for DynamoDB Local with fns applied, or fails or skips t when
// DynamoDB Local does not answer.
func DynamoDB(t testing.TB, fns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	if err := dynamoOnce(); err != nil {
		Missing(t, "DynamoDB Local at "+DynamoDBEndpoint(), err)
	}
	return dynamodb.New(DynamoDBOptions(fns...))
}

// VerifyNoLeaks runs the package's tests, then fails the run if goroutines are left over,
// after closing the test clients' idle connections and running cleanup. TestMain calls it.
func VerifyNoLeaks(m *testing.M, cleanup ...func()) {
	code := m.Run()
	for _, fn := range cleanup {
		fn()
	}
	CloseIdleConnections()
	if code == 0 {
		// rueidis's cluster client refreshes its topology after a delay when a connection
		// fails, and closes the connections a refresh replaced 5s later, on goroutines that
		// nothing can stop or wait for and that end by themselves. A failed connect no longer
		// starts them (redisstore dials first: see TestCloseLeavesNothing); a node killed or
		// failed over under a test still does.
		if err := goleak.Find(
			goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
			goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// RedisURL is where the standalone Redis listens: CACHEKIT_REDIS_URL, or redis://127.0.0.1:6379.
func RedisURL() string { return envOr("CACHEKIT_REDIS_URL", "redis://127.0.0.1:6379") }

// RedisClusterURL is where the test cluster listens: CACHEKIT_REDIS_CLUSTER_URL, or its three
// masters' seed addresses on 127.0.0.1:7000-7002.
func RedisClusterURL() string {
	return envOr("CACHEKIT_REDIS_CLUSTER_URL", "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Redis returns a client for the Redis at url, closed when the test ends, or fails or skips t
// when it does not answer. With cluster, it also requires a cluster whose every slot is served.
func Redis(t testing.TB, url string, cluster bool) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	opt.Dialer.Timeout = 2 * time.Second
	c, err := rueidis.NewClient(opt)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = c.Do(ctx, c.B().Ping().Build()).Error()
		if err == nil && cluster && c.Mode() != rueidis.ClientModeCluster {
			err = fmt.Errorf("%s is not a cluster", url)
		}
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		Missing(t, "Redis at "+url, err)
	}
	t.Cleanup(c.Close)
	return c
}

// Name returns a name unique to this run, for tables and prefixes: base-<8 hex digits>.
func Name(base string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return base + "-" + hex.EncodeToString(b)
}

// RedisTarget is one Redis deployment the tests run against.
type RedisTarget struct {
	URL     string
	Cluster bool
}

// RedisTargets are the shared standalone server and the shared cluster, by name, for tests
// that run on both.
func RedisTargets() map[string]RedisTarget {
	return map[string]RedisTarget{"standalone": {RedisURL(), false}, "cluster": {RedisClusterURL(), true}}
}

// DynamoDBTable creates a table on DynamoDB Local with the key schema opts ask of dynamostore,
// named Name(opts.Table), which t's cleanup deletes, and returns opts naming it.
func DynamoDBTable(t testing.TB, client *dynamodb.Client, opts dynamostore.Options) dynamostore.Options {
	t.Helper()
	opts.Table = Name(opts.Table)
	if _, err := dynamostore.CreateTable(context.Background(), client, opts); err != nil {
		t.Fatalf("creating table %s: %v", opts.Table, err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(opts.Table)})
	})
	return opts
}
