package commerce

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAPIPractice(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAPIPractice(t, newSQLiteDB) })
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		testAPIPractice(t, newPostgresDB)
	})
}

func testAPIPractice(t *testing.T, newDB func(t *testing.T) storeOpener) {
	t.Run("start", func(t *testing.T) { testAPIPracticeStart(t, newDB) })
	t.Run("auth", func(t *testing.T) { testAPIPracticeAuth(t, newDB) })
	t.Run("session", func(t *testing.T) { testAPIPracticeSession(t, newDB) })
	t.Run("crowd", func(t *testing.T) { testAPIPracticeCrowd(t, newDB) })
	t.Run("history", func(t *testing.T) { testAPIPracticeHistory(t, newDB) })
	t.Run("replay", func(t *testing.T) { testAPIPracticeReplay(t, newDB) })
}

// apiPracticeDoc is the session document as a client reads it.
type apiPracticeDoc struct {
	ID          int64           `json:"id"`
	Channel     string          `json:"channel"`
	Title       string          `json:"title"`
	State       string          `json:"state"`
	Tutor       *SessionTutor   `json:"tutor"`
	StartedAt   *time.Time      `json:"started_at"`
	EndedAt     *time.Time      `json:"ended_at"`
	BroadcastID int64           `json:"broadcast_id"`
	Token       string          `json:"token"`
	WatchURL    string          `json:"watch_url"`
	CoachURL    string          `json:"coach_url"`
	ReviewURL   string          `json:"review_url"`
	Ticks       map[string]bool `json:"ticks"`
	Crowd       *CrowdInfo      `json:"crowd"`
}

type apiNoteDoc struct {
	ID      int64     `json:"id"`
	Kind    string    `json:"kind"`
	Text    string    `json:"text"`
	At      time.Time `json:"at"`
	OffsetS *float64  `json:"offset_s"`
}

// apiPracticeEnv is an apiTutorEnv on a clock the test moves.
type apiPracticeEnv struct {
	*apiTutorEnv
	clock *testClock
}

func newAPIPracticeEnv(t *testing.T, newDB func(t *testing.T) storeOpener) *apiPracticeEnv {
	t.Helper()
	e := &apiPracticeEnv{apiTutorEnv: newAPITutorEnv(t, newDB), clock: newTestClock()}
	e.s.now = e.clock.Now
	return e
}

// session decodes r, which must have the status, as a session document.
func (r apiResp) session(t *testing.T, status int) apiPracticeDoc {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	var d apiPracticeDoc
	r.decode(t, &d)
	return d
}

func (r apiResp) note(t *testing.T, status int) apiNoteDoc {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	var n apiNoteDoc
	r.decode(t, &n)
	return n
}

func practicePath(id int64, rest string) string { return fmt.Sprintf("/api/practice/%d%s", id, rest) }

