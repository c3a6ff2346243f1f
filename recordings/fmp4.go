package recordings

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Fragmented MP4 (ISO/IEC 14496-12, laid out as CMAF expects) for H.264 +
// Opus recordings: an init segment (ftyp, moov) and media segments of one
// moof + mdat each, so that init + segments back to back is one playable
// file, the same model as the WebM recordings. The boxes are written by hand
// because no MP4 library is available to the build.

// Media timescales: 90 kHz is the RTP clock of video, 48 kHz Opus's.
const (
	mp4VideoTimescale = 90000
	mp4AudioTimescale = 48000
	mp4MovieTimescale = 1000 // mvhd, tkhd and mehd count milliseconds
)

// trun sample flags (14496-12 8.8.3.1): a sync sample depends on no other;
// any other video sample depends on earlier ones and is not a sync sample.
const (
	mp4SyncSample    = 0x02000000
	mp4NonSyncSample = 0x01010000
)

// mp4Ref is one media segment as listed in the final init's sidx.
type mp4Ref struct {
	startMs, durationMs, size int64
}

// mp4InitParams is what the init segment is made of.
type mp4InitParams struct {
	width, height int // 0: taken from the SPS
	sps, pps      []byte
	durationMs    int64    // 0 while live: unknown
	refs          []mp4Ref // nil while live
}

// box accumulates nested ISO BMFF boxes; open returns the position of a box
// whose 32-bit size close fills in once its content is written.
type box struct{ b []byte }

func (w *box) open(typ string) int {
	at := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0)
	w.b = append(w.b, typ...)
	return at
}

// openFull starts a FullBox, which carries a version and 24 bits of flags.
func (w *box) openFull(typ string, version byte, flags uint32) int {
	at := w.open(typ)
	w.u32(uint32(version)<<24 | flags&0xffffff)
	return at
}

func (w *box) close(at int) {
	binary.BigEndian.PutUint32(w.b[at:], uint32(len(w.b)-at))
}

func (w *box) u8(v uint8)        { w.b = append(w.b, v) }
func (w *box) u16(v uint16)      { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *box) u32(v uint32)      { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *box) u64(v uint64)      { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *box) zeros(n int)       { w.b = append(w.b, make([]byte, n)...) }
func (w *box) raw(p ...byte)     { w.b = append(w.b, p...) }
func (w *box) str(s string)      { w.b = append(w.b, s...) }
func (w *box) leaf(typ string)   { w.close(w.open(typ)) }
func (w *box) fullLeaf(t string) { w.close(w.openFull(t, 0, 0)) }

// unityMatrix is the identity transformation of mvhd and tkhd.
func (w *box) unityMatrix() {
	for _, v := range []uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000} {
		w.u32(v)
	}
}

