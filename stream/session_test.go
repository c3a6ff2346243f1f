package stream

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// This file tests the session resource's PATCH (RFC 9725 §4.4): trickle ICE and ICE restarts
// with application/trickle-ice-sdpfrag bodies (RFC 8840), driven by real pion clients that do
// what a browser WHIP/WHEP library does.

const sdpFragType = "application/trickle-ice-sdpfrag"

// iceSession is what a client keeps from its POST: where its session is, the entity tag a
// trickle PATCH must match, and the answer.
type iceSession struct {
	location string
	etag     string
	answer   string
	gathered <-chan struct{} // closed when the client has all its candidates
}

// offerHow is how a client sends its offer.
type offerHow struct {
	// trickle: at once, before its candidates are gathered, with any a=candidate lines
	// removed; otherwise it waits for them all, as signal does.
	trickle bool
	// bareLF: with LF line endings, which SDP parsers (pion's among them) accept.
	bareLF bool
}

// postICEOffer sends pc's offer to endpoint. The answer is not applied: the caller decides
// when. (pion keeps one gathering-complete handler per connection, so the returned gathered
// is the one to wait on: a later GatheringCompletePromise would replace it.)
func postICEOffer(t *testing.T, pc *webrtc.PeerConnection, endpoint, token string, how offerHow) iceSession {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	var sdp string
	if how.trickle {
		sdp = withoutCandidates(offer.SDP)
	} else {
		awaitDone(t, gathered, 10*time.Second, "candidate gathering")
		sdp = pc.LocalDescription().SDP
	}
	if how.bareLF {
		sdp = strings.ReplaceAll(sdp, "\r\n", "\n")
	}
	resp, body := post(t, endpoint, token, "application/sdp", sdp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", endpoint, resp.StatusCode, body)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		t.Fatalf("bad Location %q: %v", resp.Header.Get("Location"), err)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("POST answered without an ETag: the client cannot PATCH")
	}
	return iceSession{location: loc.String(), etag: etag, answer: body, gathered: gathered}
}

// withoutCandidates drops the candidate lines from an SDP.
func withoutCandidates(sdp string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(sdp, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "a=candidate:") || l == "a=end-of-candidates" {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

func awaitDone(t *testing.T, ch <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("no %s within %s", what, timeout)
	}
}

// gatheredFragment waits for pc to finish gathering and returns the sdpfrag a client PATCHes
// with its credentials and candidates. Under max-bundle only the first m= section gathers,
// so, as RFC 9725 §4.4.1 shows, the fragment carries that section alone.
func gatheredFragment(t *testing.T, pc *webrtc.PeerConnection, gathered <-chan struct{}) string {
	t.Helper()
	awaitDone(t, gathered, 10*time.Second, "candidate gathering")
	var group, mline, mid, ufrag, pwd string
	var cands []string
	for _, l := range strings.Split(pc.LocalDescription().SDP, "\r\n") {
		switch {
		case strings.HasPrefix(l, "a=group:BUNDLE "):
			group = l
		case strings.HasPrefix(l, "m=") && mline == "":
			mline = l
		case strings.HasPrefix(l, "a=mid:") && mid == "":
			mid = l
		case strings.HasPrefix(l, "a=ice-ufrag:") && ufrag == "":
			ufrag = l
		case strings.HasPrefix(l, "a=ice-pwd:") && pwd == "":
			pwd = l
		case strings.HasPrefix(l, "a=candidate:"):
			cands = append(cands, l)
		}
	}
	if mline == "" || ufrag == "" || pwd == "" || len(cands) == 0 {
		t.Fatalf("local description lacks what a fragment needs:\n%s", pc.LocalDescription().SDP)
	}
	lines := []string{}
	if group != "" {
		lines = append(lines, group)
	}
	lines = append(lines, mline, mid, ufrag, pwd)
	lines = append(lines, cands...)
	lines = append(lines, "a=end-of-candidates")
	return strings.Join(lines, "\r\n") + "\r\n"
}

// patchSession sends a PATCH; empty arguments leave their header out.
func patchSession(t *testing.T, target, token, contentType, ifMatch, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	return do(t, req)
}

// fragICE is what a client reads from an sdpfrag or SDP: the first ICE credentials and every
// candidate line.
type fragICE struct {
	ufrag, pwd string
	candidates []string
}

func readICE(sdp string) fragICE {
	var f fragICE
	for _, l := range strings.Split(strings.ReplaceAll(sdp, "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:") && f.ufrag == "":
			f.ufrag = strings.TrimPrefix(l, "a=ice-ufrag:")
		case strings.HasPrefix(l, "a=ice-pwd:") && f.pwd == "":
			f.pwd = strings.TrimPrefix(l, "a=ice-pwd:")
		case strings.HasPrefix(l, "a=candidate:"):
			f.candidates = append(f.candidates, l)
		}
	}
	return f
}

