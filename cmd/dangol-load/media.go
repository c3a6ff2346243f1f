package main

import (
	"encoding/binary"
	"fmt"
)

// Codec names accepted by --codec.
const (
	codecVP8  = "vp8"
	codecH264 = "h264"
)

const (
	// maxPayload bounds every RTP payload we build, well under a 1500-byte MTU
	// once SRTP, UDP and IP headers are added.
	maxPayload = 1200
	// stampLen is the size of the measurement embedded in every payload.
	stampLen = 12
	// maxEscapedStamp is the worst case of stampLen after H.264 emulation
	// prevention (one 0x03 per two zero bytes).
	maxEscapedStamp = stampLen + stampLen/2
	// opusPayload is the size of a generated 20 ms Opus packet.
	opusPayload = 100
	// filler is the generated "bitstream" byte. It is non-zero so that H.264
	// NAL units never contain a start code or need emulation prevention.
	filler = 0xa5
)

// stamp is the measurement carried in every payload, right after the codec
// header bytes: when the publisher sent it and a per-track counter. The
// counter lets viewers count delivery independently of the server's
// sequence-number rewriting.
type stamp struct {
	sent    int64  // time.Now().UnixNano() at send
	counter uint32 // per-track publisher packet counter, from 0
}

func (s stamp) put(b []byte) {
	binary.BigEndian.PutUint64(b, uint64(s.sent))
	binary.BigEndian.PutUint32(b[8:], s.counter)
}

func readStamp(b []byte) stamp {
	return stamp{sent: int64(binary.BigEndian.Uint64(b)), counter: binary.BigEndian.Uint32(b[8:])}
}

// Fixed parameter sets for generated H.264 keyframes: constrained baseline,
// 1920x1080 (the SPS mediacommon uses in its tests) and an x264-style PPS.
var (
	h264SPS = []byte{
		0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02,
		0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
		0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20,
	}
	h264PPS = []byte{0x68, 0xce, 0x3c, 0x80}
	// stampUUID marks the SEI (user data unregistered) that carries the
	// stamp inside the keyframe's SPS/PPS STAP-A.
	stampUUID = []byte("dangol-load-stmp")
)

// H.264 NAL unit types used here.
const (
	naluSlice = 1
	naluIDR   = 5
	naluSEI   = 6
	naluSPS   = 7
	naluPPS   = 8
	naluSTAPA = 24
	naluFUA   = 28
)

// packetizer turns generated frames of one codec into RTP payloads. It reuses
// one buffer: a payload passed to emit is only valid during the call.
type packetizer struct {
	codec string
	buf   []byte
}

func newPacketizer(codec string) *packetizer {
	return &packetizer{codec: codec, buf: make([]byte, 0, maxPayload)}
}

// emitFunc receives one payload; last is true for the last packet of a frame
// (the RTP marker bit).
type emitFunc func(payload []byte, last bool) error

// video packetizes one video frame of about size bytes. next is called once
// per packet, just before it is built, so the stamp is as fresh as possible.
func (p *packetizer) video(size int, key bool, next func() stamp, emit emitFunc) error {
	switch p.codec {
	case codecVP8:
		return p.vp8(size, key, next, emit)
	case codecH264:
		return p.h264(size, key, next, emit)
	default:
		return fmt.Errorf("packetize: unknown codec %q", p.codec)
	}
}

// fillerPerPacket returns how many filler bytes fit after a prefix of n bytes
// and a stamp of stampRoom bytes.
func fillerPerPacket(prefix, stampRoom int) int {
	return maxPayload - prefix - stampRoom
}

func appendFiller(b []byte, n int) []byte {
	for range n {
		b = append(b, filler)
	}
	return b
}

