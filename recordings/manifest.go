package recordings

import "time"

// Manifest describes a recording as stored: "<prefix>/manifest.json". It is
// rewritten after every segment that reached the store, so it only ever lists
// durable segments; a replay plays init + segments in order, and a crash
// recovery closes a recording whose manifest is not Ended.
type Manifest struct {
	Version    int       `json:"version"`
	Container  string    `json:"container"`   // "webm"
	VideoCodec string    `json:"video_codec"` // "V_VP8"
	AudioCodec string    `json:"audio_codec"` // "A_OPUS"
	Width      int       `json:"width"`
	Height     int       `json:"height"`
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
}

// Segment is one media segment of a Manifest.
type Segment struct {
	Name       string `json:"name"`
	StartMs    int64  `json:"start_ms"`
	DurationMs int64  `json:"duration_ms"`
	Size       int64  `json:"size"`
}
