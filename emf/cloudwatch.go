package emf

import (
	"cmp"
	"fmt"
	"maps"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/backend"
)

// serviceDimension names the dimension that Dashboard and Alarms take a service by.
const serviceDimension = "Service"

// maxDimensions is the most dimensions an EMF dimension set, or a CloudWatch metric, may have.
const maxDimensions = 30

// source is the metrics of one service's caches as CloudWatch holds them: the namespace and
// the whole dimension set of their Writer's lines.
type source struct {
	service, namespace, prefix string
	dims                       []Dimension
}

// newSource checks the options that Dashboard and Alarms share, named for messages by what,
// and returns the metrics they describe.
func newSource(what, service, namespace, prefix string, dims map[string]string) (source, error) {
	if service == "" {
		return source{}, fmt.Errorf("emf: %s.Service is empty: %w", what, backend.ErrConfig)
	}
	if v, ok := dims[serviceDimension]; ok && v != service {
		return source{}, fmt.Errorf("emf: %s.Dimensions has Service %q, and %s.Service is %q: %w",
			what, v, what, service, backend.ErrConfig)
	}
	all := maps.Clone(dims)
	if all == nil {
		all = map[string]string{}
	}
	all[serviceDimension] = service
	s := source{service: service, namespace: cmp.Or(namespace, DefaultNamespace), prefix: cmp.Or(prefix, cachekit.DefaultPrefix)}
	s.dims = dimensions(all, s.prefix)
	if len(s.dims) > maxDimensions {
		return source{}, fmt.Errorf("emf: %s.Dimensions: %d dimensions with Prefix and Service, over CloudWatch's %d: %w",
			what, len(s.dims), maxDimensions, backend.ErrConfig)
	}
	for _, d := range s.dims {
		if d.Name == "" || d.Value == "" {
			// CloudWatch drops a metric with an empty dimension name or value.
			return source{}, fmt.Errorf("emf: %s.Dimensions: dimension %q has an empty name or value: %w",
				what, d.Name, backend.ErrConfig)
		}
	}
	return s, nil
}

// periodSeconds checks a period of standard-resolution metrics, the only ones EMF lines
// give: a whole number of minutes, zero meaning one.
func periodSeconds(what string, d time.Duration) (int, error) {
	if d == 0 {
		d = time.Minute
	}
	if d < 0 || d%time.Minute != 0 {
		return 0, fmt.Errorf("emf: %s.Period %v is not a whole number of minutes: %w", what, d, backend.ErrConfig)
	}
	return int(d / time.Second), nil
}

// MetricID names a metric in CloudWatch: its namespace, its name and its whole dimension
// set. Its JSON is that of the CloudWatch API and of CloudFormation.
type MetricID struct {
	Namespace  string      `json:"Namespace"`
	MetricName string      `json:"MetricName"`
	Dimensions []Dimension `json:"Dimensions"`
}

// id returns the MetricID of the source's metric d.
func (s source) id(d *definition) MetricID {
	return MetricID{Namespace: s.namespace, MetricName: d.Name, Dimensions: s.dims}
}

// queryID returns the identifier of d's data in a metric math expression: its name starting
// in lower case, as CloudWatch requires.
func queryID(d *definition) string {
	return string(d.Name[0]|0x20) + d.Name[1:]
}

// hitRatioExpression is the metric math of a period's hit ratio, in percent: from the counts,
// so that each read weighs the same. A period without reads divides by zero, which gives no
// data point.
func hitRatioExpression() string {
	h, m := queryID(&hits), queryID(&misses)
	return fmt.Sprintf("100*%s/(%s+%s)", h, h, m)
}
