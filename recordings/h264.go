package recordings

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// H.264 NAL unit types (ITU-T H.264 table 7-1) that the muxer looks at.
const (
	nalIDR = 5
	nalSPS = 7
	nalPPS = 8
	nalAUD = 9
)

// splitAnnexB returns the NAL units of an Annex-B byte stream, without their
// start codes. Trailing zero bytes before a start code are dropped: they are
// either the leading zero of a 4-byte start code or trailing_zero_8bits, and
// no NAL unit ends with a zero byte. Input without any start code is taken to
// be one bare NAL unit, so that a depacketizer configured otherwise still
// yields something decodable.
func splitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1 // first byte of the current NAL unit
	for i := 0; i+2 < len(b); {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			i++
			continue
		}
		if start >= 0 {
			if n := trimZeros(b[start:i]); len(n) > 0 {
				nals = append(nals, n)
			}
		}
		i += 3
		start = i
	}
	if start < 0 {
		if n := trimZeros(b); len(n) > 0 {
			return [][]byte{n}
		}
		return nil
	}
	if n := trimZeros(b[start:]); len(n) > 0 {
		nals = append(nals, n)
	}
	return nals
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// h264Frame converts an Annex-B access unit into an MP4 sample: NAL units
// prefixed by their 4-byte length (avcC lengthSizeMinusOne = 3). Access unit
// delimiters are dropped since ISO/IEC 14496-15 forbids them in samples with
// 'avc1'. SPS and PPS stay in the sample as well as being returned: the init
// segment only holds the first ones, and a publisher that changes resolution
// mid-broadcast sends new ones in band with the next IDR.
func h264Frame(annexB []byte) (avcc []byte, key bool, sps, pps []byte) {
	nals := splitAnnexB(annexB)
	size := 0
	for _, n := range nals {
		size += 4 + len(n)
	}
	avcc = make([]byte, 0, size)
	for _, n := range nals {
		switch n[0] & 0x1f {
		case nalAUD:
			continue
		case nalIDR:
			key = true
		case nalSPS:
			if sps == nil {
				sps = n
			}
		case nalPPS:
			if pps == nil {
				pps = n
			}
		}
		avcc = binary.BigEndian.AppendUint32(avcc, uint32(len(n)))
		avcc = append(avcc, n...)
	}
	return avcc, key, sps, pps
}

// spsInfo is what the muxer needs from a sequence parameter set.
type spsInfo struct {
	profile, constraints, level int
	chromaFormat                int
	bitDepthLuma, bitDepthChr   int // minus 8, as avcC stores them
	width, height               int // displayed, after cropping
}

// codec is the RFC 6381 codecs parameter, as MSE's isTypeSupported and HLS
// playlists expect it.
func (s spsInfo) codec() string {
	return fmt.Sprintf("avc1.%02x%02x%02x", s.profile, s.constraints, s.level)
}

// parseSPS returns the display size and RFC 6381 codec string of an SPS NAL
// unit (with its header byte, without start code).
func parseSPS(sps []byte) (width, height int, codec string, err error) {
	info, err := decodeSPS(sps)
	if err != nil {
		return 0, 0, "", err
	}
	return info.width, info.height, info.codec(), nil
}

// unescapeRBSP removes the emulation prevention bytes (the 03 of 00 00 03)
// that the encoder inserted so that the payload cannot contain a start code.
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

var errShortSPS = errors.New("truncated")

// bitReader reads the RBSP bit by bit, MSB first.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) bit() (uint32, error) {
	if r.pos >= len(r.b)*8 {
		return 0, errShortSPS
	}
	v := uint32(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v, nil
}

func (r *bitReader) bits(n int) (uint32, error) {
	var v uint32
	for range n {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		v = v<<1 | b
	}
	return v, nil
}

// ue reads an unsigned exp-Golomb code (H.264 9.1).
func (r *bitReader) ue() (uint32, error) {
	zeros := 0
	for {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			return 0, errors.New("exp-Golomb code too long")
		}
	}
	v, err := r.bits(zeros)
	if err != nil {
		return 0, err
	}
	return uint32(1<<zeros-1) + v, nil
}

func (r *bitReader) se() (int32, error) {
	v, err := r.ue()
	if err != nil {
		return 0, err
	}
	if v&1 == 1 {
		return int32((v + 1) / 2), nil
	}
	return -int32(v / 2), nil
}

