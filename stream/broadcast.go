package stream

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// layerSet is the broadcast's current up-tracks by kind, each ordered low to high quality.
// It is replaced, never modified, so viewers read it without a lock.
type layerSet struct {
	video, audio []*upTrack
}

// broadcast is one channel's live show. It outlives any one publisher connection: when the
// merchant's phone drops, viewers stay connected through the grace period and follow the
// new publisher's tracks when it comes back.
//
// Lifecycle: created by the first WHIP POST for the channel; ended by DELETE on the
// publisher's resource, by the grace period running out, or by the server closing.
type broadcast struct {
	s       *Server
	channel string
	log     *slog.Logger
	started time.Time

	// Fixed by the first publisher's negotiation: a resuming publisher must send the same,
	// because viewers have negotiated it.
	videoCodec, audioCodec *webrtc.RTPCodecParameters
	pubAPI, viewerAPI      *webrtc.API

	layers atomic.Pointer[layerSet]

	mu      sync.Mutex // guards the fields below
	pub     *publisher
	viewers map[string]*viewer
	grace   *time.Timer
	live    bool // the first publisher has connected (BroadcastStarted sent)
	ended   bool
	// The recording, if any (Record): sink is fed by the audio tracks and by recVideo, the
	// one recorded video layer, through their taps.
	sink       MediaSink
	recVideo   *upTrack
	liveAt     time.Time // when the first publisher connected
	reconnects int

	// Video arrival, for Quality: written by the video up-tracks' readers.
	videoBytes atomic.Int64
	lastVideo  atomic.Int64 // unix nanos of the last video packet of any layer
	frozen     atomic.Int64 // nanos of gaps of FrozenGap or more
}

// videoArrived counts a video packet of n bytes that arrived at now, of any layer: the
// video stands still only when every layer does.
func (b *broadcast) videoArrived(n int, now int64) {
	b.videoBytes.Add(int64(n))
	if last := b.lastVideo.Swap(now); last != 0 && now-last >= int64(FrozenGap) {
		b.frozen.Add(now - last)
	}
}

// qualityLocked reports how the video came through up to now; the caller holds b.mu.
func (b *broadcast) qualityLocked(now time.Time) *Quality {
	q := &Quality{VideoBytes: b.videoBytes.Load(), Reconnects: b.reconnects, Frozen: time.Duration(b.frozen.Load())}
	if !b.liveAt.IsZero() {
		q.Live = now.Sub(b.liveAt)
	}
	if last := b.lastVideo.Load(); last != 0 {
		// A video that stopped before the end (the phone left, the grace ran out) stood
		// still until the end.
		if gap := now.UnixNano() - last; gap >= int64(FrozenGap) {
			q.Frozen += time.Duration(gap)
		}
	} else if q.Live >= FrozenGap {
		q.Frozen = q.Live // no video at all
	}
	return q
}

func newBroadcast(s *Server, channel string) *broadcast {
	b := &broadcast{
		s:       s,
		channel: channel,
		log:     s.log.With("channel", channel),
		started: time.Now(),
		pubAPI:  s.pubAPI,
		viewers: map[string]*viewer{},
	}
	b.layers.Store(&layerSet{})
	return b
}

// viewerList copies the viewers under the lock, so callers can call out without holding it.
func (b *broadcast) viewerList() []*viewer {
	b.mu.Lock()
	defer b.mu.Unlock()
	vs := make([]*viewer, 0, len(b.viewers))
	for _, v := range b.viewers {
		vs = append(vs, v)
	}
	return vs
}

func (b *broadcast) trackAdded(u *upTrack) {
	b.mu.Lock()
	if b.ended || b.pub != u.pub {
		b.mu.Unlock()
		return
	}
	b.setLayersLocked(func(ls *layerSet) { ls.add(u) })
	key := b.sinkTrackAddedLocked(u)
	b.mu.Unlock()
	if key != nil {
		key.requestKeyframe()
	}
	for _, v := range b.viewerList() {
		v.signal()
	}
}

func (b *broadcast) trackEnded(u *upTrack) {
	b.mu.Lock()
	b.setLayersLocked(func(ls *layerSet) { ls.remove(u) })
	key := b.sinkTrackEndedLocked(u)
	b.mu.Unlock()
	if key != nil {
		key.requestKeyframe()
	}
	for _, v := range b.viewerList() {
		v.signal()
	}
}

func (b *broadcast) setLayersLocked(change func(*layerSet)) {
	old := b.layers.Load()
	next := &layerSet{video: slices.Clone(old.video), audio: slices.Clone(old.audio)}
	change(next)
	b.layers.Store(next)
}

func (ls *layerSet) add(u *upTrack) {
	if u.kind == webrtc.RTPCodecTypeVideo {
		ls.video = append(ls.video, u)
		slices.SortStableFunc(ls.video, func(a, b *upTrack) int { return cmp.Compare(a.rank, b.rank) })
	} else {
		ls.audio = append(ls.audio, u)
	}
}