// vp8 builds RFC 7741 payloads: a 1-byte payload descriptor (S bit on the
// first packet), then on the first packet the VP8 frame header (3-byte frame
// tag, plus start code and dimensions on keyframes), then the stamp.
func (p *packetizer) vp8(size int, key bool, next func() stamp, emit emitFunc) error {
	hdr := vp8FrameHeader(size, key)
	remaining := max(size-len(hdr), 1)
	first := true
	for remaining > 0 {
		b := p.buf[:0]
		if first {
			b = append(b, 0x10) // S=1, PID=0
			b = append(b, hdr...)
		} else {
			b = append(b, 0x00)
		}
		n := min(remaining, fillerPerPacket(len(b), stampLen))
		b = b[:len(b)+stampLen]
		next().put(b[len(b)-stampLen:])
		b = appendFiller(b, n)
		remaining -= n
		first = false
		if err := emit(b, remaining == 0); err != nil {
			return err
		}
	}
	return nil
}

// vp8FrameHeader returns an RFC 6386 frame tag (P bit 0 on keyframes, show
// frame set) and, for keyframes, the start code and a 1280x720 size.
func vp8FrameHeader(size int, key bool) []byte {
	firstPart := uint32(min(size/4, 0x7ffff))
	tag := firstPart<<5 | 1<<4 // show_frame, version 0
	if !key {
		tag |= 1 // P: inverse keyframe flag
	}
	h := []byte{byte(tag), byte(tag >> 8), byte(tag >> 16)}
	if key {
		h = append(h, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02) // 1280 (0x500) x 720 (0x2d0)
	}
	return h
}

// h264 builds RFC 6184 packetization-mode=1 payloads. A keyframe is a STAP-A
// with SPS, PPS and an SEI carrying the stamp, then the IDR as FU-A
// fragments. A delta frame is a single NAL unit when it fits, else FU-A.
func (p *packetizer) h264(size int, key bool, next func() stamp, emit emitFunc) error {
	nalHdr := byte(0x41) // NRI=2, non-IDR slice
	if key {
		nalHdr = 0x65 // NRI=3, IDR
		if err := emit(p.stapA(next()), false); err != nil {
			return err
		}
	}
	remaining := max(size-1, 1)
	if !key && 1+maxEscapedStamp+remaining <= maxPayload {
		b := append(p.buf[:0], nalHdr)
		b = appendEscaped(b, next())
		return emit(appendFiller(b, remaining), true)
	}
	first := true
	for remaining > 0 {
		n := min(remaining, fillerPerPacket(2, maxEscapedStamp))
		fuHdr := nalHdr & 0x1f
		if first {
			fuHdr |= 0x80
		}
		if n == remaining {
			fuHdr |= 0x40
		}
		b := append(p.buf[:0], nalHdr&0xe0|naluFUA, fuHdr)
		b = appendEscaped(b, next())
		b = appendFiller(b, n)
		remaining -= n
		first = false
		if err := emit(b, remaining == 0); err != nil {
			return err
		}
	}
	return nil
}

// stapA returns the aggregation packet that opens a keyframe.
func (p *packetizer) stapA(s stamp) []byte {
	var raw [stampLen]byte
	s.put(raw[:])
	sei := []byte{naluSEI, 5, byte(len(stampUUID) + stampLen)} // user data unregistered
	sei = appendEscapedBytes(sei, stampUUID)
	sei = appendEscapedBytes(sei, raw[:])
	sei = append(sei, 0x80) // rbsp trailing bits

	b := append(p.buf[:0], 0x78) // F=0, NRI=3, type 24
	for _, nal := range [][]byte{h264SPS, h264PPS, sei} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(nal)))
		b = append(b, nal...)
	}
	return b
}

// appendEscaped appends the stamp with H.264 emulation prevention applied.
// The byte before it is never zero, so the zero run starts at 0.
func appendEscaped(b []byte, s stamp) []byte {
	var raw [stampLen]byte
	s.put(raw[:])
	return appendEscapedBytes(b, raw[:])
}

