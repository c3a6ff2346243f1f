package stream

import (
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// MediaSink receives a broadcast's media as RTP, for recording: the audio track and the
// video of one simulcast layer.
//
// Its methods are called from the media path (an up-track's reader goroutine, possibly two
// at once while a publisher is replaced): they must not block. The sink may keep the packet:
// its payload is the server's copy of what the publisher sent, never changed afterwards
// (viewers' queues hold the same bytes), and the sink must not change it either.
type MediaSink interface {
	// SetVideoCodec gives the MIME type of the video (webrtc.MimeTypeVP8 or
	// webrtc.MimeTypeH264) before its first packet. A broadcast keeps its
	// codec: a publisher resuming it must send the same.
	SetVideoCodec(mime string)
	WriteVideo(*rtp.Packet)
	WriteAudio(*rtp.Packet)
}

// sinkTap connects one up-track to the broadcast's sink. The reader loads it once per
// packet; nil (the usual case) costs nothing more.
type sinkTap struct {
	sink    MediaSink
	video   bool
	waitKey atomic.Bool // video: drop until a keyframe starts, so the sink gets a decodable run
}

// write forwards one packet. The rtp.Packet shares the packet's buffers, which viewers
// read too: the sink must copy, not modify.
func (t *sinkTap) write(p *packet) {
	if !t.video {
		t.sink.WriteAudio(&rtp.Packet{Header: p.header, Payload: p.payload})
		return
	}
	if t.waitKey.Load() {
		if !p.keyframe {
			return
		}
		t.waitKey.Store(false)
	}
	t.sink.WriteVideo(&rtp.Packet{Header: p.header, Payload: p.payload})
}

// Record attaches sink to the channel's live broadcast: from now until the broadcast ends it
// receives the audio and the video of the highest simulcast layer present, starting at a
// keyframe that is requested at once. The sink stays attached when the publisher reconnects
// within the grace period; the new publisher's tracks feed it. A second call replaces the
// sink. It returns ErrNotLive when the channel has no live broadcast.
func (s *Server) Record(channel string, sink MediaSink) error {
	b := s.liveBroadcast(channel)
	if b == nil {
		return ErrNotLive
	}
	b.mu.Lock()
	if b.ended || !b.live {
		b.mu.Unlock()
		return ErrNotLive
	}
	b.clearTapsLocked()
	b.sink = sink
	ls := b.layers.Load()
	for _, u := range ls.audio {
		b.tapLocked(u)
	}
	var key *upTrack
	if n := len(ls.video); n > 0 {
		key = ls.video[n-1]
		b.tapLocked(key)
	}
	b.mu.Unlock()
	b.log.Info("recording attached")
	if key != nil {
		key.requestKeyframe()
	}
	return nil
}

// RequestKeyframe asks the channel's publisher for a keyframe on the recorded layer, within
// the keyframe request throttle. It does nothing when nothing is recorded.
func (s *Server) RequestKeyframe(channel string) {
	b := s.liveBroadcast(channel)
	if b == nil {
		return
	}
	b.mu.Lock()
	u := b.recVideo
	b.mu.Unlock()
	if u != nil {
		u.requestKeyframe()
	}
}

func (s *Server) liveBroadcast(channel string) *broadcast {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broadcasts[channel]
}

// tapLocked feeds u to the sink. A video layer becomes the recorded one and starts at its
// next keyframe; the caller requests it, outside the lock.
func (b *broadcast) tapLocked(u *upTrack) {
	t := &sinkTap{sink: b.sink, video: u.kind == webrtc.RTPCodecTypeVideo}
	if t.video {
		b.sink.SetVideoCodec(u.remote.Codec().MimeType)
		if b.recVideo != nil && b.recVideo != u {
			b.recVideo.tap.Store(nil)
		}
		b.recVideo = u
		t.waitKey.Store(true)
	}
	u.tap.Store(t)
}

// clearTapsLocked detaches the sink from every track.
func (b *broadcast) clearTapsLocked() {
	ls := b.layers.Load()
	for _, u := range ls.video {
		u.tap.Store(nil)
	}
	for _, u := range ls.audio {
		u.tap.Store(nil)
	}
	if b.recVideo != nil {
		b.recVideo.tap.Store(nil)
		b.recVideo = nil
	}
}

// sinkTrackAddedLocked feeds a new track to the sink if there is one, and returns the video
// layer to request a keyframe on. A new video layer is recorded when none is, when the
// recorded one is the previous publisher's, or when it ranks higher: a reconnecting
// publisher's layers arrive one by one, in any order, and the recording settles on the top.
func (b *broadcast) sinkTrackAddedLocked(u *upTrack) (key *upTrack) {
	if b.sink == nil {
		return nil
	}
	if u.kind != webrtc.RTPCodecTypeVideo {
		b.tapLocked(u)
		return nil
	}
	if cur := b.recVideo; cur != nil && cur.pub == u.pub && u.rank <= cur.rank {
		return nil
	}
	b.tapLocked(u)
	return u
}

// sinkTrackEndedLocked moves the recording off a layer that ended, onto the highest layer
// left, and returns the layer to request a keyframe on.
func (b *broadcast) sinkTrackEndedLocked(u *upTrack) (key *upTrack) {
	u.tap.Store(nil)
	if b.sink == nil || b.recVideo != u {
		return nil
	}
	b.recVideo = nil
	// The layers hold only the current publisher's tracks, ordered low to high.
	ls := b.layers.Load()
	if n := len(ls.video); n > 0 {
		b.tapLocked(ls.video[n-1])
		return ls.video[n-1]
	}
	return nil
}