// buildMP4Init writes ftyp and moov, and when p lists the segments (the final
// rewrite at Close) a sidx after moov so that players can seek in init +
// segments without reading every moof.
func buildMP4Init(p mp4InitParams) ([]byte, error) {
	if len(p.sps) == 0 || len(p.pps) == 0 {
		return nil, errors.New("build mp4 init: no SPS or PPS")
	}
	if len(p.sps) > math.MaxUint16 || len(p.pps) > math.MaxUint16 {
		return nil, errors.New("build mp4 init: parameter set too large for avcC")
	}
	sps, err := decodeSPS(p.sps)
	if err != nil {
		return nil, fmt.Errorf("build mp4 init: %w", err)
	}
	if p.width <= 0 || p.height <= 0 {
		p.width, p.height = sps.width, sps.height
	}
	if p.width > math.MaxUint16 || p.height > math.MaxUint16 {
		return nil, fmt.Errorf("build mp4 init: size %dx%d", p.width, p.height)
	}
	if p.durationMs < 0 || p.durationMs > math.MaxUint32 {
		return nil, fmt.Errorf("build mp4 init: duration %d ms", p.durationMs)
	}
	dur := uint32(p.durationMs)

	w := &box{}
	// iso6 covers tfdt version 1 and default-base-is-moof; cmfc tells
	// CMAF-aware players (Safari among them) what layout to expect. Browsers
	// do not reject unknown brands, so listing more costs nothing.
	ftyp := w.open("ftyp")
	w.str("iso6")
	w.u32(0)
	w.str("iso6cmfcisommp41avc1dash")
	w.close(ftyp)

	moov := w.open("moov")
	mvhd := w.openFull("mvhd", 0, 0)
	w.u32(0) // creation_time
	w.u32(0) // modification_time
	w.u32(mp4MovieTimescale)
	w.u32(dur)
	w.u32(0x00010000) // rate 1.0
	w.u16(0x0100)     // volume 1.0
	w.zeros(2 + 8)    // reserved
	w.unityMatrix()
	w.zeros(6 * 4) // pre_defined
	w.u32(audioTrack + 1)
	w.close(mvhd)

	mp4Track(w, videoTrack, dur, p, sps)
	mp4Track(w, audioTrack, dur, p, sps)

	mvex := w.open("mvex")
	if dur > 0 {
		mehd := w.openFull("mehd", 0, 0)
		w.u32(dur)
		w.close(mehd)
	}
	for _, id := range []uint32{videoTrack, audioTrack} {
		trex := w.openFull("trex", 0, 0)
		w.u32(id)
		w.u32(1) // default_sample_description_index
		w.u32(0) // default_sample_duration
		w.u32(0) // default_sample_size
		w.u32(0) // default_sample_flags
		w.close(trex)
	}
	w.close(mvex)
	w.close(moov)

	if len(p.refs) > 0 {
		if err := mp4Sidx(w, p.refs); err != nil {
			return nil, fmt.Errorf("build mp4 init: %w", err)
		}
	}
	return w.b, nil
}

// mp4Track writes one trak. Its sample tables are empty: every sample is in
// the fragments.
func mp4Track(w *box, id uint32, dur uint32, p mp4InitParams, sps spsInfo) {
	video := id == videoTrack
	timescale := uint32(mp4AudioTimescale)
	if video {
		timescale = mp4VideoTimescale
	}
	trak := w.open("trak")
	tkhd := w.openFull("tkhd", 0, 0x000003) // enabled, in movie
	w.u32(0)                                // creation_time
	w.u32(0)                                // modification_time
	w.u32(id)
	w.u32(0) // reserved
	w.u32(dur)
	w.zeros(8) // reserved
	w.u16(0)   // layer
	w.u16(0)   // alternate_group
	if video {
		w.u16(0)
	} else {
		w.u16(0x0100) // volume 1.0
	}
	w.u16(0) // reserved
	w.unityMatrix()
	if video {
		w.u32(uint32(p.width) << 16)
		w.u32(uint32(p.height) << 16)
	} else {
		w.u32(0)
		w.u32(0)
	}
	w.close(tkhd)

	mdia := w.open("mdia")
	mdhd := w.openFull("mdhd", 0, 0)
	w.u32(0) // creation_time
	w.u32(0) // modification_time
	w.u32(timescale)
	w.u32(uint32(uint64(dur) * uint64(timescale) / 1000))
	w.u16(0x55c4) // "und", packed ISO 639-2/T
	w.u16(0)      // pre_defined
	w.close(mdhd)

	hdlr := w.openFull("hdlr", 0, 0)
	w.u32(0) // pre_defined
	if video {
		w.str("vide")
	} else {
		w.str("soun")
	}
	w.zeros(3 * 4) // reserved
	if video {
		w.str("VideoHandler\x00")
	} else {
		w.str("SoundHandler\x00")
	}
	w.close(hdlr)

	minf := w.open("minf")
	if video {
		vmhd := w.openFull("vmhd", 0, 1)
		w.zeros(2 + 3*2) // graphicsmode, opcolor
		w.close(vmhd)
	} else {
		smhd := w.openFull("smhd", 0, 0)
		w.zeros(2 + 2) // balance, reserved
		w.close(smhd)
	}
	dinf := w.open("dinf")
	dref := w.openFull("dref", 0, 0)
	w.u32(1)
	w.close(w.openFull("url ", 0, 1)) // media data is in this file
	w.close(dref)
	w.close(dinf)

	stbl := w.open("stbl")
	stsd := w.openFull("stsd", 0, 0)
	w.u32(1)
	if video {
		mp4AVC1(w, p, sps)
	} else {
		mp4Opus(w)
	}
	w.close(stsd)
	for _, t := range []string{"stts", "stsc", "stco"} {
		b := w.openFull(t, 0, 0)
		w.u32(0) // entry_count
		w.close(b)
	}
	stsz := w.openFull("stsz", 0, 0)
	w.u32(0) // sample_size
	w.u32(0) // sample_count
	w.close(stsz)
	w.close(stbl)
	w.close(minf)
	w.close(mdia)
	w.close(trak)
}

