package commerce

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

// TestPractice runs the practice sessions' store contract on every backend.
func TestPractice(t *testing.T) {
	tests := []struct {
		name string
		test func(t *testing.T, newDB func(t *testing.T) storeOpener)
	}{
		{"start", testPracticeStart},
		{"start refused", testPracticeStartRefused},
		{"waits too long", testPracticeExpiry},
		{"broadcast", testPracticeBroadcast},
		{"token", testPracticeToken},
		{"cancel", testPracticeCancel},
		{"notes", testPracticeNotes},
		{"ticks", testPracticeTicks},
		{"sandbox orders", testPracticeSandbox},
	}
	for _, backend := range []struct {
		name  string
		newDB func(t *testing.T) storeOpener
	}{{"sqlite", newSQLiteDB}, {"postgres", newPostgresDB}} {
		t.Run(backend.name, func(t *testing.T) {
			if backend.name == "postgres" {
				testPostgres(t)
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel() // each has a database of its own
					tt.test(t, backend.newDB)
				})
			}
		})
	}
}

// practiceEnv is a store on a clock the test moves, with kim-fish looked
// after by the tutor jiwoo and lee-veg by minji.
type practiceEnv struct {
	s                  *Store
	clock              *testClock
	ch, other          Channel
	jiwoo, minji       Tutor
	jiwooTok, minjiTok string
	n                  int
}

