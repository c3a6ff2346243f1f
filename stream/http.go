package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// maxSDP bounds an offer or sdpfrag body; a browser's offer with simulcast is about 6 KiB.
const maxSDP = 64 << 10

// Routes registers the WHIP and WHEP endpoints (RFC 9725 and the WHEP draft) on mux.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /whip/{channel}", s.handleWHIP)
	mux.HandleFunc("POST /whep/{channel}", s.handleWHEP)
	for _, kind := range []string{"whip", "whep"} {
		mux.HandleFunc("OPTIONS /"+kind+"/{channel}", s.handleOptions)
		mux.HandleFunc("OPTIONS /"+kind+"/{channel}/{session}", s.handleOptions)
		mux.HandleFunc("PATCH /"+kind+"/{channel}/{session}", s.handlePatch)
		mux.HandleFunc("DELETE /"+kind+"/{channel}/{session}", s.handleDelete)
	}
}

func (s *Server) handleWHIP(w http.ResponseWriter, r *http.Request) {
	channel := r.PathValue("channel")
	offer, err := readBody(w, r, "application/sdp")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.channels.AuthorizePublisher(r.Context(), channel, bearer(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	p, answer, err := s.publish(ctx, channel, offer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.created(w, r, "/whip/"+channel+"/"+p.id, p.res.etag, answer)
}

func (s *Server) handleWHEP(w http.ResponseWriter, r *http.Request) {
	channel := r.PathValue("channel")
	offer, err := readBody(w, r, "application/sdp")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.channels.AuthorizeViewer(r.Context(), channel, bearer(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v, answer, err := s.watch(ctx, channel, offer)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.created(w, r, "/whep/"+channel+"/"+v.id, v.res.etag, answer)
}

func (s *Server) created(w http.ResponseWriter, r *http.Request, location, etag, answer string) {
	h := w.Header()
	s.cors(h)
	s.iceServerLinks(h)
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", location)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// lookup finds the session a PATCH or DELETE names, checking it belongs to the channel in the
// URL and, for WHIP, that the caller holds the channel's key.
func (s *Server) lookup(r *http.Request) (session, error) {
	sess, ok := s.session(r.PathValue("session"))
	if !ok && r.Method == http.MethodDelete {
		// Only DELETE reaches a dropped publisher: there is no connection left to PATCH.
		if p, lost := s.lostPublisher(r.PathValue("session")); lost && p.current() {
			sess, ok = p, true
		}
	}
	if !ok || sess.channel() != r.PathValue("channel") {
		return nil, ErrSessionNotFound
	}
	if _, isPub := sess.(*publisher); isPub != strings.HasPrefix(r.URL.Path, "/whip/") {
		return nil, ErrSessionNotFound
	} else if isPub {
		if err := s.channels.AuthorizePublisher(r.Context(), sess.channel(), bearer(r)); err != nil {
			return nil, err
		}
	}
	return sess, nil
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, "application/trickle-ice-sdpfrag")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sess, err := s.lookup(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	frag, etag, err := sess.resource().patch(ctx, r.Header.Get("If-Match"), body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.cors(w.Header())
	if frag == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/trickle-ice-sdpfrag")
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, frag)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	sess, err := s.lookup(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sess.delete()
	s.cors(w.Header())
	w.WriteHeader(http.StatusOK)
}

// handleOptions answers CORS preflights and, per RFC 9725 §4.6, tells the ICE servers.
func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	s.cors(h)
	s.iceServerLinks(h)
	h.Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

// cors lets players on other sites use the endpoints: WHIP and WHEP carry their credentials
// in the Authorization header, never in cookies, so any origin is safe.
func (s *Server) cors(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag")
}

func (s *Server) iceServerLinks(h http.Header) {
	for _, is := range s.cfg.ICEServers {
		for _, u := range is.URLs {
			link := fmt.Sprintf("<%s>; rel=\"ice-server\"", u)
			if is.Username != "" {
				cred, _ := is.Credential.(string)
				link += fmt.Sprintf("; username=%q; credential=%q; credential-type=\"password\"", is.Username, cred)
			}
			h.Add("Link", link)
		}
	}
}

// ICEServers returns the STUN/TURN servers handed to clients, for pages that build their own
// configuration.
func (s *Server) ICEServers() []webrtc.ICEServer { return s.cfg.ICEServers }

type httpErr struct {
	status int
	code   string
}

// statusOf maps the package's errors to HTTP answers. Anything else is a 500.
func statusOf(err error) httpErr {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return httpErr{http.StatusRequestEntityTooLarge, "too_large"}
	case errors.Is(err, errUnsupportedMedia):
		return httpErr{http.StatusUnsupportedMediaType, "unsupported_media_type"}
	case errors.Is(err, ErrBadOffer):
		return httpErr{http.StatusBadRequest, "bad_offer"}
	case errors.Is(err, ErrCodecMismatch):
		return httpErr{http.StatusNotAcceptable, "codec_mismatch"}
	case errors.Is(err, ErrUnauthorized):
		return httpErr{http.StatusUnauthorized, "unauthorized"}
	case errors.Is(err, ErrUnknownChannel):
		return httpErr{http.StatusNotFound, "unknown_channel"}
	case errors.Is(err, ErrSessionNotFound):
		return httpErr{http.StatusNotFound, "session_not_found"}
	case errors.Is(err, ErrPublisherActive):
		return httpErr{http.StatusConflict, "publisher_active"}
	case errors.Is(err, errPreconditionFailed):
		return httpErr{http.StatusPreconditionFailed, "precondition_failed"}
	case errors.Is(err, ErrNotLive):
		return httpErr{http.StatusServiceUnavailable, "not_live"}
	case errors.Is(err, ErrFull):
		return httpErr{http.StatusServiceUnavailable, "full"}
	case errors.Is(err, ErrClosed):
		return httpErr{http.StatusServiceUnavailable, "shutting_down"}
	}
	return httpErr{http.StatusInternalServerError, "internal"}
}

// fail writes err as a JSON error, {"error":{"code":...,"message":...}}, the shape every
// Dangol API answers with.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	he := statusOf(err)
	msg := err.Error()
	if he.status == http.StatusInternalServerError {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", he.status, "err", err)
	}
	h := w.Header()
	s.cors(h)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if he.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="dangol"`)
	}
	if he.status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "2")
	}
	w.WriteHeader(he.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": he.code, "message": msg}})
}

var errUnsupportedMedia = errors.New("unsupported content type")

func readBody(w http.ResponseWriter, r *http.Request, want string) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return "", fmt.Errorf("%w: want %s", errUnsupportedMedia, want)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDP))
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	return string(b), nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
