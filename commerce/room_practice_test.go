package commerce

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestRoomPractice runs the live room of a practice session against every
// backend.
func TestRoomPractice(t *testing.T) {
	for _, backend := range []struct {
		name  string
		newDB func(t *testing.T) storeOpener
	}{{"sqlite", newSQLiteDB}, {"postgres", newPostgresDB}} {
		t.Run(backend.name, func(t *testing.T) {
			if backend.name == "postgres" {
				testPostgres(t)
			}
			testRoomPractice(t, backend.newDB)
		})
	}
}

// dialPractice opens the room with ?practice=token (none if ""), as an
// invited customer's page does, and returns the client, or the refusal's
// status and error code.
func (e *wsEnv) dialPractice(t *testing.T, token string) (c *wsTestClient, status int, code string) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/" + e.ch.Slug
	if token != "" {
		u += "?" + url.Values{"practice": {token}}.Encode()
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(u, nil)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		var eb apiErrBody
		if jerr := json.Unmarshal(b, &eb); jerr != nil {
			t.Fatalf("refusal %d with body %q: %v", resp.StatusCode, b, jerr)
		}
		return nil, resp.StatusCode, eb.Error.Code
	}
	c = &wsTestClient{t: t, e: e, conn: conn, msgs: make(chan map[string]any, 1000), errc: make(chan error, 1)}
	t.Cleanup(func() { conn.Close() })
	go c.readLoop()
	return c, http.StatusSwitchingProtocols, ""
}

func (e *wsEnv) mustDialPractice(t *testing.T, token string) *wsTestClient {
	t.Helper()
	c, status, code := e.dialPractice(t, token)
	if c == nil {
		t.Fatalf("dial with practice token: %d %q", status, code)
	}
	return c
}

func wantPracticeRefusal(t *testing.T, e *wsEnv, name, token string) {
	t.Helper()
	if c, status, code := e.dialPractice(t, token); c != nil || status != http.StatusForbidden || code != "practice" {
		t.Fatalf("%s: status %d code %q, want 403 practice", name, status, code)
	}
}

// isChat matches the chat.message with the text.
func isChat(text string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		msg, _ := m["message"].(map[string]any)
		return m["type"] == "chat.message" && msg["text"] == text
	}
}

func testRoomPractice(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{ChatBurst: 100}, nil)
	ctx := t.Context()
	tutor, tutorTok, err := e.s.CreateTutor(ctx, TutorInput{Name: "Jiwoo Park"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.AssignChannel(ctx, tutor.ID, e.ch.Slug); err != nil {
		t.Fatal(err)
	}

	// The stall's page was open before the rehearsal was planned.
	early := e.dial(t, dialOpt{})
	early.hello("단골 손님")
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	if err := e.rooms.BroadcastEnded(ctx, e.ch.Slug); err != nil {
		t.Fatal(err)
	}
	early.await("live off", func(ev map[string]any) bool { return ev["type"] == "live" && ev["live"] == false })

	p, _, err := e.s.StartPractice(ctx, e.ch.ID, tutor.ID, "첫 연습")
	if err != nil {
		t.Fatal(err)
	}
	wantPracticeRefusal(t, e, "anonymous, waiting", "")
	wantPracticeRefusal(t, e, "wrong token, waiting", "64BFYNP5PFR74LVVWFYHTB74B4")
	inv := e.mustDialPractice(t, p.Token)
	if st := inv.hello("초대 손님")["state"].(map[string]any); st["live"] != false || st["practice"] != false {
		t.Fatalf("invited hello while waiting: state %v", st)
	}
	coach := e.mustDialPractice(t, tutorTok)
	coach.hello("튜터")

	pb, err := e.rooms.BroadcastStarted(ctx, e.ch.Slug)
	if err != nil || !pb.Practice {
		t.Fatalf("BroadcastStarted = %+v, %v; want the practice", pb, err)
	}
	if code, reason := early.awaitClose(); code != closePractice || reason != "practice" {
		t.Fatalf("uninvited customer closed with %d %q, want %d practice", code, reason, closePractice)
	}
	for name, c := range map[string]*wsTestClient{"merchant": m, "invited": inv, "tutor": coach} {
		ev := c.await("live on", func(ev map[string]any) bool { return ev["type"] == "live" && ev["live"] == true })
		if ev["practice"] != true || num(ev["broadcast_id"]) != pb.ID {
			t.Fatalf("%s: live event %v", name, ev)
		}
	}
	wantPracticeRefusal(t, e, "anonymous, live", "")
	late := e.mustDialPractice(t, p.Token)
	if st := late.hello("늦은 손님")["state"].(map[string]any); st["live"] != true || st["practice"] != true || num(st["broadcast_id"]) != pb.ID {
		t.Fatalf("invited hello once live: state %v", st)
	}

	// The tip is for the studio: awaited there first, so that the chat
	// below is surely queued after it for everyone.
	tip, err := e.s.AddPracticeNote(ctx, p.ID, "tip", "가격을 크게 말해 주세요", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	e.rooms.CoachTip(e.ch.Slug, tip)
	ev := m.await("coach.tip", isType("coach.tip"))
	if got, _ := ev["tip"].(map[string]any); got["text"] != "가격을 크게 말해 주세요" || num(got["id"]) != tip.ID || got["kind"] != "tip" {
		t.Fatalf("coach.tip %v", ev)
	}
	m.do("chat.send", map[string]any{"text": "어서 오세요"}, true)
	for name, c := range map[string]*wsTestClient{"invited": inv, "late": late, "tutor": coach} {
		ev := c.await("the merchant's chat", isChat("어서 오세요"))
		if msg := ev["message"].(map[string]any); msg["merchant"] != true {
			t.Fatalf("%s: the merchant's chat message %v, want merchant true", name, msg)
		}
		// Events keep their order per connection: a tip for this one would
		// have come before the chat.
		for _, skipped := range c.backlog {
			if skipped["type"] == "coach.tip" {
				t.Fatalf("%s got the merchant's tip: %v", name, skipped)
			}
		}
	}
	inv.do("chat.send", map[string]any{"text": "고등어 얼마예요?"}, true)
	ev = m.await("the customer's chat", isChat("고등어 얼마예요?"))
	if msg := ev["message"].(map[string]any); msg["merchant"] != false {
		t.Fatalf("a customer's chat message %v, want merchant false", msg)
	}

	// Once the practice ends, its guests are sent away (the close may come before the live
	// event they were sent is written), the invitation no longer opens the room, and the
	// stall is public again.
	if err := e.rooms.BroadcastEnded(ctx, e.ch.Slug); err != nil {
		t.Fatal(err)
	}
	if code, reason := inv.awaitClose(); code != closePractice || reason != "practice" {
		t.Fatalf("invited customer at the end: closed with %d %q, want %d practice", code, reason, closePractice)
	}
	if c, status, code := e.dialPractice(t, p.Token); c != nil || status != http.StatusForbidden || code != "practice" {
		t.Fatalf("the invitation after the practice: %d %q, want 403 practice", status, code)
	}
	if c, status, code := e.dialPractice(t, ""); c == nil {
		t.Fatalf("anonymous after the practice: %d %q", status, code)
	} else if st := c.hello("다시 온 손님")["state"].(map[string]any); st["live"] != false || st["practice"] != false {
		t.Fatalf("anonymous hello after the practice: state %v", st)
	}
}
