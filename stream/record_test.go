package stream

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// testSink is the consumer side of MediaSink: it keeps the marks of the video packets and
// counts the audio ones.
type testSink struct {
	mu    sync.Mutex // guards the fields below
	video []mark
	audio int
}

func (s *testSink) WriteVideo(p *rtp.Packet) {
	m, _ := readMark(p.Payload)
	s.mu.Lock()
	s.video = append(s.video, m)
	s.mu.Unlock()
}

func (s *testSink) SetVideoCodec(string) {}

func (s *testSink) WriteAudio(*rtp.Packet) {
	s.mu.Lock()
	s.audio++
	s.mu.Unlock()
}

func (s *testSink) counts() (video []mark, audio int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mark(nil), s.video...), s.audio
}

// TestRecordSink attaches a sink to a simulcast broadcast: it gets the audio and the top
// layer's video from a keyframe on, keeps getting both from the publisher that reconnects
// within the grace period, and is let go when the broadcast ends.
func TestRecordSink(t *testing.T) {
	ts := startServer(t, Config{Grace: 30 * time.Second})
	sink := &testSink{}
	if err := ts.Record(testChannel, sink); !errors.Is(err, ErrNotLive) {
		t.Fatalf("Record before going live: %v, want ErrNotLive", err)
	}
	layers := []layerSpec{{rid: "q", bitrate: 150_000}, {rid: "f", bitrate: 600_000}}
	pub := newTestPublisher(t, vp8Cap, layers...)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ts, BroadcastStarted)
	eventually(t, 5*time.Second, "both layers and audio", func() bool {
		ls := ts.broadcast(testChannel).layers.Load()
		return len(ls.video) == 2 && len(ls.audio) == 1
	})
	if err := ts.Record(testChannel, sink); err != nil {
		t.Fatalf("Record: %v", err)
	}
	const top = 1 // index of the "f" layer: marks carry tag*16 + layer index
	eventually(t, 5*time.Second, "video and audio in the sink", func() bool {
		v, a := sink.counts()
		return len(v) >= 30 && a >= 10
	})
	v, _ := sink.counts()
	if !v[0].keyframe {
		t.Errorf("sink started on %+v, not a keyframe start", v[0])
	}
	for _, m := range v {
		if m.layer != top {
			t.Fatalf("sink got layer %d, want only the top layer %d", m.layer, top)
		}
	}

	pub.close()
	waitEvent(t, ts, PublisherLost)
	again := newTaggedPublisher(t, 1, vp8Cap, layers...)
	if err := again.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	waitEvent(t, ts, PublisherResumed)
	_, audioBefore := sink.counts()
	var resumed []mark
	eventually(t, 10*time.Second, "the new publisher's video and audio in the sink", func() bool {
		v, a := sink.counts()
		resumed = resumed[:0]
		for _, m := range v {
			if m.layer>>4 == 1 {
				resumed = append(resumed, m)
			}
		}
		return len(resumed) >= 30 && a >= audioBefore+10
	})
	if !resumed[0].keyframe {
		t.Errorf("sink resumed on %+v, not a keyframe start", resumed[0])
	}
	// The new publisher's layers arrive one by one; the recording settles on the top one.
	if last := resumed[len(resumed)-1]; last.layer != 16+top {
		t.Errorf("sink on layer %d after the reconnect, want the top layer %d", last.layer, 16+top)
	}

	if code := deleteSession(t, again.location, testKey); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	waitEvent(t, ts, BroadcastEnded)
	if err := ts.Record(testChannel, sink); !errors.Is(err, ErrNotLive) {
		t.Errorf("Record after the end: %v, want ErrNotLive", err)
	}
}
