package recordings

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dangol/dangol/internal/testmedia"
)

// TestRecorderChapter marks a chapter between two of the test media's
// keyframes (every 2 s): the recorder asks for a keyframe at once and starts
// a segment at the next one, where without the chapter it would not cut.
func TestRecorderChapter(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.codec, func(t *testing.T) {
			pkts := phonePacketsOf(t, c.mime)
			store := newMemStore()
			var asked atomic.Int32
			rec := newRecorder(store, "kim-fish/45", Options{
				QueueSize:       len(pkts) + 1,
				RequestKeyframe: func() { asked.Add(1) },
			})
			rec.SetVideoCodec(c.mime)
			// Fed on this goroutine before the recorder starts, so that the
			// chapter falls at a known point of the media.
			// The recorder's clock follows the media's, for the keyframe
			// requests' throttle.
			base := time.Now()
			var at time.Time
			rec.now = func() time.Time { return at }
			marked := false
			for _, p := range pkts {
				at = base.Add(time.Duration(p.atMs * float64(time.Millisecond)))
				if !marked && p.atMs >= 4500 {
					marked = true
					before := asked.Load()
					rec.Chapter()
					defer func() {
						if asked.Load() == before {
							t.Errorf("no keyframe asked for at the chapter")
						}
					}()
				}
				rec.handle(packetIn{pkt: p.pkt, video: p.video, at: at})
			}
			rec.start()
			if err := rec.Close(testContext(t)); err != nil {
				t.Fatal(err)
			}
			m := readManifest(t, store, "kim-fish/45")
			var starts []int64
			for _, s := range m.Segments {
				starts = append(starts, (s.StartMs+500)/1000) // to the second
			}
			// 0-4 s as always, then 4-6 s cut short by the chapter, which
			// starts at the keyframe at 6 s.
			if want := []int64{0, 4, 6}; !slices.Equal(starts[:min(3, len(starts))], want) {
				t.Errorf("segments start at %v s, want %v first", starts, want)
			}
		})
	}
}

// TestMakeClips cuts clips from a recording in each format and checks each
// with ffprobe: the segments it should hold, starting at zero, decoding.
func TestMakeClips(t *testing.T) {
	for _, c := range testCodecs {
		t.Run(c.codec, func(t *testing.T) {
			store := newMemStore()
			m, _ := recordTestBroadcastOf(t, store, "kim-fish/46", c.mime)
			at := func(ms int64) time.Time { return m.StartedAt.Add(time.Duration(ms) * time.Millisecond) }
			end := m.DurationMs
			t.Logf("segments %+v", m.Segments)
			// The test media has a keyframe every 2 s, so segments start
			// every 4 s: 0, 4, 8.
			specs := []ClipSpec{
				{"second", at(4000), at(8000)},        // one segment
				{"late-keyframe", at(3000), at(8000)}, // the keyframe asked for at 3 s came at 4 s
				{"whole", at(-2000), at(end + 60000)}, // pinned before the start: from there, to the end
				{"replaced-at-once", at(4000), at(4000)},
				{"after-the-end", at(end + 1000), at(end + 5000)},
			}
			clips, err := MakeClips(context.Background(), store, "kim-fish/46", specs)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, cl := range clips {
				names = append(names, cl.Name)
			}
			if want := []string{"second", "late-keyframe", "whole"}; !slices.Equal(names, want) {
				t.Fatalf("clips %v, want %v", names, want)
			}
			want := map[string][2]int64{ // start and duration in the recording, ms
				"second":        {m.Segments[1].StartMs, m.Segments[1].DurationMs},
				"late-keyframe": {m.Segments[1].StartMs, m.Segments[1].DurationMs},
				"whole":         {0, end},
			}
			for _, cl := range clips {
				w := want[cl.Name]
				if cl.OffsetMs != w[0] || cl.DurationMs != w[1] || cl.Key != "kim-fish/46/clips/"+cl.Name+c.f.fileExt {
					t.Errorf("clip %+v, want start %d ms, duration %d ms", cl, w[0], w[1])
				}
				data := store.get(t, cl.Key)
				if int64(len(data)) != cl.Size {
					t.Errorf("%s: %d bytes stored, clip says %d", cl.Key, len(data), cl.Size)
				}
				file, info := testmedia.ProbeBytes(t, "clip"+c.f.fileExt, data, "opus", c.codec)
				if d := info.Duration * 1000; d < float64(cl.DurationMs)-250 || d > float64(cl.DurationMs)+250 {
					t.Errorf("%s: ffprobe duration %.3f s, want %.3f s", cl.Name, info.Duration, float64(cl.DurationMs)/1000)
				}
				var probe struct {
					Streams []struct {
						StartTime string `json:"start_time"`
					} `json:"streams"`
				}
				if err := json.Unmarshal(testmedia.ProbeJSON(t, file, "-show_entries", "stream=start_time"), &probe); err != nil {
					t.Fatal(err)
				}
				for _, s := range probe.Streams {
					var st float64
					if _, err := fmt.Sscan(s.StartTime, &st); err != nil || st > 0.1 {
						t.Errorf("%s: a stream starts at %q s, want 0", cl.Name, s.StartTime)
					}
				}
				testmedia.Decode(t, file)
			}
		})
	}
}

