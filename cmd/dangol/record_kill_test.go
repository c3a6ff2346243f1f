package main

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dangol/dangol/internal/testmedia"
)

// TestRecordSurvivesKill runs the real server as a child process, publishes real VP8 and
// Opus in real time, kills the server with SIGKILL mid-broadcast, restarts it on the same
// data, and checks that the recording was closed at start-up and plays up to the kill, minus
// at most the segment in progress. Then either the phone comes back to the new process and
// goes on with the broadcast, and the same recording carries on, one replay with both parts;
// or it does not, and once the grace has passed the broadcast ends and its recording is
// finished as after any broadcast: stored as one file.
func TestRecordSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a child process for about 15 s of real-time media")
	}
	testmedia.Need(t)
	for _, tt := range []struct {
		name     string
		comeBack bool
	}{{"phone comes back", true}, {"phone does not come back", false}} {
		t.Run(tt.name, func(t *testing.T) { testRecordSurvivesKill(t, tt.comeBack) })
	}
}

func testRecordSurvivesKill(t *testing.T, comeBack bool) {
	const (
		slug      = "kim-fish"
		mediaSecs = 11
		killAfter = 9 * time.Second // of sending: two segments stored, the third in progress
		segment   = 4 * time.Second // recordings' default segment length
		slack     = 1 * time.Second // keyframe wait and the recorder's reordering delay
	)
	ivf, ogg, err := testmedia.Encode(t.TempDir(), mediaSecs, recordTestFPS)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secrets := addChannel(t, dir, slug, "김씨네 생선")
	args := loopbackArgs(dir, "--grace", "1s")
	srv := startChild(t, args...)

	pub := publishMedia(t, "http://"+srv.addr, slug, secrets.key)
	// Media before the recorder is attached is not recorded (see TestRecordBroadcast).
	waitLog(t, srv.logs, `msg="recording started"`, 10*time.Second)

	// The kill comes from a timer while send paces the media on this goroutine: the server
	// dies mid-broadcast, and the rest of the file goes nowhere.
	start := time.Now()
	var sentBeforeKill time.Duration
	killed := make(chan struct{})
	time.AfterFunc(killAfter, func() {
		defer close(killed)
		sentBeforeKill = time.Since(start)
		srv.kill(t)
	})
	pub.send(t, ivf, ogg)
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("the server was not killed")
	}
	if srv.err == nil {
		t.Fatalf("the server exited cleanly, not killed; logs:\n%s", srv.logs)
	}
	t.Logf("killed after %v of media", sentBeforeKill)

	// The restarted server waits longer for a phone that comes back than the check below
	// takes, and no longer than a second for one that does not.
	grace := "1s"
	if comeBack {
		grace = "60s"
	}
	srv = startChild(t, append(slices.Clone(args), "--grace", grace)...)
	// Recovery runs before the server listens; its line says it closed the one recording.
	waitLog(t, srv.logs, `msg="unfinished recordings closed" closed=1`, 10*time.Second)
	if !comeBack {
		// Read below once finished, not while its segments are being copied and deleted.
		waitLog(t, srv.logs, `msg="recording stored as one file"`, 30*time.Second)
	}
	bs := broadcasts(t, "http://"+srv.addr, slug, secrets.key)
	if len(bs) != 1 {
		t.Fatalf("broadcasts = %+v, want one", bs)
	}
	m, all := readRecording(t, filepath.Join(dir, "recordings", slug, strconv.FormatInt(bs[0].ID, 10)), srv.logs)
	if !m.Ended || !m.Recovered || len(m.Segments) == 0 {
		t.Fatalf("manifest = %+v, want an ended, recovered recording with segments", m)
	}
	file, info := testmedia.ProbeBytes(t, "replay.webm", all, "opus", "vp8")
	dur := time.Duration(info.Duration * float64(time.Second))
	t.Logf("sent %v before the kill, ffprobe duration %v, %d segments", sentBeforeKill, dur, len(m.Segments))
	if dur < sentBeforeKill-segment-slack || dur > sentBeforeKill {
		t.Errorf("duration %v, want between %v (sent before the kill, less one segment and %v) and %v",
			dur, sentBeforeKill-segment-slack, slack, sentBeforeKill)
	}
	testmedia.Decode(t, file)
	// Seeking into the last segment uses the cues recovery wrote.
	testmedia.Decode(t, file, "-ss", strconv.FormatFloat(float64(m.Segments[len(m.Segments)-1].StartMs)/1000+0.5, 'f', 3, 64))

	if !comeBack {
		if m.File == "" {
			t.Errorf("the recovered recording of the ended broadcast is not one file: %+v", m)
		}
		srv.stop(t)
		return
	}

	// The phone reconnects to the new process and sends a few more seconds.
	const againSecs = 5
	ivf2, ogg2, err := testmedia.Encode(t.TempDir(), againSecs, recordTestFPS)
	if err != nil {
		t.Fatal(err)
	}
	pub = publishMedia(t, "http://"+srv.addr, slug, secrets.key)
	waitLog(t, srv.logs, `msg="recording resumed"`, 10*time.Second)
	sentAgain := pub.send(t, ivf2, ogg2)
	endBroadcast(t, "http://"+srv.addr, pub.location, secrets.key)
	waitLog(t, srv.logs, `msg="recording stored as one file"`, 30*time.Second)
	if again := broadcasts(t, "http://"+srv.addr, slug, secrets.key); len(again) != 1 || again[0].ID != bs[0].ID {
		t.Fatalf("broadcasts after the phone came back = %+v, want %d carried on", again, bs[0].ID)
	}
	m2, all2 := readRecording(t, filepath.Join(dir, "recordings", slug, strconv.FormatInt(bs[0].ID, 10)), srv.logs)
	if !m2.Ended || len(m2.Segments) <= len(m.Segments) || !slices.Equal(m2.Segments[:len(m.Segments)], m.Segments) {
		t.Fatalf("manifest after the phone came back = %+v, want the recovered segments and more", m2)
	}
	file2, info2 := testmedia.ProbeBytes(t, "replay2.webm", all2, "opus", "vp8")
	last := m2.Segments[len(m2.Segments)-1]
	t.Logf("sent %v more, ffprobe duration %.3f s, %d segments, the new part from %d ms", sentAgain, info2.Duration, len(m2.Segments), m2.Segments[len(m.Segments)].StartMs)
	// The new part follows the recovered one after the time the server was down, and holds
	// what was sent to the new process.
	if newPart := time.Duration(last.StartMs+last.DurationMs-m2.Segments[len(m.Segments)].StartMs) * time.Millisecond; newPart < sentAgain-segment-slack || newPart > sentAgain+slack {
		t.Errorf("the new part lasts %v, want the %v sent within a segment", newPart, sentAgain)
	}
	testmedia.Decode(t, file2)
	testmedia.Decode(t, file2, "-ss", strconv.FormatFloat(float64(last.StartMs)/1000+0.5, 'f', 3, 64))
	srv.stop(t)
}
