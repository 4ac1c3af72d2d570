package emf

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/cachekit/cachekit/backend"
)

// The defaults of AlarmOptions.
const (
	// DefaultMinHitRatio is the default of AlarmOptions.MinHitRatio: 80% of reads hit.
	DefaultMinHitRatio = 0.8
	// DefaultHitRatioPeriods is the default of AlarmOptions.HitRatioPeriods.
	DefaultHitRatioPeriods = 5
	// DefaultMaxP99 is the default of AlarmOptions.MaxP99: monitor's bound of a degraded
	// backend, and half the breaker's default time limit of a call.
	DefaultMaxP99 = 250 * time.Millisecond
)

// AlarmOptions configures Alarms. The zero value of every field but Service means its
// documented default. Namespace, Prefix and Dimensions must be those of the service's Writer:
// an alarm watches one metric by its whole dimension set, and an alarm that names a set the
// Writer does not write never fires.
type AlarmOptions struct {
	// Service is the value of the metrics' Service dimension: required. The alarms' names
	// start with it.
	Service string
	// Namespace is the Writer's Options.Namespace. Zero means DefaultNamespace.
	Namespace string
	// Prefix is the Writer's Options.Prefix, the value of the Prefix dimension. Zero means
	// cachekit.DefaultPrefix, as for the Writer.
	Prefix string
	// Dimensions are the Writer's Options.Dimensions, Service aside: cacheenv gives
	// {"Backend": NAME}. A Service key, if any, must equal Service.
	Dimensions map[string]string

	// MinHitRatio is the hit ratio, a fraction in (0, 1], under which the hit ratio alarm
	// counts a period as breaching. Zero means DefaultMinHitRatio.
	MinHitRatio float64
	// HitRatioPeriods is how many periods in a row the hit ratio must be under MinHitRatio
	// for its alarm to fire. Zero means DefaultHitRatioPeriods.
	HitRatioPeriods int
	// MaxP99 is the bound of the read and the write latency's 99th percentile. Zero means
	// DefaultMaxP99.
	MaxP99 time.Duration
	// Period is the time each evaluation of an alarm covers: a whole number of minutes. Zero
	// means one minute.
	Period time.Duration
	// Actions are the ARNs (an SNS topic's, say) that the alarms notify when they fire and
	// when they return to OK. Zero means none: the alarms change state, and tell no one.
	Actions []string
}

// Alarm is a CloudWatch metric alarm. Its JSON is the Properties of a CloudFormation
// AWS::CloudWatch::Alarm, and the input of "aws cloudwatch put-metric-alarm --cli-input-json"
// (the PutMetricAlarm API), which has the same fields. An alarm on one metric sets MetricName
// and the fields beside it; an alarm on metric math sets Metrics instead.
//
// Alarms name their metrics with every dimension: an alarm cannot use a SEARCH expression.
type Alarm struct {
	// LogicalID names the alarm among the Resources of a CloudFormation template: letters
	// and digits, unique among Alarms' alarms. It is not a property of the alarm.
	LogicalID string `json:"-"`

	AlarmName        string   `json:"AlarmName"`
	AlarmDescription string   `json:"AlarmDescription"`
	AlarmActions     []string `json:"AlarmActions,omitempty"`
	OKActions        []string `json:"OKActions,omitempty"`

	Namespace  string      `json:"Namespace,omitempty"`
	MetricName string      `json:"MetricName,omitempty"`
	Dimensions []Dimension `json:"Dimensions,omitempty"`
	Statistic  string      `json:"Statistic,omitempty"`
	// Period is in seconds.
	Period int `json:"Period,omitempty"`

	// Metrics are the data and the metric math of an alarm on an expression: the one whose
	// ReturnData is true is the value the alarm watches.
	Metrics []MetricDataQuery `json:"Metrics,omitempty"`

	EvaluationPeriods  int     `json:"EvaluationPeriods"`
	DatapointsToAlarm  int     `json:"DatapointsToAlarm"`
	Threshold          float64 `json:"Threshold"`
	ComparisonOperator string  `json:"ComparisonOperator"`
	TreatMissingData   string  `json:"TreatMissingData"`
}

