package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/dangol/dangol/internal/testmedia"
	"github.com/dangol/dangol/recordings"
)

const (
	recordTestSeconds = 6
	recordTestFPS     = 30
)

// mediaPublisher is a pion WHIP publisher that sends real VP8 or H.264, and Opus, paced in
// real time.
type mediaPublisher struct {
	pc           *webrtc.PeerConnection
	location     string
	video, audio *webrtc.TrackLocalStaticSample
	onFrame      func(n int) // if set, called after each video frame sent, n from 1
}

func publishMedia(t *testing.T, base, slug, key string) *mediaPublisher {
	return publishMediaOf(t, base, slug, key, webrtc.MimeTypeVP8)
}

// publishMediaOf is publishMedia sending video of the given MIME type.
func publishMediaOf(t *testing.T, base, slug, key, mime string) *mediaPublisher {
	t.Helper()
	vp8 := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}
	pt := webrtc.PayloadType(96)
	if mime == webrtc.MimeTypeH264 {
		// As browsers offer it: what the server's H.264 entries accept.
		vp8.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		pt = 102
	}
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: vp8, PayloadType: pt}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opus, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p := &mediaPublisher{pc: pc}
	if p.video, err = webrtc.NewTrackLocalStaticSample(vp8, "video", "phone"); err != nil {
		t.Fatal(err)
	}
	if p.audio, err = webrtc.NewTrackLocalStaticSample(opus, "audio", "phone"); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []webrtc.TrackLocal{p.video, p.audio} {
		s, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		// RTCP must be read for the interceptors to run.
		go func() {
			for {
				if _, _, err := s.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	req, err := http.NewRequest("POST", base+"/whip/"+slug, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("whip: status %d: %s", resp.StatusCode, answer)
	}
	p.location = resp.Header.Get("Location")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatalf("set answer: %v", err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatalf("publisher not connected: %s", pc.ConnectionState())
	}
	return p
}

// videoFrames reads the frames of a VP8 IVF file or of an H.264 Annex-B stream (".h264",
// one slice per frame), one at a time; io.EOF after the last.
func videoFrames(t *testing.T, path string) func() ([]byte, error) {
	t.Helper()
	vf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vf.Close() })
	if strings.HasSuffix(path, ".h264") {
		r, err := h264reader.NewReader(vf)
		if err != nil {
			t.Fatalf("read h264: %v", err)
		}
		return func() ([]byte, error) {
			var frame []byte
			for {
				nal, err := r.NextNAL()
				if err != nil {
					return nil, err
				}
				frame = append(append(frame, 0, 0, 0, 1), nal.Data...)
				if nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr {
					return frame, nil // parameter sets and SEI went with their frame
				}
			}
		}
	}
	ivf, _, err := ivfreader.NewWith(vf)
	if err != nil {
		t.Fatalf("read ivf: %v", err)
	}
	return func() ([]byte, error) {
		frame, _, err := ivf.ParseNextFrame()
		return frame, err
	}
}

// send plays the video (see videoFrames) and Ogg files in real time, as a phone's encoder
// produces them, and returns the length of media sent.
func (p *mediaPublisher) send(t *testing.T, videoPath, oggPath string) time.Duration {
	t.Helper()
	nextFrame := videoFrames(t, videoPath)
	af, err := os.Open(oggPath)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	ogg, _, err := oggreader.NewWith(af)
	if err != nil {
		t.Fatalf("read ogg: %v", err)
	}
	const frameDur = time.Second / recordTestFPS
	const audioDur = 20 * time.Millisecond
	video := time.NewTicker(frameDur)
	defer video.Stop()
	audio := time.NewTicker(audioDur)
	defer audio.Stop()
	var frames int
	var lastGranule uint64
	for videoLeft, audioLeft := true, true; videoLeft || audioLeft; {
		select {
		case <-video.C:
			if !videoLeft {
				continue
			}
			frame, err := nextFrame()
			if errors.Is(err, io.EOF) {
				videoLeft = false
				video.Stop()
				continue
			}
			if err != nil {
				t.Fatalf("read video frame: %v", err)
			}
			if err := p.video.WriteSample(media.Sample{Data: frame, Duration: frameDur}); err != nil {
				t.Fatalf("write video: %v", err)
			}
			frames++
			if p.onFrame != nil {
				p.onFrame(frames)
			}
		case <-audio.C:
			if !audioLeft {
				continue
			}
			page, ph, err := ogg.ParseNextPage()
			if errors.Is(err, io.EOF) {
				audioLeft = false
				audio.Stop()
				continue
			}
			if err != nil {
				t.Fatalf("read ogg page: %v", err)
			}
			if ph.GranulePosition == 0 || len(page) == 0 {
				continue // OpusHead, OpusTags
			}
			samples := ph.GranulePosition - lastGranule
			lastGranule = ph.GranulePosition
			if err := p.audio.WriteSample(media.Sample{Data: page, Duration: time.Duration(samples) * time.Second / 48000}); err != nil {
				t.Fatalf("write audio: %v", err)
			}
		}
	}
	return time.Duration(frames) * frameDur
}

