package stream

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// discardWriter is a bound track whose packets go nowhere: what is left to measure is the
// server's own work per packet per viewer (rewrite, history, header), not SRTP or the socket.
type discardWriter struct{}

func (discardWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	return h.MarshalSize() + len(p), nil
}
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkForward measures downTrack.forward for one packet to one viewer.
func BenchmarkForward(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{m: m, cfg: Config{KeyframeInterval: time.Second}}
	bc := &broadcast{s: s}
	v := &viewer{b: bc}
	u := &upTrack{kind: webrtc.RTPCodecTypeVideo, clock: 90000, pub: &publisher{b: bc}, m: m}
	dt := newDownTrack(v, webrtc.RTPCodecTypeVideo, vp8Cap)
	dt.bind.Store(&binding{ssrc: 1, pt: 96, absID: 3, w: discardWriter{}})
	dt.pending = u
	payload := make([]byte, 1100)
	pkts := make([]*packet, 1024)
	for i := range pkts {
		pkts[i] = &packet{header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i / 8 * 3000)}, payload: payload, keyframe: i == 0, at: time.Now().UnixNano()}
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dt.forward(u, pkts[i%len(pkts)], now)
	}
}
