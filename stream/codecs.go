package stream

import (
	"fmt"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The RTCP feedback every video codec is negotiated with. goog-remb rather than transport-cc
// toward viewers: the browser then estimates its own bandwidth and tells us (REMB), which is
// all the layer choice needs, and the server runs no per-viewer congestion controller.
var (
	publisherVideoFeedback = []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBTransportCC},
	}
	viewerVideoFeedback = []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBGoogREMB},
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
// broadcast's codecs, so the answer never offers what the server cannot send.
func newViewerAPI(se webrtc.SettingEngine, video, audio *webrtc.RTPCodecParameters) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if video != nil {
		c := *video
		c.RTCPFeedback = viewerVideoFeedback
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("abs-send-time extension: %w", err)
		}
	}
	if audio != nil {
		if err := me.RegisterCodec(*audio, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register %s: %w", audio.MimeType, err)
		}
	}
	ir := &interceptor.Registry{}
	// Sender reports let the browser line audio up with video. NACKs are answered by the
	// server from the up-track's cache (see downTrack), not by pion's per-viewer copy.
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("sender reports: %w", err)
	}
	ir.Add(sr)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir)), nil
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