// applyRestartAnswer is the client's half of an ICE restart: nothing but ICE changes (RFC 9725
// §4.4.2), so the answer is the current remote description with the server's new credentials
// and candidates in place of the old.
func applyRestartAnswer(t *testing.T, pc *webrtc.PeerConnection, frag fragICE) {
	t.Helper()
	var out []string
	sections := 0
	for _, l := range strings.Split(strings.TrimSuffix(pc.RemoteDescription().SDP, "\r\n"), "\r\n") {
		switch {
		case strings.HasPrefix(l, "a=candidate:"), l == "a=end-of-candidates":
			continue
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			l = "a=ice-ufrag:" + frag.ufrag
		case strings.HasPrefix(l, "a=ice-pwd:"):
			l = "a=ice-pwd:" + frag.pwd
		case strings.HasPrefix(l, "m="):
			sections++
			if sections == 2 {
				out = append(out, frag.candidates...)
				out = append(out, "a=end-of-candidates")
			}
		}
		out = append(out, l)
	}
	if sections == 1 {
		out = append(out, frag.candidates...)
		out = append(out, "a=end-of-candidates")
	}
	answer := strings.Join(out, "\r\n") + "\r\n"
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("apply the restart answer: %v\n%s", err, answer)
	}
}

// serverResource returns the server's side of the session at location.
func serverResource(t *testing.T, ts *testServer, location string) *resource {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	sess, ok := ts.session(path.Base(u.Path))
	if !ok {
		t.Fatalf("no session for %s", location)
	}
	return sess.resource()
}

// serverPC returns the server's peer connection of the session at location.
func serverPC(t *testing.T, ts *testServer, location string) *webrtc.PeerConnection {
	t.Helper()
	return serverResource(t, ts, location).pc
}

// serverETag is the entity tag the server holds for the session at location.
func serverETag(t *testing.T, ts *testServer, location string) string {
	t.Helper()
	res := serverResource(t, ts, location)
	res.mu.Lock()
	defer res.mu.Unlock()
	return res.etag
}

// selectedRemote is the remote candidate of pc's selected ICE pair.
func selectedRemote(t *testing.T, pc *webrtc.PeerConnection) *webrtc.ICECandidate {
	t.Helper()
	var pair *webrtc.ICECandidatePair
	eventually(t, 5*time.Second, "a selected candidate pair", func() bool {
		p, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		pair = p
		return err == nil && p != nil && p.Remote != nil
	})
	return pair.Remote
}

// startPublishing starts a connected test publisher's media, as testPublisher.connect does
// once its signalling is done.
func startPublishing(t *testing.T, p *testPublisher) {
	t.Helper()
	waitState(t, p.pc, webrtc.PeerConnectionStateConnected, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.send(ctx)
}

// freshVideo returns the first video packet the viewer received after since, skipping what
// was queued before: proof that media flows now, not that it once did.
func freshVideo(t *testing.T, v *testViewer, since time.Time, timeout time.Duration) rxPacket {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p := v.next(t, webrtc.RTPCodecTypeVideo, time.Until(deadline))
		if p.at.After(since) {
			return p
		}
	}
}