func (e *apiPracticeEnv) begin(t *testing.T) Broadcast {
	t.Helper()
	b, err := e.s.BeginBroadcast(t.Context(), e.ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *apiPracticeEnv) end(t *testing.T, b Broadcast) {
	t.Helper()
	if _, err := e.s.EndBroadcast(t.Context(), e.ch.ID, b.ID); err != nil {
		t.Fatal(err)
	}
}

func testAPIPracticeStart(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIPracticeEnv(t, newDB)
	const ch = "/api/channels/kim-fish/practice"
	e.tutorReq(t, e.studio, "GET", ch, "").wantError(t, http.StatusNotFound, "not_found")

	r := e.tutorReq(t, e.studio, "POST", ch, "")
	p := r.session(t, http.StatusCreated)
	if p.ID <= 0 || p.Channel != "kim-fish" || p.State != "waiting" || p.Tutor != nil || p.Token == "" ||
		p.StartedAt != nil || p.EndedAt != nil || p.BroadcastID != 0 || p.Crowd != nil ||
		p.WatchURL != "/c/kim-fish?practice="+p.Token ||
		p.CoachURL != fmt.Sprintf("/practice?c=kim-fish&s=%d", p.ID) || p.ReviewURL != fmt.Sprintf("/review?c=kim-fish&s=%d", p.ID) {
		t.Fatalf("POST practice = %s", r.body)
	}
	if loc := r.header.Get("Location"); loc != practicePath(p.ID, "") {
		t.Errorf("Location %q", loc)
	}
	// The tutor's page opens on the merchant's session: the same one, as it is.
	again := e.tutorReq(t, e.jiwooTok, "POST", ch, `{"title":"다른 연습"}`).session(t, http.StatusOK)
	if again.ID != p.ID || again.Token != p.Token || again.Tutor != nil || again.Title != "" {
		t.Fatalf("POST again = %+v, want %+v", again, p)
	}
	if open := e.tutorReq(t, e.jiwooTok, "GET", ch, "").session(t, http.StatusOK); open.ID != p.ID || open.State != "waiting" {
		t.Fatalf("GET open = %+v", open)
	}
	// Another channel's tutor does not open this one.
	e.tutorReq(t, e.minjiTok, "POST", ch, "").wantError(t, http.StatusUnauthorized, "unauthorized")
	e.tutorReq(t, e.studio, "DELETE", practicePath(p.ID, ""), "").session(t, http.StatusOK)
	e.tutorReq(t, e.studio, "GET", ch, "").wantError(t, http.StatusNotFound, "not_found")

	tp := e.tutorReq(t, e.jiwooTok, "POST", ch, `{"title":"첫 연습"}`).session(t, http.StatusCreated)
	if tp.ID == p.ID || tp.Title != "첫 연습" || tp.Tutor == nil || *tp.Tutor != (SessionTutor{ID: e.jiwoo.ID, Name: "Jiwoo Park"}) {
		t.Fatalf("POST with the tutor's token = %+v", tp)
	}
	if again := e.tutorReq(t, e.jiwooTok, "POST", ch, "").session(t, http.StatusOK); again.ID != tp.ID || again.Tutor == nil || again.Tutor.ID != e.jiwoo.ID {
		t.Fatalf("tutor's POST again = %+v, want %d", again, tp.ID)
	}

	// Live for real: 409, and nothing opened.
	if _, err := e.s.BeginBroadcast(t.Context(), e.other.ID); err != nil {
		t.Fatal(err)
	}
	e.tutorReq(t, e.otherTok, "POST", "/api/channels/lee-veg/practice", "").wantError(t, http.StatusConflict, "live")
	e.tutorReq(t, e.minjiTok, "POST", "/api/channels/lee-veg/practice", `{"title":"연습"}`).wantError(t, http.StatusConflict, "live")
	e.tutorReq(t, e.otherTok, "GET", "/api/channels/lee-veg/practice", "").wantError(t, http.StatusNotFound, "not_found")
}

func testAPIPracticeAuth(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIPracticeEnv(t, newDB)
	p := e.tutorReq(t, e.studio, "POST", "/api/channels/kim-fish/practice", "").session(t, http.StatusCreated)
	routes := []struct{ method, path, body string }{
		{"GET", "", ""},
		{"DELETE", "", ""},
		{"POST", "/tips", `{"text":"팁"}`},
		{"POST", "/notes", `{"text":"메모"}`},
		{"GET", "/notes", ""},
		{"PUT", "/ticks", `{"greeted":true}`},
		{"PUT", "/crowd", `{"pace":"calm"}`},
		{"DELETE", "/crowd", ""},
		{"GET", "/review", ""},
	}
	creds := []struct{ name, tok string }{
		{"none", ""},
		{"another channel's key", e.otherKey},
		{"another channel's studio token", e.otherTok},
		{"another channel's tutor", e.minjiTok},
		{"wrong token", "64BFYNP5PFR74LVVWFYHTB74B4"},
	}
	for _, rt := range routes {
		for _, c := range creds {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				e.tutorReq(t, c.tok, rt.method, practicePath(p.ID, rt.path), rt.body).wantError(t, http.StatusUnauthorized, "unauthorized")
			})
		}
		t.Run(rt.method+" "+rt.path+" unknown session", func(t *testing.T) {
			e.tutorReq(t, e.studio, rt.method, practicePath(p.ID+1000, rt.path), rt.body).wantError(t, http.StatusNotFound, "not_found")
			// Credentials first: whether it exists is not told to anyone.
			e.tutorReq(t, "", rt.method, practicePath(p.ID+1000, rt.path), rt.body).wantError(t, http.StatusUnauthorized, "unauthorized")
		})
	}
	// None of the refused requests did anything.
	got := e.tutorReq(t, e.key, "GET", practicePath(p.ID, ""), "").session(t, http.StatusOK)
	if got.State != "waiting" || len(got.Ticks) != 0 {
		t.Fatalf("session after refused requests = %+v", got)
	}
	var notes struct{ Notes []apiNoteDoc }
	e.tutorReq(t, e.jiwooTok, "GET", practicePath(p.ID, "/notes"), "").decode(t, &notes)
	if len(notes.Notes) != 0 {
		t.Fatalf("notes after refused requests: %+v", notes.Notes)
	}
}

