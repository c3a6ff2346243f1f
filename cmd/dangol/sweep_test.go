package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/dangol/dangol/commerce"
)

// TestLeftOverBroadcast starts the server on a store whose broadcast a killed process left
// live: with no publisher it is ended once the grace has passed, and a publisher that comes
// back within the grace carries on with the same broadcast.
func TestLeftOverBroadcast(t *testing.T) {
	tests := []struct {
		name      string
		grace     time.Duration
		publish   bool
		wantEnded bool
	}{
		{name: "no publisher", grace: time.Second, wantEnded: true},
		// Long enough for a pion connection under -race on a busy machine.
		{name: "publisher comes back", grace: 4 * time.Second, publish: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			const slug = "kim-fish"
			secrets, left := leaveBroadcastLive(t, dir, slug, "김씨네 생선", true)

			start := time.Now()
			addr, logs, stop := startServe(t, []string{
				"--addr", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "-1",
				"--media-ip", "127.0.0.1", "--loopback", "--data", dir, "--grace", tt.grace.String(),
			})
			base := "http://" + addr
			room := joinRoom(t, base, slug)
			if !room.hello {
				t.Fatalf("room not live at start; the left-over broadcast should be until the grace passes")
			}
			if tt.publish {
				pc := publish(t, base, slug, secrets.key)
				defer pc.Close()
				waitLog(t, logs, `msg="left-over broadcast taken over by the media server"`, 10*time.Second)
			}
			// The sweep runs once the grace has passed, whatever happened before.
			waitLog(t, logs, `msg="left-over broadcasts swept"`, tt.grace+10*time.Second)

			bs := broadcasts(t, base, slug, secrets.key)
			if len(bs) != 1 || bs[0].ID != left.ID {
				t.Fatalf("broadcasts = %+v, want only the left-over one, %d", bs, left.ID)
			}
			b := bs[0]
			if !tt.wantEnded {
				if !b.Live || b.EndedAt != nil {
					t.Fatalf("broadcast %d ended although its publisher came back: %+v\nlogs:\n%s", b.ID, b, logs)
				}
				if err := stop(); err != nil {
					t.Fatalf("run: %v", err)
				}
				return
			}
			if b.Live || b.EndedAt == nil {
				t.Fatalf("broadcast %d still live after the grace with no publisher: %+v\nlogs:\n%s", b.ID, b, logs)
			}
			if earliest := start.Add(tt.grace); b.EndedAt.Before(earliest.Truncate(time.Millisecond)) {
				t.Errorf("ended at %v, before the grace ran out at %v", b.EndedAt, earliest)
			}
			room.waitLive(t, false)
			if err := stop(); err != nil {
				t.Fatalf("run: %v", err)
			}
			store := openTestStore(t, dir)
			open, err := store.Coupons(t.Context(), left.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(open) != 0 {
				t.Errorf("coupons of the ended broadcast still open: %+v", open)
			}
		})
	}
}

// leaveBroadcastLive adds a channel in dir and leaves a broadcast live in its store, with a
// coupon if asked, as a process that went live and died without ending it would.
func leaveBroadcastLive(t *testing.T, dir, slug, name string, coupon bool) (addedChannel, commerce.Broadcast) {
	t.Helper()
	out, _, err := runCommand(t, nil, "--data", dir, "channel", "add", slug, "--name", name)
	if err != nil {
		t.Fatalf("channel add: %v", err)
	}
	secrets := parseAdd(t, out)
	store := openTestStore(t, dir)
	defer store.Close()
	ch, err := store.Channel(t.Context(), slug)
	if err != nil {
		t.Fatal(err)
	}
	left, err := store.StartBroadcast(t.Context(), ch.ID, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if coupon {
		if _, err := store.DropCoupon(t.Context(), "c1", ch.ID, left.ID, commerce.CouponInput{
			Title: "첫 구매 할인", DiscountWon: 1000, Quantity: 10, ExpiresIn: time.Hour,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return secrets, left
}

// TestLeftOverBroadcastNotEndedOnShutdown checks a server stopped within the grace leaves the
// broadcast live for the next one to sweep.
func TestLeftOverBroadcastNotEndedOnShutdown(t *testing.T) {
	dir := t.TempDir()
	_, left := leaveBroadcastLive(t, dir, "lee-veg", "이씨네 채소", false)

	_, logs, stop := startServe(t, []string{
		"--addr", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "-1",
		"--media-ip", "127.0.0.1", "--loopback", "--data", dir, "--grace", "1m",
	})
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(logs.String(), `msg="left-over broadcasts swept"`) {
		t.Errorf("swept on shutdown; logs:\n%s", logs)
	}
	store := openTestStore(t, dir)
	b, err := store.Broadcast(t.Context(), left.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Live() {
		t.Errorf("broadcast %d ended by a shutdown within the grace", b.ID)
	}
}

// waitLog waits for a log line containing s.
func waitLog(t *testing.T, logs *logLines, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %s within %v; logs:\n%s", s, timeout, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type broadcastRow struct {
	ID      int64      `json:"id"`
	Live    bool       `json:"live"`
	EndedAt *time.Time `json:"ended_at"`
}

// broadcasts lists the channel's broadcasts through the merchant API.
func broadcasts(t *testing.T, base, slug, key string) []broadcastRow {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/api/channels/"+slug+"/broadcasts", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list broadcasts: status %d: %s", resp.StatusCode, body)
	}
	var out struct {
		Broadcasts []broadcastRow `json:"broadcasts"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("list broadcasts: %v: %s", err, body)
	}
	return out.Broadcasts
}

// publish connects a pion WHIP publisher to the channel and waits until it is connected.
func publish(t *testing.T, base, slug, key string) *webrtc.PeerConnection {
	t.Helper()
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	// One codec per kind, so the answer cannot pick one the tracks do not send.
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: vp8, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opus, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	video, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "phone")
	if err != nil {
		t.Fatal(err)
	}
	audio, err := webrtc.NewTrackLocalStaticRTP(opus, "audio", "phone")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	req, err := http.NewRequest("POST", base+"/whip/"+slug, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("whip: status %d: %s", resp.StatusCode, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatalf("set answer: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatalf("publisher not connected: %s", pc.ConnectionState())
	}
	return pc
}
