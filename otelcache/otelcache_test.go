package otelcache_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/monitor"
	"github.com/cachekit/cachekit/otelcache"
	"github.com/cachekit/cachekit/resilient"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// TestInstruments runs a known sequence of calls through a Cache and reads what the
// OpenTelemetry SDK's in-memory reader collected: each instrument's name, unit, attributes
// and values.
func TestInstruments(t *testing.T) {
	synctest.Test(t, testInstruments)
}

func testInstruments(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	prefix := attribute.String("cachekit.cache.prefix", "CACHE#geo:")
	rec, err := otelcache.New(otelcache.Options{MeterProvider: mp, Attributes: []attribute.KeyValue{prefix}})
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := memstore.New(memstore.Options{})
	guarded, err := resilient.New(ms, resilient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cachekit.New(guarded, cachekit.Options{
		Prefix:  "CACHE#geo:",
		Health:  monitor.NewChecker(monitor.Options{}),
		Metrics: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	geo := cachekit.Typed[string](c, "", 0)

	_ = geo.Set(ctx, "a", "1", 0)
	_, _ = geo.Get(ctx, "a") // hit
	_, _ = geo.Get(ctx, "b") // miss
	_, _ = geo.GetOrLoad(ctx, "c", func(context.Context, string) (string, error) { return "3", nil })
	_, _ = geo.GetOrLoad(ctx, "d", func(context.Context, string) (string, error) { return "", errors.New("source down") })
	_ = geo.Delete(ctx, "a")
	_, _ = geo.Get(ctx, "\xff") // an invalid key: an error, and no Store call
	time.Sleep(cachekit.DefaultHealthInterval)
	_, _ = geo.Has(ctx, "a") // runs the due health check and metrics tick; a read, neither hit nor miss

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelcache.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelcache.ScopeName)
		}
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	type point struct {
		attr  attribute.Set
		value int64 // a sum's value, a gauge's, or a histogram's count
	}
	with := func(kv ...attribute.KeyValue) attribute.Set { return attribute.NewSet(append(kv, prefix)...) }
	for _, want := range []struct {
		name, unit string
		points     []point
	}{
		{"cachekit.cache.reads", "{read}", []point{
			{with(otelcache.ResultKey.String("hit")), 1},
			{with(otelcache.ResultKey.String("miss")), 3},
		}},
		{"cachekit.cache.sets", "{entry}", []point{{with(), 2}}},
		{"cachekit.cache.deletes", "{entry}", []point{{with(), 1}}},
		{"cachekit.cache.errors", "{error}", []point{{with(), 1}}},
		{"cachekit.cache.loads", "{load}", []point{
			{with(otelcache.LoadResultKey.String("success")), 1},
			{with(otelcache.LoadResultKey.String("failure")), 1},
		}},
		{"cachekit.store.operation.duration", "s", []point{
			{with(otelcache.OperationKey.String("read")), 5}, // Get a, Get b, the two loads' reads, Has
			{with(otelcache.OperationKey.String("write")), 3},
		}},
		{"cachekit.breaker.open", "1", []point{{with(), 0}}},
		{"cachekit.health.checks", "{check}", []point{{with(otelcache.HealthStatusKey.String("healthy")), 1}}},
		{"cachekit.health.duration", "s", []point{{with(), 1}}},
	} {
		m, ok := got[want.name]
		if !ok {
			t.Errorf("no instrument %s", want.name)
			continue
		}
		if m.Unit != want.unit || m.Description == "" {
			t.Errorf("%s: unit %q, description %q; want unit %q and a description", want.name, m.Unit, m.Description, want.unit)
		}
		values := map[attribute.Distinct]int64{}
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			if !d.IsMonotonic {
				t.Errorf("%s is not monotonic", want.name)
			}
			for _, p := range d.DataPoints {
				values[p.Attributes.Equivalent()] = p.Value
			}
		case metricdata.Gauge[int64]:
			for _, p := range d.DataPoints {
				values[p.Attributes.Equivalent()] = p.Value
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				values[p.Attributes.Equivalent()] = int64(p.Count)
				if len(p.Bounds) != len(otelcache.DurationBuckets) {
					t.Errorf("%s has %d bucket bounds, want DurationBuckets", want.name, len(p.Bounds))
				}
			}
		default:
			t.Errorf("%s: data %T", want.name, m.Data)
		}
		if len(values) != len(want.points) {
			t.Errorf("%s: %d attribute sets, want %d: %v", want.name, len(values), len(want.points), m.Data)
		}
		for _, p := range want.points {
			if v, ok := values[p.attr.Equivalent()]; !ok || v != p.value {
				t.Errorf("%s{%s} = %d (present: %v), want %d", want.name, p.attr.Encoded(attribute.DefaultEncoder()), v, ok, p.value)
			}
		}
	}
}

// TestRecordingCost logs what a call pays for the OpenTelemetry recorder: the SDK's own
// work, not ours (we build every attribute set once, in New).
func TestRecordingCost(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())
	rec, err := otelcache.New(otelcache.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		rec.RecordHits(1)
		rec.RecordRead(time.Millisecond)
	})
	t.Logf("a hit and its latency allocate %.1f times in the SDK", allocs)
}