func TestClipSegments(t *testing.T) {
	// Segments of 4 s, and a long one as a phone that ignores keyframe
	// requests would give.
	segs := []Segment{{StartMs: 0, DurationMs: 4000}, {StartMs: 4000, DurationMs: 4000}, {StartMs: 8000, DurationMs: 70000}, {StartMs: 78000, DurationMs: 4000}}
	for i := 4; i < 25; i++ {
		segs = append(segs, Segment{StartMs: 78000 + int64(i-3)*4000, DurationMs: 4000})
	}
	tests := []struct {
		name         string
		from, to     int64
		first, wantN int
	}{
		{"one segment", 4000, 8000, 1, 1},
		{"keyframe late", 3000, 8000, 1, 1},
		{"keyframe within the latency", 2700, 8000, 1, 1},
		{"two segments", 0, 7999, 0, 2},
		{"a long segment is taken whole", 8000, 78000, 2, 1},
		{"capped at a minute", 78000, 1 << 40, 3, 15},
		{"under a second", 4000, 4000, 0, 0},
		{"after the end", 200000, 300000, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, n := clipSegments(segs, tt.from, tt.to)
			if first != tt.first || n != tt.wantN {
				t.Errorf("clipSegments(%d, %d) = %d, %d; want %d, %d", tt.from, tt.to, first, n, tt.first, tt.wantN)
			}
		})
	}
}

// TestServeClip serves a clip from a folder (with ranges) and from MinIO (a
// redirect to a signed URL, so the bytes bypass the server).
func TestServeClip(t *testing.T) {
	for _, b := range storeBackends {
		t.Run(b.name, func(t *testing.T) {
			store := b.open(t)
			m, _ := recordTestBroadcast(t, store, "kim-fish/47")
			clips, err := MakeClips(testContext(t), store, "kim-fish/47", []ClipSpec{{"p12-1", m.StartedAt, m.StartedAt.Add(time.Minute)}})
			if err != nil || len(clips) != 1 {
				t.Fatalf("MakeClips = %+v, %v", clips, err)
			}
			stored, _ := readAll(t, store, clips[0].Key)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /replays/{slug}/{rec}/clips/{file}", NewReplays(store, nil).ServeClip)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			url := srv.URL + ClipURL(clips[0])
			if want := "/replays/kim-fish/47/clips/p12-1.webm"; ClipURL(clips[0]) != want {
				t.Errorf("ClipURL = %s, want %s", ClipURL(clips[0]), want)
			}

			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := noFollow.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			_, signs := store.(signer)
			if wantRedirect := signs; (resp.StatusCode == http.StatusFound) != wantRedirect {
				t.Errorf("status %d (Location %q), want a redirect: %v", resp.StatusCode, resp.Header.Get("Location"), wantRedirect)
			}
			resp, body := get(t, "GET", url)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, stored) {
				t.Fatalf("GET %s (followed): status %d, %d bytes; want the clip's %d", url, resp.StatusCode, len(body), len(stored))
			}
			resp, body = get(t, "GET", url, "Range", "bytes=100-199")
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, stored[100:200]) {
				t.Errorf("range: status %d, %d bytes; want 206 and bytes 100-199", resp.StatusCode, len(body))
			}
			for _, bad := range []string{"/replays/kim-fish/47/clips/nope.webm", "/replays/kim-fish/47/clips/p12-1.mp4", "/replays/kim-fish/47/clips/..%2fmanifest.json", "/replays/kim-fish/x/clips/p12-1.webm"} {
				if resp, _ := get(t, "GET", srv.URL+bad); resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: status %d, want 404", bad, resp.StatusCode)
				}
			}
		})
	}
}
