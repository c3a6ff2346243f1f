package recordings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dangol/dangol/internal/testmedia"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// memStore is a Store that keeps objects in a map: a storage double, the real
// stores are tested on their own. put, if set, runs before each Put.
type memStore struct {
	put func(ctx context.Context, key string) error

	mu   sync.Mutex // guards objs
	objs map[string][]byte
}

func newMemStore() *memStore { return &memStore{objs: map[string][]byte{}} }

func (s *memStore) Put(ctx context.Context, key string, data []byte) error {
	if s.put != nil {
		if err := s.put(ctx, key); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objs[key] = bytes.Clone(data)
	return nil
}

func (s *memStore) Open(_ context.Context, key string, off, n int64) (io.ReadCloser, ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objs[key]
	if !ok {
		return nil, ObjectInfo{}, fmt.Errorf("open %s: %w", key, ErrNotExist)
	}
	b = b[min(off, int64(len(b))):]
	if n >= 0 {
		b = b[:min(n, int64(len(b)))]
	}
	return io.NopCloser(bytes.NewReader(b)), ObjectInfo{Key: key, Size: int64(len(s.objs[key]))}, nil
}

func (s *memStore) List(_ context.Context, prefix string) ([]ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ObjectInfo
	for k, v := range s.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, ObjectInfo{Key: k, Size: int64(len(v))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *memStore) Delete(_ context.Context, prefix string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.objs {
		if strings.HasPrefix(k, prefix) {
			delete(s.objs, k)
		}
	}
	return nil
}

func (s *memStore) get(t *testing.T, key string) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objs[key]
	if !ok {
		t.Fatalf("object %s missing", key)
	}
	return b
}

// TestRecorder records the test broadcast in each codec a publisher may
// send, clean and impaired, and checks the stored recording with ffprobe:
// segments that each start on a keyframe and play after the init, and the
// whole that decodes without error at the broadcast's length.
func TestRecorder(t *testing.T) {
	tests := []struct {
		name       string
		swap, loss float64
	}{
		{"clean", 0, 0},
		{"reordered", 0.05, 0},
		{"2% loss", 0.02, 0.02},
	}
	for _, c := range testCodecs {
		clean := phonePacketsOf(t, c.mime)
		for _, tt := range tests {
			t.Run(c.codec+"/"+tt.name, func(t *testing.T) {
				testRecorder(t, c.mime, c.codec, c.f, impair(clean, tt.swap, tt.loss, 7))
			})
		}
	}
}

func testRecorder(t *testing.T, mime, codec string, f *format, pkts []phonePacket) {
	store := newMemStore()
	rec := NewRecorder(store, "kim-fish/42", Options{QueueSize: len(pkts) + 1})
	rec.SetVideoCodec(mime)
	for _, p := range pkts {
		if p.video {
			rec.WriteVideo(p.pkt)
		} else {
			rec.WriteAudio(p.pkt)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	st := rec.Stats()
	t.Logf("stats %+v", st)
	if st.DroppedPackets != 0 || st.DroppedSegments != 0 {
		t.Errorf("dropped with a big queue and a working store: %+v", st)
	}

	var m Manifest
	if err := json.Unmarshal(store.get(t, "kim-fish/42/manifest.json"), &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if !m.Ended || m.Container != f.container || m.Width != 320 || m.Height != 240 || len(m.Segments) < 2 {
		t.Fatalf("manifest = %+v", m)
	}
	dir := t.TempDir()
	all := bytes.Clone(store.get(t, "kim-fish/42/"+f.initName))
	live := m
	live.Ended = false
	liveInit, err := f.buildInit(live)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range m.Segments {
		if want := fmt.Sprintf("%06d%s", i+1, f.segExt); s.Name != want {
			t.Errorf("segment %d named %s, want %s", i, s.Name, want)
		}
		seg := store.get(t, "kim-fish/42/"+s.Name)
		if int64(len(seg)) != s.Size {
			t.Errorf("%s: size %d, manifest says %d", s.Name, len(seg), s.Size)
		}
		all = append(all, seg...)
		// Each segment must play on its own after the init, starting
		// with a keyframe: what a player seeking to it decodes first.
		one := filepath.Join(dir, "one"+f.fileExt)
		if err := os.WriteFile(one, append(bytes.Clone(liveInit), seg...), 0o600); err != nil {
			t.Fatal(err)
		}
		var frames struct {
			Frames []struct {
				KeyFrame int `json:"key_frame"`
			} `json:"frames"`
		}
		out := testmedia.ProbeJSON(t, one, "-select_streams", "v", "-read_intervals", "%+#1", "-show_entries", "frame=key_frame", "-show_frames")
		if err := json.Unmarshal(out, &frames); err != nil {
			t.Fatalf("ffprobe frames: %v", err)
		}
		if len(frames.Frames) == 0 || frames.Frames[0].KeyFrame != 1 {
			t.Errorf("%s does not start with a keyframe: %s", s.Name, out)
		}
	}
	file, info := testmedia.ProbeBytes(t, "all"+f.fileExt, all, "opus", codec)
	dur := info.Duration
	t.Logf("ffprobe duration %.3f s, %d segments, manifest %d ms", dur, len(m.Segments), m.DurationMs)
	t.Logf("segments %+v", m.Segments)
	if dur < testMediaSeconds-4 || dur > testMediaSeconds+4 {
		t.Errorf("duration %.3f s, want %d s within one segment", dur, testMediaSeconds)
	}
	testmedia.Decode(t, file)
	// Seek to the middle: the index in the final init takes the
	// player there.
	testmedia.Decode(t, file, "-ss", fmt.Sprint(testMediaSeconds/2))
}

// TestRecorderNeverBlocks checks that the SFU's reader goroutines never wait
// on the recorder: with the queue full, packets are dropped and counted at
// once; with the store stuck, intake goes on and pending segments are bounded.
func TestRecorderNeverBlocks(t *testing.T) {
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 1, Timestamp: 960}, Payload: []byte{0xfc, 0xff, 0xfe}}

	t.Run("queue full", func(t *testing.T) {
		rec := newRecorder(newMemStore(), "q", Options{QueueSize: 8})
		// Not started: its goroutine is as stuck as it can be.
		for range 100 {
			rec.WriteAudio(pkt)
			rec.WriteVideo(pkt)
		}
		if got := rec.Stats().DroppedPackets; got != 192 {
			t.Errorf("dropped %d packets, want 192", got)
		}
		rec.start()
		if err := rec.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec.WriteAudio(pkt)
		if got := rec.Stats().DroppedPackets; got != 193 {
			t.Errorf("after close: dropped %d packets, want 193", got)
		}
	})

	t.Run("store stuck", func(t *testing.T) {
		pkts := phonePackets(t)
		release := make(chan struct{})
		store := newMemStore()
		store.put = func(ctx context.Context, key string) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		rec := NewRecorder(store, "stuck", Options{QueueSize: len(pkts), MaxPendingSegments: 2, SegmentDuration: time.Second})
		fed := make(chan struct{})
		go func() {
			defer close(fed)
			for _, p := range pkts {
				if p.video {
					rec.WriteVideo(p.pkt)
				} else {
					rec.WriteAudio(p.pkt)
				}
			}
		}()
		select {
		case <-fed:
		case <-time.After(5 * time.Second):
			t.Fatal("writes blocked on a stuck store")
		}
		// Close can only finish once the store moves; give it a short
		// deadline while stuck: it must give up, not hang.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := rec.Close(ctx)
		close(release)
		if err == nil {
			t.Fatal("close succeeded with the store stuck")
		}
		st := rec.Stats()
		t.Logf("stats %+v, close: %v", st, err)
		if st.DroppedPackets+st.DroppedSegments == 0 {
			t.Errorf("nothing dropped or counted with a stuck store: %+v", st)
		}
		if st.DroppedSegments == 0 {
			t.Errorf("pending segments not bounded: %+v", st)
		}
	})
}

// TestRecorderReconnect feeds the second half of the test media as a
// reconnected publisher sends it: new SSRCs, sequence numbers and RTP
// timestamps starting elsewhere, after a 2 s pause in arrival. The recording
// goes on in the same file, the pause becoming a jump in timestamps.
func TestRecorderReconnect(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.codec, func(t *testing.T) { testRecorderReconnect(t, c.mime, c.codec, c.f) })
	}
}

