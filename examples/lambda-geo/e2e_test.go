//go:build linux

// The emulator runs on Linux only, as Lambda does.

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/emf"
	"github.com/cachekit/cachekit/internal/testenv"
)

func TestMain(m *testing.M) {
	// This test binary holds the package too, and so the process-wide cache that geo made.
	testenv.VerifyNoLeaks(m, func() { cacheenv.Default().Close() })
}

// TestUnderEmulator runs the function as Lambda would, under AWS's Runtime Interface
// Emulator, against each remote backend: a miss that loads from the source, a hit in the same
// process, then a cold start (a new process) whose first call is a hit from the backend, with
// the EMF lines the function wrote along the way.
func TestUnderEmulator(t *testing.T) {
	rie := emulator(t)
	bootstrap := build(t)

	// The function as template.yaml deploys it by default: its table made from the template's
	// definition, and the template's environment, with DynamoDB Local's endpoint added. An L1
	// is in front (CACHE_L1_MAX_SIZE): the warm hit comes from memory, the cold start's from
	// DynamoDB.
	t.Run("dynamodb", func(t *testing.T) {
		t.Parallel()
		client := testenv.DynamoDB(t)
		table := testenv.Name("lambda-geo")
		st := newStack(t, params(deployments[0].params), map[string]string{"Table": table})
		createTable(t, client, st, table)
		env := st.environment(t)
		// As CloudFormation names the function: the Service dimension comes from the
		// template's CACHE_SERVICE_NAME, not from the function's name.
		env = append(env, "AWS_LAMBDA_FUNCTION_NAME=lambda-geo-Function-1A2B3C4D5E6F",
			"CACHE_DYNAMODB_ENDPOINT="+testenv.DynamoDBEndpoint())
		lines := coldAndWarm(t, rie, bootstrap, "dynamodb", env...)
		checkItem(t, client, table, st.params["CacheKeyPrefix"].(string)+"geo:"+testIP)
		checkAlarmsSeeLines(t, st, lines)
	})

	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		url := testenv.RedisURL()
		client := testenv.Redis(t, url, false)
		prefix := testenv.Name("lambda-geo") + "#"
		t.Cleanup(func() {
			_ = client.Do(context.Background(), client.B().Del().Key(prefix+"geo:"+testIP).Build()).Error()
		})
		coldAndWarm(t, rie, bootstrap, "redis",
			"CACHE_STORAGE_TYPE=redis",
			"CACHE_REDIS_URL="+url,
			"CACHE_KEY_PREFIX="+prefix)
	})
}

const testIP = "198.51.100.23"

// coldAndWarm invokes the function three times with the same IP, the third time in a new
// process, checks the responses and the metrics, and returns the EMF lines.
func coldAndWarm(t *testing.T, rie, bootstrap, backend string, env ...string) []emfLine {
	first := start(t, rie, bootstrap, env...)
	want, err := lookup(context.Background(), testIP)
	if err != nil {
		t.Fatal(err)
	}
	for i, from := range []string{"source", "cache"} {
		got := first.invoke(t, testIP)
		if got.From != from || got.Location != want {
			t.Fatalf("invocation %d: got %+v, want %+v from the %s", i+1, got, want, from)
		}
	}
	first.stop(t)

	second := start(t, rie, bootstrap, env...)
	if got := second.invoke(t, testIP); got.From != "cache" || got.Location != want {
		t.Fatalf("after a cold start: got %+v, want %+v from the cache", got, want)
	}
	second.stop(t)

	// One line per invocation, each with what that invocation did.
	type counts struct{ Hits, Misses, Loads, Sets, Errors float64 }
	wants := [][]counts{
		{{Misses: 1, Loads: 1, Sets: 1}, {Hits: 1}},
		{{Hits: 1}},
	}
	var all []emfLine
	for i, fn := range []*function{first, second} {
		lines := fn.metrics(t)
		all = append(all, lines...)
		if len(lines) != len(wants[i]) {
			t.Fatalf("process %d wrote %d EMF lines, want %d:\n%s", i+1, len(lines), len(wants[i]), fn.output())
		}
		for j, line := range lines {
			got := counts{line.num("Hits"), line.num("Misses"), line.num("Loads"), line.num("Sets"), line.num("Errors")}
			if got != wants[i][j] {
				t.Errorf("process %d, invocation %d: metrics %+v, want %+v", i+1, j+1, got, wants[i][j])
			}
			if line["Backend"] != backend || line["Service"] != "lambda-geo" {
				t.Errorf("process %d, invocation %d: dimensions Backend=%v Service=%v, want %s and lambda-geo",
					i+1, j+1, line["Backend"], line["Service"], backend)
			}
			if line.num("HealthCheckFailures") != 0 {
				t.Errorf("process %d, invocation %d: a health check failed:\n%s", i+1, j+1, fn.output())
			}
		}
	}
	return all
}

