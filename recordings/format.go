package recordings

import (
	"fmt"
	"strings"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// format is how one recording is stored, decided by the publisher's video
// codec: VP8 goes into WebM, H.264 into fragmented MP4 (what iPhone Safari
// plays). A broadcast keeps its codec across publisher reconnects (the SFU
// refuses a resume in another codec), so a recording has one format.
type format struct {
	container string // Manifest.Container
	initName  string // the init object's name under the recording's prefix
	segExt    string // media segment objects: 000001.webm, 000001.m4s
	fileExt   string // the replay's file name: 42.webm, 42.mp4
	mime      string // the replay's Content-Type
}

var (
	webmFormat = &format{container: "webm", initName: "init.webm", segExt: ".webm", fileExt: ".webm", mime: "video/webm"}
	mp4Format  = &format{container: "mp4", initName: "init.mp4", segExt: ".m4s", fileExt: ".mp4", mime: "video/mp4"}
	formats    = []*format{webmFormat, mp4Format}
)

// formatFor returns the format recording video of the given MIME type
// (webrtc.MimeTypeVP8, webrtc.MimeTypeH264); empty means VP8.
func formatFor(mime string) (*format, error) {
	switch strings.ToLower(mime) {
	case "", "video/vp8":
		return webmFormat, nil
	case "video/h264":
		return mp4Format, nil
	}
	return nil, fmt.Errorf("cannot record video codec %q", mime)
}

// formatOf returns the format of a manifest's Container; manifests written
// before MP4 existed may not say, and are WebM.
func formatOf(container string) (*format, error) {
	if container == "" {
		return webmFormat, nil
	}
	for _, f := range formats {
		if f.container == container {
			return f, nil
		}
	}
	return nil, fmt.Errorf("unknown recording container %q", container)
}

// depacketizer returns a sample builder for the format's video RTP.
func (f *format) depacketizer() *samplebuilder.SampleBuilder {
	// maxLate in packets: generous, since a recording can afford latency to
	// wait for retransmitted packets and reordering.
	if f == mp4Format {
		return samplebuilder.New(512, &codecs.H264Packet{}, 90000)
	}
	return samplebuilder.New(256, &codecs.VP8Packet{}, 90000)
}

// videoParams describe the video as the init segment declares it, taken
// from the first keyframe.
type videoParams struct {
	width, height int
	codec         string // RFC 6381, for the manifest: "vp8", "avc1.42e01f"
	sps, pps      []byte // H.264 parameter sets
}

// frame turns one depacketized video frame into the container's sample,
// telling whether it is a keyframe, and for a keyframe that carries them, the
// video parameters (ok false otherwise). An H.264 keyframe without SPS and
// PPS can continue a recording but cannot start one.
func (f *format) frame(data []byte) (sample []byte, key bool, p videoParams, ok bool) {
	if f == mp4Format {
		avcc, key, sps, pps := h264Frame(data)
		if !key || sps == nil || pps == nil {
			return avcc, key, videoParams{}, false
		}
		w, h, codec, err := parseSPS(sps)
		if err != nil {
			return avcc, key, videoParams{}, false
		}
		return avcc, true, videoParams{width: w, height: h, codec: codec, sps: sps, pps: pps}, true
	}
	key, w, h := vp8Keyframe(data)
	return data, key, videoParams{width: w, height: h, codec: "vp8"}, key
}

// newSegment starts media segment number seq (from 1) at startMs.
func (f *format) newSegment(seq int, startMs int64) segmentMuxer {
	if f == mp4Format {
		return newMP4Segment(uint32(seq), startMs)
	}
	return newSegmentWriter()
}

// segmentMuxer accumulates the samples of one media segment.
type segmentMuxer interface {
	add(track uint64, ms, durMs int64, keyframe bool, data []byte)
	bytes() ([]byte, error)
}

// manifest starts the manifest of a recording in this format.
func (f *format) manifest(p videoParams) Manifest {
	m := Manifest{Version: 1, Container: f.container, Width: p.width, Height: p.height, Init: f.initName}
	if f == mp4Format {
		m.VideoCodec, m.AudioCodec, m.SPS, m.PPS = p.codec, "opus", p.sps, p.pps
	} else {
		m.VideoCodec, m.AudioCodec = "V_VP8", "A_OPUS"
	}
	return m
}

// buildInit builds the init segment of the recording m describes: while
// live, without duration or index; once ended, with the total duration and
// an index of the listed segments so that players show the length and seek.
func (f *format) buildInit(m Manifest) ([]byte, error) {
	if f == mp4Format {
		p := mp4InitParams{width: m.Width, height: m.Height, sps: m.SPS, pps: m.PPS}
		if m.Ended && len(m.Segments) > 0 {
			p.durationMs = m.DurationMs
			for _, s := range m.Segments {
				p.refs = append(p.refs, mp4Ref{startMs: s.StartMs, durationMs: s.DurationMs, size: s.Size})
			}
		}
		return buildMP4Init(p)
	}
	if m.Ended && len(m.Segments) > 0 {
		return finalInit(m)
	}
	return buildInit(initParams{width: m.Width, height: m.Height})
}

// isSegmentName reports whether name is a recorder's media segment name,
// such as 000042.webm or 000042.m4s.
func isSegmentName(name string) bool {
	for _, f := range formats {
		if num, ok := strings.CutSuffix(name, f.segExt); ok && len(num) >= 6 && isDigits(num) {
			return true
		}
	}
	return false
}
