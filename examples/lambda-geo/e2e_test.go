//go:build linux

// The emulator runs on Linux only, as Lambda does.

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/dynamostore"
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

	t.Run("dynamodb", func(t *testing.T) {
		t.Parallel()
		client := testenv.DynamoDB(t)
		table := testenv.Name("lambda-geo")
		ctx := context.Background()
		if _, err := dynamostore.CreateTable(ctx, client, dynamostore.Options{Table: table}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		// With an L1 in front: the warm hit comes from memory, the cold start's from DynamoDB.
		coldAndWarm(t, rie, bootstrap, "dynamodb",
			"CACHE_TABLE_NAME="+table,
			"CACHE_DYNAMODB_ENDPOINT="+testenv.DynamoDBEndpoint(),
			"CACHE_L1_MAX_SIZE=1000")
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
// process, and checks the responses and the metrics.
func coldAndWarm(t *testing.T, rie, bootstrap, backend string, env ...string) {
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
	for i, fn := range []*function{first, second} {
		lines := fn.metrics(t)
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