// appendEscapedBytes inserts an emulation prevention byte (0x03) after two
// zero bytes followed by a byte <= 3, as an H.264 encoder does, so that the
// stamp never forms a start code inside a NAL unit.
func appendEscapedBytes(b, raw []byte) []byte {
	zeros := 0
	for _, c := range raw {
		if zeros >= 2 && c <= 3 {
			b = append(b, 3)
			zeros = 0
		}
		b = append(b, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return b
}

// unescape reads n bytes of RBSP from b, dropping emulation prevention bytes.
func unescape(dst, b []byte, n int) ([]byte, bool) {
	zeros := 0
	for _, c := range b {
		if len(dst) == n {
			break
		}
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		dst = append(dst, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst, len(dst) == n
}

// opus builds a 20 ms Opus-shaped payload: a TOC byte (CELT fullband 20 ms,
// mono, one frame), the stamp and filler.
func (p *packetizer) opus(s stamp) []byte {
	b := append(p.buf[:0], 0xf8)
	b = b[:1+stampLen]
	s.put(b[1:])
	return appendFiller(b, opusPayload-len(b))
}

// parsed is what a viewer learns from one received payload.
type parsed struct {
	stamp stamp
	key   bool // first packet of a keyframe
	start bool // first packet of a frame
}

// parsePayload extracts the stamp (and for video the keyframe flag) from a
// payload built by packetizer, tolerating the optional VP8 descriptor
// extensions a server may add when it rewrites picture IDs.
func parsePayload(codec string, b []byte) (parsed, bool) {
	switch codec {
	case codecVP8:
		return parseVP8(b)
	case codecH264:
		return parseH264(b)
	default: // opus
		if len(b) < 1+stampLen {
			return parsed{}, false
		}
		return parsed{stamp: readStamp(b[1:]), start: true}, true
	}
}

func parseVP8(b []byte) (parsed, bool) {
	if len(b) < 1 {
		return parsed{}, false
	}
	d := b[0]
	off := 1
	if d&0x80 != 0 { // X: extension byte
		if len(b) < 2 {
			return parsed{}, false
		}
		x := b[1]
		off = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(b) <= off {
				return parsed{}, false
			}
			if b[off]&0x80 != 0 {
				off += 2
			} else {
				off++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			off++
		}
		if x&0x30 != 0 { // T or K: TID/KEYIDX
			off++
		}
	}
	var out parsed
	if d&0x10 != 0 && d&0x07 == 0 { // S=1, PID=0: frame header follows
		if len(b) < off+3 {
			return parsed{}, false
		}
		out.start = true
		if b[off]&0x01 == 0 {
			out.key = true
			off += 10
		} else {
			off += 3
		}
	}
	if len(b) < off+stampLen {
		return parsed{}, false
	}
	out.stamp = readStamp(b[off:])
	return out, true
}

func parseH264(b []byte) (parsed, bool) {
	if len(b) < 2 {
		return parsed{}, false
	}
	var raw [stampLen]byte
	switch typ := b[0] & 0x1f; {
	case typ == naluSTAPA:
		var out parsed
		ok := false
		for rest := b[1:]; len(rest) >= 2; {
			n := int(binary.BigEndian.Uint16(rest))
			if len(rest) < 2+n || n == 0 {
				return parsed{}, false
			}
			nal := rest[2 : 2+n]
			rest = rest[2+n:]
			switch nal[0] & 0x1f {
			case naluSPS, naluIDR:
				out.key, out.start = true, true
			case naluSEI:
				var sei [16 + stampLen]byte
				got, full := unescape(sei[:0], nal[min(3, len(nal)):], len(sei))
				if full && len(nal) > 3 && string(got[:16]) == string(stampUUID) {
					out.stamp = readStamp(got[16:])
					ok = true
				}
			}
		}
		return out, ok
	case typ == naluFUA:
		got, ok := unescape(raw[:0], b[2:], stampLen)
		if !ok {
			return parsed{}, false
		}
		start := b[1]&0x80 != 0
		return parsed{stamp: readStamp(got), start: start, key: start && b[1]&0x1f == naluIDR}, true
	case typ >= 1 && typ <= 23:
		got, ok := unescape(raw[:0], b[1:], stampLen)
		if !ok {
			return parsed{}, false
		}
		return parsed{stamp: readStamp(got), start: true, key: typ == naluIDR || typ == naluSPS}, true
	default:
		return parsed{}, false
	}
}
