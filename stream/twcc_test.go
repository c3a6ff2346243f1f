package stream

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// lossyLink stands for the path to a test viewer. As an interceptor of the viewer's peer
// connection, registered before pion's transport-cc feedback generator, it drops a share of
// the RTP packets the viewer receives before the generator sees them, so the feedback reports
// them lost as a real lossy path would; and it counts the feedback the viewer sends.
type lossyLink struct {
	interceptor.NoOp
	lossPct  atomic.Int64 // percent of received RTP packets dropped
	received atomic.Int64
	feedback atomic.Int64 // transport-cc feedback packets sent
}

func (l *lossyLink) NewInterceptor(string) (interceptor.Interceptor, error) { return l, nil }

func (l *lossyLink) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attrs, err := r.Read(b, a)
			if err != nil || !l.drop() {
				return n, attrs, err
			}
		}
	})
}

// drop spreads the losses evenly: packet k is dropped when it takes the count of dropped
// packets to the next whole share.
func (l *lossyLink) drop() bool {
	k, pct := l.received.Add(1), l.lossPct.Load()
	return k*pct/100 != (k-1)*pct/100
}

func (l *lossyLink) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if _, ok := p.(*rtcp.TransportLayerCC); ok {
				l.feedback.Add(1)
			}
		}
		return w.Write(pkts, a)
	})
}

// browserAPI is a viewer's pion API that, like a browser, sends transport-cc feedback for
// what it receives; with remb it also offers goog-remb and abs-send-time, as Chrome does,
// without it only transport-cc, as some WHEP players and Firefox configurations do.
func browserAPI(t *testing.T, link *lossyLink, remb bool) *webrtc.API {
	t.Helper()
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if remb {
		fb = append(fb, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBGoogREMB})
	}
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: vp8Cap.MimeType, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: h264Cap.MimeType, ClockRate: 90000, SDPFmtpLine: h264Cap.SDPFmtpLine, RTCPFeedback: fb}, PayloadType: 102},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCap, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	if remb {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if link != nil {
		ir.Add(link) // first: inside the feedback generator, which reads through it
	}
	// transport-cc feedback and the header extension on every codec, and the generator.
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// serverViewer is the server's side of a test viewer's session.
func serverViewer(t *testing.T, ts *testServer, v *testViewer) *viewer {
	t.Helper()
	id := v.location[strings.LastIndex(v.location, "/")+1:]
	ts.mu.Lock()
	defer ts.mu.Unlock()
	sv, ok := ts.sessions[id].(*viewer)
	if !ok {
		t.Fatalf("no viewer session %q on the server", id)
	}
	return sv
}

// waitLayers waits until the broadcast has n video layers with measured bitrates, and
// returns them low to high.
func waitLayers(t *testing.T, ts *testServer, n int) []*upTrack {
	t.Helper()
	var ls *layerSet
	eventually(t, 5*time.Second, "video layers with measured bitrates", func() bool {
		ls = ts.broadcast(testChannel).layers.Load()
		if len(ls.video) != n {
			return false
		}
		for _, u := range ls.video {
			if u.bitrate.Load() == 0 {
				return false
			}
		}
		return true
	})
	return ls.video
}

// extensionID returns the id negotiated for uri on the viewer's video receiver, or 0.
func extensionID(v *testViewer, uri string) int {
	for _, tr := range v.pc.GetTransceivers() {
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			continue
		}
		for _, e := range tr.Receiver().GetParameters().HeaderExtensions {
			if e.URI == uri {
				return e.ID
			}
		}
	}
	return 0
}