func newPracticeEnv(t *testing.T, newDB func(t *testing.T) storeOpener) *practiceEnv {
	t.Helper()
	ctx := t.Context()
	e := &practiceEnv{s: newDB(t)(t), clock: newTestClock()}
	e.s.now = e.clock.Now
	var err error
	if e.ch, _, err = e.s.CreateChannel(ctx, "kim-fish", "김씨네 생선가게"); err != nil {
		t.Fatal(err)
	}
	if e.other, _, err = e.s.CreateChannel(ctx, "lee-veg", "이씨네 채소"); err != nil {
		t.Fatal(err)
	}
	if e.jiwoo, e.jiwooTok, err = e.s.CreateTutor(ctx, TutorInput{Name: "Jiwoo Park", Phone: "010-1111-2222"}); err != nil {
		t.Fatal(err)
	}
	if e.minji, e.minjiTok, err = e.s.CreateTutor(ctx, TutorInput{Handle: "minji", Name: "김민지"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AssignChannel(ctx, e.jiwoo.ID, "kim-fish"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AssignChannel(ctx, e.minji.ID, "lee-veg"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *practiceEnv) cmd() string { e.n++; return fmt.Sprintf("practice-%d", e.n) }

func (e *practiceEnv) start(t *testing.T, tutorID int64, title string) PracticeSession {
	t.Helper()
	p, created, err := e.s.StartPractice(t.Context(), e.ch.ID, tutorID, title)
	if err != nil || !created {
		t.Fatalf("StartPractice: created %v, err %v", created, err)
	}
	return p
}

func (e *practiceEnv) begin(t *testing.T) Broadcast {
	t.Helper()
	b, err := e.s.BeginBroadcast(t.Context(), e.ch.ID)
	if err != nil {
		t.Fatalf("BeginBroadcast: %v", err)
	}
	return b
}

func (e *practiceEnv) end(t *testing.T, b Broadcast) {
	t.Helper()
	if _, err := e.s.EndBroadcast(t.Context(), e.ch.ID, b.ID); err != nil {
		t.Fatalf("EndBroadcast: %v", err)
	}
}

func (e *practiceEnv) session(t *testing.T, id int64) PracticeSession {
	t.Helper()
	p, err := e.s.PracticeSession(t.Context(), id)
	if err != nil {
		t.Fatalf("PracticeSession(%d): %v", id, err)
	}
	return p
}

func (e *practiceEnv) private(t *testing.T) bool {
	t.Helper()
	priv, err := e.s.Private(t.Context(), e.ch.ID)
	if err != nil {
		t.Fatalf("Private: %v", err)
	}
	return priv
}

// noOpenPractice fails t unless the channel has no open session.
func (e *practiceEnv) noOpenPractice(t *testing.T) {
	t.Helper()
	if p, err := e.s.OpenPractice(t.Context(), e.ch.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenPractice = %+v, %v; want ErrNotFound", p, err)
	}
	if e.private(t) {
		t.Fatal("Private = true with no session open")
	}
}

func (e *practiceEnv) sessions(t *testing.T) []PracticeSession {
	t.Helper()
	ps, err := e.s.PracticeSessions(t.Context(), e.ch.ID, 100)
	if err != nil {
		t.Fatalf("PracticeSessions: %v", err)
	}
	return ps
}

func testPracticeStart(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	created := e.clock.Now()
	p := e.start(t, e.jiwoo.ID, "  첫 연습 ")
	if p.ID <= 0 || p.Channel != "kim-fish" || p.ChannelID != e.ch.ID || p.Title != "첫 연습" || p.State != PracticeWaiting ||
		!p.CreatedAt.Equal(created) || !p.StartedAt.IsZero() || !p.EndedAt.IsZero() || p.BroadcastID != 0 || len(p.Ticks) != 0 {
		t.Fatalf("StartPractice = %+v", p)
	}
	if len(p.Token) < 22 { // 128 bits, as the other secrets
		t.Errorf("token %q is too short", p.Token)
	}
	if p.Tutor == nil || *p.Tutor != (SessionTutor{ID: e.jiwoo.ID, Name: "Jiwoo Park"}) {
		t.Errorf("tutor %+v, want Jiwoo Park (%d)", p.Tutor, e.jiwoo.ID)
	}
	if !e.private(t) {
		t.Error("Private = false while a session waits")
	}

	// The studio asks again (a reload, the merchant and the tutor both):
	// the open session as it is, whoever asks and whatever the title.
	e.clock.Advance(time.Minute)
	again, created2, err := e.s.StartPractice(ctx, e.ch.ID, 0, "다른 제목")
	if err != nil || created2 {
		t.Fatalf("second StartPractice: created %v, err %v", created2, err)
	}
	if again.ID != p.ID || again.Token != p.Token || again.Title != "첫 연습" || again.Tutor == nil || again.Tutor.ID != e.jiwoo.ID {
		t.Fatalf("second StartPractice = %+v, want %+v", again, p)
	}
	open, err := e.s.OpenPractice(ctx, e.ch.ID)
	if err != nil || open.ID != p.ID || open.State != PracticeWaiting {
		t.Fatalf("OpenPractice = %+v, %v", open, err)
	}
	if n := len(e.sessions(t)); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}

	// Another channel's session is its own, and the merchant alone has no
	// tutor.
	op, createdOther, err := e.s.StartPractice(ctx, e.other.ID, 0, "")
	if err != nil || !createdOther || op.ID == p.ID || op.Token == p.Token || op.Tutor != nil || op.Channel != "lee-veg" {
		t.Fatalf("other channel's StartPractice = %+v, created %v, %v", op, createdOther, err)
	}
	if _, _, err := e.s.StartPractice(ctx, 9999, 0, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("StartPractice on no channel: %v, want ErrNotFound", err)
	}
}

func testPracticeStartRefused(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	for _, title := range []string{
		strings.Repeat("가", maxTitleLen+1),
		"첫\n연습",
		"연습\u202e",
	} {
		if _, _, err := e.s.StartPractice(ctx, e.ch.ID, 0, title); !errors.Is(err, ErrInvalid) {
			t.Errorf("StartPractice(%q): %v, want ErrInvalid", title, err)
		}
	}
	e.noOpenPractice(t)
	if n := len(e.sessions(t)); n != 0 {
		t.Fatalf("%d sessions after bad titles, want 0", n)
	}
	if _, _, err := e.s.StartPractice(ctx, e.ch.ID, 0, strings.Repeat("가", maxTitleLen)); err != nil {
		t.Fatalf("StartPractice with a title of %d characters: %v", maxTitleLen, err)
	}

	// Live for real: the rehearsal must not turn the customers' broadcast
	// private.
	e2 := newPracticeEnv(t, newDB)
	b := e2.begin(t)
	if b.Practice {
		t.Fatalf("BeginBroadcast without a session = practice %+v", b)
	}
	if _, _, err := e2.s.StartPractice(ctx, e2.ch.ID, e2.jiwoo.ID, "연습"); !errors.Is(err, ErrLive) {
		t.Fatalf("StartPractice while live: %v, want ErrLive", err)
	}
	e2.noOpenPractice(t)
	if n := len(e2.sessions(t)); n != 0 {
		t.Fatalf("%d sessions after a refused start, want 0", n)
	}
	e2.end(t, b)
	e2.start(t, 0, "방송 끝나고 연습")
}

func testPracticeExpiry(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	p := e.start(t, 0, "잊힌 연습")
	e.clock.Advance(PracticeWaitLimit)
	if got := e.session(t, p.ID); got.State != PracticeWaiting {
		t.Fatalf("at the limit: state %s, want waiting", got.State)
	}
	e.clock.Advance(time.Second)
	e.noOpenPractice(t)
	if got := e.session(t, p.ID); got.State != PracticeCancelled {
		t.Fatalf("past the limit: state %s, want cancelled", got.State)
	}
	if err := e.s.CheckPracticeToken(ctx, e.ch.ID, p.Token); err == nil {
		t.Fatal("the token of a session that waited too long still opens the channel")
	}
	// A forgotten session must not make the merchant's next broadcast a
	// practice.
	b := e.begin(t)
	if b.Practice {
		t.Fatalf("broadcast after the session expired is a practice: %+v", b)
	}
	if got := e.session(t, p.ID); got.State != PracticeCancelled || got.BroadcastID != 0 {
		t.Fatalf("expired session after BeginBroadcast = %+v", got)
	}
	e.end(t, b)

	np := e.start(t, 0, "새 연습")
	if np.ID == p.ID || np.Token == p.Token || np.State != PracticeWaiting {
		t.Fatalf("new session %+v, old %+v", np, p)
	}
	ps := e.sessions(t)
	if len(ps) != 2 || ps[0].ID != np.ID || ps[1].ID != p.ID || ps[1].State != PracticeCancelled {
		t.Fatalf("PracticeSessions = %+v", ps)
	}
}

func testPracticeBroadcast(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	p := e.start(t, e.jiwoo.ID, "첫 연습")
	e.clock.Advance(time.Minute)
	b := e.begin(t)
	if !b.Practice || b.Title != "첫 연습" || !b.StartedAt.Equal(e.clock.Now()) {
		t.Fatalf("BeginBroadcast with a session = %+v", b)
	}
	live := e.session(t, p.ID)
	if live.State != PracticeLive || live.BroadcastID != b.ID || !live.StartedAt.Equal(b.StartedAt) || !live.EndedAt.IsZero() {
		t.Fatalf("session once live = %+v", live)
	}
	if of, err := e.s.PracticeOfBroadcast(ctx, b.ID); err != nil || of.ID != p.ID {
		t.Fatalf("PracticeOfBroadcast = %+v, %v", of, err)
	}
	if again := e.begin(t); again.ID != b.ID || !again.Practice {
		t.Fatalf("BeginBroadcast again (the phone reconnects) = %+v, want %d", again, b.ID)
	}
	if same, created, err := e.s.StartPractice(ctx, e.ch.ID, 0, ""); err != nil || created || same.ID != p.ID || same.State != PracticeLive {
		t.Fatalf("StartPractice while the practice is live = %+v, created %v, %v", same, created, err)
	}
	if !e.private(t) {
		t.Fatal("Private = false while the practice is live")
	}

	e.clock.Advance(10 * time.Minute)
	e.end(t, b)
	ended := e.session(t, p.ID)
	if ended.State != PracticeEnded || !ended.EndedAt.Equal(e.clock.Now()) || ended.BroadcastID != b.ID {
		t.Fatalf("session after EndBroadcast = %+v", ended)
	}
	e.noOpenPractice(t)

	real := e.begin(t)
	if real.Practice || real.ID == b.ID {
		t.Fatalf("the broadcast after the practice = %+v", real)
	}
	if of, err := e.s.PracticeOfBroadcast(ctx, real.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PracticeOfBroadcast(real) = %+v, %v", of, err)
	}
	if got := e.session(t, p.ID); got.State != PracticeEnded || got.BroadcastID != b.ID {
		t.Fatalf("ended session after a real broadcast = %+v", got)
	}
}

func testPracticeToken(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	p := e.start(t, 0, "")
	op, _, err := e.s.StartPractice(ctx, e.other.ID, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	tokens := []struct {
		name  string
		token string
		ok    bool
	}{
		{"session token", p.Token, true},
		{"linked tutor", e.jiwooTok, true},
		{"another channel's tutor", e.minjiTok, false},
		{"another channel's session token", op.Token, false},
		{"wrong", "64BFYNP5PFR74LVVWFYHTB74B4", false},
		{"empty", "", false},
	}
	check := func(t *testing.T, when string) {
		for _, tt := range tokens {
			err := e.s.CheckPracticeToken(ctx, e.ch.ID, tt.token)
			if tt.ok && err != nil {
				t.Errorf("%s: %s: %v, want nil", when, tt.name, err)
			}
			if !tt.ok && !errors.Is(err, ErrBadKey) {
				t.Errorf("%s: %s: %v, want ErrBadKey", when, tt.name, err)
			}
		}
	}
	check(t, "waiting")
	b := e.begin(t)
	check(t, "live")
	e.end(t, b)
	for _, tt := range tokens[:2] {
		if err := e.s.CheckPracticeToken(ctx, e.ch.ID, tt.token); !errors.Is(err, ErrNotFound) {
			t.Errorf("ended: %s: %v, want ErrNotFound (no session open)", tt.name, err)
		}
	}
}

func testPracticeCancel(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	p := e.start(t, 0, "")
	e.clock.Advance(time.Minute)
	c, err := e.s.CancelPractice(ctx, p.ID)
	if err != nil || c.ID != p.ID || c.State != PracticeCancelled || !c.EndedAt.Equal(e.clock.Now()) {
		t.Fatalf("CancelPractice(waiting) = %+v, %v", c, err)
	}
	e.noOpenPractice(t)
	if err := e.s.CheckPracticeToken(ctx, e.ch.ID, p.Token); err == nil {
		t.Fatal("a cancelled session's token still opens the channel")
	}
	e.clock.Advance(time.Minute)
	if again, err := e.s.CancelPractice(ctx, p.ID); err != nil || again.State != PracticeCancelled || !again.EndedAt.Equal(c.EndedAt) {
		t.Fatalf("CancelPractice(cancelled) = %+v, %v; want it as it was", again, err)
	}
	if b := e.begin(t); b.Practice {
		t.Fatalf("broadcast after a cancelled session is a practice: %+v", b)
	} else {
		e.end(t, b)
	}

	p2 := e.start(t, 0, "")
	b := e.begin(t)
	if _, err := e.s.CancelPractice(ctx, p2.ID); !errors.Is(err, ErrLive) {
		t.Fatalf("CancelPractice(live): %v, want ErrLive", err)
	}
	if got := e.session(t, p2.ID); got.State != PracticeLive || got.BroadcastID != b.ID || !got.EndedAt.IsZero() {
		t.Fatalf("live session after a refused cancel = %+v", got)
	}
	if !e.private(t) {
		t.Fatal("Private = false after a refused cancel")
	}
	if _, err := e.s.CancelPractice(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CancelPractice(unknown): %v, want ErrNotFound", err)
	}
}

func testPracticeNotes(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	p := e.start(t, e.jiwoo.ID, "")
	t0 := e.clock.Now()
	notes := func(t *testing.T) []PracticeNote {
		t.Helper()
		ns, err := e.s.PracticeNotes(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}

	if _, err := e.s.AddPracticeNote(ctx, p.ID, "tip", "가격을 크게 말해 주세요", time.Time{}); !errors.Is(err, ErrNotLive) {
		t.Fatalf("tip while waiting: %v, want ErrNotLive", err)
	}
	n1, err := e.s.AddPracticeNote(ctx, p.ID, "note", "  조명이 어두워요  ", time.Time{})
	if err != nil || n1.ID <= 0 || n1.Kind != "note" || n1.Text != "조명이 어두워요" || !n1.At.Equal(t0) {
		t.Fatalf("note while waiting = %+v, %v", n1, err)
	}

	e.clock.Advance(time.Minute)
	b := e.begin(t)
	e.clock.Advance(10 * time.Second)
	tip, err := e.s.AddPracticeNote(ctx, p.ID, "tip", "가격을 크게 말해 주세요", time.Time{})
	if err != nil || tip.Kind != "tip" || !tip.At.Equal(e.clock.Now()) {
		t.Fatalf("tip while live = %+v, %v", tip, err)
	}
	// A note written down late, about a moment before the tip.
	early := b.StartedAt.Add(5 * time.Second)
	n2, err := e.s.AddPracticeNote(ctx, p.ID, "note", "인사가 좋았어요\n목소리도 밝고요", early.In(time.FixedZone("KST", 9*3600)))
	if err != nil || !n2.At.Equal(early) || n2.At.Location() != time.UTC {
		t.Fatalf("note at %v = %+v, %v", early, n2, err)
	}

	before := len(notes(t))
	bad := []struct {
		name, kind, text string
		want             *Error
	}{
		{"empty tip", "tip", "", ErrInvalid},
		{"blank note", "note", " \t ", ErrInvalid},
		{"tip too long", "tip", strings.Repeat("가", maxTipLen+1), ErrInvalid},
		{"note too long", "note", strings.Repeat("가", maxPracticeNoteLen+1), ErrInvalid},
		{"tip on two lines", "tip", "가격\n크게", ErrInvalid},
		{"unknown kind", "memo", "메모", ErrInvalid},
	}
	for _, tt := range bad {
		if _, err := e.s.AddPracticeNote(ctx, p.ID, tt.kind, tt.text, time.Time{}); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want.Code())
		}
	}
	if _, err := e.s.AddPracticeNote(ctx, 9999, "note", "누구의 연습?", time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("note on an unknown session: %v, want ErrNotFound", err)
	}
	if got := len(notes(t)); got != before {
		t.Fatalf("%d notes after refused ones, want %d", got, before)
	}
	longTip, err := e.s.AddPracticeNote(ctx, p.ID, "tip", strings.Repeat("가", maxTipLen), time.Time{})
	if err != nil {
		t.Fatalf("tip of %d characters: %v", maxTipLen, err)
	}
	longNote, err := e.s.AddPracticeNote(ctx, p.ID, "note", strings.Repeat("가", maxPracticeNoteLen), time.Time{})
	if err != nil {
		t.Fatalf("note of %d characters: %v", maxPracticeNoteLen, err)
	}

	e.clock.Advance(time.Minute)
	e.end(t, b)
	if _, err := e.s.AddPracticeNote(ctx, p.ID, "tip", "늦은 팁", time.Time{}); !errors.Is(err, ErrNotLive) {
		t.Fatalf("tip after the end: %v, want ErrNotLive", err)
	}
	// The tutor writes the review afterwards.
	e.clock.Advance(time.Minute)
	after, err := e.s.AddPracticeNote(ctx, p.ID, "note", "다음엔 쿠폰을 먼저", time.Time{})
	if err != nil {
		t.Fatalf("note after the end: %v", err)
	}

	var got []string
	for _, n := range notes(t) {
		if n.SessionID != p.ID {
			t.Errorf("note %d of session %d, want %d", n.ID, n.SessionID, p.ID)
		}
		got = append(got, fmt.Sprintf("%d %s", n.ID, n.Kind))
	}
	want := []string{}
	for _, n := range []PracticeNote{n1, n2, tip, longTip, longNote, after} {
		want = append(want, fmt.Sprintf("%d %s", n.ID, n.Kind))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("PracticeNotes = %v, want in time order %v", got, want)
	}
}

func testPracticeTicks(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	p := e.start(t, e.jiwoo.ID, "")
	steps := []struct {
		name  string
		set   map[string]bool
		want  map[string]bool
		isErr *Error
	}{
		{"tick greeted", map[string]bool{"greeted": true}, map[string]bool{"greeted": true}, nil},
		{"tick price, keep greeted", map[string]bool{"price_stated": true}, map[string]bool{"greeted": true, "price_stated": true}, nil},
		{"take greeted back", map[string]bool{"greeted": false}, map[string]bool{"price_stated": true}, nil},
		{"nothing", map[string]bool{}, map[string]bool{"price_stated": true}, nil},
		// All or nothing: the known key beside the unknown one is not set.
		{"unknown key", map[string]bool{"greeted": true, "smiled": true}, map[string]bool{"price_stated": true}, ErrInvalid},
		{"a checklist item not for ticking", map[string]bool{"coupon_dropped": true}, map[string]bool{"price_stated": true}, ErrInvalid},
	}
	for _, st := range steps {
		got, err := e.s.SetPracticeTicks(ctx, p.ID, st.set)
		switch {
		case st.isErr != nil && !errors.Is(err, st.isErr):
			t.Fatalf("%s: %v, want %v", st.name, err, st.isErr.Code())
		case st.isErr == nil && (err != nil || !maps.Equal(got.Ticks, st.want)):
			t.Fatalf("%s: ticks %v, %v; want %v", st.name, got.Ticks, err, st.want)
		}
		if stored := e.session(t, p.ID).Ticks; !maps.Equal(stored, st.want) {
			t.Fatalf("%s: stored ticks %v, want %v", st.name, stored, st.want)
		}
	}
	if _, err := e.s.SetPracticeTicks(ctx, 9999, map[string]bool{"greeted": true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ticks of an unknown session: %v, want ErrNotFound", err)
	}
}

func testPracticeSandbox(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newPracticeEnv(t, newDB)
	ctx := t.Context()
	mackerel, err := e.s.CreateProduct(ctx, e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	squid, err := e.s.CreateProduct(ctx, e.ch.ID, ProductInput{Name: "오징어", PriceWon: 8000, Stock: 2})
	if err != nil {
		t.Fatal(err)
	}
	var viewers []Viewer
	for _, name := range []string{"민수", "지영", "철수"} {
		v, _, err := e.s.CreateViewer(ctx, e.ch.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		viewers = append(viewers, v)
	}
	stock := func(t *testing.T, p Product) int {
		t.Helper()
		got, err := e.s.Product(ctx, e.ch.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Stock
	}
	wantStock := func(t *testing.T, when string, m, s int) {
		t.Helper()
		if gm, gs := stock(t, mackerel), stock(t, squid); gm != m || gs != s {
			t.Fatalf("%s: stock mackerel %d squid %d, want %d %d", when, gm, gs, m, s)
		}
	}

	e.start(t, 0, "")
	pb := e.begin(t)
	order := func(t *testing.T, v Viewer, bid int64, items ...ItemInput) (Order, error) {
		t.Helper()
		return e.s.PlaceOrder(ctx, e.cmd(), v.ID, OrderInput{BroadcastID: bid, Items: items, Buyer: buyer})
	}
	o1, err := order(t, viewers[0], pb.ID, ItemInput{mackerel.ID, 3}, ItemInput{squid.ID, 1})
	if err != nil || !o1.Practice || o1.TotalWon != 3*5000+8000 || len(o1.Items) != 2 {
		t.Fatalf("practice order = %+v, %v", o1, err)
	}
	wantStock(t, "after a practice order", 5, 2)
	// The practice sells the real stock as it stands: 2 mackerels left.
	steps := []struct {
		name   string
		v      Viewer
		items  []ItemInput
		refuse bool
	}{
		{"3 of the 2 mackerels left", viewers[1], []ItemInput{{mackerel.ID, 3}}, true},
		// All or nothing: the squid it could have had is not held.
		{"the last squid with too many mackerels", viewers[1], []ItemInput{{mackerel.ID, 3}, {squid.ID, 1}}, true},
		{"the last 2 mackerels", viewers[1], []ItemInput{{mackerel.ID, 2}}, false},
		{"the last squid", viewers[2], []ItemInput{{squid.ID, 1}}, false},
		{"a mackerel more", viewers[2], []ItemInput{{mackerel.ID, 1}}, true},
		{"a squid more", viewers[2], []ItemInput{{squid.ID, 1}}, true},
	}
	var placed []Order
	for _, st := range steps {
		o, err := order(t, st.v, pb.ID, st.items...)
		if st.refuse {
			wantErr(t, st.name, err, ErrOutOfStock)
			continue
		}
		if err != nil || !o.Practice {
			t.Fatalf("%s: %+v, %v", st.name, o, err)
		}
		placed = append(placed, o)
	}
	wantStock(t, "after the practice sold out", 5, 2)

	// A rejected order, and a cancelled one, give their units back to the
	// practice, and nothing to the real stock, which they never took.
	if _, err := e.s.SetOrderStatus(ctx, e.cmd(), e.ch.ID, o1.ID, StatusRejected); err != nil {
		t.Fatal(err)
	}
	wantStock(t, "after rejecting a practice order", 5, 2)
	if _, err := e.s.CancelOrder(ctx, e.cmd(), viewers[1].ID, placed[0].ID); err != nil {
		t.Fatal(err)
	}
	wantStock(t, "after cancelling a practice order", 5, 2)
	o5, err := order(t, viewers[2], pb.ID, ItemInput{mackerel.ID, 5}, ItemInput{squid.ID, 1})
	if err != nil {
		t.Fatalf("the units freed again: %v", err)
	}
	if _, err := order(t, viewers[2], pb.ID, ItemInput{mackerel.ID, 1}); !errors.Is(err, ErrOutOfStock) {
		t.Fatalf("past the freed units: %v, want ErrOutOfStock", err)
	}
	if _, err := e.s.SetOrderStatus(ctx, e.cmd(), e.ch.ID, o5.ID, StatusAccepted); err != nil {
		t.Fatal(err)
	}
	wantStock(t, "after accepting a practice order", 5, 2)

	// None of it is the stall's business.
	all, err := e.s.ListOrders(ctx, e.ch.ID, OrderFilter{})
	if err != nil || len(all) != 0 {
		t.Fatalf("ListOrders of the stall = %d orders, %v; want none", len(all), err)
	}
	mine, err := e.s.ListOrders(ctx, e.ch.ID, OrderFilter{BroadcastID: pb.ID})
	if err != nil || len(mine) != 4 {
		t.Fatalf("ListOrders of the practice broadcast = %d orders, %v; want 4", len(mine), err)
	}
	for _, o := range mine {
		if !o.Practice || o.BroadcastID != pb.ID {
			t.Errorf("practice broadcast's order %+v", o)
		}
	}
	totals, err := e.s.SalesTotals(ctx, []int64{pb.ID})
	if err != nil || totals[pb.ID] != (SalesTotal{}) {
		t.Fatalf("SalesTotals of the practice = %+v, %v; want zero", totals, err)
	}
	sales, err := e.s.Sales(ctx, pb.ID)
	if err != nil || sales.Orders != 0 || sales.RevenueWon != 0 || len(sales.Products) != 0 {
		t.Fatalf("Sales of the practice = %+v, %v; want nothing", sales, err)
	}
	e.end(t, pb)

	// The next broadcast is real: its orders take real stock again.
	rb := e.begin(t)
	ro, err := order(t, viewers[0], rb.ID, ItemInput{mackerel.ID, 4})
	if err != nil || ro.Practice {
		t.Fatalf("real order = %+v, %v", ro, err)
	}
	wantStock(t, "after a real order", 1, 2)
	if _, err := order(t, viewers[1], rb.ID, ItemInput{mackerel.ID, 2}); !errors.Is(err, ErrOutOfStock) {
		t.Fatalf("2 of 1 real mackerel: %v, want ErrOutOfStock", err)
	}
	if _, err := e.s.SetOrderStatus(ctx, e.cmd(), e.ch.ID, ro.ID, StatusRejected); err != nil {
		t.Fatal(err)
	}
	wantStock(t, "after rejecting a real order", 5, 2)
	ro2, err := order(t, viewers[1], rb.ID, ItemInput{squid.ID, 2})
	if err != nil {
		t.Fatal(err)
	}
	wantStock(t, "after a second real order", 5, 0)
	all, err = e.s.ListOrders(ctx, e.ch.ID, OrderFilter{})
	if err != nil || len(all) != 2 || all[0].ID != ro2.ID || all[1].ID != ro.ID {
		t.Fatalf("ListOrders of the stall = %+v, %v; want the 2 real orders", all, err)
	}
	totals, err = e.s.SalesTotals(ctx, []int64{pb.ID, rb.ID})
	if err != nil || totals[pb.ID] != (SalesTotal{}) || totals[rb.ID] != (SalesTotal{Orders: 1, RevenueWon: 16000}) {
		t.Fatalf("SalesTotals = %+v, %v", totals, err)
	}
}