// lastQueued drains the viewer's queued video and returns the packet furthest on in sequence
// (a resend may have arrived after it), or waits for one.
func lastQueued(t *testing.T, v *testViewer) rxPacket {
	t.Helper()
	last := v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
	for {
		select {
		case p := <-v.video:
			if d := p.header.SequenceNumber - last.header.SequenceNumber; d != 0 && d < 1<<15 {
				last = p
			}
		default:
			return last
		}
	}
}

// watchICE records pc's ICE connection states from now on.
func watchICE(pc *webrtc.PeerConnection) <-chan webrtc.ICEConnectionState {
	ch := make(chan webrtc.ICEConnectionState, 64)
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		select {
		case ch <- s:
		default:
		}
	})
	return ch
}

// reconnects waits for ICE to go through checking (the restart) and back to connected.
func reconnects(t *testing.T, states <-chan webrtc.ICEConnectionState, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	checking := false
	for {
		select {
		case s := <-states:
			switch s {
			case webrtc.ICEConnectionStateChecking:
				checking = true
			case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
				if checking {
					return
				}
			case webrtc.ICEConnectionStateFailed, webrtc.ICEConnectionStateClosed:
				t.Fatalf("ICE %s during the restart", s)
			}
		case <-deadline:
			t.Fatalf("ICE did not reconnect within %s (saw checking: %v)", timeout, checking)
		}
	}
}

// TestTrickleICE: a client that POSTs its offer before it has candidates and PATCHes them
// afterwards connects, on the candidates it trickled, and gets media.
//
// Without the PATCH a client still connects: its own checks reach the server, which learns
// its address as a peer-reflexive candidate (RFC 8445 §7.3.1.3). That is ICE working as
// designed, so the cases without a PATCH assert exactly that, which shows the check on the
// trickled candidate is not vacuous.
func TestTrickleICE(t *testing.T) {
	tests := []struct {
		name   string
		whep   bool
		patch  bool
		bareLF bool
		want   webrtc.ICECandidateType // the server's selected remote candidate
	}{
		{"whip", false, true, false, webrtc.ICECandidateTypeHost},
		{"whep", true, true, false, webrtc.ICECandidateTypeHost},
		{"whep offer with LF line endings", true, true, true, webrtc.ICECandidateTypeHost},
		{"whip without patch", false, false, false, webrtc.ICECandidateTypePrflx},
		{"whep without patch", true, false, false, webrtc.ICECandidateTypePrflx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Config{})
			pub := newTestPublisher(t, vp8Cap)
			var v *testViewer
			pc, endpoint, token := pub.pc, ts.url+"/whip/"+testChannel, testKey
			if tt.whep {
				if err := pub.connect(t, ts, testChannel, testKey); err != nil {
					t.Fatal(err)
				}
				v = newTestViewer(t)
				pc, endpoint, token = v.pc, ts.url+"/whep/"+testChannel, ""
			}

			s := postICEOffer(t, pc, endpoint, token, offerHow{trickle: true, bareLF: tt.bareLF})
			var trickled fragICE
			if tt.patch {
				frag := gatheredFragment(t, pc, s.gathered)
				trickled = readICE(frag)
				resp, body := patchSession(t, s.location, token, sdpFragType, s.etag, frag)
				if resp.StatusCode != http.StatusNoContent || body != "" {
					t.Fatalf("trickle PATCH: %d %q, want 204 and no body", resp.StatusCode, body)
				}
			}
			// The answer is applied only now, so that the client's checks cannot reach the
			// server before its candidates do.
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.answer}); err != nil {
				t.Fatal(err)
			}
			waitState(t, pc, webrtc.PeerConnectionStateConnected, 10*time.Second)
			spc := serverPC(t, ts, s.location)
			waitState(t, spc, webrtc.PeerConnectionStateConnected, 10*time.Second)
			remote := selectedRemote(t, spc)
			if remote.Typ != tt.want {
				t.Errorf("server's selected remote candidate is %s (%s:%d), want %s", remote.Typ, remote.Address, remote.Port, tt.want)
			}
			if tt.patch {
				hostPort := remote.Address + " " + strconv.Itoa(int(remote.Port)) + " typ host"
				found := false
				for _, c := range trickled.candidates {
					found = found || strings.Contains(c, hostPort)
				}
				if !found {
					t.Errorf("server uses %s:%d, not one of the trickled candidates %q", remote.Address, remote.Port, trickled.candidates)
				}
			}

			if !tt.whep {
				startPublishing(t, pub)
				v = newTestViewer(t)
				if err := v.connect(t, ts, testChannel); err != nil {
					t.Fatal(err)
				}
			}
			v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)
		})
	}
}

