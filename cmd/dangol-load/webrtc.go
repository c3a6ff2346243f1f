package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	rtcpreport "github.com/pion/interceptor/pkg/report"
	"github.com/pion/webrtc/v4"
)

// Payload types offered; the server may renumber them in its answer.
const (
	ptVP8  = 96
	ptH264 = 102
	ptOpus = 111
)

// netPolicy keeps all media between this tool and the --server host.
type netPolicy struct {
	loopback bool     // the server is on 127.0.0.0/8 or ::1
	allowed  []net.IP // IPv4 addresses ICE may send to
}

// newNetPolicy resolves the server host and refuses a non-loopback server
// unless allowRemote is set.
func newNetPolicy(ctx context.Context, server *url.URL, allowRemote bool) (netPolicy, error) {
	host := server.Hostname()
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return netPolicy{}, fmt.Errorf("resolve %s: %w", host, err)
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	p := netPolicy{loopback: true}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			p.loopback = false
		}
		if v4 := ip.To4(); v4 != nil {
			p.allowed = append(p.allowed, v4)
		}
	}
	if p.loopback {
		// A loopback server announces 127.0.0.1 even when reached as ::1.
		p.allowed = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if !p.loopback && !allowRemote {
		return netPolicy{}, fmt.Errorf("%s: %w", host, errRemoteServer)
	}
	if len(p.allowed) == 0 {
		return netPolicy{}, fmt.Errorf("%s has no IPv4 address: %w", host, errRemoteServer)
	}
	return p, nil
}

func (p netPolicy) allows(ip net.IP) bool {
	for _, a := range p.allowed {
		if a.Equal(ip) {
			return true
		}
	}
	return false
}

// settingEngine gathers udp4 only, without mDNS or STUN, and with a loopback
// server only on 127.0.0.1; remote candidates other than the server's
// addresses are dropped so ICE never sends anywhere else.
func (p netPolicy) settingEngine() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetRemoteIPFilter(p.allows)
	if p.loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(isLoopbackInterface)
		loop := net.IPv4(127, 0, 0, 1)
		se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loop) })
	} else {
		se.SetIPFilter(func(ip net.IP) bool { return ip.To4() != nil && !ip.IsLoopback() })
	}
	// Fail fast enough that a dead session shows up within a short run.
	se.SetICETimeouts(3*time.Second, 10*time.Second, time.Second)
	return se
}

func isLoopbackInterface(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagLoopback != 0
}

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
}

func videoCodec(name string) webrtc.RTPCodecParameters {
	if name == codecH264 {
		return webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
				RTCPFeedback: videoFeedback,
			},
			PayloadType: ptH264,
		}
	}
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback,
		},
		PayloadType: ptVP8,
	}
}

var opusCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	},
	PayloadType: ptOpus,
}

// newPublisherAPI offers only the chosen video codec and Opus, answers the
// server's NACKs from a send buffer and sends sender reports, like a browser.
func newPublisherAPI(p netPolicy, codec string) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(videoCodec(codec), webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register video codec: %w", err)
	}
	if err := m.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	responder, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("nack responder: %w", err)
	}
	sender, err := rtcpreport.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("sender reports: %w", err)
	}
	ir := &interceptor.Registry{}
	ir.Add(responder)
	ir.Add(sender)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(p.settingEngine())), nil
}

// newViewerAPI offers both video codecs (the published one first) and Opus,
// with the minimal interceptors a browser has: a NACK generator and receiver
// reports.
func newViewerAPI(p netPolicy, codec string) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	other := codecH264
	if codec == codecH264 {
		other = codecVP8
	}
	for _, c := range []string{codec, other} {
		if err := m.RegisterCodec(videoCodec(c), webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register %s: %w", c, err)
		}
	}
	if err := m.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	generator, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, fmt.Errorf("nack generator: %w", err)
	}
	receiver, err := rtcpreport.NewReceiverInterceptor()
	if err != nil {
		return nil, fmt.Errorf("receiver reports: %w", err)
	}
	ir := &interceptor.Registry{}
	ir.Add(generator)
	ir.Add(receiver)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(p.settingEngine())), nil
}

// connState turns PeerConnection state changes into channels: connected is
// closed on the first Connected, failed on the first Failed or Closed.
type connState struct {
	connected chan struct{}
	failed    chan struct{}
}

func watchState(pc *webrtc.PeerConnection, onLost func(webrtc.PeerConnectionState)) *connState {
	cs := &connState{connected: make(chan struct{}), failed: make(chan struct{})}
	// pion calls the handler in a new goroutine per change, hence Once and
	// an atomic rather than plain flags.
	var upOnce, downOnce sync.Once
	var up atomic.Bool
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			up.Store(true)
			upOnce.Do(func() { close(cs.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed,
			webrtc.PeerConnectionStateDisconnected:
			if up.Load() && onLost != nil {
				onLost(s)
			}
			if s != webrtc.PeerConnectionStateDisconnected {
				downOnce.Do(func() { close(cs.failed) })
			}
		}
	})
	return cs
}

// wait blocks until connected, failed, timeout or ctx is done.
func (cs *connState) wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-cs.connected:
		return nil
	case <-cs.failed:
		return errICEFailed
	case <-t.C:
		return errConnectTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// offer creates the local offer and waits for ICE gathering to complete
// (non-trickle WHIP/WHEP).
func offer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	o, err := pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}
