package commerce

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PracticeCrowds runs the simulated customers of practice sessions (see
// package practice); cmd/dangol provides it. Its methods are safe from any
// goroutine.
type PracticeCrowds interface {
	// Start sends simulated customers into the live session p's room, or
	// changes the pace of those there. An unknown pace or script is an
	// error wrapping ErrInvalid.
	Start(p PracticeSession, pace, script string) (CrowdInfo, error)
	// Stop sends the session's simulated customers away, if any.
	Stop(sessionID int64)
	// Info describes the session's simulated customers; false if none run.
	Info(sessionID int64) (CrowdInfo, bool)
}

// CrowdInfo describes the simulated customers of a session.
type CrowdInfo struct {
	Pace    string `json:"pace"`
	Viewers int    `json:"viewers"`
	Script  string `json:"script"`
}

func (a *API) practiceRoutes(mux *http.ServeMux) {
	const ch = "/api/channels/{slug}/practice"
	mux.HandleFunc("POST "+ch, a.merchant(a.postPractice))
	mux.HandleFunc("GET "+ch, a.merchant(a.getOpenPractice))
	mux.HandleFunc("GET "+ch+"/history", a.merchant(a.practiceHistory))
	const p = "/api/practice/{id}"
	mux.HandleFunc("GET "+p, a.practice(a.getPractice))
	mux.HandleFunc("DELETE "+p, a.practice(a.cancelPractice))
	mux.HandleFunc("POST "+p+"/tips", a.practice(a.postTip))
	mux.HandleFunc("POST "+p+"/notes", a.practice(a.postNote))
	mux.HandleFunc("GET "+p+"/notes", a.practice(a.getNotes))
	mux.HandleFunc("PUT "+p+"/ticks", a.practice(a.putTicks))
	mux.HandleFunc("PUT "+p+"/crowd", a.practice(a.putCrowd))
	mux.HandleFunc("DELETE "+p+"/crowd", a.practice(a.deleteCrowd))
	mux.HandleFunc("GET "+p+"/review", a.practice(a.getReview))
}

var errAPINoCrowds = &apiError{status: http.StatusServiceUnavailable, code: "crowds_unavailable",
	ko: "이 서버에서는 가상 손님을 쓸 수 없습니다.", en: "Simulated customers are not available on this server."}

// practiceHandler is a handler for the session p of the channel ch.
type practiceHandler func(w http.ResponseWriter, r *http.Request, ch Channel, p PracticeSession)

// practice finds the session in the path and checks, as merchant does, that
// the request carries its channel's secret or its tutor's token. A session
// of a channel the secret does not open is 401, as another channel's key
// is: its id says nothing more than that it exists.
func (a *API) practice(h practiceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := apiPathID(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		p, err := a.store.PracticeSession(r.Context(), id)
		if errors.Is(err, ErrNotFound) {
			if _, ok := apiBearer(r); !ok {
				err = errAPIUnauthorized // credentials first, as on every merchant route
			}
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		ch, err := a.checkChannelSecret(r, p.Channel)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, ch, p)
	}
}

// practiceJSON is the session document of docs/api.md.
type practiceJSON struct {
	PracticeSession
	StartedAt *time.Time `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
	WatchURL  string     `json:"watch_url"`
	CoachURL  string     `json:"coach_url"`
	ReviewURL string     `json:"review_url"`
	Crowd     *CrowdInfo `json:"crowd"`
}

func (a *API) practiceDoc(p PracticeSession) practiceJSON {
	q := url.Values{"c": {p.Channel}, "s": {strconv.FormatInt(p.ID, 10)}}.Encode()
	doc := practiceJSON{PracticeSession: p,
		WatchURL:  "/c/" + p.Channel + "?" + url.Values{"practice": {p.Token}}.Encode(),
		CoachURL:  "/practice?" + q,
		ReviewURL: "/review?" + q,
	}
	if !p.StartedAt.IsZero() {
		doc.StartedAt = &p.StartedAt
	}
	if !p.EndedAt.IsZero() {
		doc.EndedAt = &p.EndedAt
	}
	if a.Crowds != nil && p.State == PracticeLive {
		if info, ok := a.Crowds.Info(p.ID); ok {
			doc.Crowd = &info
		}
	}
	return doc
}

func (a *API) postPractice(w http.ResponseWriter, r *http.Request, ch Channel) {
	var body struct {
		Title string `json:"title"`
	}
	if r.ContentLength != 0 {
		if err := apiDecodeJSON(w, r, &body); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	var tutorID int64
	if token, ok := apiBearer(r); ok {
		// checkMerchant let the request in; a tutor's token makes the
		// session the tutor's.
		if t, err := a.store.CheckTutorToken(r.Context(), token); err == nil {
			tutorID = t.ID
		}
	}
	p, created, err := a.store.StartPractice(r.Context(), ch.ID, tutorID, body.Title)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/practice/"+strconv.FormatInt(p.ID, 10))
		a.log.Info("practice session started", "channel", ch.Slug, "session", p.ID, "tutor", tutorID)
	}
	apiWriteJSON(w, status, a.practiceDoc(p))
}

func (a *API) getOpenPractice(w http.ResponseWriter, r *http.Request, ch Channel) {
	p, err := a.store.OpenPractice(r.Context(), ch.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, a.practiceDoc(p))
}

func (a *API) getPractice(w http.ResponseWriter, r *http.Request, _ Channel, p PracticeSession) {
	apiWriteJSON(w, http.StatusOK, a.practiceDoc(p))
}

func (a *API) cancelPractice(w http.ResponseWriter, r *http.Request, _ Channel, p PracticeSession) {
	p, err := a.store.CancelPractice(r.Context(), p.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, a.practiceDoc(p))
}

// noteJSON is a tip or note with its place on the recording's timeline.
type noteJSON struct {
	PracticeNote
	OffsetS *float64 `json:"offset_s"`
}

func noteDoc(p PracticeSession, n PracticeNote) noteJSON {
	doc := noteJSON{PracticeNote: n}
	if !p.StartedAt.IsZero() {
		off := replayOffset(p.StartedAt, n.At)
		doc.OffsetS = &off
	}
	return doc
}

func (a *API) postTip(w http.ResponseWriter, r *http.Request, ch Channel, p PracticeSession) {
	var body struct {
		Text string `json:"text"`
	}
	if err := apiDecodeJSON(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := a.store.AddPracticeNote(r.Context(), p.ID, "tip", body.Text, time.Time{})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if a.CoachTip != nil {
		a.CoachTip(ch.Slug, n)
	}
	apiWriteJSON(w, http.StatusCreated, noteDoc(p, n))
}

func (a *API) postNote(w http.ResponseWriter, r *http.Request, _ Channel, p PracticeSession) {
	var body struct {
		Text string     `json:"text"`
		At   *time.Time `json:"at"`
	}
	if err := apiDecodeJSON(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	var at time.Time
	if body.At != nil {
		at = *body.At
	}
	n, err := a.store.AddPracticeNote(r.Context(), p.ID, "note", body.Text, at)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusCreated, noteDoc(p, n))
}

func (a *API) getNotes(w http.ResponseWriter, r *http.Request, _ Channel, p PracticeSession) {
	notes, err := a.notes(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"notes": notes})
}

func (a *API) notes(ctx context.Context, p PracticeSession) ([]noteJSON, error) {
	ns, err := a.store.PracticeNotes(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]noteJSON, len(ns))
	for i, n := range ns {
		out[i] = noteDoc(p, n)
	}
	return out, nil
}

func (a *API) putTicks(w http.ResponseWriter, r *http.Request, _ Channel, p PracticeSession) {
	var ticks map[string]bool
	if err := apiDecodeJSON(w, r, &ticks); err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.store.SetPracticeTicks(r.Context(), p.ID, ticks)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	apiWriteJSON(w, http.StatusOK, a.practiceDoc(p))
}

func (a *API) putCrowd(w http.ResponseWriter, r *http.Request, _ Channel, p PracticeSession) {
	var body struct {
		Pace   string `json:"pace"`
		Script string `json:"script"`
	}
	if err := apiDecodeJSON(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.Crowds == nil {
		a.fail(w, r, errAPINoCrowds)
		return
	}
	if p.State != PracticeLive {
		a.fail(w, r, ErrNotLive)
		return
	}
	info, err := a.Crowds.Start(p, body.Pace, body.Script)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("practice crowd", "channel", p.Channel, "session", p.ID, "pace", info.Pace, "viewers", info.Viewers)
	apiWriteJSON(w, http.StatusOK, info)
}

func (a *API) deleteCrowd(w http.ResponseWriter, r *http.Request, _ Channel, p PracticeSession) {
	if a.Crowds != nil {
		a.Crowds.Stop(p.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) practiceHistory(w http.ResponseWriter, r *http.Request, ch Channel) {
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			a.fail(w, r, apiInvalid("limit", "limit은 1에서 100 사이여야 합니다.", "limit must be from 1 to 100."))
			return
		}
		limit = n
	}
	ps, err := a.store.PracticeSessions(r.Context(), ch.ID, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type entry struct {
		ID        int64         `json:"id"`
		Title     string        `json:"title"`
		State     PracticeState `json:"state"`
		Tutor     *SessionTutor `json:"tutor"`
		StartedAt *time.Time    `json:"started_at"`
		EndedAt   *time.Time    `json:"ended_at"`
		DurationS *float64      `json:"duration_s"`
		Score     *int          `json:"score"`
	}
	out := make([]entry, len(ps))
	for i, p := range ps {
		doc := a.practiceDoc(p)
		out[i] = entry{ID: p.ID, Title: p.Title, State: p.State, Tutor: p.Tutor, StartedAt: doc.StartedAt, EndedAt: doc.EndedAt}
		if p.StartedAt.IsZero() {
			continue
		}
		end := p.EndedAt
		if end.IsZero() {
			end = a.store.now()
		}
		d := replaySeconds(max(end.Sub(p.StartedAt), 0))
		out[i].DurationS = &d
		rev, err := a.store.PracticeReview(r.Context(), p)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out[i].Score = rev.Score
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (a *API) getReview(w http.ResponseWriter, r *http.Request, ch Channel, p PracticeSession) {
	rev, err := a.store.PracticeReview(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	notes, err := a.notes(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	doc := struct {
		Session      practiceJSON `json:"session"`
		RecordingURL string       `json:"recording_url"`
		DurationS    float64      `json:"duration_s"`
		Notes        []noteJSON   `json:"notes"`
		PracticeReview
	}{Session: a.practiceDoc(p), Notes: notes, PracticeReview: rev}
	if !p.StartedAt.IsZero() {
		end := p.EndedAt
		if end.IsZero() {
			end = a.store.now()
		}
		doc.DurationS = replaySeconds(max(end.Sub(p.StartedAt), 0))
	}
	if p.BroadcastID != 0 && a.Replays != nil {
		if info, ok := a.Replays(r.Context(), ch.Slug, p.BroadcastID); ok {
			// The recording of a practice is served only with the
			// session's token (see cmd/dangol's replay guard); the page's
			// <video> cannot send a header.
			doc.RecordingURL = info.URL + "?" + url.Values{"practice": {p.Token}}.Encode()
			doc.DurationS = info.DurationS
		}
	}
	apiWriteJSON(w, http.StatusOK, doc)
}
