package recordings

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/dangol/dangol/internal/testmedia"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

func TestH264SplitAnnexB(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"4-byte start codes", "00000001 6742 00000001 68ce 00000001 6588", []string{"6742", "68ce", "6588"}},
		{"3-byte start codes", "000001 09f0 000001 4101", []string{"09f0", "4101"}},
		{"mixed, trailing zeros", "00000001 6742 0000 000001 6588 00", []string{"6742", "6588"}},
		{"zeros inside a NAL", "000001 65 0000 02 ff", []string{"65000002ff"}},
		{"no start code", "6588aa", []string{"6588aa"}},
		{"empty NAL skipped", "00000001 00000001 41", []string{"41"}},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, n := range splitAnnexB(unhex(t, tc.in)) {
				got = append(got, hex.EncodeToString(n))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("splitAnnexB(%s) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestH264Frame(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		avcc     string
		key      bool
		sps, pps string
	}{
		{
			name: "IDR with parameter sets and AUD",
			in:   "00000001 09f0 00000001 6742c01f 00000001 68ce3c80 00000001 658884",
			avcc: "00000004 6742c01f 00000004 68ce3c80 00000003 658884",
			key:  true, sps: "6742c01f", pps: "68ce3c80",
		},
		{
			name: "inter frame, 3-byte start codes",
			in:   "000001 09f0 000001 419a21 000001 0605ff",
			avcc: "00000003 419a21 00000003 0605ff",
		},
		{
			name: "IDR without parameter sets",
			in:   "00000001 6588 00000001 6588aa",
			avcc: "00000002 6588 00000003 6588aa",
			key:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			avcc, key, sps, pps := h264Frame(unhex(t, tc.in))
			if !bytes.Equal(avcc, unhex(t, tc.avcc)) {
				t.Errorf("avcc = %x, want %s", avcc, tc.avcc)
			}
			if key != tc.key {
				t.Errorf("key = %v, want %v", key, tc.key)
			}
			if !bytes.Equal(sps, unhex(t, tc.sps)) || !bytes.Equal(pps, unhex(t, tc.pps)) {
				t.Errorf("sps, pps = %x, %x, want %s, %s", sps, pps, tc.sps, tc.pps)
			}
		})
	}
}

// The SPSs were written by libx264 (ffmpeg 5.1, -f h264) for the size,
// profile and level in the test's name.
func TestSPSParse(t *testing.T) {
	for _, tc := range []struct {
		name          string
		sps           string
		width, height int
		codec         string
	}{
		{"640x360 baseline 3.1", "6742c01fd900a02ff970110000030001000003003c0f183248", 640, 360, "avc1.42c01f"},
		{"854x480 main 3.0", "674d401eeca06c1ef3780880000003008000001e078b16cb", 854, 480, "avc1.4d401e"},
		{"1920x1080 high 4.0", "67640028acd940780227e5c044000003000400000300f03c60c658", 1920, 1080, "avc1.640028"},
		{"1280x720 high 4:4:4", "67f4001f919b280a00b76022000003000200000300781e30632c", 1280, 720, "avc1.f4001f"},
		// interlaced (field macroblock pairs, so crop rows count double)
		// with the JVT scaling matrices in the SPS
		{"1280x720 high interlaced cqm", "67640020acd940500bbf2e0220000003002000000783e2c5b2c0", 1280, 720, "avc1.640020"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, h, codec, err := parseSPS(unhex(t, tc.sps))
			if err != nil {
				t.Fatal(err)
			}
			if w != tc.width || h != tc.height || codec != tc.codec {
				t.Errorf("parseSPS = %dx%d %s, want %dx%d %s", w, h, codec, tc.width, tc.height, tc.codec)
			}
		})
	}
	for _, bad := range []string{"", "68ce3c80", "6742c01f", "6742c01fd900"} {
		if w, h, _, err := parseSPS(unhex(t, bad)); err == nil {
			t.Errorf("parseSPS(%s) = %dx%d, want an error", bad, w, h)
		}
	}
}

