package recordings

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/at-wat/ebml-go"
)

// Clips: a short video per product shown in a broadcast, from the moment the
// merchant pinned it to the next pin, at most MaxClip long. They are cut from
// the recording's segments without re-encoding: the recorder starts a
// segment at every pin (Recorder.Chapter asks the phone for a keyframe
// there), so a clip is whole segments, their timestamps moved to start at
// zero, behind an init of its own with the clip's duration and index.

// MaxClip is the longest a clip runs; a product shown longer is cut at the
// last segment boundary within it.
const MaxClip = 60 * time.Second

// chapterLatency is how long after a pin the keyframe asked for then may
// arrive and start the chapter's segment: a phone answers within a round
// trip and a frame, and this allows for a slow one.
const chapterLatency = 1500 * time.Millisecond

// minClip is the shortest clip worth showing: a product pinned and replaced
// at once gets none.
const minClip = time.Second

// ClipSpec asks for the clip of one product: the recording from From to To
// (wall-clock, as the pins were stored), cut to whole segments.
type ClipSpec struct {
	Name     string // the clip's object name under "<prefix>/clips/", without extension
	From, To time.Time
}

// Clip is a clip as stored.
type Clip struct {
	Name       string `json:"name"`
	Key        string `json:"key"`      // object key of the playable file
	OffsetMs   int64  `json:"start_ms"` // where it starts in the recording
	DurationMs int64  `json:"duration_ms"`
	Size       int64  `json:"size"`
}

// MakeClips cuts the clips specs asks for from the ended recording under
// prefix and stores each as one playable file, "<prefix>/clips/<name>.webm"
// or ".mp4". A spec that falls outside the recording, or would be shorter
// than a second, gets no clip. It returns the clips made, in specs' order.
// A failure stops it; clips already stored stay, and a rerun replaces them.
func MakeClips(ctx context.Context, store Store, prefix string, specs []ClipSpec) ([]Clip, error) {
	m, _, err := loadManifest(ctx, store, prefix)
	if err != nil {
		return nil, fmt.Errorf("clips of %s: %w", prefix, err)
	}
	if !m.Ended {
		return nil, fmt.Errorf("clips of %s: the recording has not ended", prefix)
	}
	f, err := formatOf(m.Container)
	if err != nil {
		return nil, fmt.Errorf("clips of %s: %w", prefix, err)
	}
	var clips []Clip
	for _, spec := range specs {
		if !validClipName(spec.Name) {
			return clips, fmt.Errorf("clip name %q: letters, digits and dashes only", spec.Name)
		}
		first, n := clipSegments(m.Segments, spec.From.Sub(m.StartedAt).Milliseconds(), spec.To.Sub(m.StartedAt).Milliseconds())
		if n == 0 {
			continue
		}
		c, err := makeClip(ctx, store, prefix, f, m, spec.Name, first, n)
		if err != nil {
			return clips, fmt.Errorf("clip %s of %s: %w", spec.Name, prefix, err)
		}
		clips = append(clips, c)
	}
	return clips, nil
}

// clipSegments picks the segments of a clip from fromMs to toMs on the
// recording's timeline: from the one the pin started (the last to start by
// fromMs plus the keyframe's latency) through those starting before toMs,
// within MaxClip. It returns the first's index and how many; none when the
// clip would be shorter than minClip.
func clipSegments(segs []Segment, fromMs, toMs int64) (first, n int) {
	if len(segs) == 0 {
		return 0, 0
	}
	if last := segs[len(segs)-1]; fromMs >= last.StartMs+last.DurationMs {
		return 0, 0 // pinned after the recording ended
	}
	first = -1
	for i, s := range segs {
		if s.StartMs <= fromMs+chapterLatency.Milliseconds() {
			first = i
		}
	}
	if first < 0 {
		first = 0 // pinned before the recording started: from its start
	}
	start := segs[first].StartMs
	var durMs int64
	for _, s := range segs[first:] {
		if s.StartMs >= toMs || (n > 0 && s.StartMs+s.DurationMs-start > MaxClip.Milliseconds()) {
			break
		}
		n++
		durMs = s.StartMs + s.DurationMs - start
	}
	if durMs < minClip.Milliseconds() {
		return 0, 0
	}
	return first, n
}

