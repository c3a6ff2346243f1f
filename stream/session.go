package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// resource is the signalling state of one WHIP or WHEP session: what a PATCH needs to add
// trickled candidates or restart ICE.
type resource struct {
	mu    sync.Mutex // guards offer and etag, and serialises PATCHes
	pc    *webrtc.PeerConnection
	offer string // the last remote offer, the base of an ICE restart
	etag  string
}

// validateOffer checks that an offer parses and carries audio or video, so that a garbled
// request is refused before anything is allocated for it.
func validateOffer(offer string) error {
	if strings.TrimSpace(offer) == "" {
		return fmt.Errorf("%w: empty body", ErrBadOffer)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	media := 0
	for _, m := range sd.MediaDescriptions {
		switch m.MediaName.Media {
		case "audio", "video":
			media++
		}
	}
	if media == 0 {
		return fmt.Errorf("%w: no audio or video section", ErrBadOffer)
	}
	return nil
}

// negotiate applies a remote offer and returns the complete answer. prepare runs between the
// two, when the transceivers exist, to choose codecs.
func (r *resource) negotiate(ctx context.Context, offer string, prepare func() error) (string, error) {
	pc := r.pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return "", err
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	// With the shared UDP/TCP ports there is nothing to discover: host candidates are known
	// at once, so the answer carries them all and clients need not trickle ours.
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gather candidates: %w", ctx.Err())
	}
	r.offer = offer
	r.etag = `"` + newID() + `"`
	return pc.LocalDescription().SDP, nil
}

// sdpFrag is a parsed application/trickle-ice-sdpfrag body (RFC 8840).
type sdpFrag struct {
	ufrag, pwd string
	candidates []webrtc.ICECandidateInit
}

func parseSDPFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	var mid string
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=candidate:"):
			// Check every candidate before any is applied: a bad one found only when adding it
			// would come after an ICE restart has already replaced the session's credentials
			// (the client, told 400, never learns the new ones and the session dies), or after
			// the candidates before it were added. pion skips candidates of unknown types or
			// networks, and so do we.
			_, err := ice.UnmarshalCandidate(strings.TrimPrefix(line, "a=candidate:"))
			if err != nil && !errors.Is(err, ice.ErrUnknownCandidateTyp) && !errors.Is(err, ice.ErrDetermineNetworkType) {
				return f, fmt.Errorf("%w: candidate %q: %v", ErrBadOffer, line, err)
			}
			m := mid
			f.candidates = append(f.candidates, webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a="), SDPMid: &m})
		case strings.HasPrefix(line, "m="), strings.HasPrefix(line, "a="):
			// a=end-of-candidates, a=ice-options and the m= lines need no action.
		default:
			return f, fmt.Errorf("%w: unexpected line %q", ErrBadOffer, line)
		}
	}
	return f, nil
}

// errPreconditionFailed answers a PATCH whose If-Match names an older state of the session.
var errPreconditionFailed = errors.New("session has changed (If-Match)")

// patch applies trickled candidates, or restarts ICE when the fragment carries new
// credentials (RFC 9725 §4.4.2); for a restart it returns the answer fragment and the new
// entity tag, else "". The tag is returned rather than read by the caller after the lock is
// released, when another restart may already have replaced it.
func (r *resource) patch(ctx context.Context, ifMatch, body string) (answer, etag string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ifMatch != "" && ifMatch != "*" && ifMatch != r.etag {
		return "", "", errPreconditionFailed
	}
	frag, err := parseSDPFrag(body)
	if err != nil {
		return "", "", err
	}
	remote := r.pc.RemoteDescription()
	if frag.ufrag != "" && remote != nil && !slices.Contains(sdpLines(remote.SDP), "a=ice-ufrag:"+frag.ufrag) {
		answer, err = r.restartLocked(ctx, frag)
		return answer, r.etag, err
	}
	for _, c := range frag.candidates {
		if err := r.pc.AddICECandidate(c); err != nil {
			return "", "", fmt.Errorf("%w: candidate: %v", ErrBadOffer, err)
		}
	}
	return "", "", nil
}

func (r *resource) restartLocked(ctx context.Context, frag sdpFrag) (string, error) {
	if frag.pwd == "" {
		return "", fmt.Errorf("%w: ICE restart without a=ice-pwd", ErrBadOffer)
	}
	var b strings.Builder
	for _, line := range sdpLines(r.offer) {
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + frag.ufrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + frag.pwd
		case strings.HasPrefix(line, "a=candidate:"), strings.HasPrefix(line, "a=end-of-candidates"):
			continue
		}
		if line != "" {
			b.WriteString(line + "\r\n")
		}
	}
	answer, err := r.negotiate(ctx, b.String(), nil)
	if err != nil {
		return "", err
	}
	for _, c := range frag.candidates {
		if err := r.pc.AddICECandidate(c); err != nil {
			return "", fmt.Errorf("%w: candidate: %v", ErrBadOffer, err)
		}
	}
	return answerFragment(answer), nil
}

// sdpLines splits an SDP into its lines. SDP lines end in CRLF, but parsers (pion's among
// them) also take a bare LF, so an offer written that way is accepted: looking for
// "...\r\n" in it found no ufrag, so every trickle PATCH was taken for an ICE restart (200
// and a new ETag instead of 204), and a real restart rewrote nothing and so restarted nothing.
func sdpLines(sdp string) []string {
	lines := strings.Split(sdp, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// answerFragment keeps from an answer what a restarting client needs: our new credentials and
// candidates, per media section.
func answerFragment(answer string) string {
	var b strings.Builder
	for _, line := range strings.Split(answer, "\r\n") {
		if strings.HasPrefix(line, "a=ice-ufrag:") || strings.HasPrefix(line, "a=ice-pwd:") ||
			strings.HasPrefix(line, "m=") || strings.HasPrefix(line, "a=mid:") ||
			strings.HasPrefix(line, "a=candidate:") || line == "a=end-of-candidates" {
			b.WriteString(line + "\r\n")
		}
	}
	return b.String()
}
