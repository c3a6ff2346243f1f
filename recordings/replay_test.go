package recordings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dangol/dangol/internal/testmedia"
)

// recordTestBroadcast records the test media into store under prefix with a
// real Recorder and returns the manifest and init + segments back to back,
// as read from the store: what the replay must serve.
func recordTestBroadcast(t *testing.T, store Store, prefix string) (Manifest, []byte) {
	return recordTestBroadcastOf(t, store, prefix, mimeVP8)
}

// recordTestBroadcastOf is recordTestBroadcast with the video in a codec.
func recordTestBroadcastOf(t *testing.T, store Store, prefix, mime string) (Manifest, []byte) {
	t.Helper()
	pkts := phonePacketsOf(t, mime)
	rec := NewRecorder(store, prefix, Options{QueueSize: len(pkts) + 1})
	rec.SetVideoCodec(mime)
	for _, p := range pkts {
		if p.video {
			rec.WriteVideo(p.pkt)
		} else {
			rec.WriteAudio(p.pkt)
		}
	}
	ctx := testContext(t)
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("close recorder: %v", err)
	}
	data, _ := readAll(t, store, prefix+"/manifest.json")
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if !m.Ended || len(m.Segments) < 2 {
		t.Fatalf("manifest = %+v, want ended with 2 segments or more", m)
	}
	all, _ := readAll(t, store, prefix+"/"+m.Init)
	for _, s := range m.Segments {
		seg, _ := readAll(t, store, prefix+"/"+s.Name)
		all = append(all, seg...)
	}
	return m, all
}

func readAll(t *testing.T, s Store, key string) ([]byte, ObjectInfo) {
	t.Helper()
	data, info, err := readReplayObject(testContext(t), s, key)
	if err != nil {
		t.Fatal(err)
	}
	return data, info
}

func replayServer(t *testing.T, store Store) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /replays/{slug}/{file}", NewReplays(store, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, body
}

// TestReplayMP4 serves an H.264 recording as one MP4 file, under the
// .mp4 name only.
func TestReplayMP4(t *testing.T) {
	store := newDirStore(t, t.TempDir())
	_, all := recordTestBroadcastOf(t, store, "kim-fish/44", mimeH264)
	srv := replayServer(t, store)

	info, err := NewReplays(store, nil).Info(testContext(t), "kim-fish", 44)
	if err != nil || info.URL != "/replays/kim-fish/44.mp4" || info.HLSURL != "/replays/kim-fish/44.m3u8" || info.Size != int64(len(all)) || !info.Ended {
		t.Fatalf("Info = %+v, %v; want /replays/kim-fish/44.mp4, ended, %d bytes", info, err, len(all))
	}
	resp, body := get(t, "GET", srv.URL+info.URL)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, all) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("GET %s: status %d, %s, %d bytes; want 200, video/mp4, the %d bytes of init + segments",
			info.URL, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(all))
	}
	file, probe := testmedia.ProbeBytes(t, "replay.mp4", body, "h264", "opus")
	if probe.Duration < testMediaSeconds-4 || probe.Duration > testMediaSeconds+4 {
		t.Errorf("duration %.3f s, want %d s within one segment", probe.Duration, testMediaSeconds)
	}
	testmedia.Decode(t, file, "-ss", "6")
	resp, body = get(t, "GET", srv.URL+"/replays/kim-fish/44.webm")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET .webm of an MP4 recording: status %d, %s; want 404", resp.StatusCode, body)
	}
}