func testRecorderReconnect(t *testing.T, mime, codec string, f *format) {
	const (
		halfMs  = testMediaSeconds * 1000 / 2
		pauseMs = 2000
	)
	pkts := phonePacketsOf(t, mime)
	store := newMemStore()
	rec := newRecorder(store, "kim-fish/43", Options{QueueSize: len(pkts) + 1})
	rec.SetVideoCodec(mime)
	// Arrival times follow the media's send times, so the pause is seen as
	// one; written from this goroutine, read on the recorder's.
	base := time.Now()
	var at atomic.Int64
	rec.now = func() time.Time { return base.Add(time.Duration(at.Load())) }
	rec.start()
	for _, p := range pkts {
		pkt, atMs := p.pkt, p.atMs
		if atMs >= halfMs {
			pkt = pkt.Clone()
			pkt.SSRC ^= 0x5a5a5a5a
			pkt.SequenceNumber += 20000
			pkt.Timestamp += 0x40000000
			atMs += pauseMs
		}
		at.Store(int64(atMs * float64(time.Millisecond)))
		if p.video {
			rec.WriteVideo(pkt)
		} else {
			rec.WriteAudio(pkt)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	t.Logf("stats %+v", rec.Stats())

	var m Manifest
	if err := json.Unmarshal(store.get(t, "kim-fish/43/manifest.json"), &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if !m.Ended || len(m.Segments) < 2 {
		t.Fatalf("manifest = %+v", m)
	}
	all := bytes.Clone(store.get(t, "kim-fish/43/"+f.initName))
	for _, s := range m.Segments {
		all = append(all, store.get(t, "kim-fish/43/"+s.Name)...)
	}
	file, info := testmedia.ProbeBytes(t, "all"+f.fileExt, all, "opus", codec)
	dur := info.Duration
	t.Logf("ffprobe duration %.3f s, %d segments, manifest %d ms", dur, len(m.Segments), m.DurationMs)
	t.Logf("segments %+v", m.Segments)
	want := float64(testMediaSeconds*1000+pauseMs) / 1000
	if seg := rec.opts.SegmentDuration.Seconds(); dur < want-seg || dur > want+seg {
		t.Errorf("duration %.3f s, want %.1f s (both halves and the pause) within one segment", dur, want)
	}
	// The second half must be there: frames after the pause, not just a
	// duration stretched by the last frame.
	var frames struct {
		Packets []struct {
			PTS string `json:"pts_time"`
		} `json:"packets"`
	}
	out := testmedia.ProbeJSON(t, file, "-select_streams", "v", "-show_entries", "packet=pts_time", "-show_packets")
	if err := json.Unmarshal(out, &frames); err != nil {
		t.Fatalf("ffprobe packets: %v", err)
	}
	var after int
	for _, f := range frames.Packets {
		if pts, _ := strconv.ParseFloat(f.PTS, 64); pts > float64(halfMs+pauseMs)/1000 {
			after++
		}
	}
	if after < testFPS*2 {
		t.Errorf("%d video frames after the pause, want the second half's (more than %d)", after, testFPS*2)
	}
	// Seek into the second half and decode from there, and all of it.
	testmedia.Decode(t, file, "-ss", fmt.Sprint(want-2))
	testmedia.Decode(t, file)
}

// TestRecorderResume records the first half of the test media, closes the
// recording as a server shutting down does, and resumes it in a new
// recorder for the second half, sent as a publisher reconnecting to the new
// process would (new SSRCs, sequence numbers and timestamps) after a pause:
// one recording, playing both halves with the pause between them.
func TestRecorderResume(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.codec, func(t *testing.T) {
			const (
				halfMs  = testMediaSeconds * 1000 / 2
				pauseMs = 3000
				prefix  = "kim-fish/48"
			)
			pkts := phonePacketsOf(t, c.mime)
			store := newMemStore()
			base := time.Now()
			var at atomic.Int64
			now := func() time.Time { return base.Add(time.Duration(at.Load())) }

			first := newRecorder(store, prefix, Options{QueueSize: len(pkts) + 1})
			first.now = now
			first.start()
			first.SetVideoCodec(c.mime)
			i := 0
			for ; i < len(pkts) && pkts[i].atMs < halfMs; i++ {
				at.Store(int64(pkts[i].atMs * float64(time.Millisecond)))
				if pkts[i].video {
					first.WriteVideo(pkts[i].pkt)
				} else {
					first.WriteAudio(pkts[i].pkt)
				}
			}
			if err := first.Close(testContext(t)); err != nil {
				t.Fatal(err)
			}
			before := readManifest(t, store, prefix)

			// Another video codec cannot continue it.
			other := mimeVP8
			if c.mime == mimeVP8 {
				other = mimeH264
			}
			if _, err := ResumeRecorder(testContext(t), store, "kim-fish/none", Options{}); err == nil {
				t.Errorf("resumed a recording that does not exist")
			}

			bad, err := ResumeRecorder(testContext(t), store, prefix, Options{QueueSize: len(pkts) + 1})
			if err != nil {
				t.Fatal(err)
			}
			bad.SetVideoCodec(other)
			for _, p := range pkts[i:] {
				if p.video {
					bad.WriteVideo(p.pkt)
				}
			}
			if err := bad.Close(testContext(t)); err != nil {
				t.Fatal(err)
			}
			if st := bad.Stats(); st.Segments != 0 || st.DroppedPackets == 0 {
				t.Errorf("resumed in %s: stats %+v, want its video dropped", other, st)
			}
			if m := readManifest(t, store, prefix); !slices.Equal(m.Segments, before.Segments) {
				t.Errorf("resumed in %s: segments %+v, want %+v", other, m.Segments, before.Segments)
			}

			rec, err := ResumeRecorder(testContext(t), store, prefix, Options{QueueSize: len(pkts) + 1})
			if err != nil {
				t.Fatal(err)
			}
			rec.now = now
			rec.SetVideoCodec(c.mime)
			rec.SetVideoCodec(other) // ignored: the first call decides
			for ; i < len(pkts); i++ {
				pkt := pkts[i].pkt.Clone()
				pkt.SSRC ^= 0x5a5a5a5a
				pkt.SequenceNumber += 20000
				pkt.Timestamp += 0x40000000
				at.Store(int64((pkts[i].atMs + pauseMs) * float64(time.Millisecond)))
				if pkts[i].video {
					rec.WriteVideo(pkt)
				} else {
					rec.WriteAudio(pkt)
				}
			}
			if err := rec.Close(testContext(t)); err != nil {
				t.Fatal(err)
			}
			m := readManifest(t, store, prefix)
			t.Logf("before %d segments, %d ms; after %d segments, %d ms", len(before.Segments), before.DurationMs, len(m.Segments), m.DurationMs)
			if !m.Ended || len(m.Segments) <= len(before.Segments) || !m.StartedAt.Equal(before.StartedAt) {
				t.Fatalf("manifest %+v, want it ended with more segments than %d", m, len(before.Segments))
			}
			for i, s := range before.Segments {
				if m.Segments[i] != s {
					t.Errorf("segment %d changed: %+v, was %+v", i, m.Segments[i], s)
				}
			}
			all := bytes.Clone(store.get(t, prefix+"/"+c.f.initName))
			names := map[string]bool{}
			for _, s := range m.Segments {
				if names[s.Name] {
					t.Errorf("segment name %s used twice", s.Name)
				}
				names[s.Name] = true
				all = append(all, store.get(t, prefix+"/"+s.Name)...)
			}
			file, info := testmedia.ProbeBytes(t, "resumed"+c.f.fileExt, all, "opus", c.codec)
			want := float64(testMediaSeconds*1000+pauseMs) / 1000
			if seg := rec.opts.SegmentDuration.Seconds(); info.Duration < want-seg || info.Duration > want+seg {
				t.Errorf("duration %.3f s, want %.1f s (both halves and the pause) within one segment", info.Duration, want)
			}
			testmedia.Decode(t, file)
			testmedia.Decode(t, file, "-ss", fmt.Sprint(want-2))
		})
	}
}

// TestRecorderMetrics fails the store as a full disk does, then lets it
// recover: the metrics show the recording failing while it does and agree
// with the recorder's own counts at the end, and nothing is left reported.
func TestRecorderMetrics(t *testing.T) {
	pkts := phonePackets(t)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	failing.Store(true)
	var failures atomic.Int32
	secondFailure := make(chan struct{})
	store := newMemStore()
	store.put = func(ctx context.Context, key string) error {
		if !failing.Load() {
			return nil
		}
		if failures.Add(1) == 2 {
			close(secondFailure) // the first failure is counted by now
		}
		return errors.New("write: no space left on device")
	}
	rec := NewRecorder(store, "full", Options{QueueSize: len(pkts) + 1, MaxPendingSegments: 2,
		RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, Metrics: m})
	if got := metricValue(t, m.active); got != 1 {
		t.Errorf("recordings_active = %v while recording, want 1", got)
	}
	for _, p := range pkts {
		if p.video {
			rec.WriteVideo(p.pkt)
		} else {
			rec.WriteAudio(p.pkt)
		}
	}
	<-secondFailure
	if got := metricValue(t, m.failing); got != 1 {
		t.Errorf("recordings_store_failing = %v while the store fails, want 1", got)
	}
	failing.Store(false)
	if err := rec.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	st := rec.Stats()
	t.Logf("stats %+v, %d failed puts", st, failures.Load())
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"recordings_active", metricValue(t, m.active), 0},
		{"recordings_store_failing", metricValue(t, m.failing), 0},
		{"recording_segments_pending", metricValue(t, m.pending), 0},
		{"recording_segments_total", metricValue(t, m.segments), float64(st.Segments)},
		{"recording_segments_dropped_total", metricValue(t, m.droppedSegments), float64(st.DroppedSegments)},
		{"recording_packets_dropped_total", metricValue(t, m.droppedPackets), float64(st.DroppedPackets)},
		{"recording_store_errors_total", metricValue(t, m.putErrors), float64(failures.Load())},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if metricValue(t, m.bytes) <= 0 || st.Segments == 0 {
		t.Errorf("nothing stored once the store recovered: %+v", st)
	}
}

