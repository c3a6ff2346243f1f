package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

type packet struct {
	payload []byte
	last    bool
}

// packetize runs the packetizer with deterministic stamps starting at
// counter first and returns copies of the payloads.
func packetize(t *testing.T, codec string, size int, key bool, first uint32, sent int64) []packet {
	t.Helper()
	p := newPacketizer(codec)
	c := first
	next := func() stamp {
		s := stamp{sent: sent, counter: c}
		c++
		return s
	}
	var out []packet
	err := p.video(size, key, next, func(b []byte, last bool) error {
		out = append(out, packet{payload: bytes.Clone(b), last: last})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPacketizeVideo(t *testing.T) {
	tests := []struct {
		name    string
		codec   string
		size    int
		key     bool
		counter uint32
		sent    int64
		minPkts int
	}{
		{"vp8 keyframe", codecVP8, 30000, true, 0, 1_700_000_000_123_456_789, 25},
		{"vp8 delta", codecVP8, 5000, false, 7, 1_700_000_000_123_456_789, 5},
		{"vp8 tiny delta", codecVP8, 10, false, 1, 42, 1},
		{"h264 keyframe", codecH264, 30000, true, 0, 1_700_000_000_000_000_000, 26},
		{"h264 keyframe zero stamp", codecH264, 3000, true, 0, 0, 4},
		{"h264 delta single nal", codecH264, 800, false, 0x100, 1, 1},
		{"h264 delta fu-a", codecH264, 5000, false, 0x10000, 0x0100000000000003, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts := packetize(t, tt.codec, tt.size, tt.key, tt.counter, tt.sent)
			if len(pkts) < tt.minPkts {
				t.Fatalf("got %d packets, want >= %d", len(pkts), tt.minPkts)
			}
			for i, pk := range pkts {
				if len(pk.payload) > maxPayload {
					t.Errorf("packet %d: %d bytes > %d", i, len(pk.payload), maxPayload)
				}
				if pk.last != (i == len(pkts)-1) {
					t.Errorf("packet %d: marker %v", i, pk.last)
				}
				got, ok := parsePayload(tt.codec, pk.payload)
				if !ok {
					t.Fatalf("packet %d: no stamp in % x", i, pk.payload[:min(20, len(pk.payload))])
				}
				want := stamp{sent: tt.sent, counter: tt.counter + uint32(i)}
				if got.stamp != want {
					t.Errorf("packet %d: stamp %+v, want %+v", i, got.stamp, want)
				}
				if got.key != (tt.key && i == 0) && !(tt.codec == codecH264 && tt.key && i == 1) {
					t.Errorf("packet %d: key %v", i, got.key)
				}
			}
		})
	}
}

func TestVP8Bits(t *testing.T) {
	for _, key := range []bool{true, false} {
		pkts := packetize(t, codecVP8, 4000, key, 0, 1)
		for i, pk := range pkts {
			wantDesc := byte(0x00)
			if i == 0 {
				wantDesc = 0x10
			}
			if pk.payload[0] != wantDesc {
				t.Errorf("key=%v packet %d: descriptor %#x, want %#x", key, i, pk.payload[0], wantDesc)
			}
		}
		if p := pkts[0].payload[1] & 1; (p == 0) != key {
			t.Errorf("key=%v: P bit %d", key, p)
		}
		if key && !bytes.Equal(pkts[0].payload[4:7], []byte{0x9d, 0x01, 0x2a}) {
			t.Errorf("keyframe start code % x", pkts[0].payload[4:7])
		}
	}
}

// TestParseVP8Extended checks payloads whose descriptor a server rewrote to
// carry a 15-bit picture ID, TL0PICIDX and TID.
func TestParseVP8Extended(t *testing.T) {
	pkts := packetize(t, codecVP8, 3000, true, 5, 99)
	for i, pk := range pkts {
		ext := append([]byte{pk.payload[0] | 0x80, 0xe0, 0x81, 0x23, 0x07, 0x40}, pk.payload[1:]...)
		got, ok := parseVP8(ext)
		if !ok || got.stamp.counter != uint32(5+i) || got.key != (i == 0) {
			t.Errorf("packet %d: %+v ok=%v", i, got, ok)
		}
	}
}

// nalUnits reassembles the NAL units of H.264 payloads (STAP-A, FU-A,
// single).
func nalUnits(t *testing.T, pkts []packet) [][]byte {
	t.Helper()
	var nals [][]byte
	var fu []byte
	for _, pk := range pkts {
		b := pk.payload
		switch b[0] & 0x1f {
		case naluSTAPA:
			for rest := b[1:]; len(rest) > 0; {
				n := int(binary.BigEndian.Uint16(rest))
				nals = append(nals, rest[2:2+n])
				rest = rest[2+n:]
			}
		case naluFUA:
			if b[1]&0x80 != 0 {
				fu = []byte{b[0]&0xe0 | b[1]&0x1f}
			}
			fu = append(fu, b[2:]...)
			if b[1]&0x40 != 0 {
				nals = append(nals, fu)
			}
		default:
			nals = append(nals, b)
		}
	}
	return nals
}

func TestH264Bits(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		key   bool
		types []byte
	}{
		{"keyframe", 20000, true, []byte{naluSPS, naluPPS, naluSEI, naluIDR}},
		{"small delta", 500, false, []byte{naluSlice}},
		{"large delta", 6000, false, []byte{naluSlice}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Zero-heavy stamps: the NAL units must still hold no start code.
			pkts := packetize(t, codecH264, tt.size, tt.key, 0, 0x0000000100000000)
			nals := nalUnits(t, pkts)
			if len(nals) != len(tt.types) {
				t.Fatalf("got %d NAL units, want %d", len(nals), len(tt.types))
			}
			for i, nal := range nals {
				if typ := nal[0] & 0x1f; typ != tt.types[i] {
					t.Errorf("NAL %d: type %d, want %d", i, typ, tt.types[i])
				}
				for _, sc := range [][]byte{{0, 0, 0}, {0, 0, 1}, {0, 0, 2}} {
					if bytes.Contains(nal, sc) {
						t.Errorf("NAL %d (type %d) contains % x", i, nal[0]&0x1f, sc)
					}
				}
				if nal[len(nal)-1] == 0 {
					t.Errorf("NAL %d ends with a zero byte", i)
				}
			}
			if tt.key && (pkts[1].payload[1]&0x80 == 0 || pkts[1].payload[1]&0x1f != naluIDR) {
				t.Errorf("IDR FU-A header %#x", pkts[1].payload[1])
			}
		})
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	tests := [][]byte{
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4},
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		{0xff, 0, 0, 0, 0xff, 0, 0, 3, 0, 0, 0, 1},
	}
	for _, raw := range tests {
		esc := appendEscapedBytes(nil, raw)
		if len(esc) > maxEscapedStamp {
			t.Errorf("% x: escaped to %d bytes > %d", raw, len(esc), maxEscapedStamp)
		}
		got, ok := unescape(nil, append(esc, filler), len(raw))
		if !ok || !bytes.Equal(got, raw) {
			t.Errorf("% x: round trip % x (ok=%v)", raw, got, ok)
		}
	}
}

func TestOpusRoundTrip(t *testing.T) {
	p := newPacketizer("opus")
	for _, s := range []stamp{{0, 0}, {1_700_000_000_000_000_001, 1 << 31}, {-1, 0xffffffff}} {
		b := p.opus(s)
		if len(b) != opusPayload {
			t.Errorf("payload %d bytes, want %d", len(b), opusPayload)
		}
		got, ok := parsePayload("opus", b)
		if !ok || got.stamp != s {
			t.Errorf("stamp %+v, want %+v", got.stamp, s)
		}
	}
	if _, ok := parsePayload("opus", []byte{0xf8, 1, 2}); ok {
		t.Error("short payload parsed")
	}
}

func TestFrameSizes(t *testing.T) {
	key, delta := frameSizes(1_500_000, 30, 2e9)
	// One GOP is 59 deltas and one keyframe of 5 deltas: 2 s at 1.5 Mbit/s.
	total := 59*delta + key
	if key != 5*delta || total < 370_000 || total > 375_000 {
		t.Errorf("key %d delta %d: %d bytes per GOP, want ~375000", key, delta, total)
	}
}
