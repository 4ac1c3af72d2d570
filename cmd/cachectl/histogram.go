package main

import (
	"math"
	"math/bits"
	"time"
)

// The histogram's buckets are log-linear: values below subBuckets nanoseconds each have a
// bucket of their own, and every power of two above is split into subBuckets equal parts, so
// a reported quantile is within 1/subBuckets (1.6%) of the true value, at any scale.
const (
	subBucketBits = 6
	subBuckets    = 1 << subBucketBits
	numBuckets    = subBuckets + (64-subBucketBits)*subBuckets
)

// histogram records latencies with fixed memory and no allocation. It is not safe for
// concurrent use: each bench worker owns one, and they are merged when the workers are done.
type histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      uint64 // nanoseconds
	min, max uint64 // nanoseconds; meaningful when n > 0
}

// bucketOf returns the index of the bucket that holds v.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBucketBits
	return subBuckets + shift*subBuckets + int(v>>shift) - subBuckets
}

// bucketBounds returns the smallest and largest values bucket i holds.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subBuckets {
		return uint64(i), uint64(i)
	}
	shift := (i - subBuckets) / subBuckets
	sub := uint64((i-subBuckets)%subBuckets) + subBuckets
	lo = sub << shift
	return lo, lo + (1 << shift) - 1
}

// record adds one observation of d; a negative d counts as zero.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

// merge adds every observation of o to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// count returns the number of observations.
func (h *histogram) count() uint64 { return h.n }

// mean returns the average observation, or zero when there is none.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// maximum returns the largest observation, or zero when there is none.
func (h *histogram) maximum() time.Duration { return time.Duration(h.max) }

// quantile returns the smallest value that at least q (in [0, 1]) of the observations do not
// exceed, rounded up to the top of its bucket and held within the observed minimum and
// maximum, so that it never understates a latency. It returns zero when there is no
// observation.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