func TestH264UnescapeRBSP(t *testing.T) {
	for in, want := range map[string]string{
		"00000301":     "000001",
		"000003000003": "00000000",
		"000003":       "0000",
		"00030003":     "00030003",
		"0000030003":   "00000003",
		"0000030300":   "000003" + "00",
	} {
		if got := hex.EncodeToString(unescapeRBSP(unhex(t, in))); got != want {
			t.Errorf("unescapeRBSP(%s) = %s, want %s", in, got, want)
		}
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	return b
}

const (
	mp4TestSeconds   = 9
	mp4TestSegmentMs = 3000
)

// mp4Recording is a test broadcast muxed the way the recorder does it.
type mp4Recording struct {
	segs               [][]byte
	refs               []mp4Ref
	sps, pps           []byte
	video, audio, keys int // samples written
}

// recordMP4 encodes mp4TestSeconds of H.264 (constrained baseline, 30 fps, an
// IDR every second, access unit delimiters so that frames are easy to find)
// and Opus (one 20 ms packet per Ogg page), and muxes them into segments cut
// at the first keyframe 3 s or more after a segment's start.
func recordMP4(t *testing.T) mp4Recording {
	t.Helper()
	testmedia.Need(t)
	dir := t.TempDir()
	h264File, oggFile := filepath.Join(dir, "video.h264"), filepath.Join(dir, "audio.ogg")
	secs := strconv.Itoa(mp4TestSeconds)
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", secs,
			"-c:v", "libx264", "-profile:v", "baseline", "-level", "3.1", "-g", "30", "-x264-params", "aud=1:scenecut=0",
			"-bsf:v", "h264_mp4toannexb", "-f", "h264", h264File},
		{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", secs, "-ac", "2",
			"-c:a", "libopus", "-page_duration", "20000", oggFile},
	} {
		out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}

	type sample struct {
		video    bool
		ms, dur  int64
		key      bool
		data     []byte
		sps, pps []byte
	}
	var video, audio []sample

	es, err := os.ReadFile(h264File)
	if err != nil {
		t.Fatal(err)
	}
	// Access units as pion's H.264 sample builder hands them over: each NAL
	// unit after a 4-byte start code, the AUD first.
	var aus [][]byte
	for _, n := range splitAnnexB(es) {
		if n[0]&0x1f == nalAUD {
			aus = append(aus, nil)
		}
		if len(aus) == 0 {
			t.Fatal("elementary stream does not start with an access unit delimiter")
		}
		aus[len(aus)-1] = append(append(aus[len(aus)-1], 0, 0, 0, 1), n...)
	}
	if len(aus) != mp4TestSeconds*30 {
		t.Fatalf("%d access units, want %d", len(aus), mp4TestSeconds*30)
	}
	for i, au := range aus {
		avcc, key, sps, pps := h264Frame(au)
		ms := int64(i) * 1000 / 30
		video = append(video, sample{video: true, ms: ms, dur: int64(i+1)*1000/30 - ms, key: key, data: avcc, sps: sps, pps: pps})
	}

	f, err := os.Open(oggFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ogg, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatalf("read ogg: %v", err)
	}
	for {
		page, ph, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read ogg page: %v", err)
		}
		if ph.GranulePosition == 0 || len(page) == 0 {
			continue // OpusHead, OpusTags
		}
		audio = append(audio, sample{ms: int64(len(audio)) * 20, dur: 20, key: true, data: page})
	}
	if len(audio) < mp4TestSeconds*50-1 {
		t.Fatalf("%d Opus packets, want %d", len(audio), mp4TestSeconds*50)
	}

	var rec mp4Recording
	var seg *mp4Segment
	finish := func() {
		data, err := seg.bytes()
		if err != nil {
			t.Fatal(err)
		}
		rec.segs = append(rec.segs, data)
		rec.refs = append(rec.refs, mp4Ref{startMs: seg.startMs, durationMs: seg.endMs - seg.startMs, size: int64(len(data))})
	}
	// Timeline order across tracks, as the recorder's interleaver writes.
	for len(video) > 0 || len(audio) > 0 {
		var s sample
		if len(video) > 0 && (len(audio) == 0 || video[0].ms <= audio[0].ms) {
			s, video = video[0], video[1:]
		} else {
			s, audio = audio[0], audio[1:]
		}
		if !s.video {
			if seg != nil {
				seg.add(audioTrack, s.ms, s.dur, true, s.data)
				rec.audio++
			}
			continue
		}
		if rec.sps == nil {
			rec.sps, rec.pps = s.sps, s.pps
		}
		if s.key && (seg == nil || s.ms-seg.startMs >= mp4TestSegmentMs) {
			if seg != nil {
				seg.endMs = s.ms
				finish()
			}
			seg = newMP4Segment(uint32(len(rec.segs)+1), s.ms)
		}
		seg.add(videoTrack, s.ms, s.dur, s.key, s.data)
		rec.video++
		if s.key {
			rec.keys++
		}
	}
	finish()
	if rec.sps == nil || rec.pps == nil {
		t.Fatal("no SPS/PPS in the first access unit")
	}
	if len(rec.segs) != 3 || rec.keys != mp4TestSeconds {
		t.Fatalf("%d segments with %d keyframes, want 3 with %d", len(rec.segs), rec.keys, mp4TestSeconds)
	}
	return rec
}

