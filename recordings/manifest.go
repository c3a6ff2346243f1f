package recordings

import "time"

// Manifest describes a recording as stored: "<prefix>/manifest.json". It is
// rewritten after every segment that reached the store, so it only ever lists
// durable segments; a replay plays init + segments in order, and a crash
// recovery closes a recording whose manifest is not Ended. Consolidate
// turns an ended recording into one object, named by File.
type Manifest struct {
	Version    int    `json:"version"`
	Container  string `json:"container"`   // "webm" (VP8) or "mp4" (H.264)
	VideoCodec string `json:"video_codec"` // "V_VP8"; "avc1.42e01f"
	AudioCodec string `json:"audio_codec"` // "A_OPUS"; "opus"
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	// SPS and PPS are the H.264 parameter sets of the first keyframe, which
	// an MP4 init declares: recovery rebuilds the init from the manifest.
	SPS        []byte    `json:"sps,omitempty"`
	PPS        []byte    `json:"pps,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	Init       string    `json:"init"` // object name under the prefix
	Segments   []Segment `json:"segments"`
	DurationMs int64     `json:"duration_ms"`
	// Ended is set by Close once the last segment and the final init (with
	// duration and cues) are stored.
	Ended bool `json:"ended"`
	// DroppedSegments counts segments that never reached the store (the store
	// kept failing and the pending queue overflowed); the timeline has gaps.
	DroppedSegments int `json:"dropped_segments,omitempty"`
	// Recovered is set when the recording was not closed by its recorder (the
	// server died mid-broadcast) but by Recover at the next start: it ends
	// with the last segment the manifest listed.
	Recovered bool `json:"recovered,omitempty"`
	// File, once Consolidate has run, names the one object under the prefix
	// that holds the whole replay: the init (InitSize bytes) and then every
	// segment, back to back. The segment objects are gone then (the init
	// object stays), so segments are read as ranges of File; see
	// segmentOffset. Empty while the segments are objects of their own.
	File     string `json:"file,omitempty"`
	InitSize int64  `json:"init_size,omitempty"`
}

// segmentOffset is where segment i starts in File.
func (m *Manifest) segmentOffset(i int) int64 {
	off := m.InitSize
	for _, s := range m.Segments[:i] {
		off += s.Size
	}
	return off
}

// fileSize is the size of File: init and segments.
func (m *Manifest) fileSize() int64 {
	return m.segmentOffset(len(m.Segments))
}

// Segment is one media segment of a Manifest.
type Segment struct {
	Name       string `json:"name"`
	StartMs    int64  `json:"start_ms"`
	DurationMs int64  `json:"duration_ms"`
	Size       int64  `json:"size"`
}
