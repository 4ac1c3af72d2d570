package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/emf"
)

const dashboardDetails = `Prints the body of a CloudWatch dashboard of one service's cache, built from the metrics
the emf package writes (CACHE_METRICS=emf): the hit ratio, reads, writes and loads, errors,
read and write latency, the breaker and the fallback, and the health checks. Put it with
  cachectl dashboard --service NAME > dashboard.json
  aws cloudwatch put-dashboard --dashboard-name NAME-cache --dashboard-body file://dashboard.json

CloudWatch tells metrics apart by their whole dimension set, which the service's own CACHE_*
settings give: Service (CACHE_SERVICE_NAME, else the Lambda function's name), Backend
(CACHE_STORAGE_TYPE, or the backend --table or --redis selects) and Prefix
(CACHE_KEY_PREFIX), in the namespace CACHE_METRICS_NAMESPACE. Run it with the service's
environment, or give --service, --backend, --prefix and --namespace; a graph of other values
stays empty. It reads no backend. stderr names the dimensions used.`

const alarmsDetails = `Prints CloudWatch alarm definitions for one service's cache, on the metrics the emf package
writes, with the dimensions "cachectl help dashboard" describes:
  hit-ratio-low   the hit ratio under --min-hit-ratio in --hit-ratio-periods periods in a row
  breaker-open    the circuit breaker in front of the backend was open
  health-failing  health checks failed in 2 of the last 5 periods
  read-p99-high   the reads' 99th percentile over --max-p99 in 3 of the last 5 periods
  write-p99-high  the writes' likewise
A period without data does not breach. Each alarm is named SERVICE-cache-CHECK, and --action
ARN (repeatable: an SNS topic, say) is notified when it fires and when it is OK again.

--format json (the default) prints a JSON array of alarms, each the input of
"aws cloudwatch put-metric-alarm --cli-input-json":
  cachectl alarms --service NAME > alarms.json
  jq -c '.[]' alarms.json | while read -r a; do aws cloudwatch put-metric-alarm --cli-input-json "$a"; done
--format cloudformation prints a CloudFormation template of the alarms as its Resources:
  cachectl alarms --service NAME --format cloudformation > alarms.cfn.json
  aws cloudformation deploy --stack-name NAME-cache-alarms --template-file alarms.cfn.json`

// cloudwatchOptions are the flags of dashboard and alarms.
type cloudwatchOptions struct {
	region          string
	period          time.Duration
	minHitRatio     float64
	hitRatioPeriods int
	maxP99          time.Duration
	actions         stringList
	format          string
}

// sourceFlags defines the flags that name the metrics, which dashboard and alarms share, with
// the defaults the environment gives.
func sourceFlags(fs *flag.FlagSet, o *options, cfg *cacheenv.Config) {
	if cfg.MetricsNamespace == "" {
		cfg.MetricsNamespace = emf.DefaultNamespace
	}
	o.cloudwatch.period = time.Minute
	fs.StringVar(&cfg.ServiceName, "service", cfg.ServiceName,
		"the metrics' Service dimension `NAME`: required; from $CACHE_SERVICE_NAME, else $AWS_LAMBDA_FUNCTION_NAME")
	fs.StringVar(&cfg.MetricsNamespace, "namespace", cfg.MetricsNamespace,
		"the metrics' CloudWatch namespace `NS`; from $CACHE_METRICS_NAMESPACE")
	fs.Var(minutesValue{&o.cloudwatch.period}, "period", "each data point covers `D`: a whole number of minutes")
}

func dashboardFlags(fs *flag.FlagSet, o *options, cfg *cacheenv.Config) {
	sourceFlags(fs, o, cfg)
	fs.StringVar(&o.cloudwatch.region, "region", "",
		"the metrics' AWS `REGION`, which every graph names (default: the AWS SDK's, from $AWS_REGION or the profile)")
}

func alarmsFlags(fs *flag.FlagSet, o *options, cfg *cacheenv.Config) {
	sourceFlags(fs, o, cfg)
	c := &o.cloudwatch
	c.minHitRatio, c.hitRatioPeriods, c.maxP99, c.format = emf.DefaultMinHitRatio, emf.DefaultHitRatioPeriods, emf.DefaultMaxP99, "json"
	fs.Float64Var(&c.minHitRatio, "min-hit-ratio", c.minHitRatio, "hit-ratio-low: the hit ratio `R`, over 0 and at most 1, under which a period breaches")
	fs.IntVar(&c.hitRatioPeriods, "hit-ratio-periods", c.hitRatioPeriods, "hit-ratio-low: fire after `N` breaching periods in a row")
	fs.Var(positiveDuration{&c.maxP99}, "max-p99", "read-p99-high, write-p99-high: the bound `D` of the 99th percentile")
	fs.Var(&c.actions, "action", "notify `ARN` when an alarm fires and when it is OK again; repeatable")
	fs.StringVar(&c.format, "format", c.format, "print `F`: json (put-metric-alarm inputs) or cloudformation (a template)")
}

