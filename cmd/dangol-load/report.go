package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// report is the run's result; the text and the --json output show the same
// fields. Durations are milliseconds, rates kbit/s.
type report struct {
	Codec      string  `json:"codec"`
	BitrateBps int64   `json:"bitrate_bps"`
	FPS        int     `json:"fps"`
	Channel    string  `json:"channel"`
	URL        string  `json:"server_url"`
	DurationS  float64 `json:"duration_s"`

	Viewers viewerCounts `json:"viewers"`

	FirstVideoMs    msStats `json:"first_video_ms"`
	FirstKeyframeMs msStats `json:"first_keyframe_ms"`
	// FirstNotKeyframe counts viewers whose first video packet did not
	// start a keyframe (the server should gate video on a keyframe).
	FirstNotKeyframe int `json:"first_not_keyframe"`

	Delivery      deliveryStats `json:"delivery"`
	DeliveryVideo deliveryStats `json:"delivery_video"`
	DeliveryAudio deliveryStats `json:"delivery_audio"`

	LatencyMs      msStats `json:"latency_ms"`
	LatencyVideoMs msStats `json:"latency_video_ms"`
	LatencyAudioMs msStats `json:"latency_audio_ms"`
	// ServerForwardMs is the server's part of the latency, from its own histogram.
	ServerForwardMs serverLatency `json:"server_forward_ms"`
	Received        receivedInfo  `json:"received"`
	Sent            sentInfo      `json:"sent"`
	Server          cpuInfo       `json:"server"`
	Tool            cpuInfo       `json:"tool"`
}

type viewerCounts struct {
	Requested    int            `json:"requested"`
	Connected    int            `json:"connected"`
	Failed       int            `json:"failed"`
	Lost         int            `json:"lost"` // connected, then disconnected during the run
	Retries503   int            `json:"retries_503"`
	NoVideo      int            `json:"no_video"`
	NoAudio      int            `json:"no_audio"`
	DeleteErrors int            `json:"delete_errors"`
	FailReasons  map[string]int `json:"fail_reasons,omitempty"`
}

type msStats struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean,omitempty"`
}

type deliveryStats struct {
	Viewers     int     `json:"viewers"` // viewers with a measurable range
	MinPct      float64 `json:"min_pct"`
	MeanPct     float64 `json:"mean_pct"`
	Expected    uint64  `json:"expected"`
	Received    uint64  `json:"received"`
	LastCounter int64   `json:"last_counter,omitempty"` // publisher counter at the cutoff
}

type receivedInfo struct {
	Packets int64 `json:"packets"` // all packets, duplicates included
	Dups    int64 `json:"dups"`
	Bad     int64 `json:"bad_payloads"`
	SeqGaps int64 `json:"seq_gaps"` // forward jumps in the server's sequence numbers
}

type sentInfo struct {
	Seconds         float64 `json:"seconds"`
	VideoPackets    int64   `json:"video_packets"`
	VideoKbps       float64 `json:"video_kbps"`
	AudioPackets    int64   `json:"audio_packets"`
	AudioKbps       float64 `json:"audio_kbps"`
	Keyframes       int64   `json:"keyframes"`
	ForcedKeyframes int64   `json:"forced_keyframes"` // in answer to PLI/FIR
	PLIs            int64   `json:"plis"`
	FIRs            int64   `json:"firs"`
	NACKs           int64   `json:"nacks"`
	WriteErrors     int64   `json:"write_errors"`
	PublisherLost   bool    `json:"publisher_lost"` // the WHIP connection dropped during the run
}

