package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dangol/dangol/internal/testmedia"
	"github.com/pion/webrtc/v4"
)

// TestRecordClips pins two products during a recorded H.264 broadcast and checks the clips
// cut once it ended: each chapter of the replay has its product's clip, the products list
// shows each product's clip, and each clip plays from its pin to the next. The publisher's
// file has a keyframe every 2 s and cannot answer keyframe requests, so each clip starts at
// the keyframe after its pin: the first pin at 1 s gives a clip from 2 s to the keyframe
// after the second pin (5 s), at 6 s; the second one runs from there to the end.
func TestRecordClips(t *testing.T) {
	const (
		slug = "park-veg"
		secs = 9
	)
	var (
		products [2]int64
		room     *roomConn
	)
	r := recordBroadcastWith(t, t.TempDir(), slug, "박씨네 채소", secs, webrtc.MimeTypeH264,
		func(base string, sec addedChannel) func(int) {
			products[0] = createProduct(t, base, slug, sec.key, "배추")
			products[1] = createProduct(t, base, slug, sec.key, "무")
			var err error
			if room, err = dialRoom(strings.TrimPrefix(base, "http://"), slug, sec.key); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(room.close)
			if reply, err := room.call(command{ID: "h", Type: "hello", Body: map[string]any{"name": "사장님"}}); err != nil || !replyOK(reply) {
				t.Fatalf("hello: %v, %v", reply, err)
			}
			pin := func(p int64) {
				if reply, err := room.call(command{ID: fmt.Sprint("pin-", p), Type: "product.pin", Body: map[string]any{"product_id": p}}); err != nil || !replyOK(reply) {
					t.Errorf("pin %d: %v, %v", p, reply, err)
				}
			}
			return func(frame int) {
				switch frame {
				case recordTestFPS: // 1 s
					pin(products[0])
				case 5 * recordTestFPS:
					pin(products[1])
				}
			}
		})
	waitLog(t, r.logs, `msg="product clips cut"`, 30*time.Second)

	bs := broadcasts(t, r.base, slug, r.channel.key)
	if len(bs) != 1 {
		t.Fatalf("broadcasts = %+v, want one", bs)
	}
	var doc struct {
		Chapters []struct {
			Product struct {
				ID int64 `json:"id"`
			} `json:"product"`
			OffsetS float64 `json:"offset_s"`
			Clip    *struct {
				URL       string  `json:"url"`
				DurationS float64 `json:"duration_s"`
			} `json:"clip"`
		} `json:"chapters"`
	}
	getJSON(t, fmt.Sprintf("%s/api/channels/%s/broadcasts/%d/replay", r.base, slug, bs[0].ID), &doc)
	if len(doc.Chapters) != 2 {
		t.Fatalf("chapters %+v, want two", doc.Chapters)
	}
	// Clip lengths as the keyframes fall (see above), within a frame or two of the pacing.
	wantS := []float64{4, secs - 6}
	for i, ch := range doc.Chapters {
		if ch.Product.ID != products[i] || ch.Clip == nil || ch.Clip.URL == "" {
			t.Fatalf("chapter %d = %+v, want product %d with a clip", i, ch, products[i])
		}
		resp, err := http.Get(r.base + ch.Clip.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Fatalf("GET %s: status %d, %s, %v", ch.Clip.URL, resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		file, info := testmedia.ProbeBytes(t, "clip.mp4", body, "h264", "opus")
		t.Logf("chapter %d at %.3f s: clip %s, %.3f s (document says %.3f s)", i, ch.OffsetS, ch.Clip.URL, info.Duration, ch.Clip.DurationS)
		if d := info.Duration; d < wantS[i]-0.3 || d > wantS[i]+0.3 {
			t.Errorf("clip %d lasts %.3f s, want %.1f s", i, d, wantS[i])
		}
		if d := ch.Clip.DurationS; d < info.Duration-0.3 || d > info.Duration+0.3 {
			t.Errorf("clip %d: duration_s %.3f, ffprobe %.3f", i, d, info.Duration)
		}
		testmedia.Decode(t, file)
	}

	// Seeking the replay to a chapter lands within a segment of it: what the replay page's
	// chapter buttons do.
	resp, err := http.Get(r.base + bs[0].ReplayURL)
	if err != nil {
		t.Fatal(err)
	}
	replay, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", bs[0].ReplayURL, resp.StatusCode, err)
	}
	file, _ := testmedia.ProbeBytes(t, "replay.mp4", replay, "h264", "opus")
	const segment = 4.0 // seconds, recordings' default
	for i, ch := range doc.Chapters {
		var probe struct {
			Frames []struct {
				PTS string `json:"pts_time"`
			} `json:"frames"`
		}
		out := testmedia.ProbeJSON(t, file, "-select_streams", "v", "-read_intervals", fmt.Sprintf("%.3f%%+#1", ch.OffsetS),
			"-show_entries", "frame=pts_time", "-show_frames")
		if err := json.Unmarshal(out, &probe); err != nil || len(probe.Frames) == 0 {
			t.Fatalf("seek to chapter %d: %v: %s", i, err, out)
		}
		var at float64
		fmt.Sscan(probe.Frames[0].PTS, &at)
		t.Logf("chapter %d at %.3f s: the seek lands at %.3f s", i, ch.OffsetS, at)
		if at < ch.OffsetS-segment || at > ch.OffsetS+segment {
			t.Errorf("seek to chapter %d at %.3f s landed at %.3f s, more than a segment away", i, ch.OffsetS, at)
		}
	}

	// The channel page's products list shows each product's clip.
	var list struct {
		Products []struct {
			ID   int64 `json:"id"`
			Clip *struct {
				URL string `json:"url"`
			} `json:"clip"`
		} `json:"products"`
	}
	getJSON(t, r.base+"/api/channels/"+slug+"/products", &list)
	clips := map[int64]string{}
	for _, p := range list.Products {
		if p.Clip != nil {
			clips[p.ID] = p.Clip.URL
		}
	}
	for i, p := range products {
		if clips[p] != doc.Chapters[i].Clip.URL {
			t.Errorf("product %d's clip in the list %q, want %q", p, clips[p], doc.Chapters[i].Clip.URL)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// createProduct adds a product through the merchant API and returns its id.
func createProduct(t *testing.T, base, slug, key, name string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "price_won": 3000, "stock": 20})
	req, err := http.NewRequest("POST", base+"/api/channels/"+slug+"/products", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusCreated || p.ID == 0 {
		t.Fatalf("create product: status %d, %+v, %v", resp.StatusCode, p, err)
	}
	return p.ID
}

// getJSON gets url and decodes its JSON body into v; anything but 200 fails t.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	getWithKey(t, url, "", v)
}