func mp4AVC1(w *box, p mp4InitParams, sps spsInfo) {
	avc1 := w.open("avc1")
	w.zeros(6) // reserved
	w.u16(1)   // data_reference_index
	w.zeros(2 + 2 + 3*4)
	w.u16(uint16(p.width))
	w.u16(uint16(p.height))
	w.u32(0x00480000) // 72 dpi
	w.u32(0x00480000)
	w.u32(0) // reserved
	w.u16(1) // frame_count
	w.zeros(32)
	w.u16(0x0018) // depth
	w.u16(0xffff) // pre_defined -1

	avcC := w.open("avcC")
	w.u8(1) // configurationVersion
	// Profile, compatibility and level are the SPS's own bytes 1-3.
	w.raw(p.sps[1], p.sps[2], p.sps[3])
	w.u8(0xfc | 3) // lengthSizeMinusOne
	w.u8(0xe0 | 1) // one SPS
	w.u16(uint16(len(p.sps)))
	w.raw(p.sps...)
	w.u8(1) // one PPS
	w.u16(uint16(len(p.pps)))
	w.raw(p.pps...)
	// 14496-15 5.3.3.1.2 extends the record for the High profiles; decoders
	// that configure themselves from avcC (Chrome's) read it when present.
	switch sps.profile {
	case 100, 110, 122, 144:
		w.u8(0xfc | uint8(sps.chromaFormat&3))
		w.u8(0xf8 | uint8(sps.bitDepthLuma&7))
		w.u8(0xf8 | uint8(sps.bitDepthChr&7))
		w.u8(0) // numOfSequenceParameterSetExt
	}
	w.close(avcC)
	w.close(avc1)
}

// mp4Opus writes the Opus sample entry of "Encapsulation of Opus in ISO Base
// Media File Format" (v0.8.1): dOps is OpusHead without its magic, in
// big-endian, with the same 80 ms pre-skip as the WebM recordings.
func mp4Opus(w *box) {
	opus := w.open("Opus")
	w.zeros(6) // reserved
	w.u16(1)   // data_reference_index
	w.zeros(8) // reserved
	w.u16(2)   // channelcount
	w.u16(16)  // samplesize
	w.u16(0)   // pre_defined
	w.u16(0)   // reserved
	w.u32(48000 << 16)

	dops := w.open("dOps")
	w.u8(0) // Version
	w.u8(2) // OutputChannelCount
	w.u16(opusPreSkip)
	w.u32(48000) // InputSampleRate
	w.u16(0)     // OutputGain
	w.u8(0)      // ChannelMappingFamily
	w.close(dops)
	w.close(opus)
}

