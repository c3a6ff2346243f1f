package stream

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// publisher is one WHIP session: the merchant's phone or OBS sending a channel's media.
//
// Lifecycle: created by the WHIP handler and attached to its channel's broadcast; its
// up-tracks appear as media arrives. When its connection is lost the broadcast waits Grace for
// another publisher with the channel's key; DELETE ends the broadcast.
type publisher struct {
	id  string
	b   *broadcast
	pc  *webrtc.PeerConnection
	log *slog.Logger
	res resource

	created   time.Time
	connected atomic.Bool
	lastMedia atomic.Int64 // unix nanos of the last packet on any track

	mu     sync.Mutex // guards tracks
	tracks []*upTrack

	once   sync.Once
	closed atomic.Bool
}

// alive reports whether the publisher still holds its channel: connected and sending, or
// still connecting. A phone that switched networks goes quiet at once, so StaleMedia lets its
// new session take over without waiting for ICE to time out.
func (p *publisher) alive(now time.Time) bool {
	cfg := p.b.s.cfg
	if p.closed.Load() {
		return false
	}
	switch p.pc.ConnectionState() {
	case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		return false
	}
	if !p.connected.Load() {
		return now.Sub(p.created) < cfg.ConnectTimeout && p.lastMedia.Load() == 0
	}
	last := p.lastMedia.Load()
	if last == 0 {
		last = p.created.UnixNano()
	}
	return now.UnixNano()-last < int64(cfg.StaleMedia)
}

func (p *publisher) onTrack(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	u := newUpTrack(p, remote)
	p.mu.Lock()
	p.tracks = append(p.tracks, u)
	p.mu.Unlock()
	p.log.Info("track started", "kind", u.kind.String(), "rid", u.rid, "codec", remote.Codec().MimeType)
	p.b.s.wg.Go(func() {
		u.run()
		p.b.trackEnded(u)
	})
	p.b.trackAdded(u)
}

func (p *publisher) onState(st webrtc.PeerConnectionState) {
	p.log.Debug("publisher connection", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		p.connected.Store(true)
		p.b.publisherConnected(p)
	case webrtc.PeerConnectionStateDisconnected:
		p.b.publisherLost(p)
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		p.close()
		p.b.publisherLost(p)
	}
}

// close drops the connection without ending the broadcast.
func (p *publisher) close() {
	p.once.Do(func() {
		p.closed.Store(true)
		p.b.s.forget(p.id)
		p.b.s.goClose(p.pc)
	})
}
