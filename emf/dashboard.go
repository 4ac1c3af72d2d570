package emf

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// DefaultRegion is the default of DashboardOptions.Region.
const DefaultRegion = "us-east-1"

// DashboardOptions configures Dashboard. The zero value of every field but Service means its
// documented default. Namespace, Prefix and Dimensions must be those of the service's Writer:
// CloudWatch tells metrics apart by their whole dimension set, and a graph that names a set
// the Writer does not write stays empty.
type DashboardOptions struct {
	// Service is the value of the metrics' Service dimension: required.
	Service string
	// Namespace is the Writer's Options.Namespace. Zero means DefaultNamespace.
	Namespace string
	// Prefix is the Writer's Options.Prefix, the value of the Prefix dimension. Zero means
	// cachekit.DefaultPrefix, as for the Writer.
	Prefix string
	// Dimensions are the Writer's Options.Dimensions, Service aside: cacheenv gives
	// {"Backend": NAME}. A Service key, if any, must equal Service.
	Dimensions map[string]string
	// Region is the AWS region of the metrics, which every graph names. Zero means
	// DefaultRegion. The body has no "${" of its own, so a CloudFormation template may pass
	// "${AWS::Region}" and put the body through Fn::Sub.
	Region string
	// Period is the time each data point of the graphs covers: a whole number of minutes.
	// Zero means one minute.
	Period time.Duration
}

// Dashboard returns the body of a CloudWatch dashboard of one service's caches, as JSON: the
// hit ratio (metric math over Hits and Misses, so that each read weighs the same), reads,
// writes and loads, errors, read and write latency, the breaker and the fallback, and the
// health checks. Every graph names the metrics as the Writer writes them, with their
// Statistic. Give it to "aws cloudwatch put-dashboard --dashboard-body", or to the
// DashboardBody of a CloudFormation AWS::CloudWatch::Dashboard.
func Dashboard(o DashboardOptions) ([]byte, error) {
	s, err := newSource("DashboardOptions", o.Service, o.Namespace, o.Prefix, o.Dimensions)
	if err != nil {
		return nil, err
	}
	period, err := periodSeconds("DashboardOptions", o.Period)
	if err != nil {
		return nil, err
	}
	g := graphs{source: s, region: cmp.Or(o.Region, DefaultRegion), period: period}
	var where []string
	for _, d := range s.dims {
		where = append(where, fmt.Sprintf("%s `%s`", d.Name, d.Value))
	}
	body := dashboardBody{
		Start: "-PT3H",
		Widgets: []widget{
			{Type: "text", Width: 24, Height: 2, Properties: textProperties{Markdown: fmt.Sprintf(
				"## Cache of %s\nNamespace `%s`, dimensions %s. The metrics are described in cachekit's docs/metrics.md.",
				s.service, s.namespace, strings.Join(where, ", "))}},
			g.hitRatio(),
			g.plot("Reads", "Count", "", &hits, &misses, &skipped, &staleReads),
			g.plot("Read latency", "Milliseconds", "", &readP50, &readP99, &readMax),
			g.plot("Write latency", "Milliseconds", "", &writeP50, &writeP99, &writeMax),
			g.plot("Writes and loads", "Count", "", &sets, &deletes, &loads, &refreshes),
			g.plot("Errors", "Count", "", &errs, &loadErrors),
			g.plot("Breaker, fallback and health (1 or 0)", "", "", &breakerOpen, &onFallback, &healthy),
			g.plot("Health checks", "Count", "Milliseconds", &healthChecks, &healthCheckFailures, &healthCheckLatency),
		},
	}
	// Two graphs a row, under the text.
	for i := 1; i < len(body.Widgets); i++ {
		w := &body.Widgets[i]
		w.X, w.Y, w.Width, w.Height = (i-1)%2*12, 2+(i-1)/2*6, 12, 6
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("emf: the dashboard: %w", err)
	}
	return b, nil
}

// dashboardBody is the JSON of a CloudWatch dashboard body: the fields it uses.
type dashboardBody struct {
	Start   string   `json:"start"`
	Widgets []widget `json:"widgets"`
}

type widget struct {
	Type       string `json:"type"`
	X          int    `json:"x"`
	Y          int    `json:"y"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Properties any    `json:"properties"`
}

type textProperties struct {
	Markdown string `json:"markdown"`
}

type graphProperties struct {
	Title   string `json:"title"`
	View    string `json:"view"`
	Stacked bool   `json:"stacked"`
	Region  string `json:"region"`
	Period  int    `json:"period"`
	// Metrics are the graph's lines: each a metric, as [namespace, name, dimension name,
	// value, ..., rendering], or a metric math expression, as [rendering].
	Metrics [][]any `json:"metrics"`
	YAxis   yAxes   `json:"yAxis"`
}

type yAxes struct {
	Left  axis  `json:"left"`
	Right *axis `json:"right,omitempty"`
}

type axis struct {
	Label string   `json:"label,omitempty"`
	Min   float64  `json:"min"`
	Max   *float64 `json:"max,omitempty"`
}

// rendering is how a graph draws one of its lines.
type rendering struct {
	Expression string `json:"expression,omitempty"`
	ID         string `json:"id,omitempty"`
	Label      string `json:"label,omitempty"`
	Stat       string `json:"stat,omitempty"`
	YAxis      string `json:"yAxis,omitempty"`
	Visible    *bool  `json:"visible,omitempty"`
}

// graphs builds the dashboard's graphs of one source.
type graphs struct {
	source
	region string
	period int
}

// line returns d's line on a graph, drawn as r says.
func (g graphs) line(d *definition, r rendering) []any {
	l := []any{g.namespace, d.Name}
	for _, dim := range g.dims {
		l = append(l, dim.Name, dim.Value)
	}
	r.Stat = d.Statistic
	return append(l, r)
}

// graph returns a graph of lines, its left axis labelled with unit.
func (g graphs) graph(title, unit string, lines ...[]any) widget {
	return widget{Type: "metric", Properties: graphProperties{
		Title: title, View: "timeSeries", Region: g.region, Period: g.period,
		Metrics: lines, YAxis: yAxes{Left: axis{Label: unit}},
	}}
}

// plot returns a graph of the metrics ds, each with its Statistic; those whose unit is right
// go on the right axis.
func (g graphs) plot(title, left, right string, ds ...*definition) widget {
	lines := make([][]any, len(ds))
	for i, d := range ds {
		r := rendering{Label: d.Name}
		if right != "" && d.Unit == right {
			r.YAxis = "right"
		}
		lines[i] = g.line(d, r)
	}
	w := g.graph(title, left, lines...)
	if right != "" {
		p := w.Properties.(graphProperties)
		p.YAxis.Right = &axis{Label: right}
		w.Properties = p
	}
	return w
}

// hitRatio returns the graph of the hit ratio, computed from the period's Hits and Misses.
func (g graphs) hitRatio() widget {
	hidden, hundred := false, 100.0
	w := g.graph("Hit ratio (%)", "Percent",
		[]any{rendering{Expression: hitRatioExpression(), ID: "hitRatio", Label: "hit ratio"}},
		g.line(&hits, rendering{ID: queryID(&hits), Label: hits.Name, Visible: &hidden}),
		g.line(&misses, rendering{ID: queryID(&misses), Label: misses.Name, Visible: &hidden}),
	)
	p := w.Properties.(graphProperties)
	p.YAxis.Left.Max = &hundred
	w.Properties = p
	return w
}