// TestTWCCViewerEstimateFollowsPath watches a three-layer broadcast with a viewer that offers
// transport-cc and no goog-remb, so the server must estimate the viewer's bandwidth from the
// viewer's transport-wide feedback. Over a lossy path the viewer is moved down to the lowest
// layer and kept there; once the path is clean the estimate climbs and takes the viewer to the
// top layer.
func TestTWCCViewerEstimateFollowsPath(t *testing.T) {
	ts := startServer(t, Config{})
	pub := newTestPublisher(t, vp8Cap,
		layerSpec{rid: "q", bitrate: 100_000},
		layerSpec{rid: "h", bitrate: 250_000},
		layerSpec{rid: "f", bitrate: 500_000})
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	layers := waitLayers(t, ts, 3)

	link := &lossyLink{}
	link.lossPct.Store(30)
	v := newTestViewerWith(t, browserAPI(t, link, false))
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	answer := v.pc.RemoteDescription().SDP
	for _, want := range []string{" transport-cc\r\n", sdp.TransportCCURI} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer to a transport-cc viewer lacks %q:\n%s", strings.TrimSpace(want), answer)
		}
	}
	for _, unwanted := range []string{"goog-remb", sdp.ABSSendTimeURI} {
		if strings.Contains(answer, unwanted) {
			t.Errorf("answer to a transport-cc viewer carries %q", unwanted)
		}
	}
	sv := serverViewer(t, ts, v)
	if sv.bwe == nil {
		t.Fatal("the server runs no estimator for a transport-cc viewer")
	}

	// The server stamps transport-wide sequence numbers, and the viewer reports on them.
	start := time.Now()
	p := v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
	id := extensionID(v, sdp.TransportCCURI)
	if id == 0 || p.header.GetExtension(uint8(id)) == nil {
		t.Fatalf("video packet without the transport-cc extension (negotiated id %d): %+v", id, p.header)
	}
	eventually(t, 5*time.Second, "transport-cc feedback from the viewer", func() bool { return link.feedback.Load() > 0 })

	// Lossy: down to the lowest layer, and it stays there.
	_, p = untilLayer(t, v, p, 0, 20*time.Second)
	est := sv.estimate.Load()
	t.Logf("30%% loss: lowest layer after %s, estimate %d bit/s (layers %d, %d, %d bit/s)",
		time.Since(start).Round(time.Millisecond), est, layers[0].bitrate.Load(), layers[1].bitrate.Load(), layers[2].bitrate.Load())
	if need := layers[1].bitrate.Load() * 115 / 100; est == 0 || est >= need {
		t.Errorf("estimate %d on the lowest layer, want between 0 and the %d the middle layer needs", est, need)
	}
	for range 30 { // a second of the lowest layer
		if p = v.next(t, webrtc.RTPCodecTypeVideo, 2*time.Second); p.mark.layer != 0 {
			t.Fatalf("layer %d over a 30%% lossy path, estimate %d", p.mark.layer, sv.estimate.Load())
		}
	}
	est = sv.estimate.Load()

	// Clean: the estimate climbs to the top layer.
	link.lossPct.Store(0)
	start = time.Now()
	untilLayer(t, v, p, 2, 45*time.Second)
	high := sv.estimate.Load()
	t.Logf("clean path: top layer after %s, estimate %d bit/s, %d feedback packets (%v)",
		time.Since(start).Round(time.Millisecond), high, link.feedback.Load(), sv.bwe.GetStats())
	// The estimate took the viewer up: no REMB, and the default budget is long gone. (It may
	// fall back a little once the top layer flows, so it is not compared with that layer.)
	if high <= est {
		t.Errorf("on the top layer with estimate %d, no higher than the %d over the lossy path", high, est)
	}
}

// TestREMBViewerGetsNoTransportCC checks that a viewer offering both goog-remb and
// transport-cc, as Chrome does, is answered with REMB only: the server runs no congestion
// controller and stamps no transport-wide sequence numbers for it.
func TestREMBViewerGetsNoTransportCC(t *testing.T) {
	ts := startServer(t, Config{})
	pub := newTestPublisher(t, vp8Cap)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	link := &lossyLink{}
	v := newTestViewerWith(t, browserAPI(t, link, true))
	if !strings.Contains(offerOf(t, v), "transport-cc") {
		t.Fatal("the test viewer does not offer transport-cc")
	}
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	answer := v.pc.RemoteDescription().SDP
	for _, unwanted := range []string{"transport-cc", sdp.TransportCCURI} {
		if strings.Contains(answer, unwanted) {
			t.Errorf("answer to a REMB viewer carries %q:\n%s", unwanted, answer)
		}
	}
	for _, want := range []string{" goog-remb\r\n", sdp.ABSSendTimeURI} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer to a REMB viewer lacks %q", strings.TrimSpace(want))
		}
	}
	if sv := serverViewer(t, ts, v); sv.bwe != nil {
		t.Error("the server runs an estimator for a REMB viewer")
	}
	// A second of video (the generator reports every 100 ms): no transport-cc feedback.
	for range 60 {
		v.next(t, webrtc.RTPCodecTypeVideo, 2*time.Second)
	}
	if n := link.feedback.Load(); n != 0 {
		t.Errorf("REMB viewer sent %d transport-cc feedback packets", n)
	}
}