// tipCall is a call of API.CoachTip.
type tipCall struct {
	slug string
	note PracticeNote
}

func testAPIPracticeSession(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIPracticeEnv(t, newDB)
	tips := make(chan tipCall, 10)
	e.api.CoachTip = func(slug string, n PracticeNote) { tips <- tipCall{slug, n} }
	noTip := func(t *testing.T, when string) {
		t.Helper()
		select {
		case c := <-tips:
			t.Fatalf("%s: CoachTip(%q, %+v)", when, c.slug, c.note)
		default: // the handler has answered: a call would be in the channel
		}
	}
	p := e.tutorReq(t, e.jiwooTok, "POST", "/api/channels/kim-fish/practice", `{"title":"첫 연습"}`).session(t, http.StatusCreated)
	tok := e.jiwooTok

	e.tutorReq(t, tok, "POST", practicePath(p.ID, "/tips"), `{"text":"가격을 크게"}`).wantError(t, http.StatusConflict, "not_live")
	noTip(t, "tip while waiting")
	waitingNote := e.tutorReq(t, tok, "POST", practicePath(p.ID, "/notes"), `{"text":"조명 확인"}`).note(t, http.StatusCreated)
	if waitingNote.Kind != "note" || waitingNote.OffsetS != nil {
		t.Fatalf("note before the start = %+v, want no offset", waitingNote)
	}

	e.clock.Advance(time.Minute)
	b := e.begin(t)
	live := e.tutorReq(t, tok, "GET", practicePath(p.ID, ""), "").session(t, http.StatusOK)
	if live.State != "live" || live.BroadcastID != b.ID || live.StartedAt == nil || !live.StartedAt.Equal(b.StartedAt) || live.EndedAt != nil {
		t.Fatalf("GET live session = %+v", live)
	}
	e.tutorReq(t, e.studio, "DELETE", practicePath(p.ID, ""), "").wantError(t, http.StatusConflict, "live")
	if got := e.tutorReq(t, tok, "GET", practicePath(p.ID, ""), "").session(t, http.StatusOK); got.State != "live" {
		t.Fatalf("state after a refused DELETE: %s", got.State)
	}

	e.clock.Advance(10 * time.Second)
	tip := e.tutorReq(t, tok, "POST", practicePath(p.ID, "/tips"), `{"text":"가격을 크게 말해 주세요"}`).note(t, http.StatusCreated)
	if tip.Kind != "tip" || tip.Text != "가격을 크게 말해 주세요" || tip.OffsetS == nil || *tip.OffsetS != 10 {
		t.Fatalf("tip = %+v", tip)
	}
	select {
	case c := <-tips:
		if c.slug != "kim-fish" || c.note.ID != tip.ID || c.note.Kind != "tip" || c.note.Text != "가격을 크게 말해 주세요" {
			t.Fatalf("CoachTip(%q, %+v)", c.slug, c.note)
		}
	default:
		t.Fatal("a tip while live did not call CoachTip")
	}
	noTip(t, "after one tip") // once
	e.tutorReq(t, tok, "POST", practicePath(p.ID, "/tips"), `{"text":"`+strings.Repeat("가", maxTipLen+1)+`"}`).wantError(t, http.StatusBadRequest, "invalid")
	e.tutorReq(t, tok, "POST", practicePath(p.ID, "/tips"), `{"text":""}`).wantError(t, http.StatusBadRequest, "invalid")
	noTip(t, "refused tips")

	at := b.StartedAt.Add(12500 * time.Millisecond).In(time.FixedZone("KST", 9*3600)).Format(time.RFC3339Nano)
	n := e.tutorReq(t, e.studio, "POST", practicePath(p.ID, "/notes"), `{"text":"인사가 좋았어요","at":"`+at+`"}`).note(t, http.StatusCreated)
	if n.Kind != "note" || n.OffsetS == nil || *n.OffsetS != 12.5 || !n.At.Equal(b.StartedAt.Add(12500*time.Millisecond)) {
		t.Fatalf("note with at = %+v", n)
	}
	e.tutorReq(t, tok, "POST", practicePath(p.ID, "/notes"), `{"text":"`+strings.Repeat("가", maxPracticeNoteLen+1)+`"}`).wantError(t, http.StatusBadRequest, "invalid")
	e.tutorReq(t, tok, "POST", practicePath(p.ID, "/notes"), `{"text":"메모","at":"어제"}`).wantError(t, http.StatusBadRequest, "bad_request")

	var list struct{ Notes []apiNoteDoc }
	r := e.tutorReq(t, tok, "GET", practicePath(p.ID, "/notes"), "")
	if r.status != http.StatusOK {
		t.Fatalf("GET notes: %d %s", r.status, r.body)
	}
	r.decode(t, &list)
	// Oldest first; every note has its place on the timeline once the
	// session has a start, the one before it at 0.
	want := []struct {
		id     int64
		offset float64
	}{{waitingNote.ID, 0}, {tip.ID, 10}, {n.ID, 12.5}}
	if len(list.Notes) != len(want) {
		t.Fatalf("GET notes = %s", r.body)
	}
	for i, w := range want {
		if g := list.Notes[i]; g.ID != w.id || g.OffsetS == nil || *g.OffsetS != w.offset {
			t.Fatalf("GET notes = %s, want ids and offsets %v", r.body, want)
		}
	}

	ticked := e.tutorReq(t, tok, "PUT", practicePath(p.ID, "/ticks"), `{"price_stated":true}`).session(t, http.StatusOK)
	if len(ticked.Ticks) != 1 || !ticked.Ticks["price_stated"] {
		t.Fatalf("PUT ticks = %+v", ticked.Ticks)
	}
	e.tutorReq(t, tok, "PUT", practicePath(p.ID, "/ticks"), `{"greeted":true,"smiled":true}`).wantError(t, http.StatusBadRequest, "invalid")
	if got := e.tutorReq(t, tok, "GET", practicePath(p.ID, ""), "").session(t, http.StatusOK); len(got.Ticks) != 1 || !got.Ticks["price_stated"] {
		t.Fatalf("ticks after a refused PUT = %+v", got.Ticks)
	}

	e.clock.Advance(time.Minute)
	e.end(t, b)
	e.tutorReq(t, tok, "POST", practicePath(p.ID, "/tips"), `{"text":"늦은 팁"}`).wantError(t, http.StatusConflict, "not_live")
	noTip(t, "tip after the end")

	var rev struct {
		Session      apiPracticeDoc `json:"session"`
		RecordingURL string         `json:"recording_url"`
		DurationS    float64        `json:"duration_s"`
		Notes        []apiNoteDoc   `json:"notes"`
		Checklist    []CheckItem    `json:"checklist"`
		Score        *int           `json:"score"`
	}
	r = e.tutorReq(t, tok, "GET", practicePath(p.ID, "/review"), "")
	if r.status != http.StatusOK {
		t.Fatalf("GET review: %d %s", r.status, r.body)
	}
	r.decode(t, &rev)
	if rev.Session.ID != p.ID || rev.Session.State != "ended" || rev.RecordingURL != "" || rev.DurationS != 70 || len(rev.Notes) != 3 ||
		rev.Notes[1].ID != tip.ID || rev.Notes[2].Text != "인사가 좋았어요" {
		t.Fatalf("GET review = %s", r.body)
	}
	var keys []string
	for _, it := range rev.Checklist {
		keys = append(keys, it.Key+":"+it.Status)
	}
	// Ended without a word or a coupon; the price ticked; nothing else to
	// judge.
	wantKeys := "greeted:fail products_pinned:na price_stated:pass coupon_dropped:fail questions_answered:na orders_handled:na stream_quality:na"
	if got := strings.Join(keys, " "); got != wantKeys {
		t.Errorf("checklist %s, want %s", got, wantKeys)
	}
	if rev.Score == nil || *rev.Score != 33 {
		t.Errorf("score %v, want 33", rev.Score)
	}
}