// decodeSPS parses seq_parameter_set_data (H.264 7.3.2.1.1) up to the frame
// cropping, which is all the display size depends on; VUI is not needed.
func decodeSPS(sps []byte) (spsInfo, error) {
	var s spsInfo
	if len(sps) < 4 || sps[0]&0x1f != nalSPS {
		return s, fmt.Errorf("parse sps: not an SPS NAL unit")
	}
	r := &bitReader{b: unescapeRBSP(sps[1:])}
	var err error
	// Every read goes through get so that a truncated SPS stops at the
	// first missing bit instead of yielding a plausible wrong size.
	get := func(f func() (uint32, error)) uint32 {
		if err != nil {
			return 0
		}
		var v uint32
		v, err = f()
		return v
	}
	getSE := func() int32 {
		if err != nil {
			return 0
		}
		var v int32
		v, err = r.se()
		return v
	}
	u := func(n int) func() (uint32, error) { return func() (uint32, error) { return r.bits(n) } }

	s.profile = int(get(u(8)))
	s.constraints = int(get(u(8)))
	s.level = int(get(u(8)))
	get(r.ue) // seq_parameter_set_id
	s.chromaFormat = 1
	separateColourPlanes := false
	switch s.profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		s.chromaFormat = int(get(r.ue))
		if s.chromaFormat == 3 {
			separateColourPlanes = get(u(1)) == 1
		}
		s.bitDepthLuma = int(get(r.ue))
		s.bitDepthChr = int(get(r.ue))
		get(u(1))           // qpprime_y_zero_transform_bypass_flag
		if get(u(1)) == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if s.chromaFormat == 3 {
				lists = 12
			}
			for i := 0; i < lists && err == nil; i++ {
				if get(u(1)) == 0 {
					continue
				}
				size := 16
				if i >= 6 {
					size = 64
				}
				last, next := int32(8), int32(8)
				for j := 0; j < size && err == nil; j++ {
					if next != 0 {
						next = (last + getSE() + 256) % 256
					}
					if next != 0 {
						last = next
					}
				}
			}
		}
	}
	get(r.ue)          // log2_max_frame_num_minus4
	switch get(r.ue) { // pic_order_cnt_type
	case 0:
		get(r.ue) // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		get(u(1)) // delta_pic_order_always_zero_flag
		getSE()   // offset_for_non_ref_pic
		getSE()   // offset_for_top_to_bottom_field
		n := get(r.ue)
		if n > 255 {
			return s, fmt.Errorf("parse sps: %d ref frames in pic order cnt cycle", n)
		}
		for i := uint32(0); i < n && err == nil; i++ {
			getSE()
		}
	}
	get(r.ue) // max_num_ref_frames
	get(u(1)) // gaps_in_frame_num_value_allowed_flag
	widthMbs := int(get(r.ue)) + 1
	heightMapUnits := int(get(r.ue)) + 1
	frameMbsOnly := int(get(u(1)))
	if frameMbsOnly == 0 {
		get(u(1)) // mb_adaptive_frame_field_flag
	}
	get(u(1)) // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB int
	if get(u(1)) == 1 {
		cropL, cropR, cropT, cropB = int(get(r.ue)), int(get(r.ue)), int(get(r.ue)), int(get(r.ue))
	}
	if err != nil {
		return s, fmt.Errorf("parse sps: %w", err)
	}
	if widthMbs > 1024 || heightMapUnits > 1024 {
		return s, fmt.Errorf("parse sps: %dx%d macroblocks is beyond any level", widthMbs, heightMapUnits)
	}

	// Crop units per H.264 7.4.2.1.1 (CropUnitX/Y), which depend on the
	// chroma subsampling and on whether the picture is coded as fields.
	cropX, cropY := 1, 2-frameMbsOnly
	if s.chromaFormat != 0 && !separateColourPlanes {
		subW, subH := 2, 2
		switch s.chromaFormat {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*(2-frameMbsOnly)
	}
	s.width = widthMbs*16 - (cropL+cropR)*cropX
	s.height = (2-frameMbsOnly)*heightMapUnits*16 - (cropT+cropB)*cropY
	if s.width <= 0 || s.height <= 0 {
		return s, fmt.Errorf("parse sps: cropping leaves %dx%d", s.width, s.height)
	}
	return s, nil
}
