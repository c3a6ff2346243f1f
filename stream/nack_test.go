package stream

import (
	"path"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// lossyWriter loses the first send of every packet lose picks, as a bad link does; a
// retransmission of the same sequence number goes through.
type lossyWriter struct {
	webrtc.TrackLocalWriter
	lose func(seq uint16) bool
	mu   *sync.Mutex
	seen map[uint16]bool
}

func (w lossyWriter) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	w.mu.Lock()
	first := !w.seen[h.SequenceNumber]
	w.seen[h.SequenceNumber] = true
	w.mu.Unlock()
	if first && w.lose(h.SequenceNumber) {
		return len(p), nil
	}
	return w.TrackLocalWriter.WriteRTP(h, p)
}

func viewerSession(t *testing.T, ts *testServer, v *testViewer) *viewer {
	t.Helper()
	sess, ok := ts.session(path.Base(v.location))
	if !ok {
		t.Fatal("viewer session not found")
	}
	return sess.(*viewer)
}

// collectVideo gathers n video packets' sequence numbers (retransmissions included).
func collectVideo(t *testing.T, v *testViewer, n int) map[uint16]bool {
	t.Helper()
	got := map[uint16]bool{}
	for i := 0; i < n; i++ {
		got[v.next(t, webrtc.RTPCodecTypeVideo, 3*time.Second).header.SequenceNumber] = true
	}
	return got
}

// complete reports the first sequence number missing between the lowest and highest seen
// (ignoring the last few, whose retransmissions may still be on their way).
func firstGap(got map[uint16]bool) (uint16, bool) {
	var lo, hi uint16
	first := true
	for s := range got {
		if first || seqBefore(s, lo) {
			lo = s
		}
		if first || seqBefore(hi, s) {
			hi = s
		}
		first = false
	}
	for s := lo; s != hi-20; s++ {
		if !got[s] {
			return s, true
		}
	}
	return 0, false
}

// TestNACKServedFromCache loses every 20th packet toward a viewer and checks that the viewer's
// NACKs are answered by the server from its cache, so the viewer ends up with every packet.
func TestNACKServedFromCache(t *testing.T) {
	ts := startServer(t, Config{})
	pub := newTestPublisher(t, vp8Cap, layerSpec{bitrate: 1_000_000})
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	v := newTestViewer(t)
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
	for _, dt := range viewerSession(t, ts, v).tracks {
		if dt.kind != webrtc.RTPCodecTypeVideo {
			continue
		}
		b := *dt.bind.Load()
		b.w = lossyWriter{b.w, func(seq uint16) bool { return seq%20 == 0 }, &sync.Mutex{}, map[uint16]bool{}}
		dt.bind.Store(&b)
	}
	served := counterValue(t, ts.m.nacksServed)
	got := collectVideo(t, v, 400)
	if seq, ok := firstGap(got); ok {
		t.Errorf("viewer never got packet %d", seq)
	}
	if n := counterValue(t, ts.m.nacksServed) - served; n < 5 {
		t.Errorf("%v NACKs served from the cache, want the lost packets (>= 5)", n)
	}
}

// TestNACKToPublisher loses packets between publisher and server and checks the server asks
// the publisher for them, so viewers still get every packet.
func TestNACKToPublisher(t *testing.T) {
	ts := startServer(t, Config{})
	pub := newTestPublisher(t, vp8Cap, layerSpec{bitrate: 1_000_000})
	pub.drop = func(seq uint16) bool { return seq%25 == 3 }
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	v := newTestViewer(t)
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-pub.nacks:
		if seq%25 != 3 {
			t.Errorf("server NACKed %d, which was never lost", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server never NACKed a lost packet")
	}
	v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
	got := collectVideo(t, v, 300)
	if seq, ok := firstGap(got); ok {
		t.Errorf("viewer never got packet %d", seq)
	}
}
