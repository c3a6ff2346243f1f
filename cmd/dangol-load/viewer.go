package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// inTrack is what one viewer received on one remote track. Only its reader
// goroutine writes it; it is read after that goroutine has returned.
type inTrack struct {
	kind        webrtc.RTPCodecType
	firstAt     time.Time // first packet
	firstKeyAt  time.Time // first packet of a keyframe (video)
	firstWasKey bool      // the very first video packet started a keyframe
	packets     int64     // all packets, duplicates included
	bytes       int64
	dups        int64 // counters received more than once (e.g. NACK retransmissions)
	bad         int64 // payloads without a readable stamp
	seqGaps     int64 // jumps in the server's (rewritten) sequence numbers
	minCounter  uint32
	have        bool
	seen        bitset
	latency     histogram
	endErr      error // why reading stopped, when not a normal close
}

// viewer is one WHEP PeerConnection.
//
// Lifecycle: connect (POST, answer, ICE) under the ramp limit; pion starts a
// reader per track from OnTrack; close deletes the session, closes the
// PeerConnection and waits for the readers, after which the results may be
// read without locks.
type viewer struct {
	id     int
	log    *slog.Logger
	pc     *webrtc.PeerConnection
	sess   session
	postAt time.Time   // the successful POST was sent
	err    error       // connect failure, nil when connected
	tries  int         // 503 retries before success
	lost   atomic.Bool // connection dropped before close
	ending atomic.Bool // close has started: state changes are ours

	mu      sync.Mutex // guards closed, tracks and readers.Add
	closed  bool
	tracks  []*inTrack
	readers sync.WaitGroup
}

// connect runs the WHEP exchange and waits for the PeerConnection to
// connect. It sets v.err on failure.
func (v *viewer) connect(ctx context.Context, api *webrtc.API, sig *signaler, cfg config) {
	v.err = v.connectErr(ctx, api, sig, cfg)
	if v.err != nil {
		v.log.Debug("viewer failed", "err", v.err)
	}
}

func (v *viewer) connectErr(ctx context.Context, api *webrtc.API, sig *signaler, cfg config) error {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("new peer connection: %w", err)
	}
	v.pc = pc
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return fmt.Errorf("add %s transceiver: %w", k, err)
		}
	}
	pc.OnTrack(v.onTrack)
	cs := watchState(pc, func(s webrtc.PeerConnectionState) {
		if !v.ending.Load() {
			v.lost.Store(true)
			v.log.Debug("viewer connection lost", "state", s.String())
		}
	})
	sdp, err := offer(ctx, pc)
	if err != nil {
		return err
	}
	res, err := sig.post(ctx, "whep", cfg.Channel, "", sdp)
	v.tries = res.retries
	if err != nil {
		return err
	}
	v.sess, v.postAt = res.session, res.sentAt
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: res.answer}); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	return cs.wait(ctx, cfg.ConnectTimeout)
}

// onTrack runs in its own goroutine (pion starts one per track after the
// first packet) and reads until the track ends.
func (v *viewer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	t := &inTrack{kind: tr.Kind()}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.tracks = append(v.tracks, t)
	v.readers.Add(1)
	v.mu.Unlock()
	defer v.readers.Done()

	codec := "opus"
	if tr.Kind() == webrtc.RTPCodecTypeVideo {
		codec = strings.ToLower(strings.TrimPrefix(tr.Codec().MimeType, "video/"))
	}
	t.endErr = readTrack(tr, codec, t)
	if t.endErr != nil {
		v.log.Debug("track read ended", "kind", t.kind.String(), "err", t.endErr)
	}
}

// readTrack is the read loop. It reads into one reused buffer rather than
// ReadRTP, which allocates a packet and a 1460-byte buffer per call: with
// many viewers that garbage costs more CPU than the measurement itself.
func readTrack(tr *webrtc.TrackRemote, codec string, t *inTrack) error {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var lastSeq uint16
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		now := time.Now()
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			t.bad++
			continue
		}
		t.observe(now, codec, &pkt, lastSeq)
		lastSeq = pkt.SequenceNumber
	}
}

