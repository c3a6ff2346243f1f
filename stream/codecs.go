package stream

import (
	"fmt"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The RTCP feedback every video codec is negotiated with. goog-remb rather than transport-cc
// toward viewers that offer it: the browser then estimates its own bandwidth and tells us
// (REMB), which is all the layer choice needs, and the server runs no per-viewer congestion
// controller.
var (
	publisherVideoFeedback = []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBTransportCC},
	}
	viewerVideoFeedback = []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBGoogREMB},
	}
	// For viewers that offer transport-cc and not goog-remb (some WHEP players, some Firefox
	// configurations): the server then runs a congestion controller for them (see
	// newTWCCViewerAPI).
	twccViewerVideoFeedback = []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBTransportCC},
	}
)

// publisherVideoCodecs lists what a publisher may send, H.264 first: it records to MP4 and
// plays on every iPhone. RTX is left out on purpose: retransmissions then come on the media
// SSRC, and the server's cache and NACK logic deal with one sequence space per track.
func publisherVideoCodecs() []webrtc.RTPCodecParameters {
	h264 := func(pt webrtc.PayloadType, profile string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType:     webrtc.MimeTypeH264,
				ClockRate:    90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
				RTCPFeedback: publisherVideoFeedback,
			},
			PayloadType: pt,
		}
	}
	return []webrtc.RTPCodecParameters{
		h264(102, "42e01f"), // constrained baseline: what browsers and phones encode in hardware
		h264(104, "42001f"),
		h264(106, "4d001f"),
		h264(108, "640c1f"),
		{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: publisherVideoFeedback,
			},
			PayloadType: 96,
		},
	}
}

func opusCodec() webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}
}

// newPublisherAPI builds the API publishers connect through. When video (or audio) is not
// empty, only that codec is accepted: a publisher resuming a broadcast must send what the
// viewers have already negotiated.
func newPublisherAPI(se webrtc.SettingEngine, video, audio *webrtc.RTPCodecParameters) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	videoCodecs := publisherVideoCodecs()
	if video != nil {
		c := *video
		c.RTCPFeedback = publisherVideoFeedback
		videoCodecs = []webrtc.RTPCodecParameters{c}
	}
	for _, c := range videoCodecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	a := opusCodec()
	if audio != nil {
		a = *audio
	}
	if err := me.RegisterCodec(a, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register %s: %w", a.MimeType, err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, fmt.Errorf("simulcast extensions: %w", err)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, fmt.Errorf("transport-cc extension: %w", err)
		}
	}

	ir := &interceptor.Registry{}
	// The server asks the publisher again for what it lost on the way in, answers its
	// sender reports with receiver reports, and gives its congestion controller TWCC feedback.
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, fmt.Errorf("nack generator: %w", err)
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, fmt.Errorf("receiver reports: %w", err)
	}
	ir.Add(rr)
	tw, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("twcc: %w", err)
	}
	ir.Add(tw)

	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir)), nil
}

// newViewerAPI builds the API viewers of one broadcast connect through: exactly the
// broadcast's codecs, so the answer never offers what the server cannot send. Viewers tell
// the server their bandwidth with REMB (goog-remb, fed by abs-send-time).
func newViewerAPI(se webrtc.SettingEngine, video, audio *webrtc.RTPCodecParameters) (*webrtc.API, error) {
	return buildViewerAPI(se, video, audio, nil)
}

// newTWCCViewerAPI builds the API for a viewer that offers transport-cc but not goog-remb:
// such a browser sends no estimate, so the server estimates the path itself from the viewer's
// transport-wide feedback (send-side GCC). onEstimator receives the peer connection's
// estimator, synchronously, during NewPeerConnection.
//
// It costs per packet (a transport-wide sequence number, a send-time record, a lock in the
// pass-through pacer), which is why REMB viewers do not get it.
func newTWCCViewerAPI(se webrtc.SettingEngine, video, audio *webrtc.RTPCodecParameters, onEstimator func(cc.BandwidthEstimator)) (*webrtc.API, error) {
	return buildViewerAPI(se, video, audio, onEstimator)
}

