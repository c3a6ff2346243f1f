package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	seq := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(n - i) // reversed: percentile must sort
		}
		return v
	}
	tests := []struct {
		name string
		v    []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"one", []float64{7}, 99, 7},
		{"p50 of 10", seq(10), 50, 5},
		{"p99 of 10", seq(10), 99, 10},
		{"p99 of 100", seq(100), 99, 99},
		{"p99 of 1000", seq(1000), 99, 990},
		{"max", seq(37), 100, 37},
		{"p0 is min", seq(5), 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.v, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestHistogramQuantile(t *testing.T) {
	tests := []struct {
		name string
		us   []int64 // samples in µs
	}{
		{"sub-64µs exact", []int64{1, 2, 3, 10, 20, 63}},
		{"milliseconds", []int64{800, 900, 1000, 1200, 1500, 2000, 5000, 40000}},
		{"wide", []int64{5, 70, 130, 1_000, 33_333, 250_000, 3_000_000, 60_000_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			exact := make([]float64, 0, len(tt.us))
			for _, us := range tt.us {
				h.record(time.Duration(us) * time.Microsecond)
				exact = append(exact, float64(us))
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				want := percentile(exact, q*100)
				got := float64(h.quantile(q).Microseconds())
				if got < want || got > want*(1+1.0/histSub)+1 {
					t.Errorf("q%v = %vµs, want %vµs within %.1f%%", q, got, want, 100.0/histSub)
				}
			}
			if got := h.quantile(1); got != time.Duration(tt.us[len(tt.us)-1])*time.Microsecond {
				t.Errorf("max %v", got)
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for us := int64(0); us < 1<<22; us = us*9/8 + 1 {
		i := histIndex(us)
		if i < prev || i >= histBuckets {
			t.Fatalf("index(%d) = %d after %d", us, i, prev)
		}
		if up := histUpper(i); us > up || (i > 0 && us <= histUpper(i-1)) {
			t.Fatalf("%dµs in bucket %d with bounds (%d, %d]", us, i, histUpper(i-1), up)
		}
		prev = i
	}
	var a, b histogram
	a.record(time.Millisecond)
	b.record(3 * time.Millisecond)
	a.merge(&b)
	if a.n != 2 || a.mean() != 2*time.Millisecond || a.max != 3000 {
		t.Errorf("merged n=%d mean=%v max=%d", a.n, a.mean(), a.max)
	}
}

func TestBitset(t *testing.T) {
	var b bitset
	for _, i := range []uint32{0, 1, 63, 64, 65, 127, 128, 1000, 5000} {
		if !b.set(i) {
			t.Errorf("set(%d) not new", i)
		}
	}
	if b.set(64) {
		t.Error("set(64) twice reported new")
	}
	if b.set(maxCounter) {
		t.Error("set beyond maxCounter accepted")
	}
	tests := []struct {
		lo, hi uint32
		want   uint64
	}{
		{0, 0, 1}, {0, 63, 3}, {0, 64, 4}, {1, 127, 5}, {0, 10000, 9}, {129, 999, 0}, {64, 1000, 5},
	}
	for _, tt := range tests {
		if got := b.count(tt.lo, tt.hi); got != tt.want {
			t.Errorf("count(%d, %d) = %d, want %d", tt.lo, tt.hi, got, tt.want)
		}
	}
	var u bitset
	u.set(2)
	u.union(b)
	if got := u.count(0, 10000); got != 10 {
		t.Errorf("union count %d, want 10", got)
	}
}

func TestDelivery(t *testing.T) {
	r := &kindResult{}
	for _, c := range []uint32{10, 11, 13, 14, 20} {
		r.seen.set(c)
	}
	r.minCounter, r.have = 10, true
	tests := []struct {
		last      int64
		got, want uint64
		ok        bool
	}{
		{14, 4, 5, true}, {20, 5, 11, true}, {9, 0, 0, false}, {10, 1, 1, true},
	}
	for _, tt := range tests {
		got, want, ok := r.delivery(tt.last)
		if got != tt.got || want != tt.want || ok != tt.ok {
			t.Errorf("delivery(%d) = %d/%d %v, want %d/%d %v", tt.last, got, want, ok, tt.got, tt.want, tt.ok)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", time.Second}, {"2", 2 * time.Second}, {"0", minRetryAfter}, {"3600", maxRetryAfter},
		{"Wed, 01 Jan 2025 00:00:03 GMT", 3 * time.Second}, {"soon", time.Second},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.34
process_resident_memory_bytes 4.2e+07
dangol_viewers{channel="a"} 3
`
	m, err := parseMetrics(strings.NewReader(text), metricCPU, metricRSS, "dangol_viewers")
	if err != nil {
		t.Fatal(err)
	}
	if m[metricCPU] != 12.34 || m[metricRSS] != 42e6 {
		t.Errorf("got %v", m)
	}
	if _, ok := m["dangol_viewers"]; ok {
		t.Error("labelled sample matched an unlabelled name")
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"DANGOL_LOAD_KEY": "secret", "DANGOL_LOAD_VIEWERS": "7", "DANGOL_LOAD_BITRATE": "800k"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(config) bool
	}{
		{"env fallback", nil, false, func(c config) bool {
			return c.Key == "secret" && c.Viewers == 7 && c.Bitrate == 800_000 && c.Codec == codecVP8
		}},
		{"flag wins", []string{"--viewers", "3", "--bitrate", "2.5M", "--codec", "H264"}, false, func(c config) bool {
			return c.Viewers == 3 && c.Bitrate == 2_500_000 && c.Codec == codecH264
		}},
		{"bad codec", []string{"--codec", "av1"}, true, nil},
		{"bad server", []string{"--server", "127.0.0.1:8080"}, true, nil},
		{"bad bitrate", []string{"--bitrate", "fast"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, lookup, &strings.Builder{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.check != nil && !tt.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func TestRound(t *testing.T) {
	if got := round(math.Pi); got != 3.14 {
		t.Errorf("round(pi) = %v", got)
	}
}

func TestForwardLatencyFromHistogram(t *testing.T) {
	scrape := func(text string) sample {
		m, err := parseMetrics(strings.NewReader(text), metricForward)
		if err != nil {
			t.Fatal(err)
		}
		return sample{hists: map[string][]bucket{histForward: buckets(m, histForward)}}
	}
	// Begin: 100 samples all under 1 ms. End: 100 more, 50 under 1 ms, 48 in (1, 2] ms and
	// 2 in (2, 5] ms; in the window p50 is at the 1 ms bound and p99 half-way into (2, 5].
	begin := scrape(`dangol_forward_latency_seconds_bucket{le="0.001"} 100
dangol_forward_latency_seconds_bucket{le="0.002"} 100
dangol_forward_latency_seconds_bucket{le="0.005"} 100
dangol_forward_latency_seconds_bucket{le="+Inf"} 100
dangol_forward_latency_seconds_sum 0.05
`)
	end := scrape(`dangol_forward_latency_seconds_bucket{le="0.005"} 200
dangol_forward_latency_seconds_bucket{le="0.001"} 150
dangol_forward_latency_seconds_bucket{le="+Inf"} 200
dangol_forward_latency_seconds_bucket{le="0.002"} 198
`)
	got := latencyBetween(begin, end, histForward)
	if !got.Available || got.N != 100 {
		t.Fatalf("got %+v, want 100 samples", got)
	}
	if math.Abs(got.P50-1) > 1e-9 || math.Abs(got.P99-3.5) > 1e-9 {
		t.Errorf("p50 %v p99 %v, want 1 and 3.5 ms", got.P50, got.P99)
	}
	if f := latencyBetween(sample{}, end, histForward); f.N != 200 {
		t.Errorf("no histogram at the start (nothing observed yet): got %+v, want all 200 in the window", f)
	}
	if f := latencyBetween(begin, sample{}, histForward); f.Available {
		t.Errorf("no histogram at the end, got %+v", f)
	}
	if f := latencyBetween(end, end, histForward); f.Available {
		t.Errorf("nothing in the window, got %+v", f)
	}
}

func TestPacerSpreadsAFrame(t *testing.T) {
	tests := []struct {
		name    string
		bps     float64
		packets int
		minSpan time.Duration
	}{
		{"off", 0, 26, 0},
		// 26 packets of 1200 bytes at 3.75 Mbit/s take 66 ms; the last one may leave
		// its 2.56 ms slot early, and the first leaves at once.
		{"keyframe at 2.5x 1.5M", 3.75e6, 26, 60 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPacer(tt.bps)
			start := time.Now()
			for range tt.packets {
				if !p.wait(context.Background(), 1200) {
					t.Fatal("wait failed")
				}
			}
			span := time.Since(start)
			if span < tt.minSpan {
				t.Errorf("%d packets sent over %v, want at least %v", tt.packets, span, tt.minSpan)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := newPacer(8000) // one byte per millisecond: the second packet must wait
	p.wait(ctx, 1200)
	if p.wait(ctx, 1200) {
		t.Error("wait returned true after the context ended")
	}
}