// mp4Sidx indexes the media segments that follow the init, one reference
// each; offsets count from the first byte after the sidx, which is where the
// first segment starts.
func mp4Sidx(w *box, refs []mp4Ref) error {
	if len(refs) > math.MaxUint16 {
		return fmt.Errorf("sidx: %d segments", len(refs))
	}
	sidx := w.openFull("sidx", 1, 0)
	w.u32(videoTrack) // reference_ID
	w.u32(mp4VideoTimescale)
	w.u64(uint64(msToTicks(refs[0].startMs, mp4VideoTimescale))) // earliest_presentation_time
	w.u64(0)                                                     // first_offset
	w.u16(0)                                                     // reserved
	w.u16(uint16(len(refs)))
	for i, r := range refs {
		if r.size <= 0 || r.size >= 1<<31 {
			return fmt.Errorf("sidx: segment %d size %d", i, r.size)
		}
		// Durations come from start and end ticks so that rounding does
		// not accumulate along the index. A segment runs to the next one's
		// start: players place each subsegment at the sum of those before,
		// so a gap in the recording (a publisher that reconnected) must be
		// in the durations, or every later segment would be indexed early.
		end := r.startMs + r.durationMs
		if i+1 < len(refs) {
			end = max(end, refs[i+1].startMs)
		}
		d := msToTicks(end, mp4VideoTimescale) - msToTicks(r.startMs, mp4VideoTimescale)
		if r.startMs < 0 || d < 0 || d > math.MaxUint32 {
			return fmt.Errorf("sidx: segment %d at %d ms for %d ms", i, r.startMs, r.durationMs)
		}
		w.u32(uint32(r.size)) // reference_type 0: media
		w.u32(uint32(d))
		w.u32(1<<31 | 1<<28) // starts_with_SAP, SAP_type 1
	}
	w.close(sidx)
	return nil
}

func msToTicks(ms, timescale int64) int64 { return ms * timescale / 1000 }

// mp4Sample is one sample of a segment, in its track's timescale.
type mp4Sample struct {
	ticks int64
	dur   int64 // duration of the track's last sample; the others run to the next
	key   bool
	data  []byte
}

// mp4Segment accumulates one media segment, the counterpart of WebM's
// segmentWriter: its first video sample is a keyframe.
type mp4Segment struct {
	startMs int64
	endMs   int64 // end of the latest sample, for the segment's duration
	seq     uint32
	video   []mp4Sample
	audio   []mp4Sample
}

func newMP4Segment(seq uint32, startMs int64) *mp4Segment {
	return &mp4Segment{seq: seq, startMs: startMs, endMs: startMs}
}

func (s *mp4Segment) add(track uint64, ms, durMs int64, keyframe bool, data []byte) {
	// A sample's duration runs to the next sample of its track, so after
	// a gap it is long; capped, it still covers any real frame.
	capped := min(durMs, maxFrameMs)
	s.endMs = max(s.endMs, ms+capped)
	if track == videoTrack {
		s.video = append(s.video, mp4Sample{
			ticks: msToTicks(ms, mp4VideoTimescale),
			dur:   max(msToTicks(capped, mp4VideoTimescale), 1),
			key:   keyframe,
			data:  data,
		})
		return
	}
	s.audio = append(s.audio, mp4Sample{
		ticks: msToTicks(ms, mp4AudioTimescale),
		dur:   max(msToTicks(capped, mp4AudioTimescale), 1),
		key:   true,
		data:  data,
	})
}