// MetricDataQuery is one element of Alarm.Metrics: a metric's data, or a metric math
// expression over the others by their ID.
type MetricDataQuery struct {
	ID         string      `json:"Id"`
	Expression string      `json:"Expression,omitempty"`
	Label      string      `json:"Label,omitempty"`
	MetricStat *MetricStat `json:"MetricStat,omitempty"`
	ReturnData bool        `json:"ReturnData"`
}

// MetricStat is a metric's statistic over a period, in seconds.
type MetricStat struct {
	Metric MetricID `json:"Metric"`
	Period int      `json:"Period"`
	Stat   string   `json:"Stat"`
}

// Alarms returns the CloudWatch alarms of one service's caches:
//
//   - hit ratio low: the hit ratio (metric math over Hits and Misses) under MinHitRatio in
//     HitRatioPeriods periods in a row;
//   - breaker open: BreakerOpen was 1 in a period;
//   - health failing: HealthCheckFailures in 2 of the last 5 periods;
//   - read and write p99 high: ReadLatencyP99, and WriteLatencyP99, over MaxP99 in 3 of the
//     last 5 periods.
//
// A period without data (no traffic, no check, no breaker) does not breach: each alarm then
// stays as it is. docs/operations.md says what each means and what to do.
func Alarms(o AlarmOptions) ([]Alarm, error) {
	const what = "AlarmOptions"
	s, err := newSource(what, o.Service, o.Namespace, o.Prefix, o.Dimensions)
	if err != nil {
		return nil, err
	}
	period, err := periodSeconds(what, o.Period)
	if err != nil {
		return nil, err
	}
	minRatio := cmp.Or(o.MinHitRatio, DefaultMinHitRatio)
	if !(minRatio > 0 && minRatio <= 1) { // NaN too
		return nil, fmt.Errorf("emf: %s.MinHitRatio %v is not a fraction in (0, 1]: 0.8 means 80%%: %w", what, o.MinHitRatio, backend.ErrConfig)
	}
	n := cmp.Or(o.HitRatioPeriods, DefaultHitRatioPeriods)
	if n < 0 {
		return nil, fmt.Errorf("emf: %s.HitRatioPeriods %d is negative: %w", what, o.HitRatioPeriods, backend.ErrConfig)
	}
	if span := time.Duration(max(n, 5)*period) * time.Second; span > 24*time.Hour {
		// CloudWatch evaluates an alarm over a day at most.
		return nil, fmt.Errorf("emf: %s: an alarm would span %v of periods, over CloudWatch's day: %w", what, span, backend.ErrConfig)
	}
	maxP99 := cmp.Or(o.MaxP99, DefaultMaxP99)
	if maxP99 < 0 {
		return nil, fmt.Errorf("emf: %s.MaxP99 %v is negative: %w", what, o.MaxP99, backend.ErrConfig)
	}

	every := minutes(period)
	a := alarms{source: s, period: period, actions: o.Actions}
	pct := math.Round(100*minRatio*1e6) / 1e6 // 80, not 80.00000000000001
	ratio := a.alarm("CacheHitRatioLowAlarm", "hit-ratio-low", fmt.Sprintf(
		"The hit ratio of %s's cache (hits over hits and misses) was under %s%% in %d periods of %s in a row. "+
			"A falling hit ratio is the early sign of a TTL too short for the traffic, a cache too small for its keys, "+
			"or entries cleared or keys renamed by a deploy. "+
			"Compare Misses and Sets on the dashboard; see cachekit's docs/operations.md, Alarms.",
		s.service, fmt.Sprint(pct), n, every))
	ratio.Metrics = []MetricDataQuery{
		{ID: "hitRatio", Expression: hitRatioExpression(), Label: "hit ratio (%)", ReturnData: true},
		a.query(&hits),
		a.query(&misses),
	}
	ratio.EvaluationPeriods, ratio.DatapointsToAlarm = n, n
	ratio.Threshold, ratio.ComparisonOperator = pct, "LessThanThreshold"

	breaker := a.on(&breakerOpen, "CacheBreakerOpenAlarm", "breaker-open", fmt.Sprintf(
		"The circuit breaker in front of %s's cache backend was open during the last period of %s: the backend failed calls in a row, "+
			"so reads are answered as misses (Skipped) and go to the source of truth, or to the fallback (OnFallback), and writes are skipped. "+
			"Look at the backend: Errors and HealthCheckFailures here, and the backend's own metrics (DynamoDB throttling, Redis reachability). "+
			"The breaker closes by itself once a probe call succeeds; see cachekit's docs/operations.md, Alarms.",
		s.service, every))
	breaker.EvaluationPeriods, breaker.DatapointsToAlarm = 1, 1
	breaker.Threshold, breaker.ComparisonOperator = 1, "GreaterThanOrEqualToThreshold"

	health := a.on(&healthCheckFailures, "CacheHealthFailingAlarm", "health-failing", fmt.Sprintf(
		"Health checks of %s's cache backend (write, read back and delete a probe key) failed in 2 of the last 5 periods of %s. "+
			"Check that the backend answers from where the service runs: network and security groups, credentials and the "+
			"permissions on the probe keys (PREFIX + health:), the table or the Redis server itself. See cachekit's docs/operations.md, Alarms.",
		s.service, every))
	health.EvaluationPeriods, health.DatapointsToAlarm = 5, 2
	health.Threshold, health.ComparisonOperator = 1, "GreaterThanOrEqualToThreshold"

	slow := func(d *definition, id, name, calls string) Alarm {
		al := a.on(d, id, name, fmt.Sprintf(
			"The 99th percentile of %s's cache %s was over %v in 3 of the last 5 periods of %s "+
				"(the slowest line's p99 in each period: an upper bound of the p99 of all calls). "+
				"A slow cache slows every request, and past the breaker's time limit calls fail. Look at the backend's latency and "+
				"throttling, its load and its distance from the service; see cachekit's docs/operations.md, Alarms.",
			s.service, calls, maxP99, every))
		al.EvaluationPeriods, al.DatapointsToAlarm = 5, 3
		al.Threshold, al.ComparisonOperator = float64(maxP99)/1e6, "GreaterThanThreshold"
		return al
	}
	return []Alarm{
		ratio, breaker, health,
		slow(&readP99, "CacheReadLatencyHighAlarm", "read-p99-high", "reads"),
		slow(&writeP99, "CacheWriteLatencyHighAlarm", "write-p99-high", "writes"),
	}, nil
}

