package emf_test

import (
	"encoding/json"
	"fmt"

	"github.com/cachekit/cachekit/emf"
)

// The alarms of a service whose Writer cacheenv builds with CACHE_STORAGE_TYPE=dynamodb and
// CACHE_SERVICE_NAME=geo: the same namespace, prefix and dimensions as its lines.
func ExampleAlarms() {
	alarms, err := emf.Alarms(emf.AlarmOptions{
		Service:     "geo",
		Dimensions:  map[string]string{"Backend": "dynamodb"},
		MinHitRatio: 0.9,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range alarms {
		watched := a.MetricName
		for _, q := range a.Metrics {
			if q.ReturnData {
				watched = q.Expression
			}
		}
		fmt.Printf("%s: %s %s %v\n", a.AlarmName, watched, a.ComparisonOperator, a.Threshold)
	}
	// Output:
	// geo-cache-hit-ratio-low: 100*hits/(hits+misses) LessThanThreshold 90
	// geo-cache-breaker-open: BreakerOpen GreaterThanOrEqualToThreshold 1
	// geo-cache-health-failing: HealthCheckFailures GreaterThanOrEqualToThreshold 1
	// geo-cache-read-p99-high: ReadLatencyP99 GreaterThanThreshold 250
	// geo-cache-write-p99-high: WriteLatencyP99 GreaterThanThreshold 250
}

// A dashboard body for "aws cloudwatch put-dashboard --dashboard-body", or a CloudFormation
// AWS::CloudWatch::Dashboard's DashboardBody.
func ExampleDashboard() {
	body, err := emf.Dashboard(emf.DashboardOptions{
		Service:    "geo",
		Dimensions: map[string]string{"Backend": "dynamodb"},
		Region:     "eu-west-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var d struct {
		Widgets []struct{ Properties struct{ Title string } }
	}
	_ = json.Unmarshal(body, &d)
	for _, w := range d.Widgets[1:] {
		fmt.Println(w.Properties.Title)
	}
	// Output:
	// Hit ratio (%)
	// Reads
	// Read latency
	// Write latency
	// Writes and loads
	// Errors
	// Breaker, fallback and health (1 or 0)
	// Health checks
}

// The metrics a Writer emits, one list for the lines, the dashboard and the alarms.
func ExampleMetrics() {
	for _, m := range emf.Metrics()[:3] {
		fmt.Println(m.Name, m.Unit, m.Statistic)
	}
	// Output:
	// Hits Count Sum
	// Misses Count Sum
	// Skipped Count Sum
}