// TestICERestart: on a connected session the client restarts ICE with a PATCH carrying its new
// credentials and candidates; the server answers 200 with its own new ones and a new ETag,
// ICE reconnects and media goes on. For a viewer the stream continues where it was: same
// SSRC, sequence numbers carrying on.
func TestICERestart(t *testing.T) {
	tests := []struct {
		name    string
		whep    bool
		ifMatch string // "etag": the session's current entity tag
		bareLF  bool
	}{
		{"whip", false, "*", false},
		{"whep", true, "*", false},
		{"whep with the current etag", true, "etag", false},
		{"whip offer with LF line endings", false, "*", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Config{})
			pub := newTestPublisher(t, vp8Cap)
			var pc *webrtc.PeerConnection
			var s iceSession
			var v *testViewer
			token := testKey
			if tt.whep {
				if err := pub.connect(t, ts, testChannel, testKey); err != nil {
					t.Fatal(err)
				}
				v = newTestViewer(t)
				pc, token = v.pc, ""
				s = postICEOffer(t, pc, ts.url+"/whep/"+testChannel, "", offerHow{bareLF: tt.bareLF})
			} else {
				pc = pub.pc
				s = postICEOffer(t, pc, ts.url+"/whip/"+testChannel, testKey, offerHow{bareLF: tt.bareLF})
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.answer}); err != nil {
				t.Fatal(err)
			}
			waitState(t, pc, webrtc.PeerConnectionStateConnected, 10*time.Second)
			if !tt.whep {
				startPublishing(t, pub)
				v = newTestViewer(t)
				if err := v.connect(t, ts, testChannel); err != nil {
					t.Fatal(err)
				}
			}
			before := lastQueued(t, v)
			etag, server := s.etag, readICE(s.answer)
			// Twice: the second restart builds on what the first left.
			for round := 1; round <= 2; round++ {
				ifMatch := tt.ifMatch
				if ifMatch == "etag" {
					ifMatch = etag
				}
				oldETag := etag
				etag, server = restartICE(t, ts, pc, s.location, token, ifMatch, etag, server)
				reconnected := time.Now()
				if tt.whep {
					carriesOn(t, v, before, reconnected)
				} else {
					freshVideo(t, v, reconnected, 5*time.Second)
				}
				before = lastQueued(t, v)

				// The restart made a new ICE session: trickling against the old ETag is
				// refused, against the new one accepted.
				if resp, body := patchSession(t, s.location, token, sdpFragType, oldETag, "a=end-of-candidates\r\n"); resp.StatusCode != http.StatusPreconditionFailed {
					t.Errorf("PATCH with the ETag from before the restart: %d %s, want 412", resp.StatusCode, body)
				}
				if resp, body := patchSession(t, s.location, token, sdpFragType, etag, "a=end-of-candidates\r\n"); resp.StatusCode != http.StatusNoContent {
					t.Errorf("PATCH with the new ETag: %d %s, want 204", resp.StatusCode, body)
				}
			}
			freshVideo(t, v, time.Now(), 5*time.Second)
		})
	}
}