// mp4Packet is a packet as ffprobe lists it.
type mp4Packet struct {
	CodecType string `json:"codec_type"`
	PTS       string `json:"pts_time"`
	Flags     string `json:"flags"`
}

func (p mp4Packet) seconds(t *testing.T) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(p.PTS, 64)
	if err != nil {
		t.Fatalf("pts_time %q: %v", p.PTS, err)
	}
	return v
}

func probePackets(t *testing.T, file string, args ...string) []mp4Packet {
	t.Helper()
	var probe struct {
		Packets []mp4Packet `json:"packets"`
	}
	out := testmedia.ProbeJSON(t, file, append(args, "-show_entries", "packet=codec_type,pts_time,flags:stream=codec_type")...)
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatal(err)
	}
	return probe.Packets
}

func boxTypes(t *testing.T, b []byte) []string {
	t.Helper()
	var types []string
	if err := walkBoxes(b, func(typ string, _ []byte) error {
		types = append(types, typ)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return types
}

// trunFlags returns the sample flags of each track's trun in a segment
// written with per-sample flags.
func trunFlags(t *testing.T, seg []byte) map[uint32][]uint32 {
	t.Helper()
	out := map[uint32][]uint32{}
	err := walkBoxes(seg, func(typ string, body []byte) error {
		if typ != "moof" {
			return nil
		}
		return walkBoxes(body, func(typ string, body []byte) error {
			if typ != "traf" {
				return nil
			}
			var id uint32
			return walkBoxes(body, func(typ string, body []byte) error {
				switch typ {
				case "tfhd":
					id = binary.BigEndian.Uint32(body[4:])
				case "trun":
					if got := binary.BigEndian.Uint32(body) & 0xffffff; got != 0x701 {
						return fmt.Errorf("trun flags %#x", got)
					}
					n := int(binary.BigEndian.Uint32(body[4:]))
					if len(body) != 12+12*n {
						return fmt.Errorf("trun of %d samples is %d bytes", n, len(body))
					}
					for i := range n {
						out[id] = append(out[id], binary.BigEndian.Uint32(body[12+12*i+8:]))
					}
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMP4Recording(t *testing.T) {
	rec := recordMP4(t)
	last := rec.refs[len(rec.refs)-1]
	durMs := last.startMs + last.durationMs - rec.refs[0].startMs
	final, err := buildMP4Init(mp4InitParams{sps: rec.sps, pps: rec.pps, durationMs: durMs, refs: rec.refs})
	if err != nil {
		t.Fatal(err)
	}
	if got := boxTypes(t, final); !slices.Equal(got, []string{"ftyp", "moov", "sidx"}) {
		t.Errorf("final init boxes %v", got)
	}
	for i, s := range rec.segs {
		if got := boxTypes(t, s); !slices.Equal(got, []string{"moof", "mdat"}) {
			t.Errorf("segment %d boxes %v", i, got)
		}
	}
	file, info := testmedia.ProbeBytes(t, "rec.mp4", slices.Concat(append([][]byte{final}, rec.segs...)...), "h264", "opus")
	if math.Abs(info.Duration-float64(durMs)/1000) > 0.1 || math.Abs(info.Duration-mp4TestSeconds) > mp4TestSegmentMs/1000 {
		t.Errorf("duration %.3f s, recorded %d ms of %d s", info.Duration, durMs, mp4TestSeconds)
	}
	t.Logf("ffprobe: %+v", info)

	var streams struct {
		Streams []struct {
			CodecType  string `json:"codec_type"`
			Profile    string `json:"profile"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			SampleRate string `json:"sample_rate"`
			Channels   int    `json:"channels"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(testmedia.ProbeJSON(t, file, "-show_streams"), &streams); err != nil {
		t.Fatal(err)
	}
	for _, s := range streams.Streams {
		t.Logf("stream: %+v", s)
		switch s.CodecType {
		case "video":
			if s.Width != 640 || s.Height != 360 || s.Profile != "Constrained Baseline" {
				t.Errorf("video %dx%d %s, want 640x360 Constrained Baseline", s.Width, s.Height, s.Profile)
			}
		case "audio":
			if s.SampleRate != "48000" || s.Channels != 2 {
				t.Errorf("audio %s Hz %d channels, want 48000 Hz stereo", s.SampleRate, s.Channels)
			}
		}
	}

	// Every sample is there, keyframes flagged, video in order.
	var nv, na, nk int
	prev := -1.0
	for _, p := range probePackets(t, file) {
		switch p.CodecType {
		case "video":
			nv++
			if p.Flags[0] == 'K' {
				nk++
			}
			if pts := p.seconds(t); pts <= prev {
				t.Errorf("video packet at %.3f s after %.3f s", pts, prev)
			} else {
				prev = pts
			}
		case "audio":
			na++
		}
	}
	if nv != rec.video || na != rec.audio || nk != rec.keys {
		t.Errorf("ffprobe sees %d video (%d key) and %d audio packets, muxed %d (%d) and %d",
			nv, nk, na, rec.video, rec.keys, rec.audio)
	}

	// ffmpeg takes keyframes from the H.264 parser, whatever trun says,
	// so the sample flags are checked by reading the boxes: sync samples
	// depend on no other (sample_depends_on 2), the others have
	// sample_is_non_sync_sample set (14496-12 8.8.3.1). Keyframes are every
	// 30th frame of a segment.
	var syncs, samples int
	for _, seg := range rec.segs {
		for id, flags := range trunFlags(t, seg) {
			for i, f := range flags {
				samples++
				switch {
				case f == 0x02000000 && (id == audioTrack || i%30 == 0):
					syncs++
				case f&0x00010000 == 0 || id != videoTrack || i%30 == 0:
					t.Errorf("track %d sample %d flags %#x", id, i, f)
				}
			}
		}
	}
	if samples != rec.video+rec.audio || syncs != rec.keys+rec.audio {
		t.Errorf("%d samples, %d sync, want %d, %d", samples, syncs, rec.video+rec.audio, rec.keys+rec.audio)
	}

	testmedia.Decode(t, file)

	// Seeking lands on the keyframe at 5 s rather than reading from the start.
	pkts := probePackets(t, file, "-select_streams", "v", "-read_intervals", "5%+#1")
	if len(pkts) != 1 || pkts[0].Flags[0] != 'K' || math.Abs(pkts[0].seconds(t)-5) > 0.001 {
		t.Errorf("after seeking to 5 s: %+v, want the keyframe at 5 s", pkts)
	}
	testmedia.Decode(t, file, "-ss", "5")

	t.Run("live init, one segment", func(t *testing.T) {
		// What MSE gets when a viewer joins: the init written at the start
		// of the broadcast and a segment from the middle of it.
		live, err := buildMP4Init(mp4InitParams{width: 640, height: 360, sps: rec.sps, pps: rec.pps})
		if err != nil {
			t.Fatal(err)
		}
		if got := boxTypes(t, live); !slices.Equal(got, []string{"ftyp", "moov"}) {
			t.Errorf("live init boxes %v", got)
		}
		file, _ := testmedia.ProbeBytes(t, "live.mp4", slices.Concat(live, rec.segs[1]), "h264", "opus")
		pkts := probePackets(t, file, "-select_streams", "v", "-read_intervals", "%+#1")
		if len(pkts) != 1 || math.Abs(pkts[0].seconds(t)-float64(rec.refs[1].startMs)/1000) > 0.001 {
			t.Errorf("first video packet %+v, want at %d ms", pkts, rec.refs[1].startMs)
		}
		testmedia.Decode(t, file)
	})

	t.Run("rebased clip", func(t *testing.T) {
		shift := rec.refs[1].startMs
		clip := [][]byte{nil}
		var refs []mp4Ref
		for i, s := range rec.segs[1:] {
			r, err := rebaseMP4Segment(s, shift)
			if err != nil {
				t.Fatal(err)
			}
			clip = append(clip, r)
			ref := rec.refs[1+i]
			refs = append(refs, mp4Ref{startMs: ref.startMs - shift, durationMs: ref.durationMs, size: ref.size})
		}
		clipMs := durMs - shift
		if clip[0], err = buildMP4Init(mp4InitParams{sps: rec.sps, pps: rec.pps, durationMs: clipMs, refs: refs}); err != nil {
			t.Fatal(err)
		}
		file, info := testmedia.ProbeBytes(t, "clip.mp4", slices.Concat(clip...), "h264", "opus")
		if math.Abs(info.Duration-float64(clipMs)/1000) > 0.1 {
			t.Errorf("clip duration %.3f s, want %d ms", info.Duration, clipMs)
		}
		pkts := probePackets(t, file, "-select_streams", "v", "-read_intervals", "%+#1")
		if len(pkts) != 1 || pkts[0].seconds(t) != 0 || pkts[0].Flags[0] != 'K' {
			t.Errorf("clip's first video packet %+v, want a keyframe at 0", pkts)
		}
		testmedia.Decode(t, file)

		if _, err := rebaseMP4Segment(rec.segs[0], 1); err == nil {
			t.Error("rebasing the first segment before 0: no error")
		}
		if _, err := rebaseMP4Segment(final, 0); err == nil {
			t.Error("rebasing an init segment: no error")
		}
	})
}