// recordedBroadcast is a broadcast that recordBroadcast published, ended and saw recorded, on
// a server that still runs.
type recordedBroadcast struct {
	base    string       // the server, http://127.0.0.1:port
	channel addedChannel // the channel's secrets, as `channel add` printed them
	logs    *logLines
	stop    func() error  // stops the server, returning run's result
	sent    time.Duration // the length of media sent
}

// recordBroadcast adds the channel slug to the data folder dir, starts the server on 127.0.0.1,
// publishes secs seconds of real VP8 and Opus from a pion peer, ends the broadcast with a WHIP
// DELETE and waits for the server to say the recording ended.
func recordBroadcast(t *testing.T, dir, slug, name string, secs int) recordedBroadcast {
	return recordBroadcastOf(t, dir, slug, name, secs, webrtc.MimeTypeVP8)
}

// recordBroadcastOf is recordBroadcast with video of the given MIME type (VP8 or H.264).
func recordBroadcastOf(t *testing.T, dir, slug, name string, secs int, mime string) recordedBroadcast {
	t.Helper()
	return recordBroadcastWith(t, dir, slug, name, secs, mime, nil)
}

// recordBroadcastWith is recordBroadcastOf that calls live, if not nil, once the recording
// started: it returns what to do after each video frame sent (see mediaPublisher.onFrame).
func recordBroadcastWith(t *testing.T, dir, slug, name string, secs int, mime string,
	live func(base string, secrets addedChannel) func(frame int)) recordedBroadcast {
	t.Helper()
	testmedia.Need(t)
	tmp := t.TempDir()
	video, ogg, err := testmedia.Encode(tmp, secs, recordTestFPS)
	if err == nil && mime == webrtc.MimeTypeH264 {
		video, err = testmedia.EncodeH264(tmp, secs, recordTestFPS)
	}
	if err != nil {
		t.Fatal(err)
	}
	secrets := addChannel(t, dir, slug, name)
	addr, logs, stop := startServe(t, loopbackArgs(dir, "--grace", "1s"))
	base := "http://" + addr

	pub := publishMediaOf(t, base, slug, secrets.key, mime)
	// Media before the recorder is attached is not recorded; a phone's encoder would answer
	// the recorder's keyframe request, this file cannot.
	waitLog(t, logs, `msg="recording started"`, 10*time.Second)
	if live != nil {
		pub.onFrame = live(base, secrets)
	}
	sent := pub.send(t, video, ogg)

	endBroadcast(t, base, pub.location, secrets.key)
	// Once the broadcast ended, the recording is closed, its clips cut and it is stored as
	// one file: the last step.
	waitLog(t, logs, `msg="recording stored as one file"`, 30*time.Second)
	return recordedBroadcast{base: base, channel: secrets, logs: logs, stop: stop, sent: sent}
}

// endBroadcast ends a broadcast as the studio's stop button does: WHIP DELETE of the
// publisher's session.
func endBroadcast(t *testing.T, base, location, key string) {
	t.Helper()
	req, err := http.NewRequest("DELETE", base+location, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("whip delete: status %d", resp.StatusCode)
	}
}

// TestRecordBroadcast publishes real video (VP8, then H.264) and Opus from a pion peer for a
// few seconds, ends the broadcast with a WHIP DELETE, and checks the recording in the data
// folder plays with both streams and the length sent: WebM for VP8, MP4 for H.264.
func TestRecordBroadcast(t *testing.T) {
	for _, tt := range []struct {
		mime, codec, ext, manifestCodec string
	}{
		{webrtc.MimeTypeVP8, "vp8", "webm", "V_VP8"},
		{webrtc.MimeTypeH264, "h264", "mp4", "avc1.42c014"}, // constrained baseline, level 2: the test media
	} {
		t.Run(tt.codec, func(t *testing.T) { testRecordBroadcast(t, tt.mime, tt.codec, tt.ext, tt.manifestCodec) })
	}
}