// emulator returns the path of aws-lambda-rie: CACHEKIT_LAMBDA_RIE, else the one on PATH.
func emulator(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CACHEKIT_LAMBDA_RIE"); p != "" {
		return p
	}
	p, err := exec.LookPath("aws-lambda-rie")
	if err != nil {
		testenv.Missing(t, "aws-lambda-rie (set CACHEKIT_LAMBDA_RIE; scripts/test installs it)", err)
	}
	return p
}

// build compiles this package as Lambda runs it: an executable named bootstrap.
func build(t *testing.T) string {
	t.Helper()
	began := time.Now()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	t.Logf("built the function in %v", time.Since(began).Round(time.Millisecond))
	return out
}

// function is one emulator process, and the function's process under it.
type function struct {
	cmd    *exec.Cmd
	url    string
	out    *lockedBuffer
	exited chan struct{} // closed once cmd.Wait has returned
}

// start runs the emulator on free ports of 127.0.0.1 with the function's environment, and
// waits until it accepts connections. The function's process starts on the first invoke.
func start(t *testing.T, rie, bootstrap string, env ...string) *function {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	api := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) // not the default 9001: subtests run at once
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	// The emulator passes its own environment to the function: only what Lambda would set,
	// and the function's configuration.
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_FUNCTION_NAME=lambda-geo",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true",
		"CACHE_METRICS=emf",
	}, env...)
	fn := &function{cmd: cmd, url: "http://" + addr + "/2015-03-31/functions/function/invocations",
		out: new(lockedBuffer), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = fn.out, fn.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the emulator and the function, to kill as one
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(fn.exited)
	}()
	t.Cleanup(func() { fn.stop(t) })

	deadline := time.Now().Add(time.Minute) // a loaded machine starts it slowly
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-fn.exited:
			t.Fatalf("the emulator exited: %v\n%s", cmd.ProcessState, fn.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator does not accept connections on %s after a minute: %v\n%s", addr, err, fn.output())
		}
	}
	t.Logf("emulator ready in %v", time.Since(began).Round(time.Millisecond))
	return fn
}

// invoke sends the function an event with ip, as Lambda's Invoke API does, and returns its
// response.
func (fn *function) invoke(t *testing.T, ip string) Response {
	t.Helper()
	event, _ := json.Marshal(Request{IP: ip})
	client := http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections() // after the body's Close, so the connection goes now
	began := time.Now()
	resp, err := client.Post(fn.url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, fn.output())
	}
	defer resp.Body.Close()
	var body struct {
		Response
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.ErrorMessage != "" {
		t.Fatalf("invoke: status %s, error %q, %v\n%s", resp.Status, body.ErrorMessage, err, fn.output())
	}
	t.Logf("invoke: from the %s in %v", body.From, time.Since(began).Round(100*time.Microsecond))
	return body.Response
}

// stop ends the emulator, which kills the function's process, as Lambda ends an execution
// environment; the process group is killed if it does not go by itself.
func (fn *function) stop(t *testing.T) {
	t.Helper()
	select {
	case <-fn.exited:
		return
	default:
	}
	_ = fn.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-fn.exited:
	case <-time.After(30 * time.Second):
		// Not yet waited for, so the group is still this test's.
		_ = syscall.Kill(-fn.cmd.Process.Pid, syscall.SIGKILL)
		<-fn.exited
		t.Errorf("the emulator did not stop within 30s of SIGTERM:\n%s", fn.output())
	}
}

// emfLine is one CloudWatch Embedded Metric Format line.
type emfLine map[string]any

func (l emfLine) num(name string) float64 {
	v, _ := l[name].(float64)
	return v
}

// metrics returns the EMF lines among everything the process wrote, in order.
func (fn *function) metrics(t *testing.T) []emfLine {
	t.Helper()
	var lines []emfLine
	sc := bufio.NewScanner(strings.NewReader(fn.output()))
	for sc.Scan() {
		text := sc.Text()
		if !strings.HasPrefix(text, "{") || !strings.Contains(text, `"_aws"`) {
			continue // the emulator's own log lines, START, END and REPORT
		}
		var line emfLine
		if err := json.Unmarshal([]byte(text), &line); err != nil {
			t.Fatalf("an EMF line that is not JSON: %v\n%s", err, text)
		}
		lines = append(lines, line)
	}
	return lines
}

func (fn *function) output() string { return fn.out.String() }

