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
// PLI per KeyframeInterval, however many viewers join together.
func TestKeyframeRequestsThrottled(t *testing.T) {
	ts := startServer(t, Config{KeyframeInterval: time.Hour})
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
	before := counterValue(t, ts.m.keyframeRequests)
	for range 50 {
		u.requestKeyframe()
	}
	if n := counterValue(t, ts.m.keyframeRequests) - before; n != 1 {
		t.Errorf("%v PLIs for 50 requests within the interval, want 1", n)
	}
	select {
	case <-pub.pliCh:
	case <-time.After(5 * time.Second):
		t.Fatal("the PLI never reached the publisher")
	}
}
