package recordings

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/dangol/dangol/internal/miniotest"
	"github.com/dangol/dangol/internal/testmedia"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// testMediaSeconds is the length of the generated test broadcast.
const testMediaSeconds = 10

// testFPS is the test video's frame rate.
const testFPS = 30

var testMedia struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testMedia.dir != "" {
		os.RemoveAll(testMedia.dir)
	}
	if err := miniotest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop minio:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// mediaDir encodes the test media once per test binary: VP8 in IVF (a
// keyframe every 2 s) and Opus in Ogg with one 20 ms packet per page, as
// pion's oggreader expects.
func mediaDir(t *testing.T) string {
	t.Helper()
	testmedia.Need(t)
	testMedia.once.Do(func() {
		dir, err := os.MkdirTemp("", "dangol-recordings-media-")
		if err != nil {
			testMedia.err = err
			return
		}
		testMedia.dir = dir
		_, _, testMedia.err = testmedia.Encode(dir, testMediaSeconds, testFPS)
	})
	if testMedia.err != nil {
		t.Fatalf("make test media: %v", testMedia.err)
	}
	return testMedia.dir
}

// phonePacket is one RTP packet as a publisher would send it, at its send
// time on the media timeline.
type phonePacket struct {
	video bool
	atMs  float64
	pkt   *rtp.Packet
}

// phonePackets packetizes the test media into RTP like a WebRTC publisher
// (random initial sequence numbers and timestamps, 1200-byte MTU) and
// interleaves both tracks in send order.
func phonePackets(t *testing.T) []phonePacket {
	t.Helper()
	dir := mediaDir(t)
	var out []phonePacket

	f, err := os.Open(filepath.Join(dir, "video.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ivf, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatalf("read ivf: %v", err)
	}
	vp := rtp.NewPacketizer(1200, 96, 0x1111, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	// The frame rate is known (testFPS); ffmpeg's IVF timebase fields are
	// not what pion's reader names them, so frames are timed by index.
	for i := 0; ; i++ {
		frame, _, err := ivf.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read ivf frame: %v", err)
		}
		atMs := float64(i) * 1000 / testFPS
		for _, p := range vp.Packetize(frame, 90000/testFPS) {
			out = append(out, phonePacket{video: true, atMs: atMs, pkt: p})
		}
	}

	g, err := os.Open(filepath.Join(dir, "audio.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ogg, _, err := oggreader.NewWith(g)
	if err != nil {
		t.Fatalf("read ogg: %v", err)
	}
	ap := rtp.NewPacketizer(1200, 111, 0x2222, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	var lastGranule uint64
	for n := 0; ; {
		page, ph, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read ogg page: %v", err)
		}
		if ph.GranulePosition == 0 || len(page) == 0 {
			continue // OpusTags
		}
		samples := uint32(ph.GranulePosition - lastGranule)
		lastGranule = ph.GranulePosition
		for _, p := range ap.Packetize(page, samples) {
			out = append(out, phonePacket{atMs: float64(n) * 1000 / 48000, pkt: p})
		}
		n += int(samples)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].atMs < out[j].atMs })
	return out
}

// impair reorders and drops packets deterministically: swap is the chance
// that a packet swaps places with the next one of the same track, loss the
// chance that it is lost. The first second is left intact so that the first
// keyframe arrives, as it would after the SFU's initial PLI.
func impair(pkts []phonePacket, swap, loss float64, seed uint64) []phonePacket {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]phonePacket, 0, len(pkts))
	for _, p := range pkts {
		if p.atMs > 1000 && rng.Float64() < loss {
			continue
		}
		out = append(out, p)
	}
	for i := range out {
		if out[i].atMs < 1000 || rng.Float64() >= swap {
			continue
		}
		for j := i + 1; j < len(out) && j < i+8; j++ {
			if out[j].video == out[i].video {
				out[i], out[j] = out[j], out[i]
				break
			}
		}
	}
	return out
}
