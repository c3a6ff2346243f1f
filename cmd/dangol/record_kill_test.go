package main

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dangol/dangol/internal/testmedia"
)

// TestRecordSurvivesKill runs the real server as a child process, publishes real VP8 and
// Opus in real time, kills the server with SIGKILL mid-broadcast, restarts it on the same
// data, and checks that the recording was closed at start-up and plays up to the kill, minus
// at most the segment in progress.
func TestRecordSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a child process for about 15 s of real-time media")
	}
	testmedia.Need(t)
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
	out, _, err := runCommand(t, nil, "--data", dir, "channel", "add", slug, "--name", "김씨네 생선")
	if err != nil {
		t.Fatalf("channel add: %v", err)
	}
	secrets := parseAdd(t, out)
	args := []string{"--addr", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "-1",
		"--media-ip", "127.0.0.1", "--loopback", "--data", dir, "--grace", "1s"}
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

	srv = startChild(t, args...)
	// Recovery runs before the server listens; its line says it closed the one recording.
	waitLog(t, srv.logs, `msg="unfinished recordings closed" closed=1`, 10*time.Second)
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
	srv.stop(t)
}
