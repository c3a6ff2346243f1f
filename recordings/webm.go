package recordings

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
)

// WebM track numbers; the video track comes first so that players pick it as
// the main track.
const (
	videoTrack = 1
	audioTrack = 2
)

// Opus in WebM: 80 ms of pre-skip / codec delay and seek pre-roll, the values
// libwebm and pion's oggwriter use, since the publisher's encoder delay is not
// signalled over RTP.
const (
	opusPreSkip     = 3840
	opusCodecDelay  = 80_000_000 // ns
	opusSeekPreRoll = 80_000_000 // ns
)

// The muxing is done with ebml-go's marshaller rather than its BlockWriter:
// the BlockWriter owns one continuous output and decides itself where Clusters
// start, while a recording must come out as separate objects (an init segment
// and media segments that each start with a keyframe Cluster). Marshalling the
// webm structs ourselves keeps every piece a valid fragment, and concatenating
// init + segments gives one WebM file with an unknown-size Segment.

type webmCluster struct {
	Timecode    uint64       `ebml:"Timecode"`
	SimpleBlock []ebml.Block `ebml:"SimpleBlock"`
}

// cuePoint places one media segment in the concatenated file.
type cuePoint struct {
	timeMs int64
	offset int64 // bytes from the first media segment's start
}

// initParams is what the init segment is made of.
type initParams struct {
	width, height int
	durationMs    float64    // 0 while live: unknown
	cues          []cuePoint // nil while live
}

func opusHead() []byte {
	b := make([]byte, 19)
	copy(b, "OpusHead")
	b[8] = 1 // version
	b[9] = 2 // channels
	binary.LittleEndian.PutUint16(b[10:], opusPreSkip)
	binary.LittleEndian.PutUint32(b[12:], 48000)
	// output gain 0, channel mapping family 0
	return b
}

// buildInit marshals the EBML header and the start of an unknown-size Segment
// with Info and Tracks. When p carries cues (the final rewrite at Close), they
// are placed before the first Cluster; their positions are relative to the
// Segment's data, which includes the init's own body, so the body is
// marshalled until its size is stable.
func buildInit(p initParams) ([]byte, error) {
	var head bytes.Buffer
	hdr := struct {
		Header webm.EBMLHeader `ebml:"EBML"`
	}{*webm.DefaultEBMLHeader}
	if err := ebml.Marshal(&hdr, &head); err != nil {
		return nil, fmt.Errorf("marshal ebml header: %w", err)
	}
	seg := struct {
		Segment struct{} `ebml:"Segment,size=unknown"`
	}{}
	if err := ebml.Marshal(&seg, &head); err != nil {
		return nil, fmt.Errorf("marshal segment header: %w", err)
	}

	body := struct {
		Info   webm.Info   `ebml:"Info"`
		Tracks webm.Tracks `ebml:"Tracks"`
		Cues   *webm.Cues  `ebml:"Cues,omitempty"`
	}{
		Info: webm.Info{
			TimecodeScale: 1_000_000, // 1 ms
			MuxingApp:     "dangol",
			WritingApp:    "dangol",
			Duration:      p.durationMs,
		},
		Tracks: webm.Tracks{TrackEntry: []webm.TrackEntry{
			{
				Name:        "video",
				TrackNumber: videoTrack,
				TrackUID:    videoTrack,
				CodecID:     "V_VP8",
				TrackType:   1,
				Video:       &webm.Video{PixelWidth: uint64(p.width), PixelHeight: uint64(p.height)},
			},
			{
				Name:         "audio",
				TrackNumber:  audioTrack,
				TrackUID:     audioTrack,
				CodecID:      "A_OPUS",
				CodecPrivate: opusHead(),
				CodecDelay:   opusCodecDelay,
				SeekPreRoll:  opusSeekPreRoll,
				TrackType:    2,
				Audio:        &webm.Audio{SamplingFrequency: 48000, Channels: 2},
			},
		}},
	}

	var out bytes.Buffer
	bodyLen := 0
	for range 8 {
		if len(p.cues) > 0 {
			body.Cues = &webm.Cues{}
			for _, c := range p.cues {
				body.Cues.CuePoint = append(body.Cues.CuePoint, webm.CuePoint{
					CueTime: uint64(c.timeMs),
					CueTrackPositions: []webm.CueTrackPosition{{
						CueTrack:           videoTrack,
						CueClusterPosition: uint64(int64(bodyLen) + c.offset),
					}},
				})
			}
		}
		out.Reset()
		if err := ebml.Marshal(&body, &out); err != nil {
			return nil, fmt.Errorf("marshal segment info and tracks: %w", err)
		}
		if out.Len() == bodyLen {
			break
		}
		bodyLen = out.Len()
	}
	if len(p.cues) > 0 && out.Len() != bodyLen {
		return nil, fmt.Errorf("marshal cues: size did not settle")
	}
	return append(head.Bytes(), out.Bytes()...), nil
}

// finalInit builds the init of a finished recording from its manifest: the
// total duration and a cue per listed segment, so that players show the
// length and can seek. Close and crash recovery both write it.
func finalInit(m Manifest) ([]byte, error) {
	p := initParams{width: m.Width, height: m.Height, durationMs: float64(m.DurationMs)}
	var off int64
	for _, s := range m.Segments {
		p.cues = append(p.cues, cuePoint{timeMs: s.StartMs, offset: off})
		off += s.Size
	}
	return buildInit(p)
}

// segmentWriter accumulates one WebM media segment: Clusters of
// SimpleBlocks, the first one starting with a video keyframe.
type segmentWriter struct {
	clusters []webmCluster
}

// Cluster block timecodes are signed 16-bit milliseconds; a segment whose
// keyframes are far apart is split into several Clusters well before that.
const maxClusterSpanMs = 30_000

func newSegmentWriter() *segmentWriter { return &segmentWriter{} }

func (s *segmentWriter) add(track uint64, ms, durMs int64, keyframe bool, data []byte) {
	n := len(s.clusters)
	if n == 0 || ms-int64(s.clusters[n-1].Timecode) > maxClusterSpanMs || ms < int64(s.clusters[n-1].Timecode)-maxClusterSpanMs {
		s.clusters = append(s.clusters, webmCluster{Timecode: uint64(ms)})
		n++
	}
	c := &s.clusters[n-1]
	c.SimpleBlock = append(c.SimpleBlock, ebml.Block{
		TrackNumber: track,
		Timecode:    int16(ms - int64(c.Timecode)),
		Keyframe:    keyframe,
		Data:        [][]byte{data},
	})
}

func (s *segmentWriter) bytes() ([]byte, error) {
	var buf bytes.Buffer
	v := struct {
		Cluster []webmCluster `ebml:"Cluster"`
	}{s.clusters}
	if err := ebml.Marshal(&v, &buf); err != nil {
		return nil, fmt.Errorf("marshal clusters: %w", err)
	}
	return buf.Bytes(), nil
}

// vp8Keyframe reports whether a VP8 frame is a keyframe and, if so, its size:
// the P bit of the frame tag is 0 on keyframes (RFC 6386 9.1, as RFC 7741
// carries it), followed by the start code 9d 01 2a and 14-bit dimensions.
func vp8Keyframe(frame []byte) (key bool, width, height int) {
	if len(frame) < 10 || frame[0]&0x01 != 0 {
		return false, 0, 0
	}
	if frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return false, 0, 0
	}
	width = int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff)
	height = int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
	return true, width, height
}
