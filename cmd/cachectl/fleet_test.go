package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit/cachekit/dynamostore"
	"github.com/cachekit/cachekit/internal/fleet"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/redisstore"
)

// fleetArgs runs bench in fleet mode briefly: a small fleet, a quick source, a short TTL.
var fleetArgs = []string{"bench", "--instances", "4", "--duration", "400ms", "--source-latency", "20ms",
	"--hot-ttl", "150ms", "--keys", "100", "--concurrency", "1"}

// checkFleet checks a fleet run's report for what holds whatever the timing.
func checkFleet(t *testing.T, rep fleet.Report, backend string, strategy fleet.Strategy) {
	t.Helper()
	if rep.Backend != backend || rep.Strategy != strategy || rep.Instances != 4 || rep.Readers != 1 || rep.Keys != 100 {
		t.Errorf("report of %s, strategy %s, %d instances of %d readers, %d keys", rep.Backend, rep.Strategy, rep.Instances, rep.Readers, rep.Keys)
	}
	if rep.Errors != 0 || rep.Wrong != 0 || rep.Interrupted {
		t.Errorf("%d errors (the first: %s), %d wrong values, interrupted %v", rep.Errors, rep.FirstError, rep.Wrong, rep.Interrupted)
	}
	if rep.Hot.Reads == 0 || rep.Hot.SourceCalls == 0 || rep.All.Reads < rep.Hot.Reads {
		t.Errorf("hot key: %d reads, %d source calls; %d reads in all", rep.Hot.Reads, rep.Hot.SourceCalls, rep.All.Reads)
	}
}

// perExpiry is the line the text report gives the hot key's source calls per expiry on.
var perExpiry = regexp.MustCompile(`(?m)^source calls per expiry: \d+\.\d\d$`)

func TestBenchFleetRedis(t *testing.T) {
	testenv.Redis(t, testenv.RedisURL(), false)
	base := testenv.Name("CACHE#fleet") + ":"
	t.Cleanup(func() {
		s, err := redisstore.Open(testenv.RedisURL(), redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Clear(context.Background(), base); err != nil {
			t.Errorf("clearing %s: %v", base, err)
		}
	})
	global := []string{"--redis", testenv.RedisURL(), "--prefix", base}

	args := append(append(global, fleetArgs...), "--json", "--strategy", "lease")
	r := runArgs(t, args...)
	r.check(t, args, exitOK)
	var rep fleet.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	checkFleet(t, rep, "redis", fleet.Lease)

	args = append(global, fleetArgs...) // the default strategy, all, in text
	r = runArgs(t, args...)
	r.check(t, args, exitOK)
	prefix := base + benchPrefix + "fleet-"
	for _, want := range []string{"fleet: strategy all, 4 instances on redis", "missing keys: ", "remove them with: cachectl clear --prefix '" + prefix} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	if !perExpiry.MatchString(r.stdout) {
		t.Errorf("no line of source calls per expiry in\n%s", r.stdout)
	}
}

func TestBenchFleetDynamoDB(t *testing.T) {
	client := testenv.DynamoDB(t)
	table := testenv.Name("cachectl-fleet")
	if _, err := dynamostore.CreateTable(context.Background(), client, dynamostore.Options{Table: table}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("CACHE_DYNAMODB_ENDPOINT", testenv.DynamoDBEndpoint())
	t.Setenv("CACHE_DYNAMODB_CONSISTENT_READ", "true")
	args := append([]string{"--table", table, "--json", "--strategy", "swr"}, fleetArgs...)
	r := runArgs(t, args...)
	r.check(t, args, exitOK)
	var rep fleet.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	checkFleet(t, rep, "dynamodb", fleet.SWR)
}

func TestBenchFleetUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--instances", "3"}, "a fleet needs a backend its instances share"},
		{[]string{"bench", "--instances", "0"}, "--instances 0"},
		{[]string{"bench", "--strategy", "swr"}, "--strategy needs --instances over 1"},
		{[]string{"bench", "--source-latency", "1s"}, "--source-latency needs --instances over 1"},
		{[]string{"bench", "--instances", "3", "--redis", "redis://127.0.0.1:1", "--read-ratio", "1"}, "--read-ratio does not apply with --instances"},
		{[]string{"bench", "--instances", "3", "--redis", "redis://127.0.0.1:1", "--strategy", "fast"}, `--strategy "fast"`},
		{[]string{"bench", "--instances", "3", "--hot-ttl", "0s"}, "--hot-ttl"},
	} {
		r := runArgs(t, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("cachectl %q: exit %d, stderr %q; want exit %d and %q", c.args, r.code, r.stderr, exitUsage, c.want)
		}
	}
}
