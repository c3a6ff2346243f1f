package stream

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// upTrack is one track a publisher sends: audio, or one simulcast layer of video. Its reader
// goroutine is the only receiver of the remote track; it fills the packet cache and hands each
// packet to the viewers subscribed to it.
//
// Lifecycle: created in the publisher's OnTrack, run until the remote track ends (the
// publisher's connection closed), then removed from the broadcast's layers.
type upTrack struct {
	remote *webrtc.TrackRemote
	pub    *publisher
	kind   webrtc.RTPCodecType
	keys   keyframeDetector // owned by the reader
	rid    string
	rank   int // layer order from the rid, low to high; bitrate breaks nothing if unknown
	clock  uint32
	log    *slog.Logger
	m      *metrics

	cache packetCache

	mu   sync.Mutex                   // guards writes of subs
	subs atomic.Pointer[[]*downTrack] // copy-on-write: the reader iterates a snapshot, lock-free
	tap  atomic.Pointer[sinkTap]      // the recording's sink, when this track is recorded; set under broadcast.mu

	lastPLI    atomic.Int64  // unix nanos of the last keyframe request
	pliPending atomic.Bool   // a request is waiting for the interval to end
	lastPacket atomic.Int64  // unix nanos of the last packet, to tell an idle layer
	bitrate    atomic.Uint64 // bits/s over the last full second
	done       chan struct{} // closed when the reader returns
}

func newUpTrack(pub *publisher, remote *webrtc.TrackRemote) *upTrack {
	u := &upTrack{
		remote: remote,
		pub:    pub,
		kind:   remote.Kind(),
		rid:    remote.RID(),
		rank:   ridRank(remote.RID()),
		clock:  remote.Codec().ClockRate,
		log:    pub.log.With("kind", remote.Kind().String(), "rid", remote.RID(), "ssrc", uint32(remote.SSRC())),
		m:      pub.b.s.m,
		done:   make(chan struct{}),
	}
	switch strings.ToLower(remote.Codec().MimeType) {
	case strings.ToLower(webrtc.MimeTypeVP8):
		u.keys.kind = codecVP8
	case strings.ToLower(webrtc.MimeTypeH264):
		u.keys.kind = codecH264
	}
	if u.clock == 0 {
		u.clock = 90000
	}
	u.subs.Store(&[]*downTrack{})
	return u
}

// ridRank orders the rids publishers commonly use; unknown names keep their arrival order
// (rank 1) and are ordered by measured bitrate.
func ridRank(rid string) int {
	switch strings.ToLower(rid) {
	case "q", "l", "low", "0":
		return 0
	case "h", "m", "mid", "1", "":
		return 1
	case "f", "hi", "high", "2":
		return 2
	}
	return 1
}

// run reads the remote track until it ends.
func (u *upTrack) run() {
	defer close(u.done)
	buf := make([]byte, 1500)
	var (
		highest  uint16
		started  bool
		winStart = time.Now()
		winBytes uint64
		video    = u.kind == webrtc.RTPCodecTypeVideo
	)
	for {
		n, _, err := u.remote.Read(buf)
		now := time.Now()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				u.log.Debug("up-track read ended", "err", err)
			}
			return
		}
		// A fresh, exactly sized copy: viewers hold on to it while we read the next one.
		raw := make([]byte, n)
		copy(raw, buf[:n])
		var rp rtp.Packet
		if err := rp.Unmarshal(raw); err != nil {
			continue
		}
		p := &packet{header: rp.Header, payload: rp.Payload, at: now.UnixNano()}
		p.keyframe = u.keys.isStart(p.payload, p.header.Timestamp)

		seq := p.header.SequenceNumber
		if !started {
			started, highest = true, seq
		} else if seqBefore(highest, seq) {
			if gap := uint64(seq - highest - 1); gap > 0 && gap < cacheSize {
				u.m.lostIn.Add(float64(gap))
			}
			highest = seq
		}
		u.cache.put(p)

		u.lastPacket.Store(now.UnixNano())
		if video {
			u.pub.b.videoArrived(n, now.UnixNano())
		}
		u.pub.lastMedia.Store(now.UnixNano())
		winBytes += uint64(n)
		u.m.packetsIn.Inc()
		u.m.bytesIn.Add(float64(n))
		if d := now.Sub(winStart); d >= time.Second {
			u.bitrate.Store(winBytes * 8 * uint64(time.Second) / uint64(d))
			winStart, winBytes = now, 0
		}

		for _, dt := range *u.subs.Load() {
			dt.v.enqueue(job{dt: dt, src: u, pkt: p})
		}
		if t := u.tap.Load(); t != nil {
			t.write(p)
		}
	}
}

func (u *upTrack) subscribe(dt *downTrack) {
	u.mu.Lock()
	defer u.mu.Unlock()
	old := *u.subs.Load()
	if slices.Contains(old, dt) {
		return
	}
	next := make([]*downTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, dt)
	u.subs.Store(&next)
}

func (u *upTrack) unsubscribe(dt *downTrack) {
	u.mu.Lock()
	defer u.mu.Unlock()
	old := *u.subs.Load()
	i := slices.Index(old, dt)
	if i < 0 {
		return
	}
	next := make([]*downTrack, 0, len(old)-1)
	next = append(next, old[:i]...)
	next = append(next, old[i+1:]...)
	u.subs.Store(&next)
}

// requestKeyframe asks the publisher for a keyframe on this track, at most once per
// KeyframeInterval however many viewers join or switch at once. A request inside the
// interval is not dropped: one PLI follows when the interval ends, so a viewer that joins
// just after another still gets its picture within the interval.
func (u *upTrack) requestKeyframe() {
	if u.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	interval := int64(u.pub.b.s.cfg.KeyframeInterval)
	now := time.Now().UnixNano()
	last := u.lastPLI.Load()
	if wait := last + interval - now; wait > 0 {
		if u.pliPending.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(wait), func() {
				u.pliPending.Store(false)
				u.lastPLI.Store(time.Now().UnixNano())
				u.sendPLI()
			})
		}
		return
	}
	if u.lastPLI.CompareAndSwap(last, now) {
		u.sendPLI()
	}
}

func (u *upTrack) sendPLI() {
	select {
	case <-u.done:
		return // the publisher has gone
	default:
	}
	u.m.keyframeRequests.Inc()
	err := u.pub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(u.remote.SSRC())}})
	if err != nil {
		u.log.Debug("keyframe request failed", "err", err)
	}
}

// active reports whether the layer has sent anything lately: browsers stop sending the top
// layers when their own bandwidth drops, and a viewer must not wait on a silent layer.
func (u *upTrack) active(now time.Time) bool {
	select {
	case <-u.done:
		return false
	default:
	}
	return now.UnixNano()-u.lastPacket.Load() < int64(1500*time.Millisecond)
}
