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
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
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

// mediaDir encodes the test media once per test binary: VP8 in IVF and
// H.264 in Annex-B (a keyframe every 2 s), and Opus in Ogg with one 20 ms
// packet per page, as pion's oggreader expects.
func mediaDir(t testing.TB) string {
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
		if testMedia.err == nil {
			_, testMedia.err = testmedia.EncodeH264(dir, testMediaSeconds, testFPS)
		}
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

// The publisher's video codecs, as the SFU names them to a MediaSink.
const (
	mimeVP8  = "video/VP8"
	mimeH264 = "video/H264"
)

// testCodecs are the video codecs a publisher may send, with what a
// recording of each is made of.
var testCodecs = []struct {
	mime, codec string // as the SFU names it; as ffprobe does
	f           *format
}{
	{mimeVP8, "vp8", webmFormat},
	{mimeH264, "h264", mp4Format},
}

// phonePackets packetizes the VP8 test media into RTP like a WebRTC
// publisher (random initial sequence numbers and timestamps, 1200-byte MTU)
// and interleaves both tracks in send order.
func phonePackets(t testing.TB) []phonePacket {
	return phonePacketsOf(t, mimeVP8)
}

// phonePacketsOf is phonePackets with the video in the given codec.
func phonePacketsOf(t testing.TB, mime string) []phonePacket {
	t.Helper()
	dir := mediaDir(t)
	var out []phonePacket
	if mime == mimeH264 {
		out = h264Packets(t, filepath.Join(dir, "video.h264"))
	} else {
		out = vp8Packets(t, filepath.Join(dir, "video.ivf"))
	}
	out = append(out, opusPackets(t, filepath.Join(dir, "audio.ogg"))...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].atMs < out[j].atMs })
	return out
}

func vp8Packets(t testing.TB, file string) []phonePacket {
	var out []phonePacket
	f, err := os.Open(file)
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
	return out
}

// h264Packets packetizes an Annex-B stream of single-slice frames as a
// browser does (packetization-mode 1: SPS and PPS aggregated, large NALs in
// fragments), one frame per RTP timestamp.
func h264Packets(t testing.TB, file string) []phonePacket {
	var out []phonePacket
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatalf("read h264: %v", err)
	}
	vp := rtp.NewPacketizer(1200, 102, 0x1111, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	var frame []byte
	for i := 0; ; {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read h264 nal: %v", err)
		}
		frame = append(frame, 0, 0, 0, 1)
		frame = append(frame, nal.Data...)
		if nal.UnitType != h264reader.NalUnitTypeCodedSliceIdr && nal.UnitType != h264reader.NalUnitTypeCodedSliceNonIdr {
			continue // parameter sets and SEI go with the frame that follows
		}
		atMs := float64(i) * 1000 / testFPS
		for _, p := range vp.Packetize(frame, 90000/testFPS) {
			out = append(out, phonePacket{video: true, atMs: atMs, pkt: p})
		}
		frame, i = nil, i+1
	}
	return out
}

func opusPackets(t testing.TB, file string) []phonePacket {
	var out []phonePacket
	g, err := os.Open(file)
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