// bytes writes the segment as one moof (a traf per track with samples) and
// one mdat holding the video samples, then the audio ones.
func (s *mp4Segment) bytes() ([]byte, error) {
	if len(s.video) == 0 && len(s.audio) == 0 {
		return nil, errors.New("mux mp4 segment: no samples")
	}
	type track struct {
		id      uint32
		samples []mp4Sample
		offset  int // position of trun's data_offset in the moof
	}
	tracks := []*track{{id: videoTrack, samples: s.video}, {id: audioTrack, samples: s.audio}}
	w := &box{}
	moof := w.open("moof")
	mfhd := w.openFull("mfhd", 0, 0)
	w.u32(s.seq)
	w.close(mfhd)
	mdatSize := 8
	for _, t := range tracks {
		if len(t.samples) == 0 {
			continue
		}
		if t.samples[0].ticks < 0 {
			return nil, fmt.Errorf("mux mp4 segment: track %d sample at %d ticks", t.id, t.samples[0].ticks)
		}
		traf := w.open("traf")
		tfhd := w.openFull("tfhd", 0, 0x020000) // default-base-is-moof
		w.u32(t.id)
		w.close(tfhd)
		tfdt := w.openFull("tfdt", 1, 0)
		w.u64(uint64(t.samples[0].ticks))
		w.close(tfdt)
		// data-offset, sample duration, size and flags present
		trun := w.openFull("trun", 0, 0x000001|0x000100|0x000200|0x000400)
		w.u32(uint32(len(t.samples)))
		t.offset = len(w.b)
		w.u32(0)
		for i, smp := range t.samples {
			d := smp.dur
			if i+1 < len(t.samples) {
				d = max(t.samples[i+1].ticks-smp.ticks, 0)
			}
			if d > math.MaxUint32 || len(smp.data) > math.MaxUint32 {
				return nil, fmt.Errorf("mux mp4 segment: track %d sample %d too long", t.id, i)
			}
			flags := uint32(mp4SyncSample)
			if !smp.key {
				flags = mp4NonSyncSample
			}
			w.u32(uint32(d))
			w.u32(uint32(len(smp.data)))
			w.u32(flags)
			mdatSize += len(smp.data)
		}
		w.close(trun)
		w.close(traf)
	}
	w.close(moof)
	if int64(len(w.b))+int64(mdatSize) > math.MaxUint32 {
		return nil, fmt.Errorf("mux mp4 segment: %d bytes of samples", mdatSize)
	}

	// Data offsets count from the moof's first byte (default-base-is-moof).
	pos := len(w.b) + 8
	for _, t := range tracks {
		if len(t.samples) == 0 {
			continue
		}
		binary.BigEndian.PutUint32(w.b[t.offset:], uint32(pos))
		for _, smp := range t.samples {
			pos += len(smp.data)
		}
	}
	out := make([]byte, len(w.b), len(w.b)+mdatSize)
	copy(out, w.b)
	out = binary.BigEndian.AppendUint32(out, uint32(mdatSize))
	out = append(out, "mdat"...)
	for _, t := range tracks {
		for _, smp := range t.samples {
			out = append(out, smp.data...)
		}
	}
	return out, nil
}

// rebaseMP4Segment returns a copy of a segment made by bytes() with every
// tfdt moved shiftMs earlier, so that a clip cut from a recording starts at
// zero.
func rebaseMP4Segment(seg []byte, shiftMs int64) ([]byte, error) {
	out := append([]byte(nil), seg...)
	found := false
	err := walkBoxes(out, func(typ string, body []byte) error {
		if typ != "moof" {
			return nil
		}
		return walkBoxes(body, func(typ string, body []byte) error {
			if typ != "traf" {
				return nil
			}
			var trackID uint32
			return walkBoxes(body, func(typ string, body []byte) error {
				switch typ {
				case "tfhd":
					if len(body) < 8 {
						return errors.New("short tfhd")
					}
					trackID = binary.BigEndian.Uint32(body[4:])
				case "tfdt":
					timescale := int64(mp4AudioTimescale)
					switch trackID {
					case videoTrack:
						timescale = mp4VideoTimescale
					case audioTrack:
					default:
						return fmt.Errorf("tfdt of unknown track %d", trackID)
					}
					shift := msToTicks(shiftMs, timescale)
					if len(body) >= 12 && body[0] == 1 {
						t := int64(binary.BigEndian.Uint64(body[4:])) - shift
						if t < 0 {
							return fmt.Errorf("track %d starts before %d ms", trackID, shiftMs)
						}
						binary.BigEndian.PutUint64(body[4:], uint64(t))
					} else if len(body) >= 8 && body[0] == 0 {
						t := int64(binary.BigEndian.Uint32(body[4:])) - shift
						if t < 0 || t > math.MaxUint32 {
							return fmt.Errorf("track %d starts before %d ms", trackID, shiftMs)
						}
						binary.BigEndian.PutUint32(body[4:], uint32(t))
					} else {
						return errors.New("malformed tfdt")
					}
					found = true
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("rebase mp4 segment: %w", err)
	}
	if !found {
		return nil, errors.New("rebase mp4 segment: no tfdt")
	}
	return out, nil
}

// walkBoxes calls f with the type and body of each box in b, in order; the
// bodies alias b so that f can patch them in place.
func walkBoxes(b []byte, f func(typ string, body []byte) error) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return errors.New("truncated box header")
		}
		size := uint64(binary.BigEndian.Uint32(b))
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return errors.New("truncated box header")
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return fmt.Errorf("box %q of %d bytes in %d", b[4:8], size, len(b))
		}
		if err := f(string(b[4:8]), b[hdr:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}