// buildReport aggregates the publisher and viewers after everything closed.
func buildReport(cfg config, pub *publisher, viewers []*viewer, lastVideo, lastAudio int64,
	begin, end sample, deleteErrs int,
) *report {
	r := &report{
		Codec: cfg.Codec, BitrateBps: cfg.Bitrate, FPS: cfg.FPS, Channel: cfg.Channel,
		URL: cfg.Server, DurationS: cfg.Duration.Seconds(),
	}
	r.Viewers.Requested = len(viewers)
	r.Viewers.DeleteErrors = deleteErrs
	reasons := map[string]int{}
	var firstVideo, firstKey []float64
	var lat, latV, latA histogram
	var dv, da, dall deliveryAcc
	for _, v := range viewers {
		r.Viewers.Retries503 += v.tries
		if v.err != nil {
			r.Viewers.Failed++
			reasons[failReason(v.err)]++
			continue
		}
		r.Viewers.Connected++
		if v.lost.Load() {
			r.Viewers.Lost++
		}
		vr, ar := v.result(webrtc.RTPCodecTypeVideo), v.result(webrtc.RTPCodecTypeAudio)
		if vr.packets == 0 {
			r.Viewers.NoVideo++
		} else {
			firstVideo = append(firstVideo, ms(vr.firstAt.Sub(v.postAt)))
			if !vr.firstWasKey {
				r.FirstNotKeyframe++
			}
		}
		if !vr.firstKeyAt.IsZero() {
			firstKey = append(firstKey, ms(vr.firstKeyAt.Sub(v.postAt)))
		}
		if ar.packets == 0 {
			r.Viewers.NoAudio++
		}
		gv, wv, okv := vr.delivery(lastVideo)
		ga, wa, oka := ar.delivery(lastAudio)
		dv.add(gv, wv, okv)
		da.add(ga, wa, oka)
		dall.add(gv+ga, wv+wa, okv || oka)
		latV.merge(&vr.latency)
		latA.merge(&ar.latency)
		for _, k := range []*kindResult{vr, ar} {
			lat.merge(&k.latency)
			r.Received.Packets += k.packets
			r.Received.Dups += k.dups
			r.Received.Bad += k.bad
			r.Received.SeqGaps += k.seqGaps
		}
	}
	if len(reasons) > 0 {
		r.Viewers.FailReasons = reasons
	}
	r.FirstVideoMs = sliceStats(firstVideo)
	r.FirstKeyframeMs = sliceStats(firstKey)
	r.Delivery, r.DeliveryVideo, r.DeliveryAudio = dall.stats(), dv.stats(), da.stats()
	r.DeliveryVideo.LastCounter, r.DeliveryAudio.LastCounter = lastVideo, lastAudio
	r.LatencyMs, r.LatencyVideoMs, r.LatencyAudioMs = lat.stats(), latV.stats(), latA.stats()
	r.Sent = pub.sentInfo()
	r.Server, r.Tool = cpuInfos(begin, end, r.Viewers.Connected)
	r.ServerForwardMs = latencyBetween(begin, end, histForward)
	return r
}

func (h *histogram) stats() msStats {
	return msStats{
		N: int(h.n), P50: ms(h.quantile(0.5)), P99: ms(h.quantile(0.99)),
		Max: ms(time.Duration(h.max) * time.Microsecond), Mean: ms(h.mean()),
	}
}

func (p *publisher) sentInfo() sentInfo {
	secs := p.stoppedAt.Sub(p.startedAt).Seconds()
	kbps := func(b int64) float64 {
		if secs <= 0 {
			return 0
		}
		return round(float64(b) * 8 / secs / 1000)
	}
	return sentInfo{
		Seconds:      round(secs),
		VideoPackets: int64(p.video.sent.Load()), VideoKbps: kbps(p.video.bytes.Load()),
		AudioPackets: int64(p.audio.sent.Load()), AudioKbps: kbps(p.audio.bytes.Load()),
		Keyframes: p.keyframes.Load(), ForcedKeyframes: p.forcedKeys.Load(),
		PLIs: p.plis.Load(), FIRs: p.firs.Load(), NACKs: p.nacks.Load(),
		WriteErrors:   p.video.writeErrs.Load() + p.audio.writeErrs.Load(),
		PublisherLost: p.lost.Load(),
	}
}

// deliveryAcc accumulates per-viewer delivery ratios.
type deliveryAcc struct {
	pcts      []float64
	got, want uint64
}

func (d *deliveryAcc) add(got, want uint64, ok bool) {
	if !ok || want == 0 {
		return
	}
	d.pcts = append(d.pcts, float64(got)/float64(want)*100)
	d.got += got
	d.want += want
}

func (d *deliveryAcc) stats() deliveryStats {
	s := deliveryStats{Viewers: len(d.pcts), Expected: d.want, Received: d.got}
	if len(d.pcts) == 0 {
		return s
	}
	s.MinPct = round(slices.Min(d.pcts))
	var sum float64
	for _, p := range d.pcts {
		sum += p
	}
	s.MeanPct = round(sum / float64(len(d.pcts)))
	return s
}

