package emf_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/emf"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/monitor"
	"github.com/cachekit/cachekit/resilient"
)

// series is one metric as CloudWatch tells it apart: namespace, name and the whole dimension
// set, written "namespace name dim=value,dim=value" with the dimensions sorted.
type series string

func seriesOf(namespace, name string, dims map[string]string) series {
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		pairs = append(pairs, k+"="+dims[k])
	}
	return series(namespace + " " + name + " " + strings.Join(pairs, ","))
}

// emitted returns the series that EMF lines give CloudWatch, and the units of their metrics.
func emitted(t *testing.T, text string) (map[series]bool, map[string]string) {
	t.Helper()
	all, units := map[series]bool{}, map[string]string{}
	for _, l := range lines(text) {
		m := emfLine(t, l)
		for _, d := range m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
			d := d.(map[string]any)
			for _, set := range d["Dimensions"].([]any) {
				dims := map[string]string{}
				for _, n := range set.([]any) {
					dims[n.(string)] = m[n.(string)].(string)
				}
				for _, mt := range d["Metrics"].([]any) {
					def := mt.(map[string]any)
					name := def["Name"].(string)
					all[seriesOf(d["Namespace"].(string), name, dims)] = true
					units[name] = def["Unit"].(string)
				}
			}
		}
	}
	return all, units
}

// TestWriterEmitsEveryMetricItLists: a line that has everything to report carries each
// metric of Metrics, with its unit, and no other.
func TestWriterEmitsEveryMetricItLists(t *testing.T) {
	var out strings.Builder
	w := emf.New(emf.Options{Writer: &out})
	w.RecordHits(3)
	w.RecordMisses(1)
	w.RecordRead(time.Millisecond)
	w.RecordWrite(2 * time.Millisecond)
	w.RecordStatus(backend.Status{Breaker: "open", Active: "fallback"})
	w.RecordHealth(cachekit.HealthResult{Status: cachekit.Unhealthy, TotalNS: int64(3 * time.Millisecond)})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_, units := emitted(t, out.String())
	listed := map[string]string{}
	for _, m := range emf.Metrics() {
		listed[m.Name] = m.Unit
	}
	if !maps.Equal(units, listed) {
		t.Errorf("the line's metrics and units:\n%v\nMetrics:\n%v", units, listed)
	}
}

func TestMetricsAreDescribed(t *testing.T) {
	stats := map[string]bool{"Sum": true, "Average": true, "Maximum": true, "Minimum": true}
	kinds := map[emf.Kind]bool{emf.KindCount: true, emf.KindRatio: true, emf.KindLatency: true, emf.KindGauge: true}
	seen := map[string]bool{}
	for _, m := range emf.Metrics() {
		if seen[m.Name] || m.Name == "" || m.Description == "" || !validUnits[m.Unit] || !stats[m.Statistic] || !kinds[m.Kind] {
			t.Errorf("%+v: a name used once, a description, a CloudWatch unit, a statistic and a kind, please", m)
		}
		seen[m.Name] = true
	}
}

// reference is a metric that a dashboard or an alarm asks CloudWatch for.
type reference struct {
	series series
	stat   string
}

// dashboardReferences returns the metrics the graphs of a dashboard body draw, checking that
// each expression uses only the IDs of its graph.
func dashboardReferences(t *testing.T, body []byte) []reference {
	t.Helper()
	var d struct {
		Widgets []struct {
			Type       string
			Properties struct {
				Region  string
				Period  int
				Metrics [][]any
			}
		}
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("the body is not JSON: %v", err)
	}
	var refs []reference
	for _, w := range d.Widgets {
		if w.Type != "metric" {
			continue
		}
		ids := map[string]bool{}
		var expressions []string
		for _, line := range w.Properties.Metrics {
			opts, _ := line[len(line)-1].(map[string]any)
			if id, ok := opts["id"].(string); ok {
				ids[id] = true
			}
			if e, ok := opts["expression"].(string); ok {
				expressions = append(expressions, e)
				continue
			}
			if len(line)%2 != 1 {
				t.Fatalf("a metric line is not [namespace, name, dimension, value..., options]: %v", line)
			}
			dims := map[string]string{}
			for i := 2; i+1 < len(line); i += 2 {
				dims[line[i].(string)] = line[i+1].(string)
			}
			stat, _ := opts["stat"].(string)
			refs = append(refs, reference{seriesOf(line[0].(string), line[1].(string), dims), stat})
		}
		for _, e := range expressions {
			for _, id := range regexp.MustCompile(`[a-z][A-Za-z0-9_]*`).FindAllString(e, -1) {
				if !ids[id] {
					t.Errorf("expression %q uses %s, which its graph does not define", e, id)
				}
			}
		}
	}
	return refs
}

