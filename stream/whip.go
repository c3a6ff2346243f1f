package stream

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

func (p *publisher) resource() *resource { return &p.res }
func (p *publisher) channel() string     { return p.b.channel }

// current reports whether p still holds its broadcast (connected or awaited in its grace).
func (p *publisher) current() bool {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return p.b.pub == p && !p.b.ended
}

// delete is the merchant ending the broadcast.
func (p *publisher) delete() {
	if p.current() {
		p.b.end("publisher ended the broadcast")
		return
	}
	p.close()
}

// publish starts (or resumes) channel's broadcast with the publisher's offer and returns the
// answer. The caller has checked the key.
func (s *Server) publish(ctx context.Context, channel, offer string) (*publisher, string, error) {
	if err := validateOffer(offer); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, "", ErrClosed
	}
	b := s.broadcasts[channel]
	if b == nil {
		if s.cfg.MaxPublishers > 0 && len(s.broadcasts) >= s.cfg.MaxPublishers {
			s.mu.Unlock()
			return nil, "", ErrFull
		}
		b = newBroadcast(s, channel)
		s.broadcasts[channel] = b
	}
	s.mu.Unlock()

	pc, err := b.pubAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	p := &publisher{id: newID(), b: b, pc: pc, created: time.Now(), res: resource{pc: pc}}
	p.log = b.log.With("publisher", p.id)
	replaced, err := b.attach(p)
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	if replaced != nil {
		p.log.Info("replacing a publisher that went quiet", "old", replaced.id)
		replaced.close()
	}
	pc.OnTrack(p.onTrack)
	pc.OnConnectionStateChange(p.onState)

	answer, err := p.res.negotiate(ctx, offer, func() error { return b.chooseCodecs(pc) })
	if err != nil {
		_ = pc.Close()
		b.detachFailed(p)
		return nil, "", err
	}
	s.mu.Lock()
	s.sessions[p.id] = p
	s.nPublishers++
	s.mu.Unlock()
	s.m.publishers.Inc()
	s.closeIfNotConnected(pc, func() { p.close(); b.publisherLost(p) })
	p.log.Info("publisher session created")
	return p, answer, nil
}

// chooseCodecs narrows each of the publisher's transceivers to one codec: H.264 when offered,
// else VP8, and Opus; on a resumed broadcast, what the first publisher chose. The broadcast's
// codecs, and so its viewers' API, are fixed by the first publisher's choice.
func (b *broadcast) chooseCodecs(pc *webrtc.PeerConnection) error {
	var video, audio *webrtc.RTPCodecParameters
	for _, tr := range pc.GetTransceivers() {
		offered := tr.Receiver().GetParameters().Codecs
		var pick *webrtc.RTPCodecParameters
		switch tr.Kind() {
		case webrtc.RTPCodecTypeVideo:
			if video != nil {
				return fmt.Errorf("%w: more than one video section", ErrBadOffer)
			}
			pick = pickCodec(offered, b.videoCodec, publisherVideoCodecs())
			video = pick
		case webrtc.RTPCodecTypeAudio:
			if audio != nil {
				return fmt.Errorf("%w: more than one audio section", ErrBadOffer)
			}
			pick = pickCodec(offered, b.audioCodec, []webrtc.RTPCodecParameters{opusCodec()})
			audio = pick
		default:
			continue
		}
		if pick == nil {
			return fmt.Errorf("%w: offered %s", ErrCodecMismatch, codecNames(offered))
		}
		if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{*pick}); err != nil {
			return fmt.Errorf("codec preferences: %w", err)
		}
	}
	if video == nil && audio == nil {
		return fmt.Errorf("%w: no audio or video", ErrBadOffer)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.viewerAPI != nil {
		return nil // resumed: already checked against the first publisher's codecs
	}
	api, err := newViewerAPI(b.s.se, video, audio)
	if err != nil {
		return err
	}
	pubAPI, err := newPublisherAPI(b.s.se, video, audio)
	if err != nil {
		return err
	}
	b.videoCodec, b.audioCodec, b.viewerAPI, b.pubAPI = video, audio, api, pubAPI
	return nil
}

// pickCodec returns the first of prefs (or fixed, when set) that the offer carries, with the
// offer's payload type.
func pickCodec(offered []webrtc.RTPCodecParameters, fixed *webrtc.RTPCodecParameters, prefs []webrtc.RTPCodecParameters) *webrtc.RTPCodecParameters {
	if fixed != nil {
		prefs = []webrtc.RTPCodecParameters{*fixed}
	}
	for _, want := range prefs {
		i := slices.IndexFunc(offered, func(c webrtc.RTPCodecParameters) bool {
			if !strings.EqualFold(c.MimeType, want.MimeType) {
				return false
			}
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeH264) {
				return fmtpParam(c.SDPFmtpLine, "packetization-mode") == fmtpParam(want.SDPFmtpLine, "packetization-mode") &&
					strings.EqualFold(profileIDC(c.SDPFmtpLine), profileIDC(want.SDPFmtpLine))
			}
			return true
		})
		if i >= 0 {
			c := offered[i]
			return &c
		}
	}
	return nil
}

func codecNames(cs []webrtc.RTPCodecParameters) string {
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.MimeType)
	}
	return strings.Join(slices.Compact(names), ", ")
}
