// Package testmedia makes test media with ffmpeg and checks recordings with
// ffprobe, for the tests of the packages that record (recordings,
// cmd/dangol). Both tools come from Debian's ffmpeg package; without them a
// test skips with the reason, or fails when DANGOL_TEST_STRICT=1.
package testmedia

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// Need skips tb when ffmpeg or ffprobe is missing, and fails it under
// DANGOL_TEST_STRICT=1.
func Need(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("DANGOL_TEST_STRICT") == "1" {
				tb.Fatalf("%s is required (DANGOL_TEST_STRICT=1): %v", tool, err)
			}
			tb.Skipf("SKIPPING: %s not installed (apt-get install ffmpeg); recording is not tested", tool)
		}
	}
}

// Encode writes secs seconds of VP8 in IVF (fps frames a second, a keyframe
// every 2 s) and of Opus in Ogg (48 kHz stereo, one 20 ms packet per page,
// as pion's oggreader expects) into dir, and returns their paths.
func Encode(dir string, secs, fps int) (ivf, ogg string, err error) {
	ivf, ogg = filepath.Join(dir, "video.ivf"), filepath.Join(dir, "audio.ogg")
	s := strconv.Itoa(secs)
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x240:rate=%d", fps), "-t", s,
			"-c:v", "libvpx", "-g", strconv.Itoa(2 * fps), "-b:v", "500k", "-deadline", "realtime", ivf},
		{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", s, "-ac", "2",
			"-c:a", "libopus", "-page_duration", "20000", ogg},
	} {
		out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
		if err != nil {
			return "", "", fmt.Errorf("ffmpeg %v: %w\n%s", args, err, out)
		}
	}
	return ivf, ogg, nil
}

// EncodeH264 writes secs seconds of H.264 (constrained baseline as phones
// send it over WebRTC: no B-frames, SPS and PPS before every IDR, an IDR every
// 2 s) as an Annex-B stream into dir, and returns its path.
func EncodeH264(dir string, secs, fps int) (string, error) {
	file := filepath.Join(dir, "video.h264")
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x240:rate=%d", fps), "-t", strconv.Itoa(secs),
		"-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(2 * fps), "-bf", "0", "-b:v", "500k", "-x264-params", "repeat-headers=1:sliced-threads=0", "-threads", "1",
		"-f", "h264", file}
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ffmpeg %v: %w\n%s", args, err, out)
	}
	return file, nil
}

// ProbeJSON runs ffprobe on file with args and returns its JSON output;
// any error it prints fails tb.
func ProbeJSON(tb testing.TB, file string, args ...string) []byte {
	tb.Helper()
	cmd := exec.Command("ffprobe", append([]string{"-v", "error", "-of", "json"}, append(args, file)...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		tb.Fatalf("ffprobe %s: %v\n%s", file, err, stderr.String())
	}
	return out
}

// Info is what ffprobe says of a file.
type Info struct {
	Codecs   []string // of its streams, sorted
	Duration float64  // seconds
}

// Probe returns file's streams and duration; any error ffprobe prints
// fails tb.
func Probe(tb testing.TB, file string) Info {
	tb.Helper()
	var probe struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(ProbeJSON(tb, file, "-show_streams", "-show_format"), &probe); err != nil {
		tb.Fatalf("ffprobe %s: %v", file, err)
	}
	var info Info
	for _, s := range probe.Streams {
		info.Codecs = append(info.Codecs, s.CodecName)
	}
	slices.Sort(info.Codecs)
	d, err := strconv.ParseFloat(probe.Format.Duration, 64)
	if err != nil {
		tb.Fatalf("ffprobe %s: duration %q: %v", file, probe.Format.Duration, err)
	}
	info.Duration = d
	return info
}

// Decode decodes all of file with ffmpeg; a corrupt frame shows up as a
// decoder error, which fails tb.
func Decode(tb testing.TB, file string, args ...string) {
	tb.Helper()
	out, err := exec.Command("ffmpeg", append(append([]string{"-v", "error"}, args...), "-i", file, "-f", "null", "-")...).CombinedOutput()
	if err != nil || len(out) > 0 {
		tb.Errorf("ffmpeg decode %s: %v\n%s", file, err, out)
	}
}

// ProbeBytes writes data, a whole media file such as a recording's init
// and segments back to back, to a file named name in a temporary folder,
// and probes it: it returns the file, for more checks, and what ffprobe
// says. It fails tb unless the streams are exactly codecs (in any order).
func ProbeBytes(tb testing.TB, name string, data []byte, codecs ...string) (string, Info) {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	info := Probe(tb, file)
	if want := slices.Sorted(slices.Values(codecs)); !slices.Equal(info.Codecs, want) {
		tb.Errorf("%s: streams %v, want %v", name, info.Codecs, want)
	}
	return file, info
}