// lockedBuffer is a bytes.Buffer that the emulator's output can be written to while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// createTable makes the table that st defines, named name, in DynamoDB Local, then has
// dynamostore.CreateTable check it against the options the function's environment gives:
// the key schema and the TTL attribute that the store expects, ready, with nothing to do.
func createTable(t *testing.T, client *dynamodb.Client, st *stack, name string) {
	t.Helper()
	def, err := st.GetDynamoDBTableWithName("Table")
	if err != nil {
		t.Fatal(err)
	}
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingMode(deref(def.BillingMode))}
	for _, a := range def.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName), AttributeType: types.ScalarAttributeType(a.AttributeType)})
	}
	for _, k := range def.KeySchema {
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{
			AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)})
	}
	ctx := context.Background()
	if _, err := client.CreateTable(ctx, in); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	if err := dynamodb.NewTableExistsWaiter(client).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ttl := def.TimeToLiveSpecification; ttl != nil {
		_, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: ttl.AttributeName, Enabled: aws.Bool(ttl.Enabled)}})
		if err != nil {
			t.Fatal(err)
		}
	}

	status, err := dynamostore.CreateTable(ctx, client, st.config(t).DynamoDBOptions())
	if err != nil {
		t.Fatalf("the template's table is not the one the function's store expects: %v", err)
	}
	if status.Created || status.TTLEnabled {
		t.Errorf("the template's table lacked what the store needs: CreateTable did %+v", status)
	}
}

// checkItem checks that the function's load landed in the table under key, as dynamostore
// writes it: the location as JSON, and an expiry a day ahead, which DynamoDB's TTL deletes by.
func checkItem(t *testing.T, client *dynamodb.Client, table, key string) {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: key}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Item == nil {
		t.Fatalf("no item %q in the table", key)
	}
	want, err := lookup(context.Background(), testIP)
	if err != nil {
		t.Fatal(err)
	}
	var got Location
	if v, ok := out.Item["value"].(*types.AttributeValueMemberS); !ok || json.Unmarshal([]byte(v.Value), &got) != nil || got != want {
		t.Errorf("item %q has value %v, want the JSON of %+v", key, out.Item["value"], want)
	}
	ttl, ok := out.Item["ttl"].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("item %q has no ttl number: %v", key, out.Item)
	}
	// Written within the test, with the view's TTL of a day: no clock is read for a verdict
	// that a slow machine could change.
	if n, err := strconv.ParseInt(ttl.Value, 10, 64); err != nil || n <= time.Now().Add(23*time.Hour).Unix() ||
		n > time.Now().Add(24*time.Hour+time.Minute).Unix() {
		t.Errorf("item %q expires at %s, want a day after it was written", key, ttl.Value)
	}
}

// checkAlarmsSeeLines checks that the template's alarms, as deployed with st's parameters,
// name the namespace and the whole dimension set of the EMF lines the function wrote, and
// metrics that the lines declare: an alarm that names anything else never fires.
func checkAlarmsSeeLines(t *testing.T, st *stack, lines []emfLine) {
	t.Helper()
	if len(lines) == 0 {
		t.Fatal("no EMF lines")
	}
	declared := map[string]bool{}
	for _, line := range lines {
		meta, _ := line["_aws"].(map[string]any)
		cwm, _ := meta["CloudWatchMetrics"].([]any)
		if len(cwm) != 1 {
			t.Fatalf("a line with %d CloudWatchMetrics: %v", len(cwm), line)
		}
		m := cwm[0].(map[string]any)
		for _, def := range m["Metrics"].([]any) {
			declared[def.(map[string]any)["Name"].(string)] = true
		}
		sets := m["Dimensions"].([]any)
		if len(sets) != 1 {
			t.Fatalf("a line with %d dimension sets: %v", len(sets), line)
		}
		var dims []emf.Dimension
		for _, name := range sets[0].([]any) {
			dims = append(dims, emf.Dimension{Name: name.(string), Value: fmt.Sprint(line[name.(string)])})
		}

		for name := range st.GetAllCloudWatchAlarmResources() {
			var a emf.Alarm
			b, _ := json.Marshal(st.properties(t, name))
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			watched := []emf.MetricID{{Namespace: a.Namespace, MetricName: a.MetricName, Dimensions: a.Dimensions}}
			if a.MetricName == "" {
				watched = watched[:0]
				for _, q := range a.Metrics {
					if q.MetricStat != nil {
						watched = append(watched, q.MetricStat.Metric)
					}
				}
			}
			for _, w := range watched {
				if w.Namespace != m["Namespace"] || !slices.Equal(w.Dimensions, dims) {
					t.Errorf("alarm %s watches %s in %s %v; the function writes %s %v",
						name, w.MetricName, w.Namespace, w.Dimensions, m["Namespace"], dims)
				}
				if !slices.ContainsFunc(emf.Metrics(), func(x emf.Metric) bool { return x.Name == w.MetricName }) {
					t.Errorf("alarm %s watches %s, which the EMF writer never writes", name, w.MetricName)
				}
			}
		}
	}
	// The hit ratio's counts are in every line; the others only when something happened.
	for _, name := range []string{"Hits", "Misses"} {
		if !declared[name] {
			t.Errorf("the lines declare no %s, which the hit ratio alarm watches", name)
		}
	}
}