func TestReplay(t *testing.T) {
	for _, b := range storeBackends {
		t.Run(b.name, func(t *testing.T) {
			store := b.open(t)
			m, all := recordTestBroadcast(t, store, "kim-fish/42")
			srv := replayServer(t, store)
			url := srv.URL + "/replays/kim-fish/42.webm"
			size := int64(len(all))

			t.Run("get", func(t *testing.T) {
				resp, body := get(t, "GET", url)
				if resp.StatusCode != http.StatusOK || !bytes.Equal(body, all) {
					t.Fatalf("status %d, %d bytes, want 200 and the %d bytes of init + segments", resp.StatusCode, len(body), size)
				}
				for h, want := range map[string]string{
					"Content-Type":   "video/webm",
					"Content-Length": strconv.FormatInt(size, 10),
					"Accept-Ranges":  "bytes",
					"Cache-Control":  "public, max-age=86400",
				} {
					if got := resp.Header.Get(h); got != want {
						t.Errorf("%s = %q, want %q", h, got, want)
					}
				}
				if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
					t.Errorf("no ETag or Last-Modified: %v", resp.Header)
				}
				resp, body = get(t, "GET", url, "If-None-Match", resp.Header.Get("ETag"))
				if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
					t.Errorf("If-None-Match the ETag: status %d, %d bytes, want 304", resp.StatusCode, len(body))
				}
			})

			t.Run("head", func(t *testing.T) {
				resp, body := get(t, "HEAD", url)
				if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != size {
					t.Errorf("HEAD: status %d, %d bytes, Content-Length %d, want 200, none, %d", resp.StatusCode, len(body), resp.ContentLength, size)
				}
			})

			initLen, _ := readAll(t, store, "kim-fish/42/"+m.Init)
			boundary := int64(len(initLen)) + m.Segments[0].Size // first segment | second
			ranges := []struct {
				name       string
				header     string
				start, end int64 // the bytes wanted, [start, end)
			}{
				{"start", "bytes=0-99", 0, 100},
				{"init into first segment", fmt.Sprintf("bytes=%d-%d", len(initLen)-10, len(initLen)+9), int64(len(initLen)) - 10, int64(len(initLen)) + 10},
				{"across a segment boundary", fmt.Sprintf("bytes=%d-%d", boundary-50, boundary+49), boundary - 50, boundary + 50},
				{"suffix", "bytes=-100", size - 100, size},
				{"open-ended", fmt.Sprintf("bytes=%d-", size-1000), size - 1000, size},
				{"past the end", fmt.Sprintf("bytes=%d-%d", size-10, size+100), size - 10, size},
				{"last byte", fmt.Sprintf("bytes=%d-%d", size-1, size-1), size - 1, size},
			}
			for _, tt := range ranges {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := get(t, "GET", url, "Range", tt.header)
					if resp.StatusCode != http.StatusPartialContent {
						t.Fatalf("status %d, want 206", resp.StatusCode)
					}
					if want := fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end-1, size); resp.Header.Get("Content-Range") != want {
						t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
					}
					if !bytes.Equal(body, all[tt.start:tt.end]) {
						t.Errorf("%d bytes, not the %d bytes [%d, %d) of the file", len(body), tt.end-tt.start, tt.start, tt.end)
					}
				})
			}

			t.Run("bad range", func(t *testing.T) {
				resp, _ := get(t, "GET", url, "Range", fmt.Sprintf("bytes=%d-", size))
				if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
					t.Errorf("status %d, want 416", resp.StatusCode)
				}
				if want := fmt.Sprintf("bytes */%d", size); resp.Header.Get("Content-Range") != want {
					t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
				}
			})

			t.Run("missing", func(t *testing.T) {
				for _, tt := range []struct{ path, lang, msg string }{
					{"/replays/kim-fish/43.webm", "", "다시보기를 찾을 수 없습니다."},
					{"/replays/kim-fish/43.webm", "en-US,en;q=0.9", "Replay not found."},
					{"/replays/nobody/42.webm", "en", "Replay not found."},
					{"/replays/kim-fish/42.mp4", "en", "Replay not found."},
					{"/replays/kim-fish/..webm", "en", "Replay not found."},
					{"/replays/kim-fish/42.x.webm", "en", "Replay not found."},
				} {
					resp, body := get(t, "GET", srv.URL+tt.path, "Accept-Language", tt.lang)
					var e struct {
						Error struct{ Code, Message string }
					}
					if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusNotFound ||
						e.Error.Code != "not_found" || e.Error.Message != tt.msg {
						t.Errorf("%s (%q): status %d, body %s; want 404 not_found %q", tt.path, tt.lang, resp.StatusCode, body, tt.msg)
					}
				}
			})

			t.Run("info", func(t *testing.T) {
				info, err := NewReplays(store, nil).Info(testContext(t), "kim-fish", 42)
				if err != nil {
					t.Fatal(err)
				}
				want := ReplayInfo{URL: "/replays/kim-fish/42.webm", Duration: time.Duration(m.DurationMs) * time.Millisecond, Ended: true, Size: size,
					StartedAt: m.StartedAt}
				// StartedAt places the chapters and chat of the replay document.
				if info.StartedAt.IsZero() || !info.StartedAt.Equal(want.StartedAt) {
					t.Errorf("Info StartedAt %v, want the manifest's %v", info.StartedAt, want.StartedAt)
				}
				info.StartedAt = want.StartedAt
				if info != want {
					t.Errorf("Info = %+v, want %+v", info, want)
				}
				if _, err := NewReplays(store, nil).Info(testContext(t), "kim-fish", 43); !errors.Is(err, ErrNotExist) {
					t.Errorf("Info of a broadcast never recorded: %v, want ErrNotExist", err)
				}
			})

			t.Run("ffprobe", func(t *testing.T) {
				// ffprobe and ffmpeg read the URL with range requests, as a
				// player does, and seek with them.
				info := testmedia.Probe(t, url)
				if !slices.Equal(info.Codecs, []string{"opus", "vp8"}) {
					t.Errorf("streams %v, want opus and vp8", info.Codecs)
				}
				if info.Duration < testMediaSeconds-4 || info.Duration > testMediaSeconds+4 {
					t.Errorf("duration %.3f s, want %d s within one segment", info.Duration, testMediaSeconds)
				}
				testmedia.Decode(t, url, "-ss", "5")
			})
		})
	}
}

