package main

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	prevHi := uint64(0)
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, prevHi+1)
		}
		if lo > hi {
			t.Fatalf("bucket %d: lo %d > hi %d", i, lo, hi)
		}
		if lo >= subBuckets && float64(hi-lo+1)/float64(lo) > 1.0/subBuckets {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, subBuckets)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
	}
	if prevHi != math.MaxUint64 {
		t.Fatalf("the last bucket ends at %d, want MaxUint64", prevHi)
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration // exact, or the lower bound when tol > 0
		tol    float64       // relative: the result may be up to want*(1+tol)
	}{
		{"empty", nil, 0.5, 0, 0},
		{"one value", []time.Duration{42}, 0.99, 42, 0},
		{"small values are exact: p50", seq(1, 100, 1), 0.5, 50, 0},
		{"small values are exact: p99", seq(1, 100, 1), 0.99, 99, 0},
		{"q=0 is the minimum", seq(1, 100, 1), 0, 1, 0},
		{"q=1 is the maximum", seq(1, 100, 1), 1, 100, 0},
		{"p50 of 1..10000µs", seq(1, 10000, time.Microsecond), 0.5, 5000 * time.Microsecond, 1.0 / subBuckets},
		{"p99 of 1..10000µs", seq(1, 10000, time.Microsecond), 0.99, 9900 * time.Microsecond, 1.0 / subBuckets},
		{"p999 of 1..10000µs", seq(1, 10000, time.Microsecond), 0.999, 9990 * time.Microsecond, 1.0 / subBuckets},
		{"the maximum is exact", seq(1, 10000, time.Microsecond), 1, 10000 * time.Microsecond, 0},
		{"a tail", append(repeat(time.Microsecond, 990), repeat(time.Second, 10)...), 0.99, time.Microsecond, 1.0 / subBuckets},
		{"past the tail", append(repeat(time.Microsecond, 990), repeat(time.Second, 10)...), 0.991, time.Second, 0},
		{"negative counts as zero", []time.Duration{-5}, 0.5, 0, 0},
		{"the largest duration", []time.Duration{math.MaxInt64}, 0.5, math.MaxInt64, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			got := h.quantile(tt.q)
			hi := tt.want + time.Duration(float64(tt.want)*tt.tol)
			if got < tt.want || got > hi {
				t.Errorf("quantile(%v) = %v, want %v (up to %v)", tt.q, got, tt.want, hi)
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var whole, a, b histogram
	for i := range 100_000 {
		d := time.Duration(rng.ExpFloat64() * float64(50*time.Microsecond))
		whole.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var merged histogram
	merged.merge(&a)
	merged.merge(&b)
	merged.merge(new(histogram))
	if merged != whole {
		t.Fatal("merging two halves differs from recording the whole")
	}
	if merged.count() != 100_000 {
		t.Errorf("count = %d", merged.count())
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if got, want := merged.quantile(q), whole.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if m := merged.mean(); m < 40*time.Microsecond || m > 60*time.Microsecond {
		t.Errorf("mean = %v, want about 50µs", m)
	}
}

// seq returns from*unit, (from+1)*unit ... to*unit.
func seq(from, to int, unit time.Duration) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*unit)
	}
	return out
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