func buildViewerAPI(se webrtc.SettingEngine, video, audio *webrtc.RTPCodecParameters, onEstimator func(cc.BandwidthEstimator)) (*webrtc.API, error) {
	withTWCC := onEstimator != nil
	me := &webrtc.MediaEngine{}
	if video != nil {
		c := *video
		c.RTCPFeedback = viewerVideoFeedback
		ext, extName := sdp.ABSSendTimeURI, "abs-send-time"
		if withTWCC {
			c.RTCPFeedback = twccViewerVideoFeedback
			ext, extName = sdp.TransportCCURI, "transport-cc"
		}
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("%s extension: %w", extName, err)
		}
	}
	if audio != nil {
		c := *audio
		if withTWCC {
			// Audio packets carry transport-wide sequence numbers too: more samples of the path.
			c.RTCPFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeAudio); err != nil {
				return nil, fmt.Errorf("transport-cc extension: %w", err)
			}
		}
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register %s: %w", audio.MimeType, err)
		}
	}
	ir, err := viewerInterceptors(se, onEstimator)
	if err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir)), nil
}

// viewerInterceptors are what a viewer's packets go through in pion; with onEstimator, the
// transport-wide congestion control of newTWCCViewerAPI.
func viewerInterceptors(se webrtc.SettingEngine, onEstimator func(cc.BandwidthEstimator)) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	// Sender reports let the browser line audio up with video. NACKs are answered by the
	// server from the up-track's cache (see downTrack), not by pion's per-viewer copy.
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("sender reports: %w", err)
	}
	ir.Add(sr)
	if onEstimator == nil {
		return ir, nil
	}
	// Outgoing packets pass the header-extension interceptor first (it is added last): it
	// stamps the transport-wide sequence number that the estimator then records with the
	// send time, and matches against the viewer's feedback.
	bwe, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		opts := []gcc.Option{
			// Start where a REMB viewer starts before its first report.
			gcc.SendSideBWEInitialBitrate(defaultBudget),
			// Packets go out as the writer hands them over: the layer choice keeps the rate
			// within the estimate, and pacing would only add delay.
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		}
		if se.LoggerFactory != nil {
			opts = append(opts, gcc.WithLoggerFactory(se.LoggerFactory))
		}
		e, err := gcc.NewSendSideBWE(opts...)
		if err != nil {
			return nil, err
		}
		return lenientEstimator{e}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("congestion control: %w", err)
	}
	bwe.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { onEstimator(e) })
	ir.Add(bwe)
	hdr, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, fmt.Errorf("transport-cc sequence numbers: %w", err)
	}
	ir.Add(hdr)
	return ir, nil
}

// lenientEstimator drops the estimator's errors on feedback. pion's cc interceptor returns
// them from the RTCP read, and a read error ends the viewer's RTCP reader (NACKs, PLIs): one
// malformed transport-cc packet from a browser must cost at most that packet.
type lenientEstimator struct{ cc.BandwidthEstimator }

func (e lenientEstimator) WriteRTCP(pkts []rtcp.Packet, attrs interceptor.Attributes) error {
	_ = e.BandwidthEstimator.WriteRTCP(pkts, attrs)
	return nil
}

// matchCodec picks, among the codecs negotiated for a sender, the one that carries want.
func matchCodec(want webrtc.RTPCodecCapability, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var fallback *webrtc.RTPCodecParameters
	for i, c := range have {
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if !strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) {
			return c, true
		}
		if fmtpParam(c.SDPFmtpLine, "packetization-mode") != fmtpParam(want.SDPFmtpLine, "packetization-mode") {
			continue
		}
		if strings.EqualFold(profileIDC(c.SDPFmtpLine), profileIDC(want.SDPFmtpLine)) {
			return c, true
		}
		if fallback == nil {
			fallback = &have[i]
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

func fmtpParam(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	if key == "packetization-mode" {
		return "0" // RFC 6184 default
	}
	return ""
}

// profileIDC is the profile part (profile_idc and constraint flags) of an H.264
// profile-level-id; the level part may differ between sender and receiver.
func profileIDC(line string) string {
	p := fmtpParam(line, "profile-level-id")
	if len(p) < 4 {
		return p
	}
	return p[:4]
}
