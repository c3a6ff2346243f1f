package stream

import (
	"context"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

func (v *viewer) resource() *resource { return &v.res }
func (v *viewer) channel() string     { return v.b.channel }
func (v *viewer) delete()             { v.close() }

// watch creates a viewer of channel's broadcast from the viewer's offer and returns the answer.
func (s *Server) watch(ctx context.Context, channel, offer string) (*viewer, string, error) {
	if err := validateOffer(offer); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	b := s.broadcasts[channel]
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, "", ErrClosed
	case b == nil:
		s.mu.Unlock()
		return nil, "", ErrNotLive
	case s.cfg.MaxViewers > 0 && s.nViewers >= s.cfg.MaxViewers:
		s.mu.Unlock()
		return nil, "", ErrFull
	}
	// Count the viewer now, so that a rush of requests cannot all pass the limit.
	s.nViewers++
	s.mu.Unlock()
	s.m.viewers.Inc()

	v, answer, err := s.newViewer(ctx, b, offer)
	if err != nil {
		s.mu.Lock()
		s.nViewers--
		s.mu.Unlock()
		s.m.viewers.Dec()
		return nil, "", err
	}
	return v, answer, nil
}

func (s *Server) newViewer(ctx context.Context, b *broadcast, offer string) (*viewer, string, error) {
	b.mu.Lock()
	api, video, audio := b.viewerAPI, b.videoCodec, b.audioCodec
	b.mu.Unlock()
	if api == nil {
		return nil, "", ErrNotLive // the publisher is still negotiating
	}
	v := &viewer{
		id: newID(), b: b,
		queue: make(chan job, s.cfg.QueueLen),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	if video != nil && offersTWCCOnly(offer) {
		// A viewer that sends no REMB: the server estimates its bandwidth from its
		// transport-wide feedback. The API is the viewer's own, so the estimator its
		// NewPeerConnection creates can only be this viewer's.
		var err error
		if api, err = newTWCCViewerAPI(s.se, video, audio, v.useEstimator); err != nil {
			return nil, "", err
		}
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	v.pc, v.res = pc, resource{pc: pc}
	v.log = b.log.With("viewer", v.id)
	var senders []*webrtc.RTPSender
	for _, c := range []*webrtc.RTPCodecParameters{video, audio} {
		if c == nil {
			continue
		}
		dt := newDownTrack(v, kindOf(c), c.RTPCodecCapability)
		sender, err := pc.AddTrack(dt)
		if err != nil {
			_ = pc.Close()
			return nil, "", fmt.Errorf("add track: %w", err)
		}
		v.tracks = append(v.tracks, dt)
		senders = append(senders, sender)
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			v.connected.Store(true)
			v.signal()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			v.close()
		}
	})
	answer, err := v.res.negotiate(ctx, offer, func() error {
		if !usable(senders) {
			return fmt.Errorf("%w: the broadcast sends %s", ErrCodecMismatch, codecNames(nonNil(video, audio)))
		}
		return nil
	})
	if err == nil {
		err = b.addViewer(v)
	}
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	s.mu.Lock()
	s.sessions[v.id] = v
	s.mu.Unlock()
	for i, sender := range senders {
		dt := v.tracks[i]
		s.wg.Go(func() { v.readRTCP(sender, dt) })
	}
	s.wg.Go(v.run)
	s.closeIfNotConnected(pc, v.close)
	estimate := "remb"
	if v.bwe != nil {
		estimate = "transport-cc"
	}
	v.log.Debug("viewer session created", "estimate", estimate)
	return v, answer, nil
}

// offersTWCCOnly reports whether an offer asks for transport-wide congestion control feedback
// (the transport-cc feedback and its header extension) and not for REMB: a viewer whose
// bandwidth the server has to estimate itself.
func offersTWCCOnly(offer string) bool {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return false
	}
	var fb, ext bool
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" {
			continue
		}
		for _, a := range m.Attributes {
			switch a.Key {
			case "rtcp-fb":
				// "<payload type or *> <type> [<parameter>]"
				f := strings.Fields(a.Value)
				if len(f) < 2 {
					continue
				}
				switch f[1] {
				case webrtc.TypeRTCPFBGoogREMB:
					return false
				case webrtc.TypeRTCPFBTransportCC:
					fb = true
				}
			case "extmap":
				// "<id>[/<direction>] <uri> [<attributes>]"
				if f := strings.Fields(a.Value); len(f) >= 2 && f[1] == sdp.TransportCCURI {
					ext = true
				}
			}
		}
	}
	return fb && ext
}

// usable reports whether the viewer's offer accepts at least one of the broadcast's codecs;
// if none, the viewer would connect and receive nothing.
func usable(senders []*webrtc.RTPSender) bool {
	for _, s := range senders {
		if len(s.GetParameters().Codecs) > 0 {
			return true
		}
	}
	return false
}

func kindOf(c *webrtc.RTPCodecParameters) webrtc.RTPCodecType {
	if len(c.MimeType) > 5 && c.MimeType[:5] == "audio" {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

func nonNil(cs ...*webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	var out []webrtc.RTPCodecParameters
	for _, c := range cs {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out
}