// observe records one packet received at now.
func (t *inTrack) observe(now time.Time, codec string, pkt *rtp.Packet, lastSeq uint16) {
	first := t.packets == 0
	t.packets++
	t.bytes += int64(len(pkt.Payload))
	if first {
		t.firstAt = now
	} else if d := pkt.SequenceNumber - lastSeq; d != 1 && d < 0x8000 {
		t.seqGaps++ // forward jump: the server skipped numbers
	}
	p, ok := parsePayload(codec, pkt.Payload)
	if !ok {
		t.bad++
		return
	}
	if p.key && t.firstKeyAt.IsZero() {
		t.firstKeyAt = now
		t.firstWasKey = first
	}
	if !t.seen.set(p.stamp.counter) {
		t.dups++
		return
	}
	if !t.have || p.stamp.counter < t.minCounter {
		t.minCounter, t.have = p.stamp.counter, true
	}
	t.latency.record(now.Sub(time.Unix(0, p.stamp.sent)))
}

// close deletes the session, closes the PeerConnection and waits for the
// track readers. It is safe on a viewer that never connected.
func (v *viewer) close(sig *signaler) (deleteErr error) {
	v.ending.Store(true)
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	if v.sess.url != nil {
		deleteErr = sig.delete(v.sess)
	}
	if v.pc != nil {
		if err := v.pc.Close(); err != nil {
			v.log.Debug("close viewer", "err", err)
		}
	}
	v.readers.Wait()
	if v.err == nil {
		vr := v.result(webrtc.RTPCodecTypeVideo)
		v.log.Debug("viewer done", "first_video", vr.firstAt.Sub(v.postAt), "first_key", vr.firstKeyAt.Sub(v.postAt),
			"video_packets", vr.packets, "lost", v.lost.Load())
	}
	return deleteErr
}

// kindResult merges the tracks of one kind (a server may replace a track,
// e.g. after a publisher reconnect).
type kindResult struct {
	tracks      int
	firstAt     time.Time
	firstKeyAt  time.Time
	firstWasKey bool
	packets     int64
	bytes       int64
	dups        int64
	bad         int64
	seqGaps     int64
	minCounter  uint32
	have        bool
	seen        bitset
	latency     histogram
}

func (v *viewer) result(kind webrtc.RTPCodecType) *kindResult {
	r := &kindResult{}
	for _, t := range v.tracks {
		if t.kind != kind {
			continue
		}
		if r.tracks == 0 || t.firstAt.Before(r.firstAt) {
			r.firstAt, r.firstWasKey = t.firstAt, t.firstWasKey
		}
		if !t.firstKeyAt.IsZero() && (r.firstKeyAt.IsZero() || t.firstKeyAt.Before(r.firstKeyAt)) {
			r.firstKeyAt = t.firstKeyAt
		}
		r.tracks++
		r.packets += t.packets
		r.bytes += t.bytes
		r.dups += t.dups
		r.bad += t.bad
		r.seqGaps += t.seqGaps
		if t.have && (!r.have || t.minCounter < r.minCounter) {
			r.minCounter, r.have = t.minCounter, true
		}
		r.seen.union(t.seen)
		r.latency.merge(&t.latency)
	}
	return r
}

// delivery returns how many distinct counters in [first received, last]
// arrived and how many were expected. ok is false when the viewer got
// nothing of this kind or joined after last.
func (r *kindResult) delivery(last int64) (got, want uint64, ok bool) {
	if !r.have || last < int64(r.minCounter) {
		return 0, 0, false
	}
	hi := uint32(last)
	return r.seen.count(r.minCounter, hi), uint64(hi-r.minCounter) + 1, true
}