func (ls *layerSet) remove(u *upTrack) {
	ls.video = slices.DeleteFunc(ls.video, func(x *upTrack) bool { return x == u })
	ls.audio = slices.DeleteFunc(ls.audio, func(x *upTrack) bool { return x == u })
}

// attach makes p the broadcast's publisher. It fails with ErrPublisherActive while the
// current publisher is still alive; a stale one is replaced and returned for closing.
func (b *broadcast) attach(p *publisher) (replaced *publisher, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return nil, ErrNotLive
	}
	if b.pub != nil && b.pub.alive(time.Now()) {
		return nil, ErrPublisherActive
	}
	replaced, b.pub = b.pub, p
	if replaced != nil {
		// Its tracks stop feeding viewers and the recording now; theirs come in as the new
		// publisher's arrive.
		for _, ls := range [][]*upTrack{b.layers.Load().video, b.layers.Load().audio} {
			for _, u := range ls {
				if u.pub == replaced {
					u.tap.Store(nil)
				}
			}
		}
		if b.recVideo != nil && b.recVideo.pub == replaced {
			b.recVideo = nil
		}
		b.setLayersLocked(func(ls *layerSet) {
			ls.video = slices.DeleteFunc(ls.video, func(u *upTrack) bool { return u.pub == replaced })
			ls.audio = slices.DeleteFunc(ls.audio, func(u *upTrack) bool { return u.pub == replaced })
		})
	}
	return replaced, nil
}

// detachFailed undoes attach for a publisher whose negotiation failed.
func (b *broadcast) detachFailed(p *publisher) {
	b.mu.Lock()
	cur, live := b.pub, b.live
	if cur == p {
		b.pub = nil
	}
	b.mu.Unlock()
	if cur == p {
		if live {
			b.publisherLost(p)
		} else {
			b.end("publisher never connected")
		}
	}
}

func (b *broadcast) publisherConnected(p *publisher) {
	b.mu.Lock()
	if b.pub != p || b.ended {
		b.mu.Unlock()
		return
	}
	resumed := b.grace != nil
	if b.grace != nil {
		b.grace.Stop()
		b.grace = nil
	}
	first := !b.live
	b.live = true
	if first {
		b.liveAt = time.Now()
	} else if resumed {
		b.reconnects++
	}
	b.mu.Unlock()
	switch {
	case first:
		b.log.Info("broadcast started")
		b.s.emit(BroadcastStarted, b.channel)
	case resumed:
		b.log.Info("publisher resumed")
		b.s.emit(PublisherResumed, b.channel)
	}
}

// publisherLost starts the grace period if p is still the publisher.
func (b *broadcast) publisherLost(p *publisher) {
	b.mu.Lock()
	if b.pub != p || b.ended || b.grace != nil {
		b.mu.Unlock()
		return
	}
	if !b.live {
		b.mu.Unlock()
		b.end("publisher never connected")
		return
	}
	b.grace = time.AfterFunc(b.s.cfg.Grace, func() { b.graceExpired(p) })
	b.mu.Unlock()
	b.log.Info("publisher lost, waiting for it to come back", "grace", b.s.cfg.Grace)
	b.s.emit(PublisherLost, b.channel)
}

func (b *broadcast) graceExpired(p *publisher) {
	b.mu.Lock()
	expired := b.pub == p && b.grace != nil
	b.mu.Unlock()
	if expired {
		b.end("publisher did not come back")
	}
}

// end closes every session of the broadcast; the first call wins.
func (b *broadcast) end(reason string) {
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		return
	}
	b.ended = true
	if b.grace != nil {
		b.grace.Stop()
	}
	b.clearTapsLocked()
	b.sink = nil
	pub, live := b.pub, b.live
	q := b.qualityLocked(time.Now())
	b.mu.Unlock()

	b.s.removeBroadcast(b)
	if pub != nil {
		pub.close()
	}
	for _, v := range b.viewerList() {
		v.close()
	}
	b.log.Info("broadcast ended", "reason", reason, "duration", time.Since(b.started).Round(time.Second))
	if live {
		b.s.emitQuality(BroadcastEnded, b.channel, q)
	}
}

func (b *broadcast) addViewer(v *viewer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return ErrNotLive
	}
	if max := b.s.cfg.MaxViewersPerChannel; max > 0 && len(b.viewers) >= max {
		return ErrFull
	}
	b.viewers[v.id] = v
	return nil
}

func (b *broadcast) removeViewer(v *viewer) {
	b.mu.Lock()
	_, ok := b.viewers[v.id]
	delete(b.viewers, v.id)
	b.mu.Unlock()
	if ok {
		b.s.viewerGone(v)
	}
}