// stringList is a flag.Value that collects each use of a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// minutesValue is a flag.Value for a period of standard-resolution metrics: whole minutes.
type minutesValue struct{ d *time.Duration }

func (v minutesValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v minutesValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d%time.Minute != 0 {
		return fmt.Errorf("want a whole number of minutes, such as 1m or 5m")
	}
	*v.d = d
	return nil
}

// metricsSource returns the namespace, prefix and dimensions of the service's metrics, as
// cacheenv gives its Writer, and says them on stderr: a dashboard or an alarm of other
// values watches nothing.
func (inv *invocation) metricsSource() (namespace, prefix string, dims map[string]string, err error) {
	cfg := inv.cfg
	if cfg.ServiceName == "" {
		return "", "", nil, usagef("the service is required: --service NAME, or CACHE_SERVICE_NAME")
	}
	switch b := cfg.Backend(); b {
	case cacheenv.StorageMemory, cacheenv.StorageDynamoDB, cacheenv.StorageRedis:
	default:
		return "", "", nil, usagef("unknown backend %q: memory, dynamodb or redis", b)
	}
	dims = cfg.MetricsDimensions()
	all := maps.Clone(dims)
	all["Prefix"] = cfg.KeyPrefix
	var said []string
	for _, k := range slices.Sorted(maps.Keys(all)) {
		said = append(said, k+"="+all[k])
	}
	fmt.Fprintf(inv.stderr, "cachectl: %s: metrics in namespace %s with %s\n", inv.name, cfg.MetricsNamespace, strings.Join(said, ", "))
	return cfg.MetricsNamespace, cfg.KeyPrefix, dims, nil
}

func runDashboard(ctx context.Context, inv *invocation) error {
	namespace, prefix, dims, err := inv.metricsSource()
	if err != nil {
		return err
	}
	region := inv.opts.cloudwatch.region
	if region == "" {
		aws, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return usagef("reading the AWS configuration for its region: %v; give --region", err)
		}
		if region = aws.Region; region == "" {
			return usagef("no AWS region: give --region, or set AWS_REGION")
		}
	}
	body, err := emf.Dashboard(emf.DashboardOptions{
		Service: inv.cfg.ServiceName, Namespace: namespace, Prefix: prefix, Dimensions: dims,
		Region: region, Period: inv.opts.cloudwatch.period,
	})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = inv.stdout.Write(out.Bytes())
	return err
}

func runAlarms(_ context.Context, inv *invocation) error {
	o := inv.opts.cloudwatch
	if o.format != "json" && o.format != "cloudformation" {
		return usagef("unknown --format %q: json or cloudformation", o.format)
	}
	if !(o.minHitRatio > 0 && o.minHitRatio <= 1) {
		return usagef("--min-hit-ratio %v is not over 0 and at most 1: 0.8 means 80%%", o.minHitRatio)
	}
	if o.hitRatioPeriods < 1 {
		return usagef("--hit-ratio-periods %d is not positive", o.hitRatioPeriods)
	}
	namespace, prefix, dims, err := inv.metricsSource()
	if err != nil {
		return err
	}
	alarms, err := emf.Alarms(emf.AlarmOptions{
		Service: inv.cfg.ServiceName, Namespace: namespace, Prefix: prefix, Dimensions: dims,
		MinHitRatio: o.minHitRatio, HitRatioPeriods: o.hitRatioPeriods, MaxP99: o.maxP99,
		Period: o.period, Actions: o.actions,
	})
	if err != nil {
		return err
	}
	if o.format == "json" {
		return inv.printJSON(alarms)
	}
	type resource struct {
		Type       string
		Properties emf.Alarm
	}
	resources := map[string]resource{}
	for _, a := range alarms {
		resources[a.LogicalID] = resource{"AWS::CloudWatch::Alarm", a}
	}
	return inv.printJSON(struct {
		AWSTemplateFormatVersion string
		Description              string
		Resources                map[string]resource
	}{"2010-09-09", fmt.Sprintf("The alarms of %s's cache, from cachectl alarms", inv.cfg.ServiceName), resources})
}