// restartICE restarts ICE on the client pc of the session at location as a WHIP/WHEP client
// does, checks the server's answer, applies it and waits for ICE to reconnect. etag and
// server are the session's entity tag and server credentials so far; it returns the new ones.
func restartICE(t *testing.T, ts *testServer, pc *webrtc.PeerConnection, location, token, ifMatch, etag string, server fragICE) (string, fragICE) {
	t.Helper()
	states := watchICE(pc)
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	frag := gatheredFragment(t, pc, gathered)
	mine := readICE(frag)
	resp, body := patchSession(t, location, token, sdpFragType, ifMatch, frag)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("restart PATCH: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != sdpFragType {
		t.Errorf("restart answer content type %q, want %s", ct, sdpFragType)
	}
	newETag := resp.Header.Get("ETag")
	if newETag == "" || newETag == etag {
		t.Errorf("restart answer ETag %q (was %q), want a new one", newETag, etag)
	}
	theirs := readICE(body)
	switch {
	case theirs.ufrag == "" || theirs.pwd == "":
		t.Fatalf("restart answer without credentials:\n%s", body)
	case theirs.ufrag == server.ufrag || theirs.pwd == server.pwd:
		t.Errorf("restart answer kept the old credentials %s/%s", theirs.ufrag, theirs.pwd)
	case len(theirs.candidates) == 0:
		t.Fatalf("restart answer without candidates:\n%s", body)
	}
	for _, l := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		if !strings.HasPrefix(l, "a=") && !strings.HasPrefix(l, "m=") {
			t.Errorf("restart answer line %q is not an sdpfrag line", l)
		}
	}
	applyRestartAnswer(t, pc, theirs)
	reconnects(t, states, 10*time.Second)

	// The server really moved to the new credentials on both sides.
	spc := serverPC(t, ts, location)
	if !slices.Contains(sdpLines(spc.RemoteDescription().SDP), "a=ice-ufrag:"+mine.ufrag) {
		t.Error("server's remote description lacks the client's new ufrag")
	}
	if !slices.Contains(sdpLines(spc.LocalDescription().SDP), "a=ice-ufrag:"+theirs.ufrag) {
		t.Error("server's local description lacks the ufrag it answered")
	}
	eventually(t, 10*time.Second, "the server's ICE to reconnect", func() bool {
		st := spc.ICEConnectionState()
		return st == webrtc.ICEConnectionStateConnected || st == webrtc.ICEConnectionStateCompleted
	})
	waitState(t, pc, webrtc.PeerConnectionStateConnected, 10*time.Second)
	return newETag, theirs
}

// carriesOn reads a viewer's video after an ICE restart and checks that the stream goes on
// where it was, as a decoder needs: the same SSRC, no timestamp before the last one seen
// before the restart, and no hole: every sequence number from there to a little past the
// reconnection arrives, those lost while ICE was down resent from the server's cache on the
// viewer's NACKs.
func carriesOn(t *testing.T, v *testViewer, before rxPacket, reconnected time.Time) {
	t.Helper()
	seen := map[uint16]bool{} // by distance from before
	var target uint16         // the distance up to which all must arrive; 0 until known
	deadline := time.Now().Add(5 * time.Second)
	for {
		if time.Now().After(deadline) {
			var missing []uint16
			for d := uint16(1); d <= target; d++ {
				if !seen[d] {
					missing = append(missing, before.header.SequenceNumber+d)
				}
			}
			t.Fatalf("after the restart, within 5s: sequence numbers %v never arrived (last before: %d)", missing, before.header.SequenceNumber)
		}
		p := v.next(t, webrtc.RTPCodecTypeVideo, time.Until(deadline)+time.Second)
		if p.header.SSRC != before.header.SSRC {
			t.Fatalf("SSRC changed across the restart: %d, then %d", before.header.SSRC, p.header.SSRC)
		}
		d := p.header.SequenceNumber - before.header.SequenceNumber
		if d == 0 || d > 1<<15 {
			continue // from before the restart, or a resend of it
		}
		if d > 3000 {
			t.Fatalf("sequence %d after %d across the restart: the stream started over", p.header.SequenceNumber, before.header.SequenceNumber)
		}
		if ts := int32(p.header.Timestamp - before.header.Timestamp); ts < 0 {
			t.Fatalf("packet %d has a timestamp %d before the last one seen before the restart", p.header.SequenceNumber, -ts)
		}
		seen[d] = true
		if target == 0 && p.at.After(reconnected) {
			target = d + 30 // a second of this stream's packets past the reconnection
		}
		complete := target != 0
		for i := uint16(1); complete && i <= target; i++ {
			complete = seen[i]
		}
		if complete {
			return
		}
	}
}

