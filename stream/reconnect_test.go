package stream

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func waitEvent(t *testing.T, ts *testServer, kind EventKind) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-ts.events:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no event %d", kind)
		}
	}
}

// resumesOn reads the viewer's video until the publisher tagged 1 appears, and checks it
// starts on a keyframe and continues the sequence numbers where the old publisher's stopped.
func resumesOn(t *testing.T, v *testViewer) {
	t.Helper()
	last := v.next(t, webrtc.RTPCodecTypeVideo, 10*time.Second)
	p := last
	for p.mark.layer>>4 != 1 {
		last, p = p, v.next(t, webrtc.RTPCodecTypeVideo, 10*time.Second)
	}
	if !p.mark.keyframe {
		t.Errorf("resumed on %+v, not a keyframe start", p.mark)
	}
	if p.header.SequenceNumber != last.header.SequenceNumber+1 {
		t.Errorf("sequence %d after %d: the viewer sees a gap", p.header.SequenceNumber, last.header.SequenceNumber)
	}
	if d := int32(p.header.Timestamp - last.header.Timestamp); d <= 0 {
		t.Errorf("timestamp went back by %d", -d)
	}
	if st := v.pc.ConnectionState(); st != webrtc.PeerConnectionStateConnected {
		t.Errorf("viewer connection %s, want it kept connected", st)
	}
}

// TestPublisherReconnect drops the publisher's connection, as a phone moving from Wi-Fi to
// LTE does, and publishes again with the same key within the grace period: the broadcast
// goes on and the connected viewer resumes without renegotiating.
func TestPublisherReconnect(t *testing.T) {
	ts := startServer(t, Config{Grace: 30 * time.Second})
	pub := newTestPublisher(t, h264Cap)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ts, BroadcastStarted)
	v := newTestViewer(t)
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)

	pub.close()
	waitEvent(t, ts, PublisherLost)
	if !ts.Live(testChannel) {
		t.Fatal("broadcast ended when the publisher dropped; want it kept for the grace period")
	}

	again := newTaggedPublisher(t, 1, h264Cap)
	if err := again.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	waitEvent(t, ts, PublisherResumed)
	resumesOn(t, v)

	if code := deleteSession(t, again.location, testKey); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	q := waitEvent(t, ts, BroadcastEnded).Quality
	if q == nil || q.Reconnects != 1 || q.VideoBytes <= 0 || q.Live <= 0 {
		t.Errorf("quality at the end %+v, want 1 reconnect, video bytes and a live time", q)
	}
}

// TestStalePublisherReplaced: a phone that lost its network goes quiet without closing. A new
// session with the key takes over once the old one has sent nothing for StaleMedia.
func TestStalePublisherReplaced(t *testing.T) {
	ts := startServer(t, Config{StaleMedia: 300 * time.Millisecond})
	pub, v := liveAndWatched(t, ts, vp8Cap)
	pub.paused.Store(true)

	again := newTaggedPublisher(t, 1, vp8Cap)
	var err error
	eventually(t, 5*time.Second, "the new session to be accepted", func() bool {
		err = again.connect(t, ts, testChannel, testKey)
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusConflict {
			// Still considered alive: a real client retries with a fresh offer.
			again = newTaggedPublisher(t, 1, vp8Cap)
			return false
		}
		return true
	})
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	resumesOn(t, v)
	waitState(t, pub.pc, webrtc.PeerConnectionStateClosed, 10*time.Second)
}

// TestGraceExpires: no publisher comes back, so the broadcast ends and its viewers are let go.
func TestGraceExpires(t *testing.T) {
	ts := startServer(t, Config{Grace: 300 * time.Millisecond})
	pub, v := liveAndWatched(t, ts, vp8Cap)
	pub.close()
	waitEvent(t, ts, BroadcastEnded)
	if ts.Live(testChannel) {
		t.Error("channel still live after the grace period")
	}
	waitState(t, v.pc, webrtc.PeerConnectionStateClosed, 10*time.Second)
	eventually(t, 5*time.Second, "no sessions left", func() bool { return ts.Stats() == Stats{} })
}

// TestPublisherDeleteEnds: DELETE on the WHIP resource is the merchant pressing "end".
func TestPublisherDeleteEnds(t *testing.T) {
	ts := startServer(t, Config{})
	pub, v := liveAndWatched(t, ts, vp8Cap)
	if code := deleteSession(t, pub.location, testKey); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	q := waitEvent(t, ts, BroadcastEnded).Quality
	// The publisher sent video all along: no reconnect, and no stop long enough to count as
	// frozen.
	if q == nil || q.Reconnects != 0 || q.VideoBytes <= 0 || q.VideoKbps() <= 0 || q.Frozen != 0 {
		t.Errorf("quality at the end %+v, want video, no reconnect, nothing frozen", q)
	}
	waitState(t, v.pc, webrtc.PeerConnectionStateClosed, 10*time.Second)
	if code := deleteSession(t, pub.location, testKey); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
}

// TestDeleteAfterDrop: the phone lost its network, then the merchant taps End. The DELETE
// names a session whose connection the server has already closed; it must still end the
// broadcast at once instead of leaving viewers waiting out the grace period.
func TestDeleteAfterDrop(t *testing.T) {
	ts := startServer(t, Config{Grace: time.Minute})
	pub, v := liveAndWatched(t, ts, vp8Cap)
	pub.close()
	waitEvent(t, ts, PublisherLost)
	eventually(t, 10*time.Second, "the dropped publisher's session closed", func() bool { return ts.Stats().Publishers == 0 })
	if !ts.Live(testChannel) {
		t.Fatal("broadcast ended on the drop; want it waiting for the grace period")
	}
	if code := deleteSession(t, pub.location, "wrong-key"); code != http.StatusUnauthorized {
		t.Errorf("DELETE with a wrong key: %d, want 401", code)
	}
	if !ts.Live(testChannel) {
		t.Fatal("a DELETE with a wrong key ended the broadcast")
	}
	if code := deleteSession(t, pub.location, testKey); code != http.StatusOK {
		t.Fatalf("DELETE after the drop: %d, want 200", code)
	}
	waitEvent(t, ts, BroadcastEnded)
	waitState(t, v.pc, webrtc.PeerConnectionStateClosed, 10*time.Second)
	if code := deleteSession(t, pub.location, testKey); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
}

// TestVideoKbps: the average bitrate holds for a long broadcast (bytes × 8 × 10⁹ ns would
// overflow an int64 after about an hour of simulcast).
func TestVideoKbps(t *testing.T) {
	for _, tt := range []struct {
		name string
		q    Quality
		want int64
	}{
		{"not live", Quality{VideoBytes: 1000}, 0},
		{"one second at 800 kbit/s", Quality{Live: time.Second, VideoBytes: 100_000}, 800},
		{"three hours at 2.5 Mbit/s", Quality{Live: 3 * time.Hour, VideoBytes: 2_500_000 / 8 * 3 * 3600}, 2500},
	} {
		if got := tt.q.VideoKbps(); got != tt.want {
			t.Errorf("%s: %d kbit/s, want %d", tt.name, got, tt.want)
		}
	}
}