func sliceStats(v []float64) msStats {
	if len(v) == 0 {
		return msStats{}
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	return msStats{
		N: len(v), P50: round(percentile(v, 50)), P99: round(percentile(v, 99)),
		Max: round(percentile(v, 100)), Mean: round(sum / float64(len(v))),
	}
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

func round(x float64) float64 { return math.Round(x*100) / 100 }

// failReason groups connect errors into a few readable classes.
func failReason(err error) string {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("http %d", se.code)
	case errors.Is(err, errConnectTimeout):
		return "ice connect timeout"
	case errors.Is(err, errICEFailed):
		return "ice failed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "run ended before connect"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("dangol-load: %s %.0f kbit/s %d fps, %d viewers, %gs, %s channel %q",
		r.Codec, float64(r.BitrateBps)/1000, r.FPS, r.Viewers.Requested, r.DurationS, r.URL, r.Channel)
	v := r.Viewers
	p("viewers          connected %d/%d, failed %d, lost during run %d, 503 retries %d, no video %d, no audio %d",
		v.Connected, v.Requested, v.Failed, v.Lost, v.Retries503, v.NoVideo, v.NoAudio)
	for _, k := range slices.Sorted(maps.Keys(v.FailReasons)) {
		p("  failed: %-26s %d", k, v.FailReasons[k])
	}
	p("first video      %s  (from the WHEP POST)", r.FirstVideoMs.text("ms"))
	p("first keyframe   %s  first packet not a keyframe: %d", r.FirstKeyframeMs.text("ms"), r.FirstNotKeyframe)
	for _, d := range []struct {
		name string
		s    deliveryStats
	}{{"delivery", r.Delivery}, {"  video", r.DeliveryVideo}, {"  audio", r.DeliveryAudio}} {
		p("%-16s min %.2f%%  mean %.2f%%  (%d/%d packets over %d viewers)",
			d.name, d.s.MinPct, d.s.MeanPct, d.s.Received, d.s.Expected, d.s.Viewers)
	}
	p("latency          %s  (publisher write to viewer read)", r.LatencyMs.text("ms"))
	p("  video          %s", r.LatencyVideoMs.text("ms"))
	p("  audio          %s", r.LatencyAudioMs.text("ms"))
	if f := r.ServerForwardMs; f.Available {
		p("server forward   p50 %.2fms  p99 %.2fms  (n=%d; the server's read to send, from its histogram)", f.P50, f.P99, f.N)
	} else {
		p("server forward   n/a (server exports no dangol_forward_latency_seconds)")
	}
	p("received         %d packets, %d duplicates, %d bad payloads, %d sequence gaps",
		r.Received.Packets, r.Received.Dups, r.Received.Bad, r.Received.SeqGaps)
	s := r.Sent
	p("sent             %.1fs: video %d pkts %.0f kbit/s, audio %d pkts %.0f kbit/s, write errors %d, connection lost %v",
		s.Seconds, s.VideoPackets, s.VideoKbps, s.AudioPackets, s.AudioKbps, s.WriteErrors, s.PublisherLost)
	p("publisher rtcp   keyframes %d (%d on PLI/FIR), PLI %d, FIR %d, NACK %d",
		s.Keyframes, s.ForcedKeyframes, s.PLIs, s.FIRs, s.NACKs)
	if r.Server.Available {
		p("server cpu       %.1f%% of one core, %.1f millicores/viewer, rss %.0f MiB (over %.1fs)",
			r.Server.CPUPct, r.Server.MillicoresPerView, r.Server.RSSBytes/(1<<20), r.Server.WindowS)
	} else {
		p("server cpu       n/a: %s", r.Server.Error)
	}
	if r.Tool.Available {
		p("tool cpu         %.1f%% of one core (over %.1fs)", r.Tool.CPUPct, r.Tool.WindowS)
		if busy := r.Tool.CPUPct + r.Server.CPUPct; busy > 80*float64(runtime.NumCPU()) {
			p("warning          tool+server use %.0f%% of %d cores: latency includes scheduling delay", busy, runtime.NumCPU())
		}
	} else {
		p("tool cpu         n/a: %s", r.Tool.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (s msStats) text(unit string) string {
	if s.N == 0 {
		return "n/a"
	}
	return fmt.Sprintf("p50 %.2f%s  p99 %.2f%s  max %.2f%s  (n=%d)", s.P50, unit, s.P99, unit, s.Max, unit, s.N)
}
