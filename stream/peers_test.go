package stream

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

var (
	vp8Cap  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	h264Cap = webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}
	opusCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
)

func codecsFor(video webrtc.RTPCodecCapability) []webrtc.RTPCodecParameters {
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	video.RTCPFeedback = fb
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: video, PayloadType: 96}, {RTPCodecCapability: opusCap, PayloadType: 111}}
}

// layerSpec is one video encoding a test publisher sends.
type layerSpec struct {
	rid     string
	bitrate int // bits/s
}

// mark is what the test publisher writes at the end of every payload, so a viewer can tell
// which layer and frame a packet came from whatever the server rewrote in the header.
type mark struct {
	layer    byte
	frame    uint32
	packet   uint16
	keyframe bool
}

const markLen = 8

func (m mark) put(b []byte) {
	b = b[len(b)-markLen:]
	b[0] = m.layer
	binary.BigEndian.PutUint32(b[1:], m.frame)
	binary.BigEndian.PutUint16(b[5:], m.packet)
	b[7] = 0
	if m.keyframe {
		b[7] = 1
	}
}

func readMark(p []byte) (mark, bool) {
	if len(p) < markLen {
		return mark{}, false
	}
	b := p[len(p)-markLen:]
	return mark{layer: b[0], frame: binary.BigEndian.Uint32(b[1:]), packet: binary.BigEndian.Uint16(b[5:]), keyframe: b[7] == 1}, true
}

type pubLayer struct {
	spec    layerSpec
	sender  *webrtc.RTPSender
	idx     byte
	track   *webrtc.TrackLocalStaticRTP
	seq     uint16
	ts      uint32
	frame   uint32
	needKey atomic.Bool
}

// testPublisher is a pion peer that publishes a generated stream, like a phone would: 30 fps
// video in one or more layers with a keyframe every 2 s and on every PLI, and 20 ms audio.
type testPublisher struct {
	pc       *webrtc.PeerConnection
	location string
	codec    webrtc.RTPCodecCapability
	layers   []*pubLayer
	audio    *webrtc.TrackLocalStaticRTP
	plis     atomic.Int64
	pliCh    chan string       // rid of each PLI received
	nacks    chan uint16       // sequence numbers the server asked for again
	drop     func(uint16) bool // when set, packets it returns true for are not sent the first time
	paused   atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
	dropMu   sync.Mutex
	dropped  map[uint16]*rtp.Packet
}

func newTestPublisher(t *testing.T, codec webrtc.RTPCodecCapability, layers ...layerSpec) *testPublisher {
	return newTaggedPublisher(t, 0, codec, layers...)
}

// newTaggedPublisher makes a publisher whose packets carry tag in their marks' layer field
// (tag*16 + layer), so a viewer can tell two publishers of one broadcast apart.
func newTaggedPublisher(t *testing.T, tag byte, codec webrtc.RTPCodecCapability, layers ...layerSpec) *testPublisher {
	t.Helper()
	if len(layers) == 0 {
		layers = []layerSpec{{bitrate: 600_000}}
	}
	pc, err := clientAPI(t, codecsFor(codec)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPublisher{
		pc: pc, codec: codec,
		pliCh: make(chan string, 256), nacks: make(chan uint16, 4096),
		done: make(chan struct{}), dropped: map[uint16]*rtp.Packet{},
	}
	var sender *webrtc.RTPSender
	for i, l := range layers {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if l.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(l.rid))
		}
		track, err := webrtc.NewTrackLocalStaticRTP(codec, "video", "pub", opts...)
		if err != nil {
			t.Fatal(err)
		}
		pl := &pubLayer{spec: l, idx: tag*16 + byte(i), track: track, seq: uint16(1000 * (i + 1)), ts: uint32(90000 * (i + 1))}
		pl.needKey.Store(true)
		p.layers = append(p.layers, pl)
		if i == 0 {
			if sender, err = pc.AddTrack(track); err != nil {
				t.Fatal(err)
			}
		} else if err := sender.AddEncoding(track); err != nil {
			t.Fatal(err)
		}
		pl.sender = sender
	}
	for _, l := range p.layers {
		go p.readRTCP(sender, l)
	}
	p.audio, err = webrtc.NewTrackLocalStaticRTP(opusCap, "audio", "pub")
	if err != nil {
		t.Fatal(err)
	}
	as, err := pc.AddTrack(p.audio)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := as.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *testPublisher) readRTCP(s *webrtc.RTPSender, l *pubLayer) {
	for {
		var pkts []rtcp.Packet
		var err error
		if l.spec.rid != "" {
			pkts, _, err = s.ReadSimulcastRTCP(l.spec.rid)
		} else {
			pkts, _, err = s.ReadRTCP()
		}
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt := pkt.(type) {
			case *rtcp.PictureLossIndication:
				l.needKey.Store(true)
				p.plis.Add(1)
				select {
				case p.pliCh <- l.spec.rid:
				default:
				}
			case *rtcp.TransportLayerNack:
				for _, n := range pkt.Nacks {
					for _, seq := range n.PacketList() {
						p.resend(l, seq)
						select {
						case p.nacks <- seq:
						default:
						}
					}
				}
			}
		}
	}
}