// alarmReferences returns the metrics the alarms watch.
func alarmReferences(t *testing.T, alarms []emf.Alarm) []reference {
	t.Helper()
	dims := func(ds []emf.Dimension) map[string]string {
		m := map[string]string{}
		for _, d := range ds {
			m[d.Name] = d.Value
		}
		return m
	}
	var refs []reference
	for _, a := range alarms {
		if a.MetricName != "" {
			refs = append(refs, reference{seriesOf(a.Namespace, a.MetricName, dims(a.Dimensions)), a.Statistic})
		}
		for _, q := range a.Metrics {
			if s := q.MetricStat; s != nil {
				refs = append(refs, reference{seriesOf(s.Metric.Namespace, s.Metric.MetricName, dims(s.Metric.Dimensions)), s.Stat})
			}
		}
		if (a.MetricName != "") == (len(a.Metrics) > 0) {
			t.Errorf("alarm %s: one metric or metric math, please", a.AlarmName)
		}
	}
	return refs
}

// TestDashboardAndAlarmsAskForWhatACacheWrites runs a Cache behind a breaker, with a
// fallback and health checks, whose Writer writes to a buffer, and checks that every metric
// the dashboard and the alarms ask for, with their options the Writer's, is in its lines
// with the very dimension set, with the statistic Metrics gives it.
func TestDashboardAndAlarmsAskForWhatACacheWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		primary, _ := memstore.New(memstore.Options{})
		spare, _ := memstore.New(memstore.Options{})
		breaker, err := resilient.New(primary, resilient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		both, err := resilient.NewFallback(breaker, spare, resilient.FallbackOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		const namespace, prefix = "shop", "geo#"
		dims := map[string]string{"Backend": "memory", "Service": "geo"}
		c, err := cachekit.New(both, cachekit.Options{
			Prefix: prefix,
			Health: monitor.NewChecker(monitor.Options{}),
			Metrics: emf.New(emf.Options{
				Namespace: namespace, Prefix: prefix, Dimensions: dims, Writer: &out,
				Clock: cachetest.NewClock(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)), // not the bubble's 2000
			}),
			MetricsInterval: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		v := cachekit.Typed[string](c, "", time.Hour)
		time.Sleep(cachekit.DefaultHealthInterval)
		_ = v.Set(ctx, "a", "1", 0) // runs the due health check
		_, _ = v.Get(ctx, "a")
		_, _ = v.Get(ctx, "b")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		written, _ := emitted(t, out.String())

		body, err := emf.Dashboard(emf.DashboardOptions{Service: "geo", Namespace: namespace, Prefix: prefix, Dimensions: map[string]string{"Backend": "memory"}})
		if err != nil {
			t.Fatal(err)
		}
		alarms, err := emf.Alarms(emf.AlarmOptions{Service: "geo", Namespace: namespace, Prefix: prefix, Dimensions: dims})
		if err != nil {
			t.Fatal(err)
		}
		statistics := map[string]string{}
		for _, m := range emf.Metrics() {
			statistics[m.Name] = m.Statistic
		}
		drawn, missing := map[string]bool{}, false
		for _, r := range append(dashboardReferences(t, body), alarmReferences(t, alarms)...) {
			if !written[r.series] {
				t.Errorf("%s is asked for, and the Writer wrote no such series", r.series)
				missing = true
			}
			name := strings.Fields(string(r.series))[1]
			if r.stat != statistics[name] {
				t.Errorf("%s asked for with %q, want its Statistic %q", r.series, r.stat, statistics[name])
			}
			drawn[name] = true
		}
		if missing {
			t.Logf("the Writer wrote:\n%v", slices.Sorted(maps.Keys(written)))
		}
		for _, m := range emf.Metrics() {
			// HitRatio averages the lines' ratios: the graph computes it from Hits and Misses.
			if !drawn[m.Name] && m.Kind != emf.KindRatio {
				t.Errorf("%s is on no graph of the dashboard", m.Name)
			}
		}
	})
}

