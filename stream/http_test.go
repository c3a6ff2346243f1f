package stream

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// validOffer returns a real browser-like offer from a pion peer that is then discarded.
func validOffer(t *testing.T, codec webrtc.RTPCodecCapability) string {
	t.Helper()
	pc, err := clientAPI(t, codecsFor(codec)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// TestBadRequests checks every refusal has its status and error code, and changes nothing.
func TestBadRequests(t *testing.T) {
	ts := startServer(t, Config{})
	offer := validOffer(t, vp8Cap)
	live := newTestPublisher(t, vp8Cap)
	if err := live.connect(t, ts, "other-stall", "key-other"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		path        string
		token       string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"whip wrong content type", "/whip/" + testChannel, testKey, "text/plain", offer, 415, "unsupported_media_type"},
		{"whip no content type", "/whip/" + testChannel, testKey, "", offer, 415, "unsupported_media_type"},
		{"whip oversized body", "/whip/" + testChannel, testKey, "application/sdp", offer + strings.Repeat("a=x\r\n", 20000), 413, "too_large"},
		{"whip missing key", "/whip/" + testChannel, "", "application/sdp", offer, 401, "unauthorized"},
		{"whip wrong key", "/whip/" + testChannel, "nope", "application/sdp", offer, 401, "unauthorized"},
		{"whip other channel's key", "/whip/" + testChannel, "key-other", "application/sdp", offer, 401, "unauthorized"},
		{"whip unknown channel", "/whip/no-such-stall", testKey, "application/sdp", offer, 404, "unknown_channel"},
		{"whip empty offer", "/whip/" + testChannel, testKey, "application/sdp", "", 400, "bad_offer"},
		{"whip garbage offer", "/whip/" + testChannel, testKey, "application/sdp", "hello there\r\n", 400, "bad_offer"},
		{"whip offer without media", "/whip/" + testChannel, testKey, "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 400, "bad_offer"},
		{"whip offer of no codec we take", "/whip/" + testChannel, testKey, "application/sdp",
			validOffer(t, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}), 406, "codec_mismatch"},
		{"whip second publisher while live", "/whip/other-stall", "key-other", "application/sdp", offer, 409, "publisher_active"},
		{"whep unknown channel", "/whep/no-such-stall", "", "application/sdp", offer, 404, "unknown_channel"},
		{"whep not live", "/whep/" + testChannel, "", "application/sdp", offer, 503, "not_live"},
		{"whep garbage offer", "/whep/other-stall", "", "application/sdp", "v=0\r\nbroken", 400, "bad_offer"},
		{"whep wrong content type", "/whep/other-stall", "", "application/json", "{}", 415, "unsupported_media_type"},
	}
	before := ts.Stats()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, ts.url+tt.path, tt.token, tt.contentType, tt.body)
			checkErrorReply(t, resp, body, tt.status, tt.code)
			if tt.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
	if after := ts.Stats(); after != before {
		t.Errorf("refused requests changed the server: %+v, then %+v", before, after)
	}
}

func TestSessionResourceErrors(t *testing.T) {
	ts := startServer(t, Config{})
	pub := newTestPublisher(t, vp8Cap)
	if err := pub.connect(t, ts, testChannel, testKey); err != nil {
		t.Fatal(err)
	}
	v := newTestViewer(t)
	if err := v.connect(t, ts, testChannel); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, url, token, contentType, ifMatch, body string
		status                                               int
	}{
		{"delete unknown session", http.MethodDelete, ts.url + "/whep/" + testChannel + "/nope", "", "", "", "", 404},
		{"delete viewer under another channel", http.MethodDelete, strings.Replace(v.location, testChannel, "other-stall", 1), "", "", "", "", 404},
		{"delete viewer through whip", http.MethodDelete, strings.Replace(v.location, "/whep/", "/whip/", 1), testKey, "", "", "", 404},
		{"delete publisher without key", http.MethodDelete, pub.location, "", "", "", "", 401},
		{"patch wrong content type", http.MethodPatch, v.location, "", "application/sdp", "", "a=ice-ufrag:x\r\n", 415},
		{"patch stale etag", http.MethodPatch, v.location, "", "application/trickle-ice-sdpfrag", `"old"`, "a=end-of-candidates\r\n", 412},
		{"patch garbage", http.MethodPatch, v.location, "", "application/trickle-ice-sdpfrag", "", "hello\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.ifMatch != "" {
				req.Header.Set("If-Match", tt.ifMatch)
			}
			resp, body := do(t, req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
		})
	}
	// Nothing above touched the sessions: media still flows.
	v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
	if st := ts.Stats(); st.Viewers != 1 || st.Publishers != 1 {
		t.Errorf("stats %+v, want one viewer and one publisher", st)
	}
}
