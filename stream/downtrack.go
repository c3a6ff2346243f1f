package stream

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// histSize is how many sent packets a down-track remembers to answer NACKs: a power of two
// no smaller than the up-track cache, whose packets it points into.
const histSize = cacheSize

// sent records what a down-track sent under one of its own sequence numbers, so a NACK for
// it can be answered from the source's cache.
type sent struct {
	src     *upTrack
	upSeq   uint16
	downSeq uint16
	downTS  uint32
	valid   bool
}

// binding is what pion's negotiation decided for a down-track.
type binding struct {
	ssrc  uint32
	pt    uint8
	absID uint8 // abs-send-time extension id, 0 when not negotiated
	w     webrtc.TrackLocalWriter
}

// downTrack is what one viewer receives of one kind (audio or video). It implements
// webrtc.TrackLocal, so pion negotiates it like any track, but packets are written by the
// viewer's writer goroutine, which owns every field below the line. That goroutine rewrites
// sequence numbers and timestamps so that switching layer, or switching to a reconnected
// publisher's new tracks, looks to the viewer like one continuous stream.
type downTrack struct {
	v        *viewer
	kind     webrtc.RTPCodecType
	id       string
	streamID string
	codec    webrtc.RTPCodecCapability

	// Set by Bind, on pion's goroutine, before the connection can carry media.
	bind atomic.Pointer[binding]

	cur atomic.Pointer[upTrack] // mirrors current for the RTCP reader (PLI forwarding)

	// Owned by the viewer's writer goroutine.
	current, pending *upTrack
	pendingSince     time.Time
	started          bool
	seqOffset        uint16
	tsOffset         uint32
	baseSeq          uint16 // first sequence forwarded from current; older ones are stale
	lastSeq          uint16
	lastTS           uint32
	lastAt           time.Time
	forwarded        uint32 // packets forwarded, to sample the forwarding latency
	hist             [histSize]sent
	// Reused for every write: the header escapes into pion's writer, and a fresh one (and its
	// extension slice) per packet per viewer would be the hot path's only allocations.
	hdr  rtp.Header
	exts [1]rtp.Extension
	abs  [3]byte
}

func newDownTrack(v *viewer, kind webrtc.RTPCodecType, codec webrtc.RTPCodecCapability) *downTrack {
	return &downTrack{v: v, kind: kind, id: kind.String(), streamID: "dangol", codec: codec}
}

// Bind implements webrtc.TrackLocal.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, ok := matchCodec(d.codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	b := &binding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()}
	for _, ext := range ctx.HeaderExtensions() {
		if ext.URI == sdp.ABSSendTimeURI {
			b.absID = uint8(ext.ID)
		}
	}
	d.bind.Store(b)
	return c, nil
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error { return nil }

// ID implements webrtc.TrackLocal.
func (d *downTrack) ID() string { return d.id }

// RID implements webrtc.TrackLocal.
func (d *downTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (d *downTrack) StreamID() string { return d.streamID }

// Kind implements webrtc.TrackLocal.
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.kind }

// setTarget makes src the source to switch to at its next switch point (nil: stop). Called
// by the writer goroutine only.
func (d *downTrack) setTarget(src *upTrack, now time.Time) {
	if src == d.current && d.current != nil {
		if d.pending != nil {
			d.pending.unsubscribe(d)
			d.pending = nil
		}
		return
	}
	if src == d.pending {
		if src != nil && now.Sub(d.pendingSince) > time.Second {
			src.requestKeyframe() // the first request may have been lost
			d.pendingSince = now
		}
		return
	}
	if d.pending != nil {
		d.pending.unsubscribe(d)
	}
	d.pending, d.pendingSince = src, now
	if src == nil {
		return
	}
	src.subscribe(d)
	src.requestKeyframe()
}

