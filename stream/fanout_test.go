package stream

import (
	"path"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// stuckWriter stands in for a viewer whose connection no longer drains: every write blocks
// until the test releases it, the way a send to a dead TCP peer does.
type stuckWriter struct {
	webrtc.TrackLocalWriter
	release chan struct{}
}

func (w stuckWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	<-w.release
	return w.TrackLocalWriter.WriteRTP(h, p)
}

// TestSlowViewerDoesNotDelayOthers freezes one viewer's writes and checks the other viewer
// keeps receiving every packet in order while the frozen one's queue overflows.
func TestSlowViewerDoesNotDelayOthers(t *testing.T) {
	ts := startServer(t, Config{QueueLen: 64})
	pub := newTestPublisher(t, vp8Cap, layerSpec{bitrate: 1_500_000})
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	slow, fast := newTestViewer(t), newTestViewer(t)
	for _, v := range []*testViewer{slow, fast} {
		if err := v.connect(t, ts, testChannel); err != nil {
			t.Fatal(err)
		}
		v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
	}

	release := make(chan struct{})
	var stuck *viewer
	if sess, ok := ts.session(path.Base(slow.location)); ok {
		stuck, _ = sess.(*viewer)
	}
	if stuck == nil {
		t.Fatal("slow viewer's session not found")
	}
	for _, dt := range stuck.tracks {
		b := *dt.bind.Load()
		b.w = stuckWriter{b.w, release}
		dt.bind.Store(&b)
	}
	defer close(release)
	dropsBefore := counterValue(t, ts.m.queueDrops)

	// Drain what was already on its way, then require 300 packets (about 2 s of 1.5 Mbps
	// video) in order with nothing missing.
	prev := fast.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
	for i := 0; i < 300; i++ {
		p := fast.next(t, webrtc.RTPCodecTypeVideo, 2*time.Second)
		if p.header.SequenceNumber != prev.header.SequenceNumber+1 {
			t.Fatalf("fast viewer: sequence %d after %d", p.header.SequenceNumber, prev.header.SequenceNumber)
		}
		prev = p
	}
	if drops := counterValue(t, ts.m.queueDrops) - dropsBefore; drops == 0 {
		t.Error("the stuck viewer's queue never overflowed: its writer was not isolated")
	}
}
