package main

import (
	"context"
	"fmt"
	"github.com/pion/webrtc/v4"
	"html"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// replayPage is a bare player for one replay URL: muted, so that Chromium's autoplay policy lets
// it start without a user gesture, as a phone's inline player would. It counts 'seeked' events in
// window.__seeked for the seek check.
const replayPage = `<!doctype html>
<meta charset="utf-8">
<title>replay</title>
<video id="video" muted autoplay playsinline src="%s"></video>
<script>
  window.__seeked = 0;
  document.getElementById('video').addEventListener('seeked', () => { window.__seeked++; });
</script>
`

// replayState is what the replay page's video has done so far.
type replayState struct {
	Error    string  `json:"error"` // "" while video.error is null
	Frames   int     `json:"frames"`
	Dropped  int     `json:"dropped"`
	Time     float64 `json:"time"`
	Duration float64 `json:"duration"` // -1 when not finite: JSON has no Infinity or NaN
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	Seeked   int     `json:"seeked"`
	Ended    bool    `json:"ended"`
}

const replayStateJS = `(() => {
  const v = document.getElementById('video');
  const q = v.getVideoPlaybackQuality();
  return {
    error: v.error ? 'code ' + v.error.code + ': ' + v.error.message : '',
    frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, time: v.currentTime,
    duration: Number.isFinite(v.duration) ? v.duration : -1,
    width: v.videoWidth, height: v.videoHeight, seeked: window.__seeked, ended: v.ended,
  };
})()`

// TestReplayBrowser records a short broadcast from a real pion publisher, as TestRecordBroadcast
// does, in each codec, and plays its replay URL in headless Chromium: the video decodes frames
// and advances, has the recording's finite duration (the WebM's cues or the MP4's index and
// duration, read over range requests), and seeks near its end and decodes on from there.
func TestReplayBrowser(t *testing.T) {
	needChromium(t)
	for _, tt := range []struct{ name, mime string }{
		{"vp8", webrtc.MimeTypeVP8},
		{"h264", webrtc.MimeTypeH264},
	} {
		t.Run(tt.name, func(t *testing.T) { testReplayBrowser(t, tt.mime) })
	}
}

func testReplayBrowser(t *testing.T, mime string) {
	const slug = "lee-fruit"
	r := recordBroadcastOf(t, t.TempDir(), slug, "이씨네 과일", recordTestSeconds, mime)
	bs := broadcasts(t, r.base, slug, r.channel.key)
	if len(bs) != 1 || bs[0].ReplayURL == "" {
		t.Fatalf("broadcasts = %+v, want one with a replay", bs)
	}
	replayURL := r.base + bs[0].ReplayURL

	// The page comes from another origin than the server's, as a channel page embedding the
	// replay might; a plain <video> needs no CORS for that.
	player := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, replayPage, html.EscapeString(replayURL))
	}))
	t.Cleanup(player.Close)

	// Bounds the browser's whole life. Cancelled last, after the browser has closed gracefully.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := startChromium(ctx, t)
	var ok bool
	defer func() {
		if !ok || os.Getenv("DANGOL_TEST_BROWSER_REPORT") != "" {
			t.Logf("server logs:\n%s", r.logs)
			t.Logf("browser:\n%s", b.report())
		}
	}()
	tb := b.open(t, "replay", player.URL)
	state := func() replayState {
		t.Helper()
		s, err := chromedp.Run(tb.ctx, chromedp.Evaluate[replayState](replayStateJS))
		if err != nil {
			t.Fatalf("read the video's state: %v", err)
		}
		return s
	}

	// Playing: more than a second of video decoded and shown. A media error ends the wait at
	// once rather than at the timeout.
	tb.waitFor(t, "a second of playback", fmt.Sprintf(`((s) => s.error !== '' || (s.frames > 30 && s.time > 1))(%s)`, replayStateJS))
	played := state()
	if played.Error != "" {
		t.Fatalf("video error %s after %d frames", played.Error, played.Frames)
	}
	if played.Width <= 0 || played.Height <= 0 {
		t.Errorf("video is %dx%d after %d frames", played.Width, played.Height, played.Frames)
	}
	t.Logf("playing: %d frames decoded (%d dropped) at %.3f s, %dx%d, duration %.3f s",
		played.Frames, played.Dropped, played.Time, played.Width, played.Height, played.Duration)

	// The duration as Chromium sees it: finite, and the length sent within one segment, like
	// ffprobe's in TestRecordBroadcast.
	const segment = 4 * time.Second // recordings' default segment length
	dur := time.Duration(played.Duration * float64(time.Second))
	if played.Duration < 0 {
		t.Fatalf("video duration is not finite; want about %v", r.sent)
	}
	if dur < r.sent-segment || dur > r.sent+segment {
		t.Errorf("video duration %v, want %v within one segment (%v)", dur, r.sent, segment)
	}

	// Seek near the end, as a customer jumping to a late chapter, and see it decode from there.
	target := math.Max(played.Duration-2, 0)
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[float64](
		fmt.Sprintf(`document.getElementById('video').currentTime = %f`, target))); err != nil {
		t.Fatalf("seek: %v", err)
	}
	tb.waitFor(t, "the seek to land", fmt.Sprintf(
		`((s) => s.error !== '' || (s.seeked > 0 && s.time >= %f))(%s)`, target, replayStateJS))
	landed := state()
	if landed.Error != "" {
		t.Fatalf("video error %s after the seek to %.3f s", landed.Error, target)
	}
	// Frames counted up to the landing include those decoded from the keyframe before the
	// target, so "decodes from there" means frames and time moving on after it.
	tb.waitFor(t, "frames after the seek", fmt.Sprintf(
		`((s) => s.error !== '' || (s.frames > %d && s.time > %f))(%s)`,
		landed.Frames+15, landed.Time+0.5, replayStateJS))
	seeked := state()
	if seeked.Error != "" {
		t.Fatalf("video error %s playing after the seek to %.3f s", seeked.Error, target)
	}
	t.Logf("seeked to %.3f s: landed at %.3f s with %d frames decoded, then %d frames at %.3f s (%d dropped), %d seeked events",
		target, landed.Time, landed.Frames, seeked.Frames, seeked.Time, seeked.Dropped, seeked.Seeked)

	// And it plays to the end.
	tb.waitFor(t, "the end of the replay", fmt.Sprintf(`((s) => s.error !== '' || s.ended)(%s)`, replayStateJS))
	end := state()
	if end.Error != "" {
		t.Fatalf("video error %s before the end", end.Error)
	}
	t.Logf("ended at %.3f s of %.3f s, %d frames decoded (%d dropped)", end.Time, end.Duration, end.Frames, end.Dropped)
	ok = !t.Failed()
}