// forward sends p, received on src, if this down-track is following src. Called by the
// writer goroutine only.
func (d *downTrack) forward(src *upTrack, p *packet, now time.Time) {
	if src == d.pending && (d.kind == webrtc.RTPCodecTypeAudio || p.keyframe) {
		d.switchTo(src, p, now)
	} else if src != d.current || seqBefore(p.header.SequenceNumber, d.baseSeq) {
		return
	}
	seq := p.header.SequenceNumber + d.seqOffset
	ts := p.header.Timestamp + d.tsOffset
	if seqBefore(d.lastSeq, seq) {
		d.lastSeq = seq
	}
	if int32(ts-d.lastTS) > 0 {
		d.lastTS, d.lastAt = ts, now
	}
	d.hist[seq%histSize] = sent{src: src, upSeq: p.header.SequenceNumber, downSeq: seq, downTS: ts, valid: true}
	d.write(p, seq, ts, now)
	// One packet in latencySample is timed: enough for the histogram's quantiles, and the
	// clock read and histogram update stay off most packets of the hot path.
	if d.forwarded++; d.forwarded%latencySample == 0 && p.at != 0 {
		d.v.b.s.m.forwardLatency.Observe(float64(time.Now().UnixNano()-p.at) / float64(time.Second))
	}
}

// latencySample is how many forwarded packets per down-track make one latency observation.
const latencySample = 16

// switchTo makes src current from packet p on. The offsets are chosen so that p follows the
// last packet sent with the next sequence number and a timestamp advanced by the wall-clock
// time since, which is what the viewer's jitter buffer expects of one continuous stream.
func (d *downTrack) switchTo(src *upTrack, p *packet, now time.Time) {
	if d.current != nil {
		d.current.unsubscribe(d)
	}
	d.current, d.pending = src, nil
	d.cur.Store(src)
	if !d.started {
		d.started = true
		d.lastSeq, d.lastTS = uint16(rand.Uint32()), rand.Uint32()
		d.lastAt = now
	}
	step := uint32(now.Sub(d.lastAt) * time.Duration(src.clock) / time.Second)
	if step == 0 {
		step = 1
	}
	d.seqOffset = d.lastSeq + 1 - p.header.SequenceNumber
	d.tsOffset = d.lastTS + step - p.header.Timestamp
	d.baseSeq = p.header.SequenceNumber
}

// resend answers a NACK for seq, one of this track's own sequence numbers.
func (d *downTrack) resend(seq uint16, now time.Time) {
	h := d.hist[seq%histSize]
	if !h.valid || h.downSeq != seq {
		d.v.b.s.m.nacksMissed.Inc()
		return
	}
	p := h.src.cache.get(h.upSeq)
	if p == nil {
		d.v.b.s.m.nacksMissed.Inc()
		return
	}
	d.v.b.s.m.nacksServed.Inc()
	d.write(p, seq, h.downTS, now)
}

func (d *downTrack) write(p *packet, seq uint16, ts uint32, now time.Time) {
	b := d.bind.Load()
	if b == nil {
		return
	}
	h := &d.hdr
	*h = rtp.Header{
		Extensions:     d.exts[:0],
		Version:        2,
		Padding:        p.header.Padding,
		PaddingSize:    p.header.PaddingSize,
		Marker:         p.header.Marker,
		PayloadType:    b.pt,
		SequenceNumber: seq,
		Timestamp:      ts,
		SSRC:           b.ssrc,
	}
	if b.absID != 0 {
		// 6.18 fixed point seconds, the low 24 bits (abs-send-time).
		ns := uint64(now.UnixNano())
		sec, frac := ns/uint64(time.Second), ns%uint64(time.Second)
		v := uint32((sec<<18 | frac<<18/uint64(time.Second)) & 0xffffff)
		d.abs = [3]byte{byte(v >> 16), byte(v >> 8), byte(v)}
		_ = h.SetExtension(b.absID, d.abs[:])
	}
	n, err := b.w.WriteRTP(h, p.payload)
	if err != nil {
		return // the connection is closing; the viewer's close path cleans up
	}
	d.v.b.s.m.packetsOut.Inc()
	d.v.b.s.m.bytesOut.Add(float64(n))
}
