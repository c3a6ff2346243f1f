package main

import (
	"context"
	"fmt"
	"time"
)

// Metric names scraped from {server}/metrics.
const (
	metricCPU = "process_cpu_seconds_total"
	metricRSS = "process_resident_memory_bytes"
)

// sample is the CPU state at one edge of the measured window.
type sample struct {
	at        time.Time
	serverCPU float64 // seconds
	serverRSS float64 // bytes, 0 when not exported
	serverOK  bool
	serverErr error
	toolCPU   time.Duration
	toolOK    bool
}

// takeSample reads this process's CPU time and the server's metrics.
func takeSample(ctx context.Context, sig *signaler) sample {
	s := sample{at: time.Now()}
	s.toolCPU, s.toolOK = processCPU()
	m, err := sig.scrapeMetrics(ctx, metricCPU, metricRSS)
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