// connect publishes on the channel with key and starts sending media once connected.
func (p *testPublisher) connect(t *testing.T, ts *testServer, channel, key string) error {
	t.Helper()
	loc, err := signal(t, p.pc, ts.url+"/whip/"+channel, key)
	if err != nil {
		return err
	}
	p.location = loc
	waitState(t, p.pc, webrtc.PeerConnectionStateConnected, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.send(ctx)
	return nil
}

func (p *testPublisher) send(ctx context.Context) {
	defer close(p.done)
	video := time.NewTicker(time.Second / 30)
	audio := time.NewTicker(20 * time.Millisecond)
	defer video.Stop()
	defer audio.Stop()
	var audioSeq uint16
	var audioTS uint32
	for frame := 0; ; frame++ {
		select {
		case <-ctx.Done():
			return
		case <-audio.C:
			if p.paused.Load() {
				continue
			}
			payload := make([]byte, 80)
			mark{layer: 255, frame: uint32(audioSeq)}.put(payload)
			audioSeq++
			audioTS += 960
			_ = p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: audioSeq, Timestamp: audioTS}, Payload: payload})
		case <-video.C:
			if p.paused.Load() {
				continue
			}
			for _, l := range p.layers {
				p.sendFrame(l, frame%60 == 0)
			}
		}
	}
}

// sendFrame packetizes one frame of the layer's size as the codec's RTP format would.
func (p *testPublisher) sendFrame(l *pubLayer, periodicKey bool) {
	key := periodicKey || l.needKey.Swap(false)
	size := l.spec.bitrate / 8 / 30
	if key {
		size *= 3
	}
	const mtu = 1100
	n := max(1, (size+mtu-1)/mtu)
	l.ts += 3000
	for i := 0; i < n; i++ {
		payload := make([]byte, max(size/n, markLen+16))
		if p.codec.MimeType == webrtc.MimeTypeVP8 {
			if i == 0 {
				payload[0] = 0x10 // S: start of partition 0
				if !key {
					payload[1] = 0x01 // P: inter frame
				}
			}
		} else {
			switch {
			case key && i == 0:
				copy(payload, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce})
			case key:
				payload[0], payload[1] = 0x7c, 0x05
				if i == 1 {
					payload[1] |= 0x80
				}
			default:
				payload[0], payload[1] = 0x5c, 0x01
				if i == 0 {
					payload[1] |= 0x80
				}
			}
		}
		mark{layer: l.idx, frame: l.frame, packet: uint16(i), keyframe: key && i == 0}.put(payload)
		l.seq++
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: l.seq, Timestamp: l.ts, Marker: i == n-1}, Payload: payload}
		if l.spec.rid != "" {
			// pion leaves it to the application to tag simulcast packets, as browsers do.
			for _, ext := range l.sender.GetParameters().HeaderExtensions {
				switch ext.URI {
				case sdp.SDESMidURI:
					_ = pkt.Header.SetExtension(uint8(ext.ID), []byte("0"))
				case sdp.SDESRTPStreamIDURI:
					_ = pkt.Header.SetExtension(uint8(ext.ID), []byte(l.spec.rid))
				}
			}
		}
		if p.drop != nil && p.drop(l.seq) {
			p.dropMu.Lock()
			p.dropped[l.seq] = pkt
			p.dropMu.Unlock()
			continue
		}
		_ = l.track.WriteRTP(pkt)
	}
	l.frame++
}