func TestDashboardBody(t *testing.T) {
	body, err := emf.Dashboard(emf.DashboardOptions{Service: "geo", Region: "${AWS::Region}", Period: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(body), "${"); n != strings.Count(string(body), "${AWS::Region}") {
		t.Errorf("the body has a ${ of its own, which Fn::Sub would take for a variable")
	}
	var d struct {
		Widgets []struct {
			Type                string
			X, Y, Width, Height int
			Properties          map[string]any
		}
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Widgets) == 0 || len(d.Widgets) > 500 {
		t.Fatalf("%d widgets", len(d.Widgets))
	}
	taken := map[[2]int]bool{} // the grid's cells
	for _, w := range d.Widgets {
		if w.X < 0 || w.Width < 1 || w.X+w.Width > 24 || w.Height < 1 {
			t.Errorf("widget %+v is off the 24-column grid", w)
		}
		for x := w.X; x < w.X+w.Width; x++ {
			for y := w.Y; y < w.Y+w.Height; y++ {
				if taken[[2]int{x, y}] {
					t.Errorf("widget %+v overlaps another", w)
				}
				taken[[2]int{x, y}] = true
			}
		}
		if w.Type == "metric" && (w.Properties["region"] != "${AWS::Region}" || w.Properties["period"] != 300.0) {
			t.Errorf("graph %v: region %v and period %v, want the options'", w.Properties["title"], w.Properties["region"], w.Properties["period"])
		}
	}

	body, _ = emf.Dashboard(emf.DashboardOptions{Service: "geo"})
	if !strings.Contains(string(body), `"region":"`+emf.DefaultRegion+`"`) || !strings.Contains(string(body), `"period":60`) {
		t.Errorf("the defaults are not DefaultRegion and one minute: %s", body)
	}
}

// TestAlarms checks each alarm's condition, with the options' thresholds and with the
// defaults.
func TestAlarms(t *testing.T) {
	for _, tc := range []struct {
		name         string
		opts         emf.AlarmOptions
		ratio, p99   float64
		n, period    int
		actions      []string
		wantNamePart string
	}{
		{"defaults", emf.AlarmOptions{Service: "geo"}, 80, 250, 5, 60, nil, "geo-cache-"},
		{"given", emf.AlarmOptions{
			Service: "geo", MinHitRatio: 0.95, HitRatioPeriods: 3, MaxP99: 40 * time.Millisecond,
			Period: 5 * time.Minute, Actions: []string{"arn:aws:sns:eu-west-1:123456789012:ops"},
		}, 95, 40, 3, 300, []string{"arn:aws:sns:eu-west-1:123456789012:ops"}, "geo-cache-"},
		{"sub-millisecond", emf.AlarmOptions{Service: "api", MaxP99: 500 * time.Microsecond, MinHitRatio: 1}, 100, 0.5, 5, 60, nil, "api-cache-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alarms, err := emf.Alarms(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]emf.Alarm{}
			for _, a := range alarms {
				if !regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`).MatchString(a.LogicalID) || byID[a.LogicalID].LogicalID != "" {
					t.Errorf("logical ID %q: letters and digits, unique, please", a.LogicalID)
				}
				byID[a.LogicalID] = a
				if !strings.HasPrefix(a.AlarmName, tc.wantNamePart) || len(a.AlarmName) > 255 || len(a.AlarmDescription) > 1024 {
					t.Errorf("alarm %q: a name starting %q of at most 255 bytes, a description of at most 1024 (%d)", a.AlarmName, tc.wantNamePart, len(a.AlarmDescription))
				}
				if !slices.Equal(a.AlarmActions, tc.actions) || !slices.Equal(a.OKActions, tc.actions) || a.TreatMissingData != "notBreaching" {
					t.Errorf("alarm %s: actions %v and %v, missing data %q", a.AlarmName, a.AlarmActions, a.OKActions, a.TreatMissingData)
				}
				if a.MetricName != "" && a.Period != tc.period {
					t.Errorf("alarm %s: period %d, want %d", a.AlarmName, a.Period, tc.period)
				}
				for _, q := range a.Metrics {
					if q.MetricStat != nil && q.MetricStat.Period != tc.period {
						t.Errorf("alarm %s: %s's period %d, want %d", a.AlarmName, q.ID, q.MetricStat.Period, tc.period)
					}
				}
			}
			type condition struct {
				metric    string
				threshold float64
				op        string
				of, in    int // DatapointsToAlarm of EvaluationPeriods
			}
			watched := func(a emf.Alarm) string {
				for _, q := range a.Metrics {
					if q.ReturnData {
						return q.Expression
					}
				}
				return a.MetricName
			}
			want := map[string]condition{
				"CacheHitRatioLowAlarm":      {"100*hits/(hits+misses)", tc.ratio, "LessThanThreshold", tc.n, tc.n},
				"CacheBreakerOpenAlarm":      {"BreakerOpen", 1, "GreaterThanOrEqualToThreshold", 1, 1},
				"CacheHealthFailingAlarm":    {"HealthCheckFailures", 1, "GreaterThanOrEqualToThreshold", 2, 5},
				"CacheReadLatencyHighAlarm":  {"ReadLatencyP99", tc.p99, "GreaterThanThreshold", 3, 5},
				"CacheWriteLatencyHighAlarm": {"WriteLatencyP99", tc.p99, "GreaterThanThreshold", 3, 5},
			}
			if len(alarms) != len(want) {
				t.Errorf("%d alarms, want %d", len(alarms), len(want))
			}
			for id, w := range want {
				a := byID[id]
				got := condition{watched(a), a.Threshold, a.ComparisonOperator, a.DatapointsToAlarm, a.EvaluationPeriods}
				if got != w {
					t.Errorf("%s: %+v, want %+v", id, got, w)
				}
			}
		})
	}
}

func TestDashboardAndAlarmsRefuseBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      emf.DashboardOptions
		a      emf.AlarmOptions
		onlyOf string // "alarms" when only AlarmOptions has the field
	}{
		{name: "no service"},
		{name: "another service in Dimensions", d: emf.DashboardOptions{Service: "geo", Dimensions: map[string]string{"Service": "api"}}, a: emf.AlarmOptions{Service: "geo", Dimensions: map[string]string{"Service": "api"}}},
		{name: "an empty dimension value", d: emf.DashboardOptions{Service: "geo", Dimensions: map[string]string{"Backend": ""}}, a: emf.AlarmOptions{Service: "geo", Dimensions: map[string]string{"Backend": ""}}},
		{name: "a period of seconds", d: emf.DashboardOptions{Service: "geo", Period: 90 * time.Second}, a: emf.AlarmOptions{Service: "geo", Period: 90 * time.Second}},
		{name: "a negative period", d: emf.DashboardOptions{Service: "geo", Period: -time.Minute}, a: emf.AlarmOptions{Service: "geo", Period: -time.Minute}},
		{name: "a hit ratio in percent", a: emf.AlarmOptions{Service: "geo", MinHitRatio: 80}, onlyOf: "alarms"},
		{name: "a negative hit ratio", a: emf.AlarmOptions{Service: "geo", MinHitRatio: -0.5}, onlyOf: "alarms"},
		{name: "a NaN hit ratio", a: emf.AlarmOptions{Service: "geo", MinHitRatio: math.NaN()}, onlyOf: "alarms"},
		{name: "negative periods", a: emf.AlarmOptions{Service: "geo", HitRatioPeriods: -1}, onlyOf: "alarms"},
		{name: "periods over a day", a: emf.AlarmOptions{Service: "geo", HitRatioPeriods: 25, Period: time.Hour}, onlyOf: "alarms"},
		{name: "a negative p99", a: emf.AlarmOptions{Service: "geo", MaxP99: -time.Millisecond}, onlyOf: "alarms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.onlyOf == "" {
				if _, err := emf.Dashboard(tc.d); !errors.Is(err, backend.ErrConfig) || !strings.HasPrefix(err.Error(), "emf: DashboardOptions") {
					t.Errorf("Dashboard: %v, want an ErrConfig naming the option", err)
				}
			}
			if _, err := emf.Alarms(tc.a); !errors.Is(err, backend.ErrConfig) || !strings.HasPrefix(err.Error(), "emf: AlarmOptions") {
				t.Errorf("Alarms: %v, want an ErrConfig naming the option", err)
			}
		})
	}
}