// fakeCrowds stands in for cmd/dangol's simulated customers: it records
// what the API asks of it.
type fakeCrowds struct {
	mu      sync.Mutex
	started []PracticeSession
	stopped []int64
	running map[int64]CrowdInfo
}

func (f *fakeCrowds) Start(p PracticeSession, pace, script string) (CrowdInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	viewers := map[string]int{"calm": 6, "busy": 30, "rush": 120}[pace]
	if viewers == 0 {
		return CrowdInfo{}, fmt.Errorf("%w: pace %q", ErrInvalid, pace)
	}
	if script == "" {
		script = "market"
	}
	f.started = append(f.started, p)
	info := CrowdInfo{Pace: pace, Viewers: viewers, Script: script}
	if f.running == nil {
		f.running = map[int64]CrowdInfo{}
	}
	f.running[p.ID] = info
	return info, nil
}

func (f *fakeCrowds) Stop(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, id)
	delete(f.running, id)
}

func (f *fakeCrowds) Info(id int64) (CrowdInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.running[id]
	return info, ok
}

func (f *fakeCrowds) calls() (started []PracticeSession, stopped []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PracticeSession(nil), f.started...), append([]int64(nil), f.stopped...)
}

func testAPIPracticeCrowd(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIPracticeEnv(t, newDB)
	p := e.tutorReq(t, e.jiwooTok, "POST", "/api/channels/kim-fish/practice", "").session(t, http.StatusCreated)
	crowd := practicePath(p.ID, "/crowd")
	e.tutorReq(t, e.jiwooTok, "PUT", crowd, `{"pace":"busy"}`).wantError(t, http.StatusServiceUnavailable, "crowds_unavailable")
	if r := e.tutorReq(t, e.jiwooTok, "DELETE", crowd, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE crowd without crowds: %d %s", r.status, r.body)
	}

	f := &fakeCrowds{}
	e.api.Crowds = f // before the next request: the server reads it then
	e.tutorReq(t, e.jiwooTok, "PUT", crowd, `{"pace":"busy"}`).wantError(t, http.StatusConflict, "not_live")
	if started, _ := f.calls(); len(started) != 0 {
		t.Fatalf("crowd started while waiting: %+v", started)
	}

	b := e.begin(t)
	r := e.tutorReq(t, e.jiwooTok, "PUT", crowd, `{"pace":"busy"}`)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"pace":"busy","viewers":30,"script":"market"}` {
		t.Fatalf("PUT crowd: %d %s", r.status, r.body)
	}
	started, _ := f.calls()
	if len(started) != 1 || started[0].ID != p.ID || started[0].State != PracticeLive || started[0].BroadcastID != b.ID ||
		started[0].Token != p.Token || started[0].Channel != "kim-fish" {
		t.Fatalf("Crowds.Start got %+v", started)
	}
	doc := e.tutorReq(t, e.studio, "GET", practicePath(p.ID, ""), "").session(t, http.StatusOK)
	if doc.Crowd == nil || *doc.Crowd != (CrowdInfo{Pace: "busy", Viewers: 30, Script: "market"}) {
		t.Fatalf("session's crowd = %+v", doc.Crowd)
	}
	e.tutorReq(t, e.jiwooTok, "PUT", crowd, `{"pace":"stampede"}`).wantError(t, http.StatusBadRequest, "invalid")

	if r := e.tutorReq(t, e.jiwooTok, "DELETE", crowd, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE crowd: %d %s", r.status, r.body)
	}
	if _, stopped := f.calls(); len(stopped) != 1 || stopped[0] != p.ID {
		t.Fatalf("Crowds.Stop got %v, want [%d]", stopped, p.ID)
	}
	if doc := e.tutorReq(t, e.studio, "GET", practicePath(p.ID, ""), "").session(t, http.StatusOK); doc.Crowd != nil {
		t.Fatalf("session's crowd after DELETE = %+v", doc.Crowd)
	}
	e.end(t, b)
	e.tutorReq(t, e.jiwooTok, "PUT", crowd, `{"pace":"calm"}`).wantError(t, http.StatusConflict, "not_live")
	if started, _ := f.calls(); len(started) != 1 {
		t.Fatalf("crowd started after the end: %+v", started)
	}
}

func testAPIPracticeHistory(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIPracticeEnv(t, newDB)
	const ch = "/api/channels/kim-fish/practice"
	type entry struct {
		ID        int64         `json:"id"`
		Title     string        `json:"title"`
		State     string        `json:"state"`
		Tutor     *SessionTutor `json:"tutor"`
		StartedAt *time.Time    `json:"started_at"`
		EndedAt   *time.Time    `json:"ended_at"`
		DurationS *float64      `json:"duration_s"`
		Score     *int          `json:"score"`
	}
	history := func(t *testing.T, query string) []entry {
		t.Helper()
		r := e.tutorReq(t, e.jiwooTok, "GET", ch+"/history"+query, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET history%s: %d %s", query, r.status, r.body)
		}
		var doc struct{ Sessions []entry }
		r.decode(t, &doc)
		return doc.Sessions
	}
	if got := history(t, ""); len(got) != 0 {
		t.Fatalf("history of a new channel: %+v", got)
	}

	cancelled := e.tutorReq(t, e.studio, "POST", ch, `{"title":"취소한 연습"}`).session(t, http.StatusCreated)
	e.tutorReq(t, e.studio, "DELETE", practicePath(cancelled.ID, ""), "").session(t, http.StatusOK)
	first := e.tutorReq(t, e.jiwooTok, "POST", ch, `{"title":"첫 연습"}`).session(t, http.StatusCreated)
	b := e.begin(t)
	e.tutorReq(t, e.jiwooTok, "PUT", practicePath(first.ID, "/ticks"), `{"greeted":true,"price_stated":true}`).session(t, http.StatusOK)
	e.clock.Advance(612400 * time.Millisecond)
	e.end(t, b)
	waiting := e.tutorReq(t, e.studio, "POST", ch, `{"title":"다음 연습"}`).session(t, http.StatusCreated)

	got := history(t, "")
	if len(got) != 3 || got[0].ID != waiting.ID || got[1].ID != first.ID || got[2].ID != cancelled.ID {
		t.Fatalf("history = %+v, want sessions %d, %d, %d", got, waiting.ID, first.ID, cancelled.ID)
	}
	// Greeted and price ticked, no coupon: 2 of 3.
	if g := got[1]; g.State != "ended" || g.Title != "첫 연습" || g.Tutor == nil || g.Tutor.ID != e.jiwoo.ID ||
		g.StartedAt == nil || g.EndedAt == nil || g.DurationS == nil || *g.DurationS != 612.4 || g.Score == nil || *g.Score != 67 {
		t.Fatalf("the session that went live: %+v", g)
	}
	for _, g := range []entry{got[0], got[2]} {
		if g.Score != nil || g.DurationS != nil || g.StartedAt != nil || g.Tutor != nil {
			t.Errorf("a session that never went live: %+v", g)
		}
	}
	if got[0].State != "waiting" || got[2].State != "cancelled" || got[2].EndedAt == nil {
		t.Errorf("states %s, %s", got[0].State, got[2].State)
	}
	if got := history(t, "?limit=1"); len(got) != 1 || got[0].ID != waiting.ID {
		t.Fatalf("history?limit=1 = %+v", got)
	}
	if got := history(t, "?limit=100"); len(got) != 3 {
		t.Fatalf("history?limit=100 = %d sessions", len(got))
	}
	for _, q := range []string{"0", "101", "-1", "ten"} {
		e.tutorReq(t, e.jiwooTok, "GET", ch+"/history?limit="+q, "").wantError(t, http.StatusBadRequest, "invalid")
	}
	e.tutorReq(t, e.minjiTok, "GET", ch+"/history", "").wantError(t, http.StatusUnauthorized, "unauthorized")
}

func testAPIPracticeReplay(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIPracticeEnv(t, newDB)
	e.tutorReq(t, e.studio, "POST", "/api/channels/kim-fish/practice", "").session(t, http.StatusCreated)
	pb := e.begin(t)
	if !pb.Practice {
		t.Fatalf("broadcast %+v is not the practice", pb)
	}
	for _, live := range []bool{true, false} {
		path := fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/replay", pb.ID)
		e.tutorReq(t, "", "GET", path, "").wantError(t, http.StatusNotFound, "not_found")
		for _, tok := range []string{e.studio, e.jiwooTok} {
			if r := e.tutorReq(t, tok, "GET", path, ""); r.status != http.StatusOK {
				t.Fatalf("live %v: replay of the practice with merchant credentials: %d %s", live, r.status, r.body)
			}
		}
		// Another stall's secret is a wrong key here, not a way in.
		e.tutorReq(t, e.otherTok, "GET", path, "").wantError(t, http.StatusUnauthorized, "unauthorized")
		if live {
			e.end(t, pb)
		}
	}
}
