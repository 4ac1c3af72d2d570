package emf_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/cachetest"
	"github.com/cachekit/cachekit/emf"
	"github.com/cachekit/cachekit/internal/testenv"
	"github.com/cachekit/cachekit/memstore"
	"github.com/cachekit/cachekit/monitor"
)

func TestMain(m *testing.M) {
	testenv.VerifyNoLeaks(m)
}

// emfLine checks one line against the Embedded Metric Format specification's required
// fields, and returns its top-level members.
func emfLine(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, line)
	}
	aws, ok := m["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws object: %s", line)
	}
	if ts, ok := aws["Timestamp"].(float64); !ok || ts != float64(int64(ts)) || ts < 1e12 {
		t.Errorf("_aws.Timestamp %v is not epoch milliseconds", aws["Timestamp"])
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("_aws.CloudWatchMetrics is not a non-empty array: %s", line)
	}
	for _, d := range directives {
		d := d.(map[string]any)
		if ns, ok := d["Namespace"].(string); !ok || ns == "" || len(ns) > 255 {
			t.Errorf("Namespace %v", d["Namespace"])
		}
		sets, ok := d["Dimensions"].([]any)
		if !ok {
			t.Fatalf("Dimensions is not an array: %s", line)
		}
		for _, set := range sets {
			names := set.([]any)
			if len(names) > 30 {
				t.Errorf("a dimension set of %d names, over 30", len(names))
			}
			for _, n := range names {
				if _, ok := m[n.(string)].(string); !ok {
					t.Errorf("dimension %v is not a string member of the line", n)
				}
			}
		}
		metrics, ok := d["Metrics"].([]any)
		if !ok || len(metrics) > 100 {
			t.Fatalf("Metrics is not an array of at most 100: %s", line)
		}
		for _, mt := range metrics {
			def := mt.(map[string]any)
			name, ok := def["Name"].(string)
			if !ok || name == "" {
				t.Errorf("a metric without a Name: %v", def)
			}
			if _, ok := m[name].(float64); !ok {
				t.Errorf("metric %s has no numeric member in the line", name)
			}
			if u, ok := def["Unit"].(string); ok && !validUnits[u] {
				t.Errorf("metric %s has unit %q, not a CloudWatch unit", name, u)
			}
		}
	}
	return m
}

var validUnits = map[string]bool{"Count": true, "Percent": true, "Milliseconds": true, "None": true, "Seconds": true}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestEMFLinesFollowTheSpecificationAndCarryDeltas(t *testing.T) {
	synctest.Test(t, testEMFLines)
}

func testEMFLines(t *testing.T) {
	ctx := context.Background()
	ms, _ := memstore.New(memstore.Options{})
	var out strings.Builder
	w := emf.New(emf.Options{
		Prefix:     "CACHE#geo:",
		Writer:     &out,
		Dimensions: map[string]string{"Service": "geo-api", "Backend": "memory"},
		Clock:      cachetest.NewClock(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)), // not the bubble's 2000
	})
	c, _ := cachekit.New(ms, cachekit.Options{
		Prefix:          "CACHE#geo:",
		Health:          monitor.NewChecker(monitor.Options{}),
		Metrics:         w,
		MetricsInterval: -1, // only Flush and Close write lines
	})
	geo := cachekit.Typed[string](c, "", 0)

	time.Sleep(cachekit.DefaultHealthInterval)
	_ = geo.Set(ctx, "a", "1", 0) // the first call after an interval runs the due health check
	_, _ = geo.Get(ctx, "a")
	_, _ = geo.Get(ctx, "b")
	_, _ = geo.Get(ctx, "c")
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	_, _ = geo.Get(ctx, "a")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ls := lines(out.String())
	if len(ls) != 2 {
		t.Fatalf("%d lines, want Flush's and Close's, and none from the second Close:\n%s", len(ls), out.String())
	}
	first, second := emfLine(t, ls[0]), emfLine(t, ls[1])
	for name, want := range map[string]any{"Hits": 1.0, "Misses": 2.0, "Sets": 1.0, "HitRatio": 100.0 / 3, "Healthy": 1.0, "HealthChecks": 1.0, "HealthCheckFailures": 0.0, "Prefix": "CACHE#geo:", "Service": "geo-api"} {
		if fmt.Sprint(first[name]) != fmt.Sprint(want) {
			t.Errorf("first line %s = %v, want %v", name, first[name], want)
		}
	}
	if second["Hits"] != 1.0 || second["Misses"] != 0.0 || second["Sets"] != 0.0 {
		t.Errorf("second line = %v; want only what happened since the first flush", second)
	}
}

// TestEMFFlushesOnTheCachesInterval: in a long-running service, the Cache's goroutine
// flushes once per interval however many calls are made, and Close flushes what is left.
func TestEMFFlushesOnTheCachesInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms, _ := memstore.New(memstore.Options{})
		var out strings.Builder
		c, _ := cachekit.New(ms, cachekit.Options{
			Metrics:         emf.New(emf.Options{Writer: &out}),
			MetricsInterval: time.Minute,
			Background:      true,
		})
		v := cachekit.Typed[int](c, "", 0)
		for range 1000 {
			_ = v.Set(context.Background(), "k", 1, 0)
		}
		time.Sleep(3*time.Minute + time.Second)
		synctest.Wait()
		if n := len(lines(out.String())); n != 3 {
			t.Errorf("%d lines after 3 intervals and 1000 calls, want 3", n)
		}
		_ = c.Close()
		if n := len(lines(out.String())); n != 4 {
			t.Errorf("%d lines after Close, want the final flush too", n)
		}
	})
}

// TestRecordingDoesNotAllocate: the request path pays a few atomic adds, nothing more.
func TestRecordingDoesNotAllocate(t *testing.T) {
	w := emf.New(emf.Options{Writer: io.Discard})
	allocs := testing.AllocsPerRun(1000, func() {
		w.RecordHits(1)
		w.RecordMisses(1)
		w.RecordRead(time.Millisecond)
		w.RecordWrite(time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("recording allocates %.1f times a call, want 0", allocs)
	}
}
