package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/emf"
)

// awsEnv gives the AWS SDK the region region, or none, and no shared files of the machine's.
func awsEnv(t *testing.T, region string) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_REGION", region)
}

// compact returns the JSON text s without its spaces, or fails the test when it is not JSON.
func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return b.String()
}

// TestDashboard: the body is emf.Dashboard's for the dimensions cacheenv gives the Writer,
// from the flags or from the environment, and the command reads no backend.
func TestDashboard(t *testing.T) {
	awsEnv(t, "eu-west-3")
	want := func(o emf.DashboardOptions) string {
		b, err := emf.Dashboard(o)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// A table with no endpoint, no credentials: nothing is asked of DynamoDB.
	args := []string{"dashboard", "--service", "geo", "--table", "geo-cache", "--prefix", "geo#",
		"--namespace", "shop", "--region", "eu-west-1", "--period", "5m"}
	r := runArgs(t, args...)
	r.check(t, args, exitOK)
	if got := compact(t, r.stdout); got != want(emf.DashboardOptions{
		Service: "geo", Namespace: "shop", Prefix: "geo#", Dimensions: map[string]string{"Backend": "dynamodb"},
		Region: "eu-west-1", Period: 5 * time.Minute,
	}) {
		t.Errorf("the body is not emf.Dashboard's for the flags:\n%s", r.stdout)
	}
	if want := "cachectl: dashboard: metrics in namespace shop with Backend=dynamodb, Prefix=geo#, Service=geo\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}

	t.Setenv(cacheenv.VarServiceName, "api")
	t.Setenv(cacheenv.VarStorageType, "redis")
	t.Setenv(cacheenv.VarRedisURL, "redis://127.0.0.1:1") // never dialled
	t.Setenv(cacheenv.VarKeyPrefix, "api:")
	t.Setenv(cacheenv.VarMetricsNamespace, "apps")
	r = runArgs(t, "dashboard")
	r.check(t, nil, exitOK)
	if got := compact(t, r.stdout); got != want(emf.DashboardOptions{
		Service: "api", Namespace: "apps", Prefix: "api:", Dimensions: map[string]string{"Backend": "redis"},
		Region: "eu-west-3", // the AWS SDK's
	}) {
		t.Errorf("the body is not emf.Dashboard's for the environment:\n%s", r.stdout)
	}
}

// TestAlarmsCommand: the alarms are emf.Alarms' for the flags, with their thresholds, as
// put-metric-alarm inputs or as a CloudFormation template.
func TestAlarmsCommand(t *testing.T) {
	args := []string{"alarms", "--service", "geo", "--backend", "dynamodb", "--min-hit-ratio", "0.95",
		"--hit-ratio-periods", "3", "--max-p99", "40ms", "--period", "5m", "--action", "arn:a", "--action", "arn:b"}
	r := runArgs(t, args...)
	r.check(t, args, exitOK)
	var alarms []emf.Alarm
	if err := json.Unmarshal([]byte(r.stdout), &alarms); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	wantAlarms, err := emf.Alarms(emf.AlarmOptions{
		Service: "geo", Dimensions: map[string]string{"Backend": "dynamodb"},
		MinHitRatio: 0.95, HitRatioPeriods: 3, MaxP99: 40 * time.Millisecond, Period: 5 * time.Minute,
		Actions: []string{"arn:a", "arn:b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(wantAlarms)
	if compact(t, r.stdout) != string(wantJSON) {
		t.Errorf("the alarms are not emf.Alarms' for the flags:\n%s", r.stdout)
	}
	thresholds := map[string]float64{}
	for _, a := range alarms {
		thresholds[a.AlarmName] = a.Threshold
		if !strings.Contains(r.stdout, `"Period": 300`) || len(a.AlarmActions) != 2 {
			t.Errorf("alarm %s: not every period 300s, or not both actions", a.AlarmName)
		}
	}
	if thresholds["geo-cache-hit-ratio-low"] != 95 || thresholds["geo-cache-read-p99-high"] != 40 || thresholds["geo-cache-write-p99-high"] != 40 {
		t.Errorf("thresholds %v, want 95%% and 40ms", thresholds)
	}

	r = runArgs(t, "alarms", "--service", "geo", "--format", "cloudformation")
	r.check(t, nil, exitOK)
	var tmpl struct {
		AWSTemplateFormatVersion string
		Resources                map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &tmpl); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if tmpl.AWSTemplateFormatVersion != "2010-09-09" || len(tmpl.Resources) != 5 {
		t.Fatalf("template %+v, want five resources", tmpl)
	}
	for id, res := range tmpl.Resources {
		if res.Type != "AWS::CloudWatch::Alarm" || !strings.HasPrefix(res.Properties["AlarmName"].(string), "geo-cache-") || res.Properties["LogicalID"] != nil {
			t.Errorf("resource %s = %+v", id, res)
		}
	}
}

func TestDashboardAndAlarmsRefuseBadUsage(t *testing.T) {
	awsEnv(t, "")
	for _, args := range [][]string{
		{"dashboard"}, // no service
		{"alarms"},
		{"dashboard", "--service", "geo"}, // no region
		{"dashboard", "--service", "geo", "--region", "eu-west-1", "extra"},
		{"dashboard", "--service", "geo", "--region", "eu-west-1", "--period", "90s"},
		{"alarms", "--service", "geo", "--period", "0"},
		{"alarms", "--service", "geo", "--min-hit-ratio", "80"},
		{"alarms", "--service", "geo", "--min-hit-ratio", "0"},
		{"alarms", "--service", "geo", "--min-hit-ratio", "ninety"},
		{"alarms", "--service", "geo", "--hit-ratio-periods", "0"},
		{"alarms", "--service", "geo", "--max-p99", "-1s"},
		{"alarms", "--service", "geo", "--format", "yaml"},
		{"alarms", "--service", "geo", "--backend", "postgres"},
		{"alarms", "--service", "geo", "--hit-ratio-periods", "2000"},                        // over a day of minutes
		{"dashboard", "--service", "geo", "--region", "eu-west-1", "--min-hit-ratio", "0.9"}, // alarms' flag
	} {
		r := runArgs(t, args...)
		r.check(t, args, exitUsage)
		if r.stdout != "" || !strings.Contains(r.stderr, "cachectl: "+args[0]+": ") {
			t.Errorf("cachectl %q: stdout %q, stderr %q; want nothing printed but the error", args, r.stdout, r.stderr)
		}
	}
}

func TestDashboardAndAlarmsHelp(t *testing.T) {
	for cmd, flags := range map[string][]string{
		"dashboard": {"--service NAME", "--namespace NS", "--region REGION", "--period D", "put-dashboard"},
		"alarms":    {"--service NAME", "--min-hit-ratio R", "--hit-ratio-periods N", "--max-p99 D", "--action ARN", "--format F", "put-metric-alarm"},
	} {
		r := runArgs(t, "help", cmd)
		r.check(t, nil, exitOK)
		for _, f := range flags {
			if !strings.Contains(r.stdout, f) {
				t.Errorf("help %s has no %q:\n%s", cmd, f, r.stdout)
			}
		}
	}
}