// makeClip stores the n segments of m from first as one file, moved to
// start at zero.
func makeClip(ctx context.Context, store Store, prefix string, f *format, m Manifest, name string, first, n int) (Clip, error) {
	shift := m.Segments[first].StartMs
	cm := m
	cm.Ended, cm.Segments, cm.DurationMs, cm.File, cm.InitSize = true, nil, 0, "", 0
	var body []byte
	for i := first; i < first+n; i++ {
		s := m.Segments[i]
		data, err := readSegment(ctx, store, prefix, m, i)
		if err != nil {
			return Clip{}, err
		}
		if data, err = f.rebase(data, shift); err != nil {
			return Clip{}, fmt.Errorf("%s: %w", s.Name, err)
		}
		cm.Segments = append(cm.Segments, Segment{Name: s.Name, StartMs: s.StartMs - shift, DurationMs: s.DurationMs, Size: int64(len(data))})
		cm.DurationMs = s.StartMs - shift + s.DurationMs
		body = append(body, data...)
	}
	init, err := f.buildInit(cm)
	if err != nil {
		return Clip{}, err
	}
	key := prefix + "/clips/" + name + f.fileExt
	if err := store.Put(ctx, key, append(init, body...)); err != nil {
		return Clip{}, err
	}
	return Clip{Name: name, Key: key, OffsetMs: shift, DurationMs: cm.DurationMs, Size: int64(len(init) + len(body))}, nil
}

// readSegment reads segment i of the recording under prefix that m
// describes: its own object, or its range of the consolidated file.
func readSegment(ctx context.Context, store Store, prefix string, m Manifest, i int) ([]byte, error) {
	s := m.Segments[i]
	key, off, objSize := prefix+"/"+s.Name, int64(0), s.Size
	if m.File != "" {
		key, off, objSize = prefix+"/"+m.File, m.segmentOffset(i), m.fileSize()
	}
	rc, info, err := store.Open(ctx, key, off, s.Size)
	if err != nil {
		return nil, fmt.Errorf("segment %s: %w", s.Name, err)
	}
	defer rc.Close()
	// An object of another size than the manifest says is not what it
	// describes: cutting it at the listed offsets would make garbage.
	if info.Size != objSize {
		return nil, fmt.Errorf("segment %s: %s has %d bytes, the manifest says %d", s.Name, key, info.Size, objSize)
	}
	data, err := io.ReadAll(rc)
	if err == nil && int64(len(data)) != s.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("segment %s: read %s: %w", s.Name, key, err)
	}
	return data, nil
}

// rebase moves a media segment's timestamps shiftMs earlier.
func (f *format) rebase(seg []byte, shiftMs int64) ([]byte, error) {
	if f == mp4Format {
		return rebaseMP4Segment(seg, shiftMs)
	}
	return rebaseWebMSegment(seg, shiftMs)
}

// rebaseWebMSegment moves the Clusters of a segment made by segmentWriter
// shiftMs earlier. Block timecodes are relative to their Cluster's, so only
// the Clusters' change.
func rebaseWebMSegment(seg []byte, shiftMs int64) ([]byte, error) {
	var v struct {
		Cluster []webmCluster `ebml:"Cluster"`
	}
	if err := ebml.Unmarshal(bytes.NewReader(seg), &v); err != nil {
		return nil, fmt.Errorf("read clusters: %w", err)
	}
	if len(v.Cluster) == 0 {
		return nil, errors.New("no cluster")
	}
	for i := range v.Cluster {
		c := &v.Cluster[i]
		if int64(c.Timecode) < shiftMs {
			return nil, fmt.Errorf("cluster at %d ms is before %d ms", c.Timecode, shiftMs)
		}
		c.Timecode -= uint64(shiftMs)
	}
	var buf bytes.Buffer
	if err := ebml.Marshal(&v, &buf); err != nil {
		return nil, fmt.Errorf("marshal clusters: %w", err)
	}
	return buf.Bytes(), nil
}
