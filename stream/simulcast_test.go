package stream

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// untilLayer reads video after prev until a packet of the layer arrives and returns it with
// the packet before it; it fails the test after timeout.
func untilLayer(t *testing.T, v *testViewer, prev rxPacket, layer byte, timeout time.Duration) (rxPacket, rxPacket) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p := v.next(t, webrtc.RTPCodecTypeVideo, timeout)
		if p.mark.layer == layer {
			return prev, p
		}
		prev = p
	}
	t.Fatalf("viewer never switched to layer %d", layer)
	return prev, prev
}

// TestSimulcastFollowsEstimate publishes three layers and moves a viewer's bandwidth estimate
// (REMB, as Chrome sends) down and up: the viewer gets the best layer that fits, switching on
// keyframes with sequence numbers and timestamps that continue without a break.
func TestSimulcastFollowsEstimate(t *testing.T) {
	ts := startServer(t, Config{})
	pub := newTestPublisher(t, vp8Cap,
		layerSpec{rid: "q", bitrate: 150_000},
		layerSpec{rid: "h", bitrate: 500_000},
		layerSpec{rid: "f", bitrate: 1_500_000})
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "three layers with measured bitrates", func() bool {
		ls := ts.broadcast(testChannel).layers.Load()
		if len(ls.video) != 3 {
			return false
		}
		for _, u := range ls.video {
			if u.bitrate.Load() == 0 {
				return false
			}
		}
		return true
	})
	v := newTestViewer(t)
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)

	steps := []struct {
		name     string
		estimate float32
		layer    byte
	}{
		{"low estimate gets the lowest layer", 250_000, 0},
		{"plenty gets the top layer", 5_000_000, 2},
		{"middling gets the middle layer", 800_000, 1},
		{"low again", 200_000, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			// A packet read before the estimate changes: every packet after it is in order.
			before := v.next(t, webrtc.RTPCodecTypeVideo, 2*time.Second)
			v.sendREMB(t, st.estimate)
			prev, first := untilLayer(t, v, before, st.layer, 10*time.Second)
			if !first.mark.keyframe {
				t.Errorf("switched to layer %d on a packet that is not a keyframe start: %+v", st.layer, first.mark)
			}
			if first.header.SequenceNumber != prev.header.SequenceNumber+1 {
				t.Errorf("sequence %d -> %d across the switch", prev.header.SequenceNumber, first.header.SequenceNumber)
			}
			if d := int32(first.header.Timestamp - prev.header.Timestamp); d <= 0 || d > 90000 {
				t.Errorf("timestamp moved by %d across the switch, want a small step forward", d)
			}
			// And it stays there: the next packets are all of the new layer.
			for range 30 {
				if p := v.next(t, webrtc.RTPCodecTypeVideo, 2*time.Second); p.mark.layer != st.layer {
					t.Fatalf("got layer %d after switching to %d", p.mark.layer, st.layer)
				}
			}
		})
	}
}