// alarms builds the alarms of one source.
type alarms struct {
	source
	period  int
	actions []string
}

// alarm returns an alarm with its names, description and actions: the rest is the caller's.
func (a alarms) alarm(logicalID, name, description string) Alarm {
	return Alarm{
		LogicalID:        logicalID,
		AlarmName:        a.service + "-cache-" + name,
		AlarmDescription: description,
		AlarmActions:     a.actions,
		OKActions:        a.actions,
		TreatMissingData: "notBreaching",
	}
}

// on returns an alarm on the metric d, with its Statistic.
func (a alarms) on(d *definition, logicalID, name, description string) Alarm {
	al := a.alarm(logicalID, name, description)
	al.Namespace, al.MetricName, al.Dimensions = a.namespace, d.Name, a.dims
	al.Statistic, al.Period = d.Statistic, a.period
	return al
}

// query returns the data of d, with its Statistic, for a metric math expression.
func (a alarms) query(d *definition) MetricDataQuery {
	return MetricDataQuery{
		ID:         queryID(d),
		MetricStat: &MetricStat{Metric: a.id(d), Period: a.period, Stat: d.Statistic},
	}
}

// minutes says a period of seconds for people: "1 minute", "5 minutes".
func minutes(seconds int) string {
	if seconds == 60 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", seconds/60)
}
