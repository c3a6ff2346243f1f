package stream

// codecKind is the video payload format, which decides how a keyframe is recognised.
type codecKind uint8

const (
	codecOther codecKind = iota
	codecVP8
	codecH264
)

// keyframeDetector finds the packets where a viewer can start, or switch layer or source,
// and decode from then on. One per up-track, fed every packet in arrival order.
type keyframeDetector struct {
	kind     codecKind
	spsSeen  bool
	spsStamp uint32 // RTP timestamp of the last SPS
}

func (k *keyframeDetector) isStart(payload []byte, timestamp uint32) bool {
	switch k.kind {
	case codecVP8:
		return vp8KeyframeStart(payload)
	case codecH264:
		sps, idr := h264Keyframe(payload)
		// Encoders send SPS and PPS just before each IDR: start there, so the decoder has
		// them. An IDR is a start of its own only when no SPS came with its frame.
		start := sps || idr && !(k.spsSeen && k.spsStamp == timestamp)
		if sps {
			k.spsSeen, k.spsStamp = true, timestamp
		}
		return start
	}
	return false
}

// vp8KeyframeStart parses the VP8 payload descriptor (RFC 7741 §4.2) and the first byte of the
// VP8 frame header, whose lowest bit is 0 on keyframes.
func vp8KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id, one or two bytes
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

// h264Keyframe reports whether an RTP payload (RFC 6184) carries an SPS, and whether it
// starts an IDR slice.
func h264Keyframe(p []byte) (sps, idrStart bool) {
	if len(p) < 1 {
		return false, false
	}
	switch nal := p[0] & 0x1f; nal {
	case 5:
		return false, true
	case 7:
		return true, false
	case 24: // STAP-A: 16-bit size, then a NAL unit, repeated
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				break
			}
			switch p[i] & 0x1f {
			case 5:
				idrStart = true
			case 7:
				sps = true
			}
			i += size
		}
		return sps, idrStart
	case 28: // FU-A: start bit and the fragmented unit's type
		return false, len(p) > 1 && p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false, false
}