func testRecordBroadcast(t *testing.T, mime, codec, ext, manifestCodec string) {
	dir := t.TempDir()
	const slug = "kim-fish"
	r := recordBroadcastOf(t, dir, slug, "김씨네 생선", recordTestSeconds, mime)
	base, secrets, logs, stop, sent := r.base, r.channel, r.logs, r.stop, r.sent

	bs := broadcasts(t, base, slug, secrets.key)
	if len(bs) != 1 {
		t.Fatalf("broadcasts = %+v, want one", bs)
	}
	// The replay as a player gets it: one file from the server, read by range.
	if want := fmt.Sprintf("/replays/%s/%d.%s", slug, bs[0].ID, ext); bs[0].ReplayURL != want || bs[0].DurationS <= 0 {
		t.Errorf("broadcast replay_url %q, duration_s %v; want %q and a duration", bs[0].ReplayURL, bs[0].DurationS, want)
	} else if info := testmedia.Probe(t, base+bs[0].ReplayURL); !slices.Equal(info.Codecs, []string{codec, "opus"}) && !slices.Equal(info.Codecs, []string{"opus", codec}) {
		t.Errorf("replay streams %v, want opus and %s", info.Codecs, codec)
	}
	// The replay document (public: no key) points at the same file, with the recording's length.
	resp, err := http.Get(fmt.Sprintf("%s/api/channels/%s/broadcasts/%d/replay", base, slug, bs[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Broadcast struct {
			ReplayURL string  `json:"replay_url"`
			HLSURL    string  `json:"replay_hls_url"`
			DurationS float64 `json:"duration_s"`
		} `json:"broadcast"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || doc.Broadcast.ReplayURL != bs[0].ReplayURL || doc.Broadcast.DurationS <= 0 {
		t.Errorf("replay document: status %d, %+v, %v; want replay_url %q and a duration", resp.StatusCode, doc.Broadcast, err, bs[0].ReplayURL)
	}
	// An MP4 recording is also an HLS playlist, for iPhones.
	if ext != "mp4" {
		if doc.Broadcast.HLSURL != "" {
			t.Errorf("replay_hls_url %q for a %s recording", doc.Broadcast.HLSURL, ext)
		}
	} else if want := fmt.Sprintf("/replays/%s/%d.m3u8", slug, bs[0].ID); doc.Broadcast.HLSURL != want {
		t.Errorf("replay_hls_url %q, want %q", doc.Broadcast.HLSURL, want)
	} else if info := testmedia.Probe(t, base+doc.Broadcast.HLSURL); !slices.Equal(info.Codecs, []string{"h264", "opus"}) {
		t.Errorf("HLS streams %v, want h264 and opus", info.Codecs)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	m, all := readRecording(t, filepath.Join(dir, "recordings", slug, strconv.FormatInt(bs[0].ID, 10)), logs)
	if !m.Ended || len(m.Segments) == 0 || m.VideoCodec != manifestCodec || m.File == "" {
		t.Fatalf("manifest = %+v, want an ended %s recording with segments, stored as one file", m, manifestCodec)
	}
	file, info := testmedia.ProbeBytes(t, "replay."+ext, all, "opus", codec)
	dur := info.Duration
	const segment = 4 * time.Second // recordings' default segment length
	t.Logf("sent %v, ffprobe duration %.3f s, %d segments", sent, dur, len(m.Segments))
	if d := time.Duration(dur * float64(time.Second)); d < sent-segment || d > sent+segment {
		t.Errorf("duration %v, want %v within one segment (%v)", d, sent, segment)
	}
	testmedia.Decode(t, file)
}

// readRecording reads the manifest of the recording in folder rdir and its
// init and segments back to back, as one file.
func readRecording(t *testing.T, rdir string, logs fmt.Stringer) (recordings.Manifest, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(rdir, "manifest.json"))
	if err != nil {
		t.Fatalf("manifest: %v\nlogs:\n%s", err, logs)
	}
	t.Logf("manifest: %s", raw)
	var m recordings.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.File != "" {
		// Finished: init and segments are one file.
		all, err := os.ReadFile(filepath.Join(rdir, m.File))
		if err != nil {
			t.Fatal(err)
		}
		return m, all
	}
	all, err := os.ReadFile(filepath.Join(rdir, m.Init))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Segments {
		seg, err := os.ReadFile(filepath.Join(rdir, s.Name))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, seg...)
	}
	return m, all
}