// TestReplayLive checks a recording still in progress: served as stored so
// far, not cached, and its ETag changes as it grows.
func TestReplayLive(t *testing.T) {
	store := newDirStore(t, t.TempDir())
	m, _ := recordTestBroadcast(t, store, "kim-fish/42")
	ctx := testContext(t)
	// A live recording as the recorder leaves it after two segments: the
	// same objects, a manifest not ended.
	copyObj := func(name string) []byte {
		data, _ := readAll(t, store, "kim-fish/42/"+name)
		if err := store.Put(ctx, "kim-fish/50/"+name, data); err != nil {
			t.Fatal(err)
		}
		return data
	}
	live := m
	live.Ended = false
	var want []byte
	want = append(want, copyObj(m.Init)...)
	srv := replayServer(t, store)
	url := srv.URL + "/replays/kim-fish/50.webm"
	var etags []string
	for n := 1; n <= 2; n++ {
		want = append(want, copyObj(m.Segments[n-1].Name)...)
		live.Segments = m.Segments[:n]
		live.DurationMs = m.Segments[n-1].StartMs + m.Segments[n-1].DurationMs
		data, err := json.Marshal(live)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, "kim-fish/50/manifest.json", data); err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, "GET", url)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Fatalf("%d segments: status %d, %d bytes, want 200 and %d bytes", n, resp.StatusCode, len(body), len(want))
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("Cache-Control %q, want no-cache", cc)
		}
		etags = append(etags, resp.Header.Get("ETag"))
	}
	if etags[0] == etags[1] {
		t.Errorf("ETag %s did not change as the recording grew", etags[0])
	}
	info, err := NewReplays(store, nil).Info(ctx, "kim-fish", 50)
	if err != nil || info.Ended || info.Size != int64(len(want)) {
		t.Errorf("Info = %+v, %v; want not ended, %d bytes", info, err, len(want))
	}
}

// TestReplayHLS plays an MP4 recording through its HLS playlist, as an
// iPhone would: while it is still the init and segments, and once it is one
// object (from MinIO, by the signed URL the file redirects to).
func TestReplayHLS(t *testing.T) {
	for _, b := range storeBackends {
		t.Run(b.name, func(t *testing.T) {
			store := b.open(t)
			recordTestBroadcastOf(t, store, "kim-fish/49", mimeH264)
			recordTestBroadcastOf(t, store, "kim-fish/50", mimeVP8)
			srv := replayServer(t, store)
			for _, consolidated := range []bool{false, true} {
				if consolidated {
					if err := Consolidate(testContext(t), store, "kim-fish/49"); err != nil {
						t.Fatal(err)
					}
				}
				resp, body := get(t, "GET", srv.URL+"/replays/kim-fish/49.m3u8")
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" ||
					!strings.HasPrefix(string(body), "#EXTM3U\n") || !strings.Contains(string(body), "#EXT-X-ENDLIST") {
					t.Fatalf("playlist (consolidated %v): status %d, %s:\n%s", consolidated, resp.StatusCode, resp.Header.Get("Content-Type"), body)
				}
				url := srv.URL + "/replays/kim-fish/49.m3u8"
				info := testmedia.Probe(t, url)
				t.Logf("consolidated %v: %v, %.3f s", consolidated, info.Codecs, info.Duration)
				if !slices.Equal(info.Codecs, []string{"h264", "opus"}) || info.Duration < testMediaSeconds-4 || info.Duration > testMediaSeconds+4 {
					t.Errorf("HLS (consolidated %v): %v, %.3f s; want h264 and opus, %d s within a segment", consolidated, info.Codecs, info.Duration, testMediaSeconds)
				}
				// Without reusing connections: ffmpeg complains when a redirect
				// to the bucket moves a kept-alive connection to another host.
				testmedia.Decode(t, url, "-http_persistent", "0")
			}
			// WebM does not go in HLS.
			if resp, _ := get(t, "GET", srv.URL+"/replays/kim-fish/50.m3u8"); resp.StatusCode != http.StatusNotFound {
				t.Errorf("playlist of a WebM recording: status %d, want 404", resp.StatusCode)
			}
		})
	}
}
