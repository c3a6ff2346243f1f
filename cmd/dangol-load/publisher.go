package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// outTrack is one published track and what was sent on it. Counters are
// atomic: the send loop writes them, the report reads them.
type outTrack struct {
	track     *webrtc.TrackLocalStaticRTP
	sent      atomic.Uint32 // packets sent = next stamp counter
	bytes     atomic.Int64  // payload bytes
	writeErrs atomic.Int64
}

// next returns the stamp for the packet about to be written.
func (t *outTrack) next() stamp {
	return stamp{sent: time.Now().UnixNano(), counter: t.sent.Add(1) - 1}
}

// publisher is the WHIP side: one PeerConnection with a generated video and
// audio track.
//
// Lifecycle: newPublisher connects (POST, answer, ICE); send runs the media
// loops until its context ends; close deletes the session and closes the
// PeerConnection.
type publisher struct {
	cfg   config
	log   *slog.Logger
	pc    *webrtc.PeerConnection
	sess  session
	video *outTrack
	audio *outTrack

	keyRequest atomic.Bool // a PLI/FIR arrived since the last keyframe
	plis       atomic.Int64
	firs       atomic.Int64
	nacks      atomic.Int64
	keyframes  atomic.Int64
	forcedKeys atomic.Int64 // keyframes sent because of a PLI/FIR
	lost       atomic.Bool  // connection dropped before close
	ending     atomic.Bool  // close has started: state changes are ours

	wg        sync.WaitGroup // RTCP readers and send loops
	startedAt time.Time      // first media packet
	stoppedAt time.Time      // send loops returned
}

func newPublisher(ctx context.Context, cfg config, api *webrtc.API, sig *signaler, log *slog.Logger) (*publisher, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	p := &publisher{cfg: cfg, log: log, pc: pc}
	if err := p.connect(ctx, sig); err != nil {
		_ = pc.Close()
		p.wg.Wait()
		return nil, err
	}
	return p, nil
}

func (p *publisher) connect(ctx context.Context, sig *signaler) error {
	vc, ac := videoCodec(p.cfg.Codec), opusCodec
	vt, err := webrtc.NewTrackLocalStaticRTP(vc.RTPCodecCapability, "video", "dangol-load")
	if err != nil {
		return fmt.Errorf("video track: %w", err)
	}
	at, err := webrtc.NewTrackLocalStaticRTP(ac.RTPCodecCapability, "audio", "dangol-load")
	if err != nil {
		return fmt.Errorf("audio track: %w", err)
	}
	p.video, p.audio = &outTrack{track: vt}, &outTrack{track: at}
	for _, t := range []*outTrack{p.video, p.audio} {
		tr, err := p.pc.AddTransceiverFromTrack(t.track,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("add transceiver: %w", err)
		}
		p.wg.Add(1)
		go p.readRTCP(tr.Sender())
	}
	cs := watchState(p.pc, func(s webrtc.PeerConnectionState) {
		if !p.ending.Load() {
			p.lost.Store(true)
			p.log.Warn("publisher connection lost", "state", s.String())
		}
	})
	sdp, err := offer(ctx, p.pc)
	if err != nil {
		return err
	}
	res, err := sig.post(ctx, "whip", p.cfg.Channel, p.cfg.Key, sdp)
	if err != nil {
		return fmt.Errorf("whip: %w", err)
	}
	p.sess = res.session
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: res.answer}); err != nil {
		p.deleteSession(sig)
		return fmt.Errorf("set answer: %w", err)
	}
	if err := cs.wait(ctx, p.cfg.ConnectTimeout); err != nil {
		p.deleteSession(sig)
		return fmt.Errorf("publisher connect: %w", err)
	}
	return nil
}

// readRTCP reads the sender's RTCP so the interceptors run, and turns
// PLI/FIR into a keyframe request as a real encoder does.
func (p *publisher) readRTCP(s *webrtc.RTPSender) {
	defer p.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				p.log.Debug("publisher rtcp read ended", "err", err)
			}
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication:
				p.plis.Add(1)
				p.keyRequest.Store(true)
			case *rtcp.FullIntraRequest:
				p.firs.Add(1)
				p.keyRequest.Store(true)
			case *rtcp.TransportLayerNack:
				p.nacks.Add(1)
			}
		}
	}
}

// send runs the video and audio loops until ctx is done.
func (p *publisher) send(ctx context.Context) {
	p.startedAt = time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { p.sendVideo(ctx) })
	wg.Go(func() { p.sendAudio(ctx) })
	wg.Wait()
	p.stoppedAt = time.Now()
}

// frameSizes splits the bitrate over a GOP where the keyframe is five delta
// frames.
func frameSizes(bitrate int64, fps int, gop time.Duration) (key, delta int) {
	frames := max(gop.Seconds()*float64(fps), 1)
	d := float64(bitrate) / 8 * gop.Seconds() / (frames - 1 + 5)
	delta = max(int(d), 32)
	return 5 * delta, delta
}