// metricValue reads a gauge's or counter's value.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// TestRecorderTimesOnlyGoForward writes a track's sample at a time already
// written, as the sample builder can leave after loss: it is dropped, the
// video waits for its next keyframe, and the file's times only go forward.
func TestRecorderTimesOnlyGoForward(t *testing.T) {
	f, err := os.Open(filepath.Join(mediaDir(t), "video.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ivf, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for range 3 {
		frame, _, err := ivf.ParseNextFrame()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame)
	}
	rec := newRecorder(newMemStore(), "kim-fish/51", Options{})
	rec.format = webmFormat
	rec.writeSample(true, sample{ms: 0, durMs: 33, data: frames[0]})
	rec.writeSample(false, sample{ms: 0, durMs: 20, data: []byte{0xfc}})
	rec.writeSample(true, sample{ms: 33, durMs: 33, data: frames[1]})
	rec.writeSample(true, sample{ms: 33, durMs: 33, data: frames[2]})    // again at 33: dropped
	rec.writeSample(false, sample{ms: 0, durMs: 20, data: []byte{0xfc}}) // again at 0: dropped
	if rec.writtenVideo != 33 || rec.writtenAudio != 0 || !rec.videoBroken || rec.skippedFrames.Load() != 1 {
		t.Errorf("written video %d, audio %d, broken %v, skipped %d; want 33, 0, true, 1",
			rec.writtenVideo, rec.writtenAudio, rec.videoBroken, rec.skippedFrames.Load())
	}
	var times []int64
	for _, c := range rec.seg.mux.(*segmentWriter).clusters {
		for _, b := range c.SimpleBlock {
			times = append(times, int64(c.Timecode)+int64(b.Timecode))
		}
	}
	if want := []int64{0, 0, 33}; !slices.Equal(times, want) {
		t.Errorf("blocks at %v ms, want %v (video 0, audio 0, video 33)", times, want)
	}
}
