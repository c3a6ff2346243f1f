package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Metric names scraped from {server}/metrics.
const (
	metricCPU = "process_cpu_seconds_total"
	metricRSS = "process_resident_memory_bytes"
	// The server's own latency histograms, read to tell its share of a delay from the tool's
	// when both run on the same cores. The scrape asks for the bucket series by name; a
	// histogram is picked out of them by the series prefix up to its le label.
	metricForward  = "dangol_forward_latency_seconds_bucket"
	metricCommand  = "dangol_room_command_seconds_bucket"
	metricDelivery = "dangol_room_delivery_seconds_bucket"
	metricReply    = "dangol_room_reply_seconds_bucket"

	histForward  = metricForward + "{"
	histClaim    = metricCommand + `{type="coupon.claim",`
	histDelivery = metricDelivery + "{"
	histReply    = metricReply + "{"
)

// histograms are the server histograms a sample keeps.
var histograms = []string{histForward, histClaim, histDelivery, histReply}

// sample is the CPU state at one edge of the measured window.
type sample struct {
	at        time.Time
	serverCPU float64 // seconds
	serverRSS float64 // bytes, 0 when not exported
	serverOK  bool
	serverErr error
	toolCPU   time.Duration
	toolOK    bool
	hists     map[string][]bucket // by series prefix (histForward, ...); cumulative, by upper bound
}

// takeSample reads this process's CPU time and the server's metrics.
func takeSample(ctx context.Context, sig *signaler) sample {
	s := sample{at: time.Now()}
	s.toolCPU, s.toolOK = processCPU()
	m, err := sig.scrapeMetrics(ctx, metricCPU, metricRSS, metricForward, metricCommand, metricDelivery, metricReply)
	s.hists = map[string][]bucket{}
	for _, h := range histograms {
		s.hists[h] = buckets(m, h)
	}
	if err == nil {
		_, ok := m[metricCPU]
		if !ok {
			err = fmt.Errorf("%s not exported", metricCPU)
		}
	}
	s.serverCPU, s.serverRSS, s.serverOK, s.serverErr = m[metricCPU], m[metricRSS], err == nil, err
	return s
}

// cpuInfo is the CPU use of one process over the measured window.
type cpuInfo struct {
	Available         bool    `json:"available"`
	Error             string  `json:"error,omitempty"`
	WindowS           float64 `json:"window_s"`
	CPUPct            float64 `json:"cpu_pct"` // of one core
	MillicoresPerView float64 `json:"millicores_per_viewer,omitempty"`
	RSSBytes          float64 `json:"rss_bytes,omitempty"`
}

// cpuInfos computes the server's and this tool's CPU between two samples.
func cpuInfos(begin, end sample, viewers int) (server, tool cpuInfo) {
	w := end.at.Sub(begin.at).Seconds()
	if begin.at.IsZero() || w <= 0 {
		msg := "ramp did not finish before the end of --duration"
		return cpuInfo{Error: msg}, cpuInfo{Error: msg}
	}
	switch {
	case !begin.serverOK:
		server.Error = begin.serverErr.Error()
	case !end.serverOK:
		server.Error = end.serverErr.Error()
	default:
		server = cpuInfo{Available: true, WindowS: round(w), RSSBytes: end.serverRSS}
		server.CPUPct = round((end.serverCPU - begin.serverCPU) / w * 100)
		if viewers > 0 {
			server.MillicoresPerView = round((end.serverCPU - begin.serverCPU) / w * 1000 / float64(viewers))
		}
	}
	if begin.toolOK && end.toolOK {
		tool = cpuInfo{Available: true, WindowS: round(w)}
		tool.CPUPct = round((end.toolCPU - begin.toolCPU).Seconds() / w * 100)
	} else {
		tool.Error = "getrusage not available"
	}
	return server, tool
}

// bucket is one cumulative bucket of a Prometheus histogram.
type bucket struct {
	le    float64
	count float64
}

// buckets picks the buckets of one histogram out of scraped series, in order of le: the
// series that start with prefix, the histogram's name and labels up to le.
func buckets(m map[string]float64, prefix string) []bucket {
	var out []bucket
	for series, v := range m {
		le, ok := strings.CutPrefix(series, prefix+`le="`)
		if !ok {
			continue
		}
		le, _, _ = strings.Cut(le, `"`)
		b, err := strconv.ParseFloat(le, 64) // "+Inf" parses as infinity
		if err != nil {
			continue
		}
		out = append(out, bucket{le: b, count: v})
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	return out
}

// serverLatency is one of the server's latencies over the measured window, from the
// difference of two scrapes of its histogram.
type serverLatency struct {
	Available bool    `json:"available"`
	N         int     `json:"n"` // observations (sampled, for some)
	P50       float64 `json:"p50"`
	P99       float64 `json:"p99"`
}

// latencyBetween is histogram h's latency between two samples.
func latencyBetween(begin, end sample, h string) serverLatency {
	b0, b1 := begin.hists[h], end.hists[h]
	if len(b0) == 0 {
		// Not observed yet at the start (a labelled series appears with its first
		// observation): all zero.
		b0 = make([]bucket, len(b1))
	}
	if len(b1) == 0 || len(b0) != len(b1) {
		return serverLatency{}
	}
	d := make([]bucket, len(b1))
	for i, b := range b1 {
		d[i] = bucket{le: b.le, count: b.count - b0[i].count}
	}
	n := d[len(d)-1].count
	if n <= 0 {
		return serverLatency{}
	}
	return serverLatency{Available: true, N: int(n), P50: 1000 * bucketQuantile(0.5, d), P99: 1000 * bucketQuantile(0.99, d)}
}

// bucketQuantile interpolates linearly inside the bucket holding quantile q, as
// Prometheus's histogram_quantile does; above the last finite bound it answers that bound.
func bucketQuantile(q float64, bs []bucket) float64 {
	rank := q * bs[len(bs)-1].count
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower
			}
			if b.count == below {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.le, b.count
	}
	return lower
}