func (p *publisher) sendVideo(ctx context.Context) {
	keySize, deltaSize := frameSizes(p.cfg.Bitrate, p.cfg.FPS, p.cfg.GOP)
	pk := newPacketizer(p.cfg.Codec)
	w := newRTPWriter(p.video, 90000, p.log.With("track", "video"))
	tick := time.NewTicker(time.Second / time.Duration(p.cfg.FPS))
	defer tick.Stop()
	pace := newPacer(float64(p.cfg.Bitrate) * p.cfg.Pace)
	var lastKey time.Time
	for {
		now := time.Now()
		forced := p.keyRequest.Swap(false)
		key := lastKey.IsZero() || now.Sub(lastKey) >= p.cfg.GOP || forced
		size := deltaSize
		if key {
			size = keySize
			lastKey = now
			p.keyframes.Add(1)
			if forced {
				p.forcedKeys.Add(1)
			}
		}
		ts := w.timestamp(now)
		if err := pk.video(size, key, p.video.next, func(b []byte, last bool) error {
			if !pace.wait(ctx, len(b)) {
				return ctx.Err()
			}
			return w.write(ts, b, last)
		}); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *publisher) sendAudio(ctx context.Context) {
	pk := newPacketizer("opus")
	w := newRTPWriter(p.audio, 48000, p.log.With("track", "audio"))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := w.write(w.timestamp(time.Now()), pk.opus(p.audio.next()), false); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pacer spreads video packets at a capped rate the way libwebrtc's pacer does, so that a
// keyframe reaches the server over tens of milliseconds as from a phone, not in one burst.
// Latency is stamped when a packet is written, after the pacer, so it measures the server.
type pacer struct {
	bps  float64 // 0: no pacing
	next time.Time
}

func newPacer(bps float64) *pacer { return &pacer{bps: bps} }

// wait blocks until a packet of n bytes may go; false when ctx ended first.
func (p *pacer) wait(ctx context.Context, n int) bool {
	if p.bps == 0 {
		return true
	}
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	// Packets due within a millisecond go at once: timers are no finer than that, and
	// libwebrtc's pacer also sends in small bursts.
	if d := p.next.Sub(now); d > time.Millisecond {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	p.next = p.next.Add(time.Duration(float64(n*8) / p.bps * float64(time.Second)))
	return true
}

// rtpWriter numbers packets of one track. Timestamps follow the wall clock
// from a random base, so a late tick shows up as a gap, as with a real
// capture clock.
type rtpWriter struct {
	t      *outTrack
	log    *slog.Logger
	clock  float64
	start  time.Time
	base   uint32
	seq    uint16
	pkt    rtp.Packet
	logged bool
}

func newRTPWriter(t *outTrack, clock int, log *slog.Logger) *rtpWriter {
	return &rtpWriter{
		t: t, log: log, clock: float64(clock), start: time.Now(),
		base: rand.Uint32(), seq: uint16(rand.Uint32()),
	}
}

func (w *rtpWriter) timestamp(now time.Time) uint32 {
	return w.base + uint32(now.Sub(w.start).Seconds()*w.clock)
}

// write sends one packet. A write error is counted and logged once; it does
// not stop the loop because pion reports per-binding errors that may be
// transient, but a closed track ends it.
func (w *rtpWriter) write(ts uint32, payload []byte, marker bool) error {
	w.pkt.Header = rtp.Header{Version: 2, Marker: marker, SequenceNumber: w.seq, Timestamp: ts}
	w.pkt.Payload = payload
	w.seq++
	if err := w.t.track.WriteRTP(&w.pkt); err != nil {
		w.t.writeErrs.Add(1)
		if errors.Is(err, io.ErrClosedPipe) {
			return err
		}
		if !w.logged {
			w.logged = true
			w.log.Warn("rtp write failed", "err", err)
		}
	}
	w.t.bytes.Add(int64(len(payload)))
	return nil
}

// snapshot returns the last counter sent on each track (-1 when none): the
// end of the range viewers are expected to have received.
func (p *publisher) snapshot() (video, audio int64) {
	return int64(p.video.sent.Load()) - 1, int64(p.audio.sent.Load()) - 1
}

func (p *publisher) deleteSession(sig *signaler) {
	if err := sig.delete(p.sess); err != nil {
		p.log.Warn("delete publisher session", "err", err)
	}
}

// close deletes the WHIP session and closes the PeerConnection. Call it
// after the send loops have returned.
func (p *publisher) close(sig *signaler) {
	p.ending.Store(true)
	p.deleteSession(sig)
	if err := p.pc.Close(); err != nil {
		p.log.Debug("close publisher", "err", err)
	}
	p.wg.Wait()
}