// TestPatchRefused: a PATCH the server refuses answers its error and changes nothing: the
// sessions stay connected on their ICE credentials and entity tags, and media flows.
func TestPatchRefused(t *testing.T) {
	ts := startServer(t, Config{})
	pub := newTestPublisher(t, vp8Cap)
	ps := postICEOffer(t, pub.pc, ts.url+"/whip/"+testChannel, testKey, offerHow{})
	if err := pub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ps.answer}); err != nil {
		t.Fatal(err)
	}
	startPublishing(t, pub)
	v := newTestViewer(t)
	vs := postICEOffer(t, v.pc, ts.url+"/whep/"+testChannel, "", offerHow{})
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: vs.answer}); err != nil {
		t.Fatal(err)
	}
	waitState(t, v.pc, webrtc.PeerConnectionStateConnected, 10*time.Second)
	v.next(t, webrtc.RTPCodecTypeVideo, 5*time.Second)

	// A well-formed restart fragment, as a client that restarted would send: new credentials
	// and a candidate.
	const restart = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:RsTaRt\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
	badCandidate := func(ufrag string) string {
		return "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:" + ufrag + "\r\na=candidate:not a candidate\r\n"
	}
	pubUfrag := readICE(pub.pc.LocalDescription().SDP).ufrag
	viewerUfrag := readICE(v.pc.LocalDescription().SDP).ufrag
	otherChannel := func(loc string) string { return strings.Replace(loc, "/"+testChannel+"/", "/other-stall/", 1) }
	swapKind := func(loc, from, to string) string { return strings.Replace(loc, from, to, 1) }

	tests := []struct {
		name                                string
		target, token, contentType, ifMatch string
		body                                string
		status                              int
		code                                string
	}{
		{"whep stale etag", vs.location, "", sdpFragType, `"stale"`, "a=end-of-candidates\r\n", 412, "precondition_failed"},
		{"whip stale etag", ps.location, testKey, sdpFragType, `"stale"`, "a=end-of-candidates\r\n", 412, "precondition_failed"},
		{"whep restart with a stale etag", vs.location, "", sdpFragType, `"stale"`, restart, 412, "precondition_failed"},
		{"whip restart with the other session's etag", ps.location, testKey, sdpFragType, vs.etag, restart, 412, "precondition_failed"},
		{"whep content type application/sdp", vs.location, "", "application/sdp", vs.etag, restart, 415, "unsupported_media_type"},
		{"whep no content type", vs.location, "", "", vs.etag, restart, 415, "unsupported_media_type"},
		{"whip content type text/plain", ps.location, testKey, "text/plain", "*", restart, 415, "unsupported_media_type"},
		{"whep garbage body", vs.location, "", sdpFragType, vs.etag, "hello there\r\n", 400, "bad_offer"},
		{"whip garbage body", ps.location, testKey, sdpFragType, ps.etag, "\x00\x01\x02", 400, "bad_offer"},
		{"whep malformed candidate", vs.location, "", sdpFragType, vs.etag, badCandidate(viewerUfrag), 400, "bad_offer"},
		{"whip malformed candidate", ps.location, testKey, sdpFragType, ps.etag, badCandidate(pubUfrag), 400, "bad_offer"},
		{"whep restart without a password", vs.location, "", sdpFragType, "*", "a=ice-ufrag:RsTaRt\r\n", 400, "bad_offer"},
		{"whep restart with a malformed candidate", vs.location, "", sdpFragType, "*", badCandidate("RsTaRt") + "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", 400, "bad_offer"},
		{"whip restart with a malformed candidate", ps.location, testKey, sdpFragType, "*", badCandidate("RsTaRt") + "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", 400, "bad_offer"},
		{"whep oversized body", vs.location, "", sdpFragType, vs.etag, strings.Repeat("a=x\r\n", 20000), 413, "too_large"},
		{"unknown whep session", ts.url + "/whep/" + testChannel + "/nope", "", sdpFragType, "*", restart, 404, "session_not_found"},
		{"unknown whip session", ts.url + "/whip/" + testChannel + "/nope", testKey, sdpFragType, "*", restart, 404, "session_not_found"},
		{"whep session under another channel", otherChannel(vs.location), "", sdpFragType, "*", restart, 404, "session_not_found"},
		{"whep session through whip", swapKind(vs.location, "/whep/", "/whip/"), testKey, sdpFragType, "*", restart, 404, "session_not_found"},
		{"whip session through whep", swapKind(ps.location, "/whip/", "/whep/"), "", sdpFragType, "*", restart, 404, "session_not_found"},
		{"whip without a key", ps.location, "", sdpFragType, ps.etag, "a=end-of-candidates\r\n", 401, "unauthorized"},
		{"whip restart without a key", ps.location, "", sdpFragType, "*", restart, 401, "unauthorized"},
		{"whip restart with a wrong key", ps.location, "nope", sdpFragType, "*", restart, 401, "unauthorized"},
		{"whip restart with another channel's key", ps.location, "key-other", sdpFragType, "*", restart, 401, "unauthorized"},
	}
	statsBefore := ts.Stats()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := patchSession(t, tt.target, tt.token, tt.contentType, tt.ifMatch, tt.body)
			checkErrorReply(t, resp, body, tt.status, tt.code)
		})
	}
	done := time.Now()

	// Nothing changed: same entity tags, same ICE credentials, still connected, media flows,
	// and a trickle PATCH with the tags from the POSTs is still accepted.
	if st := ts.Stats(); st != statsBefore {
		t.Errorf("stats %+v, then %+v", statsBefore, st)
	}
	for _, c := range []struct {
		name   string
		client *webrtc.PeerConnection
		s      iceSession
		token  string
	}{{"publisher", pub.pc, ps, testKey}, {"viewer", v.pc, vs, ""}} {
		if got := serverETag(t, ts, c.s.location); got != c.s.etag {
			t.Errorf("%s: ETag %s, was %s", c.name, got, c.s.etag)
		}
		spc := serverPC(t, ts, c.s.location)
		if got, want := readICE(spc.LocalDescription().SDP).ufrag, readICE(c.s.answer).ufrag; got != want {
			t.Errorf("%s: server ufrag %s, was %s: ICE restarted", c.name, got, want)
		}
		if got, want := readICE(spc.RemoteDescription().SDP).ufrag, readICE(c.client.LocalDescription().SDP).ufrag; got != want {
			t.Errorf("%s: server has remote ufrag %s, the client %s", c.name, got, want)
		}
		for _, pc := range []*webrtc.PeerConnection{c.client, spc} {
			if st := pc.ConnectionState(); st != webrtc.PeerConnectionStateConnected {
				t.Errorf("%s: connection %s", c.name, st)
			}
		}
	}
	freshVideo(t, v, done, 5*time.Second)
	for _, c := range []struct {
		s     iceSession
		token string
	}{{ps, testKey}, {vs, ""}} {
		if resp, body := patchSession(t, c.s.location, c.token, sdpFragType, c.s.etag, "a=end-of-candidates\r\n"); resp.StatusCode != http.StatusNoContent {
			t.Errorf("PATCH %s with its ETag: %d %s", c.s.location, resp.StatusCode, body)
		}
	}
}