// resend sends a packet the publisher "lost" on the way, as a real sender answers a NACK.
func (p *testPublisher) resend(l *pubLayer, seq uint16) {
	p.dropMu.Lock()
	pkt := p.dropped[seq]
	delete(p.dropped, seq)
	p.dropMu.Unlock()
	if pkt != nil {
		_ = l.track.WriteRTP(pkt)
	}
}

func (p *testPublisher) close() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	_ = p.pc.Close()
}

// rxPacket is one packet a test viewer received.
type rxPacket struct {
	kind   webrtc.RTPCodecType
	header rtp.Header
	mark   mark
	at     time.Time
}

// testViewer is a pion peer watching over WHEP that records every packet it receives.
type testViewer struct {
	pc       *webrtc.PeerConnection
	location string
	video    chan rxPacket
	audio    chan rxPacket
	tracks   chan *webrtc.TrackRemote
	overflow atomic.Int64
}

func newTestViewer(t *testing.T, networks ...webrtc.NetworkType) *testViewer {
	t.Helper()
	return newTestViewerWith(t, clientAPI(t, nil, networks...))
}

// newTestViewerWith makes a test viewer whose peer connection comes from api, for a viewer
// that offers other codecs, feedback or extensions than clientAPI's browser-like defaults.
func newTestViewerWith(t *testing.T, api *webrtc.API) *testViewer {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	v := &testViewer{
		pc: pc, video: make(chan rxPacket, 1<<14), audio: make(chan rxPacket, 1<<12),
		tracks: make(chan *webrtc.TrackRemote, 4),
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.tracks <- tr
		pkts := v.video
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			pkts = v.audio
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			m, _ := readMark(pkt.Payload)
			select {
			case pkts <- rxPacket{kind: tr.Kind(), header: pkt.Header, mark: m, at: time.Now()}:
			default:
				v.overflow.Add(1)
			}
		}
	})
	t.Cleanup(func() { _ = pc.Close() })
	return v
}

func (v *testViewer) connect(t *testing.T, ts *testServer, channel string) error {
	t.Helper()
	loc, err := signal(t, v.pc, ts.url+"/whep/"+channel, "")
	if err != nil {
		return err
	}
	v.location = loc
	return nil
}

// next returns the next packet of kind, failing the test after timeout.
func (v *testViewer) next(t *testing.T, kind webrtc.RTPCodecType, timeout time.Duration) rxPacket {
	t.Helper()
	pkts := v.video
	if kind == webrtc.RTPCodecTypeAudio {
		pkts = v.audio
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case p := <-pkts:
		return p
	case <-deadline.C:
		t.Fatalf("no %s packet within %s", kind, timeout)
	}
	panic("unreachable")
}

// sendREMB tells the server the viewer's bandwidth estimate, as Chrome does.
func (v *testViewer) sendREMB(t *testing.T, bitrate float32) {
	t.Helper()
	var ssrcs []uint32
	for _, tr := range v.pc.GetTransceivers() {
		if tr.Receiver() != nil && tr.Receiver().Track() != nil {
			ssrcs = append(ssrcs, uint32(tr.Receiver().Track().SSRC()))
		}
	}
	if err := v.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: bitrate, SSRCs: ssrcs}}); err != nil {
		t.Fatalf("send REMB: %v", err)
	}
}

// liveAndWatched publishes codec on the test channel and connects one viewer, returning once
// the viewer has video.
func liveAndWatched(t *testing.T, ts *testServer, codec webrtc.RTPCodecCapability) (*testPublisher, *testViewer) {
	t.Helper()
	pub := newTestPublisher(t, codec)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	v := newTestViewer(t)
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
	return pub, v
}
