package stream

import (
	"bytes"
	"net/http"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestUnconnectedSessionsCleanedUp posts offers from peers that never apply the answer, as a
// client that vanished mid-handshake: both sessions are closed after ConnectTimeout.
func TestUnconnectedSessionsCleanedUp(t *testing.T) {
	ts := startServer(t, Config{ConnectTimeout: 500 * time.Millisecond})
	pub := newTestPublisher(t, vp8Cap)
	offer, err := pub.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := post(t, ts.url+"/whip/"+testChannel, testKey, "application/sdp", offer.SDP); resp.StatusCode != http.StatusCreated {
		t.Fatalf("whip: %d %s", resp.StatusCode, body)
	}
	if st := ts.Stats(); st.Publishers != 1 || st.Broadcasts != 1 {
		t.Fatalf("stats %+v after the POST", st)
	}
	eventually(t, 10*time.Second, "the unconnected publisher to be dropped", func() bool { return ts.Stats() == Stats{} })
	if n := counterValue(t, ts.m.timedOut); n != 1 {
		t.Errorf("sessions_timed_out_total = %v, want 1", n)
	}
	// The channel is free again.
	again := newTestPublisher(t, vp8Cap)
	if err := again.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatalf("publish after the timeout: %v", err)
	}
	v := newTestViewer(t)
	offer, err = v.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := post(t, ts.url+"/whep/"+testChannel, "", "application/sdp", offer.SDP); resp.StatusCode != http.StatusCreated {
		t.Fatalf("whep: %d %s", resp.StatusCode, body)
	}
	eventually(t, 10*time.Second, "the unconnected viewer to be dropped", func() bool { return ts.Stats().Viewers == 0 })
}

// TestLimits: past the configured viewer and publisher limits the answer is a clear 503.
func TestLimits(t *testing.T) {
	ts := startServer(t, Config{MaxViewersPerChannel: 1, MaxPublishers: 1})
	pub := newTestPublisher(t, vp8Cap)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	if err := newTestViewer(t).connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	err := newTestViewer(t).connect(t, ts, testChannel)
	if se, ok := err.(*statusError); !ok || se.status != http.StatusServiceUnavailable || !bytes.Contains([]byte(se.body), []byte(`"full"`)) {
		t.Errorf("second viewer: %v, want 503 full", err)
	}
	err = newTestPublisher(t, vp8Cap).connect(t, ts, "other-stall", "key-other")
	if se, ok := err.(*statusError); !ok || se.status != http.StatusServiceUnavailable {
		t.Errorf("second channel: %v, want 503", err)
	}
	if st := ts.Stats(); st.Viewers != 1 || st.Broadcasts != 1 {
		t.Errorf("stats %+v: refused sessions were counted", st)
	}
}

// TestICETCP watches over ICE-TCP only, for networks that block UDP.
func TestICETCP(t *testing.T) {
	ts := startServer(t, Config{TCPAddr: "127.0.0.1:0"})
	pub := newTestPublisher(t, vp8Cap)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	v := newTestViewer(t, webrtc.NetworkTypeTCP4)
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	v.next(t, webrtc.RTPCodecTypeVideo, 10*time.Second)
	pair, err := v.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err == nil && pair != nil && pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Errorf("selected pair is %s, want TCP", pair.Local.Protocol)
	}
}

// TestNothingLeftBehind runs a broadcast with viewers, ends it, and checks that every session,
// goroutine and peer connection the server made is gone.
func TestNothingLeftBehind(t *testing.T) {
	ts := startServer(t, Config{})
	// Let the server's own goroutines settle, then count.
	baseline := runtime.NumGoroutine()
	func() {
		pub := newTestPublisher(t, vp8Cap, layerSpec{rid: "q", bitrate: 150_000}, layerSpec{rid: "f", bitrate: 800_000})
		if err := pub.connect(t, ts, testChannel, testKey); err != nil {
			t.Fatal(err)
		}
		var viewers []*testViewer
		for range 3 {
			v := newTestViewer(t)
			if err := v.connect(t, ts, testChannel); err != nil {
				t.Fatal(err)
			}
			v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
			viewers = append(viewers, v)
		}
		if code := deleteSession(t, viewers[0].location, ""); code != http.StatusOK {
			t.Fatalf("viewer DELETE: %d", code)
		}
		if code := deleteSession(t, pub.location, testKey); code != http.StatusOK {
			t.Fatalf("publisher DELETE: %d", code)
		}
		for _, v := range viewers {
			waitState(t, v.pc, webrtc.PeerConnectionStateClosed, 10*time.Second)
			_ = v.pc.Close()
		}
		pub.close()
	}()
	eventually(t, 10*time.Second, "no sessions", func() bool { return ts.Stats() == Stats{} })
	http.DefaultClient.CloseIdleConnections() // the test's own keep-alive connections
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Fatalf("%d goroutines, %d before the broadcast:\n%s", runtime.NumGoroutine(), baseline, buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGoroutinesStartDuringWait: shutdown waits for the server's goroutines while leaving
// viewers still start new ones (to close their connections); wait must cover those too.
func TestGoroutinesStartDuringWait(t *testing.T) {
	var g goroutines
	release := make(chan struct{})
	var second atomic.Bool
	g.Go(func() {
		<-release
		g.Go(func() {
			<-release
			second.Store(true)
		})
	})
	waited := make(chan struct{})
	go func() {
		g.wait()
		close(waited)
	}()
	close(release)
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return")
	}
	if !second.Load() {
		t.Error("wait returned before a goroutine started during the wait had finished")
	}
}
