package cachekit

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The buckets are log-linear: values below subBuckets nanoseconds each have a bucket of
// their own, and every power of two above is split into subBuckets equal parts, so that a
// quantile is within 1/subBuckets (6.25%) of the true value at any scale. Values from
// 2^maxBits ns (about 18 minutes) up share the last bucket.
const (
	subBucketBits = 4
	subBuckets    = 1 << subBucketBits
	maxBits       = 40
	numBuckets    = subBuckets + (maxBits-subBucketBits)*subBuckets
)

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	if v >= 1<<maxBits {
		return numBuckets - 1
	}
	shift := bits.Len64(v) - 1 - subBucketBits
	return subBuckets + shift*subBuckets + int(v>>shift) - subBuckets
}

// bucketTop returns the largest value bucket i holds.
func bucketTop(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := (i - subBuckets) / subBuckets
	sub := uint64((i-subBuckets)%subBuckets) + subBuckets
	return sub<<shift + 1<<shift - 1
}

// Latencies records latencies with fixed memory, no allocation and no lock; it is safe for
// concurrent use. The zero value is ready.
type Latencies struct {
	counts [numBuckets]atomic.Uint64
	max    atomic.Uint64
}

// Record adds one observation of d; a negative d counts as zero.
func (r *Latencies) Record(d time.Duration) {
	v := uint64(max(d, 0))
	r.counts[bucketOf(v)].Add(1)
	for {
		m := r.max.Load()
		if v <= m || r.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Snapshot returns what r has recorded so far.
func (r *Latencies) Snapshot() Histogram {
	var h Histogram
	for i := range r.counts {
		c := r.counts[i].Load()
		h.counts[i] = c
		h.n += c
	}
	h.max = r.max.Load()
	return h
}

// Histogram is a snapshot of recorded latencies. Its quantiles are rounded up to the top of
// their bucket (held to the maximum), so they overstate a latency by at most the bucket's
// width, 6.25%; latencies from about 18 minutes up share the last bucket.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
	max    uint64 // an upper bound of every observation; the exact maximum in a Snapshot
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest observation, or zero when there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Quantile returns the smallest latency that at least q (in [0, 1]) of the observations do
// not exceed, or zero when there is none.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(min(max(q, 0), 1)*float64(h.n))), 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(min(bucketTop(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// Since returns the observations h has and prev, an earlier snapshot of the same Latencies,
// did not: the latencies of the interval between them. Its Max is the top of the highest
// bucket with an observation, held to h's maximum.
func (h *Histogram) Since(prev *Histogram) Histogram {
	var d Histogram
	top := -1
	for i := range h.counts {
		if c := h.counts[i] - prev.counts[i]; c > 0 {
			d.counts[i], d.n, top = c, d.n+c, i
		}
	}
	if top >= 0 {
		d.max = min(bucketTop(top), h.max)
	}
	return d
}

// String summarises the histogram: "n=1200 p50=1.2ms p99=4.1ms max=9ms".
func (h Histogram) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", h.n, h.Quantile(0.5), h.Quantile(0.99), h.Max())
}
