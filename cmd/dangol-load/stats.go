package main

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// histogram is a log-linear latency histogram with microsecond resolution
// below 64 µs and about 3% relative error above, so that every received
// packet can be recorded cheaply. The zero value is ready to use; it is not
// safe for concurrent use.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64 // µs, for the mean
	max    int64   // µs, exact
}

const (
	histSub     = 32 // buckets per power of two above 64 µs
	histLinear  = 2 * histSub
	histBuckets = histLinear + 32*histSub
)

// histIndex maps a value in µs to its bucket.
func histIndex(us int64) int {
	if us < histLinear {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 6 // us>>e is in [32, 64)
	i := histLinear + (e-1)*histSub + int(us>>e) - histSub
	return min(i, histBuckets-1)
}

// histUpper returns the largest value in µs that falls in bucket i.
func histUpper(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	e := (i-histLinear)/histSub + 1
	sub := int64((i-histLinear)%histSub + histSub)
	return (sub+1)<<e - 1
}

func (h *histogram) record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.counts[histIndex(us)]++
	h.n++
	h.sum += float64(us)
	h.max = max(h.max, us)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the value at quantile q (0..1), as the upper bound of
// its bucket capped at the exact maximum.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			return time.Duration(min(histUpper(i), h.max)) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/float64(h.n)) * time.Microsecond
}

// percentile returns the nearest-rank percentile p (0..100) of v, which it
// sorts. It returns 0 for an empty slice.
func percentile[T ~int64 | ~float64](v []T, p float64) T {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	rank := int(math.Ceil(p / 100 * float64(len(v))))
	return v[min(max(rank, 1), len(v))-1]
}

// maxCounter bounds the per-track bitset (16 MiB), far beyond what any
// sensible --duration produces.
const maxCounter = 1 << 27

// bitset records which publisher counters a viewer received.
type bitset []uint64

// set marks i and reports whether it was new. Counters beyond maxCounter are
// ignored and reported as not new.
func (b *bitset) set(i uint32) bool {
	if i >= maxCounter {
		return false
	}
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b)+len(*b)/2)...)
	}
	m := uint64(1) << (i % 64)
	if (*b)[w]&m != 0 {
		return false
	}
	(*b)[w] |= m
	return true
}

func (b bitset) has(i uint32) bool {
	w := int(i / 64)
	return w < len(b) && b[w]&(1<<(i%64)) != 0
}

// union adds o to b.
func (b *bitset) union(o bitset) {
	if len(o) > len(*b) {
		*b = append(*b, make([]uint64, len(o)-len(*b))...)
	}
	for i, w := range o {
		(*b)[i] |= w
	}
}

// count returns how many counters in [lo, hi] are set.
func (b bitset) count(lo, hi uint32) uint64 {
	var n uint64
	for i := lo; i <= hi && i < maxCounter; i++ {
		if i%64 == 0 && i+63 <= hi {
			if w := int(i / 64); w < len(b) {
				n += uint64(bits.OnesCount64(b[w]))
			}
			i += 63
			continue
		}
		if b.has(i) {
			n++
		}
	}
	return n
}
