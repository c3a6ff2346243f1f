package stream

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// This file holds the test rig: a real server on 127.0.0.1, real pion publishers that send a
// generated stream, and real pion viewers. Nothing is mocked but the channel store, which is
// an in-memory map of keys.

const (
	testChannel = "market-stall"
	testKey     = "key-1234"
)

// testChannels is an in-memory Channels.
type testChannels map[string]string

func (c testChannels) AuthorizePublisher(_ context.Context, slug, token string) error {
	key, ok := c[slug]
	switch {
	case !ok:
		return ErrUnknownChannel
	case token != key:
		return ErrUnauthorized
	}
	return nil
}

func (c testChannels) AuthorizeViewer(_ context.Context, slug, _ string) error {
	if _, ok := c[slug]; !ok {
		return ErrUnknownChannel
	}
	return nil
}

type testServer struct {
	*Server
	url    string
	events chan Event
}

// startServer runs a media server and its HTTP endpoints on loopback; both stop with the test.
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.UDPAddr == "" {
		cfg.UDPAddr = "127.0.0.1:0"
	}
	cfg.Loopback = true
	events := make(chan Event, 64)
	s, err := New(cfg, Deps{
		Channels: testChannels{testChannel: testKey, "other-stall": "key-other"},
		Metrics:  prometheus.NewRegistry(),
		Events: func(e Event) {
			select {
			case events <- e:
			default:
			}
		},
	})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return &testServer{Server: s, url: hs.URL, events: events}
}

// clientAPI is a pion API as a browser would be: loopback only, NACKs generated for losses.
// With no codecs it offers pion's defaults (VP8, H.264, VP9, AV1, Opus...).
func clientAPI(t *testing.T, codecs []webrtc.RTPCodecParameters, networks ...webrtc.NetworkType) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if codecs == nil {
		if err := me.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range codecs {
		kind := webrtc.RTPCodecTypeVideo
		if strings.HasPrefix(c.MimeType, "audio/") {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := me.RegisterCodec(c, kind); err != nil {
			t.Fatal(err)
		}
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	ir.Add(gen)
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	if len(networks) == 0 {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	se.SetNetworkTypes(networks)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// post sends an SDP offer and returns the response with its body read.
func post(t *testing.T, target, token, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// signal runs the offer/answer exchange for pc against endpoint and returns the session URL.
func signal(t *testing.T, pc *webrtc.PeerConnection, endpoint, token string) (string, error) {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, body := post(t, endpoint, token, "application/sdp", pc.LocalDescription().SDP)
	if resp.StatusCode != http.StatusCreated {
		return "", &statusError{resp.StatusCode, body}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Fatalf("answer content type %q", ct)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		t.Fatalf("bad Location %q: %v", resp.Header.Get("Location"), err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatalf("set answer: %v", err)
	}
	return loc.String(), nil
}

type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return http.StatusText(e.status) + ": " + e.body }

func deleteSession(t *testing.T, location, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, location, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, _ := do(t, req)
	return resp.StatusCode
}

// waitState waits for pc to reach want; it fails the test after timeout.
func waitState(t *testing.T, pc *webrtc.PeerConnection, want webrtc.PeerConnectionState, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pc.ConnectionState() != want {
		if time.Now().After(deadline) {
			t.Fatalf("connection state %s, want %s", pc.ConnectionState(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// broadcast returns the channel's broadcast, or nil.
func (ts *testServer) broadcast(channel string) *broadcast {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.broadcasts[channel]
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// eventually polls cond until it holds, failing the test after timeout: for state that has
// no event to wait on (counters, goroutines).
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkErrorReply checks a refused request's answer: the status, a JSON error with the code
// and a message, and WWW-Authenticate on a 401.
func checkErrorReply(t *testing.T, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("error %+v, want code %q and a message", e.Error, code)
	}
	if status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}
