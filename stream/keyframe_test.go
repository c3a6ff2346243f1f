package stream

import "testing"

func TestKeyframeStart(t *testing.T) {
	tests := []struct {
		name    string
		kind    codecKind
		payload []byte
		want    bool
	}{
		{"vp8 key, plain descriptor", codecVP8, []byte{0x10, 0x00, 0x9d}, true},
		{"vp8 delta", codecVP8, []byte{0x10, 0x01}, false},
		{"vp8 key continuation packet", codecVP8, []byte{0x00, 0x00}, false},
		{"vp8 key, second partition", codecVP8, []byte{0x11, 0x00}, false},
		{"vp8 key, 15-bit picture id", codecVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 delta, 7-bit picture id + tl0", codecVP8, []byte{0x90, 0xc0, 0x05, 0x01, 0x01}, false},
		{"vp8 key, picture id, tl0, tid", codecVP8, []byte{0x90, 0xe0, 0x05, 0x01, 0x20, 0x00}, true},
		{"vp8 truncated", codecVP8, []byte{0x90, 0x80}, false},
		{"vp8 empty", codecVP8, nil, false},
		{"h264 idr single nal", codecH264, []byte{0x65, 0x88}, true},
		{"h264 sps", codecH264, []byte{0x67, 0x42}, true},
		{"h264 non-idr slice", codecH264, []byte{0x41, 0x9a}, false},
		{"h264 stap-a sps+pps", codecH264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"h264 stap-a two slices", codecH264, []byte{0x78, 0x00, 0x01, 0x41, 0x00, 0x01, 0x41}, false},
		{"h264 stap-a bad size", codecH264, []byte{0x78, 0x00, 0x09, 0x67}, false},
		{"h264 stap-a pps+idr", codecH264, []byte{0x78, 0x00, 0x01, 0x68, 0x00, 0x01, 0x65}, true},
		{"h264 fu-a idr start", codecH264, []byte{0x7c, 0x85, 0x00}, true},
		{"h264 fu-a idr middle", codecH264, []byte{0x7c, 0x05, 0x00}, false},
		{"h264 fu-a non-idr start", codecH264, []byte{0x5c, 0x81, 0x00}, false},
		{"opus never", codecOther, []byte{0x10, 0x00}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := keyframeDetector{kind: tt.kind}
			if got := k.isStart(tt.payload, 3000); got != tt.want {
				t.Errorf("isStart(%v, % x) = %v, want %v", tt.kind, tt.payload, got, tt.want)
			}
		})
	}
}

// An IDR that follows its frame's SPS is not a second start: switching there would skip
// the SPS and PPS the decoder needs.
func TestKeyframeStartH264Sequence(t *testing.T) {
	stapSPS := []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}
	idrStart := []byte{0x7c, 0x85, 0x00}
	tests := []struct {
		name    string
		packets [][]byte
		stamps  []uint32
		want    []bool
	}{
		{"sps then idr, same frame", [][]byte{stapSPS, idrStart}, []uint32{100, 100}, []bool{true, false}},
		{"idr alone", [][]byte{idrStart}, []uint32{100}, []bool{true}},
		{"sps, then a later idr without sps", [][]byte{stapSPS, idrStart}, []uint32{100, 200}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := keyframeDetector{kind: codecH264}
			for i, p := range tt.packets {
				if got := k.isStart(p, tt.stamps[i]); got != tt.want[i] {
					t.Errorf("packet %d: isStart = %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func FuzzKeyframeStart(f *testing.F) {
	f.Add(uint8(codecVP8), []byte{0x90, 0xe0, 0x05})
	f.Add(uint8(codecH264), []byte{0x78, 0x00, 0x02, 0x67})
	f.Fuzz(func(t *testing.T, kind uint8, p []byte) {
		k := keyframeDetector{kind: codecKind(kind % 3)}
		k.isStart(p, 0) // must not panic on any input
	})
}