// offerOf returns the offer v's peer connection would make.
func offerOf(t *testing.T, v *testViewer) string {
	t.Helper()
	o, err := v.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// TestOffersTWCCOnly classifies offers made by pion peers configured as different browsers.
func TestOffersTWCCOnly(t *testing.T) {
	offer := func(api *webrtc.API) string {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
		o, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return o.SDP
	}
	twccOnly := offer(browserAPI(t, nil, false))
	noExtension := strings.ReplaceAll(twccOnly, sdp.TransportCCURI, "urn:example:not-transport-cc")
	for _, c := range []struct {
		name  string
		offer string
		want  bool
	}{
		{"transport-cc only", twccOnly, true},
		{"transport-cc and goog-remb", offer(browserAPI(t, nil, true)), false},
		{"goog-remb only", offer(clientAPI(t, nil)), false},
		{"transport-cc feedback without its header extension", noExtension, false},
		{"transport-cc only, LF line endings", strings.ReplaceAll(twccOnly, "\r\n", "\n"), true},
	} {
		if got := offersTWCCOnly(c.offer); got != c.want {
			t.Errorf("%s: offersTWCCOnly = %v, want %v", c.name, got, c.want)
		}
	}
}

// chainWriter is a bound track's writer into a pion interceptor chain.
type chainWriter struct{ w interceptor.RTPWriter }

func (c chainWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) { return c.w.Write(h, p, nil) }
func (c chainWriter) Write(b []byte) (int, error)                   { return len(b), nil }

// benchmarkForwardChain is BenchmarkForward with the packets going through the interceptors
// a viewer's connection has (and then nowhere): the REMB viewer's, or the transport-cc
// viewer's with its sequence numbers and congestion controller.
func benchmarkForwardChain(b *testing.B, withTWCC bool) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{m: m, cfg: Config{KeyframeInterval: time.Second}}
	bc := &broadcast{s: s}
	v := &viewer{b: bc}
	var onEstimator func(cc.BandwidthEstimator)
	ext, absID := sdp.ABSSendTimeURI, uint8(3)
	if withTWCC {
		onEstimator, ext, absID = func(cc.BandwidthEstimator) {}, sdp.TransportCCURI, 0
	}
	ir, err := viewerInterceptors(webrtc.SettingEngine{}, onEstimator)
	if err != nil {
		b.Fatal(err)
	}
	chain, err := ir.Build("bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = chain.Close() })
	info := &interceptor.StreamInfo{
		SSRC: 1, ClockRate: 90000, MimeType: webrtc.MimeTypeVP8,
		RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: ext, ID: 3}},
	}
	w := chain.BindLocalStream(info, interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		return h.MarshalSize() + len(p), nil
	}))
	u := &upTrack{kind: webrtc.RTPCodecTypeVideo, clock: 90000, pub: &publisher{b: bc}, m: m}
	dt := newDownTrack(v, webrtc.RTPCodecTypeVideo, vp8Cap)
	dt.bind.Store(&binding{ssrc: 1, pt: 96, absID: absID, w: chainWriter{w}})
	dt.pending = u
	payload := make([]byte, 1100)
	pkts := make([]*packet, 1024)
	for i := range pkts {
		pkts[i] = &packet{header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i / 8 * 3000)}, payload: payload, keyframe: i == 0}
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dt.forward(u, pkts[i%len(pkts)], now)
	}
}

// BenchmarkForwardChainREMB is the per-packet cost of a REMB viewer through pion.
func BenchmarkForwardChainREMB(b *testing.B) { benchmarkForwardChain(b, false) }

// BenchmarkForwardChainTWCC is the per-packet cost of a transport-cc viewer through pion.
func BenchmarkForwardChainTWCC(b *testing.B) { benchmarkForwardChain(b, true) }
