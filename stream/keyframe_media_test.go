package stream

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestJoinRequestsKeyframe checks a joining viewer makes the server ask the publisher for a
// keyframe, and that the viewer's video starts on one.
func TestJoinRequestsKeyframe(t *testing.T) {
	ts := startServer(t, Config{})
	pub := newTestPublisher(t, h264Cap)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	for len(pub.pliCh) > 0 {
		<-pub.pliCh
	}
	v := newTestViewer(t)
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.pliCh:
	case <-time.After(5 * time.Second):
		t.Fatal("no PLI reached the publisher after a viewer joined")
	}
	if p := v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second); !p.mark.keyframe {
		t.Errorf("first packet %+v is not a keyframe start", p.mark)
	}
}

// TestKeyframeRequestsThrottled checks that many requests at once reach the publisher as one
// PLI per KeyframeInterval, however many viewers join together, and that requests inside the
// interval are answered by one more PLI when it ends rather than dropped.
func TestKeyframeRequestsThrottled(t *testing.T) {
	const interval = 300 * time.Millisecond
	ts := startServer(t, Config{KeyframeInterval: interval})
	pub := newTestPublisher(t, vp8Cap)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	var u *upTrack
	eventually(t, 5*time.Second, "the video up-track", func() bool {
		if ls := ts.broadcast(testChannel).layers.Load(); len(ls.video) > 0 {
			u = ls.video[0]
		}
		return u != nil
	})
	// Start from a quiet track: no request in the last interval.
	eventually(t, 5*time.Second, "the join's keyframe request to age", func() bool {
		return time.Now().UnixNano()-u.lastPLI.Load() > int64(interval) && !u.pliPending.Load()
	})
	for len(pub.pliCh) > 0 {
		<-pub.pliCh
	}
	before := counterValue(t, ts.m.keyframeRequests)
	start := time.Now()
	for range 50 {
		u.requestKeyframe()
	}
	if n := counterValue(t, ts.m.keyframeRequests) - before; n != 1 && time.Since(start) < interval {
		t.Errorf("%v PLIs at once for 50 requests, want 1", n)
	}
	for i := range 2 {
		select {
		case <-pub.pliCh:
		case <-time.After(5 * time.Second):
			t.Fatalf("PLI %d never reached the publisher", i+1)
		}
	}
	eventually(t, 5*time.Second, "the deferred request to be sent", func() bool { return !u.pliPending.Load() })
	if n := counterValue(t, ts.m.keyframeRequests) - before; n != 2 {
		t.Errorf("%v PLIs for 50 requests, want 2: one at once, one when the interval ended", n)
	}
}
