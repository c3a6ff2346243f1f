package stream

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestPublishAndWatch publishes each codec with audio and checks a viewer gets both, starting
// on a keyframe, with the payloads the publisher sent.
func TestPublishAndWatch(t *testing.T) {
	tests := []struct {
		name  string
		codec webrtc.RTPCodecCapability
	}{
		{"h264", h264Cap},
		{"vp8", vp8Cap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Config{})
			pub := newTestPublisher(t, tt.codec)
			if err := pub.connect(t, ts, testChannel, testKey); err != nil {
				t.Fatalf("publish: %v", err)
			}
			v := newTestViewer(t)
			if err := v.connect(t, ts, testChannel); err != nil {
				t.Fatalf("watch: %v", err)
			}
			first := v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
			if !first.mark.keyframe {
				t.Errorf("first video packet is not a keyframe start: %+v", first.mark)
			}
			v.next(t, webrtc.RTPCodecTypeAudio, 5*time.Second)
			for i := 0; i < 2; i++ {
				tr := <-v.tracks
				want := tt.codec.MimeType
				if tr.Kind() == webrtc.RTPCodecTypeAudio {
					want = webrtc.MimeTypeOpus
				}
				if !strings.EqualFold(tr.Codec().MimeType, want) {
					t.Errorf("%s track codec %s, want %s", tr.Kind(), tr.Codec().MimeType, want)
				}
			}
			// Consecutive packets of the stream arrive with consecutive sequence numbers.
			prev := first
			for i := 0; i < 100; i++ {
				p := v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
				if p.header.SequenceNumber != prev.header.SequenceNumber+1 {
					t.Fatalf("sequence jumped from %d to %d", prev.header.SequenceNumber, p.header.SequenceNumber)
				}
				prev = p
			}
			select {
			case e := <-ts.events:
				if e.Kind != BroadcastStarted || e.Channel != testChannel {
					t.Errorf("first event %+v, want BroadcastStarted for %s", e, testChannel)
				}
			default:
				t.Error("no BroadcastStarted event")
			}
		})
	}
}
