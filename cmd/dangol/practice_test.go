package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/dangol/dangol/internal/testmedia"
)

// drillPace is a practice pace file as a tutor would add one (--practice-scripts): a crowd
// that joins within a second and does everything it can at once, so that a test sees
// chat, claims and orders in seconds rather than minutes.
const drillPace = `{"type": "paces", "paces": [{
  "name": "drill", "title": "연습용 빠른 손님", "viewers": 8, "join_spread_s": 1,
  "chats_per_min": 12, "likes_per_min": 30,
  "claim": {"chance": 1, "delay_s": [0.2, 1]},
  "order": {"chance": 1, "delay_s": [0.5, 2]},
  "react": {"chance": 1, "delay_s": [0.2, 1]},
  "thanks": {"chance": 0.5, "delay_s": [0.2, 1]},
  "use_coupon": 0.5,
  "quantities": [{"qty": 1, "weight": 1}]
}]}`

// TestPracticeSession runs a whole practice session on the real server: a tutor opens it,
// the channel turns private (anonymous room and WHEP refused, a customer already in the room
// sent away), the merchant goes live from a pion peer, simulated customers join at the drill
// pace and chat, claim and order, the tutor's tip reaches the merchant's studio only, and
// nothing of it touches the stall's stock or sales. After the end the review scores the
// checklist from the events and the recording plays with the session's token only.
func TestPracticeSession(t *testing.T) {
	testmedia.Need(t)
	dir := t.TempDir()
	const slug = "fish-kim"
	ch := addChannel(t, dir, slug, "김씨네 생선")
	out, _, err := runCommand(t, nil, "--data", dir, "--public-url", "http://dangol.test", "tutor", "add", "Jiwoo Park")
	if err != nil {
		t.Fatalf("tutor add: %v", err)
	}
	tutor := parseTutorAdd(t, out, "http://dangol.test")
	if _, _, err := runCommand(t, nil, "--data", dir, "tutor", "link", tutor.handle, slug); err != nil {
		t.Fatalf("tutor link: %v", err)
	}
	scripts := t.TempDir()
	if err := os.WriteFile(filepath.Join(scripts, "drill.json"), []byte(drillPace), 0o644); err != nil {
		t.Fatal(err)
	}
	frames := loopedVideo(t)

	addr, logs, _ := startServe(t, loopbackArgs(dir, "--grace", "1s", "--practice-scripts", scripts))
	base := "http://" + addr
	wsBase := "ws://" + addr + "/ws/" + slug
	product := createProduct(t, base, slug, ch.key, "고등어") // 3,000 won, 20 in stock

	// A customer with the stall's page open before the rehearsal starts.
	early := dialPeer(t, wsBase, nil)
	early.hello(t, "단골손님")

	var sess struct {
		ID       int64  `json:"id"`
		State    string `json:"state"`
		Token    string `json:"token"`
		WatchURL string `json:"watch_url"`
		Tutor    *struct {
			Name string `json:"name"`
		} `json:"tutor"`
	}
	sendJSON(t, "POST", base+"/api/channels/"+slug+"/practice", tutor.token, map[string]any{"title": "첫 연습"}, http.StatusCreated, &sess)
	if sess.State != "waiting" || sess.Token == "" || sess.Tutor == nil || sess.Tutor.Name != "Jiwoo Park" {
		t.Fatalf("new session %+v", sess)
	}
	if want := "/c/" + slug + "?practice=" + url.QueryEscape(sess.Token); sess.WatchURL != want {
		t.Errorf("watch_url %q, want %q", sess.WatchURL, want)
	}
	practiceAPI := fmt.Sprintf("%s/api/practice/%d", base, sess.ID)

	// Private from now on: no room and no video without the session's credential.
	if code, status := refusedUpgrade(wsBase); status != http.StatusForbidden || code != "practice" {
		t.Errorf("anonymous room during practice: %d %q, want 403 practice", status, code)
	}
	if code, status := refusedUpgrade(wsBase + "?practice=wrong"); status != http.StatusForbidden || code != "practice" {
		t.Errorf("wrong practice token: %d %q, want 403 practice", status, code)
	}
	if st := whepStatus(t, base, slug, ""); st != http.StatusUnauthorized {
		t.Errorf("anonymous WHEP during practice: %d, want 401", st)
	}

	pub := publishMedia(t, base, slug, ch.key)
	stopMedia := streamVideo(pub, frames)
	defer stopMedia()
	waitLog(t, logs, `msg="recording started"`, 10*time.Second)

	// The customer who was there is sent away as the practice goes live.
	early.waitClosed(t, closePracticeCode)

	merchant := dialPeer(t, wsBase, http.Header{"Authorization": {"Bearer " + ch.key}})
	merchant.hello(t, "사장님")
	invited := dialPeer(t, wsBase+"?practice="+url.QueryEscape(sess.Token), nil)
	if st := invited.hello(t, "초대손님"); st["practice"] != true || st["live"] != true {
		t.Errorf("invited customer's hello state: live %v practice %v, want both true", st["live"], st["practice"])
	}
	if st := whepStatus(t, base, slug, sess.Token); st != http.StatusCreated {
		t.Errorf("WHEP with the practice token: %d, want 201", st)
	}
	if st := whepStatus(t, base, slug, tutor.token); st != http.StatusCreated {
		t.Errorf("WHEP with the tutor's token: %d, want 201", st)
	}
	var page struct {
		Live bool `json:"live"`
	}
	getJSON(t, base+"/api/channels/"+slug, &page)
	if page.Live {
		t.Error("the public channel page shows the practice as live")
	}

	// The merchant greets, starts the crowd (as the tutor), shows the product and drops a
	// coupon for three.
	merchant.call(t, "chat.send", map[string]any{"text": "안녕하세요, 김씨네 생선입니다!"})
	var crowd struct {
		Pace    string `json:"pace"`
		Viewers int    `json:"viewers"`
	}
	sendJSON(t, "PUT", practiceAPI+"/crowd", tutor.token, map[string]any{"pace": "drill"}, http.StatusOK, &crowd)
	if crowd.Pace != "drill" || crowd.Viewers != 8 {
		t.Errorf("crowd %+v, want drill with 8", crowd)
	}
	merchant.call(t, "product.pin", map[string]any{"product_id": product})
	merchant.call(t, "coupon.drop", map[string]any{"title": "연습 쿠폰", "discount_won": 500, "quantity": 3, "expires_in_s": 600})

	// The crowd chats, claims the coupon to the last unit and orders; the merchant takes
	// the first order at once.
	var (
		chats, placed int
		soldOut       bool
		firstOrder    int64
	)
	merchant.await(t, "crowd chat, a sold-out coupon and two orders", 60*time.Second, func(m map[string]any) bool {
		switch m["type"] {
		case "chat.message":
			if msg, _ := m["message"].(map[string]any); msg["nickname"] != "사장님" {
				chats++
			}
		case "coupon.closed":
			soldOut = soldOut || m["reason"] == "sold_out"
		case "order.updated":
			if o, _ := m["order"].(map[string]any); o["status"] == "placed" {
				placed++
				if firstOrder == 0 {
					firstOrder = num(o, "id")
				}
				if o["practice"] != true {
					t.Errorf("order in practice not marked practice: %v", o)
				}
			}
		}
		return chats >= 3 && soldOut && placed >= 2
	})
	merchant.call(t, "order.status", map[string]any{"order_id": firstOrder, "status": "accepted"})

	// The tutor's tip reaches the merchant's studio, and no customer: the invited one reads
	// on until the merchant's next chat, which the room sends after the tip.
	var tip struct {
		ID   int64  `json:"id"`
		Kind string `json:"kind"`
	}
	sendJSON(t, "POST", practiceAPI+"/tips", tutor.token, map[string]any{"text": "가격을 크게 말해 주세요"}, http.StatusCreated, &tip)
	merchant.await(t, "the tip", 10*time.Second, func(m map[string]any) bool {
		tp, _ := m["tip"].(map[string]any)
		return m["type"] == "coach.tip" && tp["text"] == "가격을 크게 말해 주세요"
	})
	merchant.call(t, "chat.send", map[string]any{"text": "고등어 한 손에 삼천 원!"})
	invited.await(t, "the merchant's chat after the tip", 10*time.Second, func(m map[string]any) bool {
		if m["type"] == "coach.tip" {
			t.Errorf("a customer got the tutor's tip: %v", m)
		}
		msg, _ := m["message"].(map[string]any)
		return m["type"] == "chat.message" && msg["text"] == "고등어 한 손에 삼천 원!"
	})
	var note struct {
		OffsetS *float64 `json:"offset_s"`
	}
	sendJSON(t, "POST", practiceAPI+"/notes", tutor.token, map[string]any{"text": "인사가 밝았어요"}, http.StatusCreated, &note)
	if note.OffsetS == nil || *note.OffsetS <= 0 {
		t.Errorf("note offset %v, want a place on the timeline", note.OffsetS)
	}
	sendJSON(t, "PUT", practiceAPI+"/ticks", tutor.token, map[string]any{"price_stated": true}, http.StatusOK, nil)

	// Sandbox: the stall's stock, orders and sales are as before the practice.
	var p struct {
		Stock int `json:"stock"`
	}
	getJSON(t, fmt.Sprintf("%s/api/channels/%s/products/%d", base, slug, product), &p)
	if p.Stock != 20 {
		t.Errorf("stock after practice orders: %d, want 20 (untouched)", p.Stock)
	}
	var orders struct {
		Orders []json.RawMessage `json:"orders"`
	}
	getWithKey(t, base+"/api/channels/"+slug+"/orders", ch.key, &orders)
	if len(orders.Orders) != 0 {
		t.Errorf("the stall's orders list shows %d practice orders", len(orders.Orders))
	}

	stopMedia()
	endBroadcast(t, base, pub.location, ch.key)
	waitLog(t, logs, `msg="recording stored as one file"`, 30*time.Second)

	// The invitation ends with the rehearsal: its guests are sent away and cannot come back,
	// so no simulated customer stays on into a real broadcast.
	invited.waitClosed(t, closePracticeCode)
	if code, status := refusedUpgrade(wsBase + "?practice=" + url.QueryEscape(sess.Token)); status != http.StatusForbidden || code != "practice" {
		t.Errorf("practice token after the practice: %d %q, want 403 practice", status, code)
	}

	for _, b := range broadcasts(t, base, slug, ch.key) {
		if b.Orders != 0 || b.RevenueWon != 0 {
			t.Errorf("broadcast %d counts practice sales: %d orders, %d won", b.ID, b.Orders, b.RevenueWon)
		}
	}
	// Public again: the room takes anonymous customers.
	again := dialPeer(t, wsBase, nil)
	if st := again.hello(t, "손님"); st["live"] != false {
		t.Errorf("after the practice the room is live=%v", st["live"])
	}

	var review struct {
		Session struct {
			State       string `json:"state"`
			BroadcastID int64  `json:"broadcast_id"`
		} `json:"session"`
		RecordingURL string `json:"recording_url"`
		Notes        []struct {
			Kind string `json:"kind"`
		} `json:"notes"`
		Checklist []struct {
			Key        string `json:"key"`
			Status     string `json:"status"`
			Done       *int   `json:"done"`
			Total      *int   `json:"total"`
			Kbps       *int   `json:"kbps"`
			Reconnects *int   `json:"reconnects"`
		} `json:"checklist"`
		Score *int `json:"score"`
		Stats struct {
			Claims int `json:"claims"`
			Orders int `json:"orders"`
		} `json:"stats"`
	}
	getWithKey(t, practiceAPI+"/review", tutor.token, &review)
	if review.Session.State != "ended" {
		t.Errorf("session %q after the broadcast ended, want ended", review.Session.State)
	}
	if len(review.Notes) != 2 || review.Notes[0].Kind != "tip" || review.Notes[1].Kind != "note" {
		t.Errorf("notes %+v, want the tip then the note", review.Notes)
	}
	if review.Stats.Claims != 3 {
		t.Errorf("claims %d, want exactly the coupon's 3", review.Stats.Claims)
	}
	if review.Stats.Orders < 2 {
		t.Errorf("orders %d, want at least 2", review.Stats.Orders)
	}
	want := map[string]string{"greeted": "pass", "products_pinned": "pass", "price_stated": "pass", "coupon_dropped": "pass"}
	got := map[string]string{}
	for _, it := range review.Checklist {
		got[it.Key] = it.Status
		switch it.Key {
		case "orders_handled":
			if it.Total == nil || *it.Total < 2 || it.Done == nil || *it.Done < 1 {
				t.Errorf("orders_handled %+v, want the accepted order counted among 2 or more", it)
			}
		case "stream_quality":
			if it.Kbps == nil || *it.Kbps <= 0 || it.Reconnects == nil || *it.Reconnects != 0 {
				t.Errorf("stream_quality %+v, want a bitrate and no reconnect", it)
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("checklist %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if review.Score == nil || *review.Score <= 0 || *review.Score > 100 {
		t.Errorf("score %v", review.Score)
	}

	// The recording plays with the session's token, and only with it.
	if review.RecordingURL == "" {
		t.Fatal("no recording_url in the review")
	}
	if st, n := fetch(t, base+review.RecordingURL); st != http.StatusOK || n < 10_000 {
		t.Errorf("recording with the token: status %d, %d bytes", st, n)
	}
	bare, _, _ := strings.Cut(review.RecordingURL, "?")
	if st, _ := fetch(t, base+bare); st != http.StatusForbidden {
		t.Errorf("recording without the token: status %d, want 403", st)
	}
	// The product's clip is the rehearsal's too; and it has no public replay to order from.
	var replay struct {
		Chapters []struct {
			Clip *struct {
				URL string `json:"url"`
			} `json:"clip"`
		} `json:"chapters"`
	}
	replayAPI := fmt.Sprintf("%s/api/channels/%s/broadcasts/%d", base, slug, review.Session.BroadcastID)
	getWithKey(t, replayAPI+"/replay", ch.key, &replay)
	if len(replay.Chapters) != 1 || replay.Chapters[0].Clip == nil {
		t.Fatalf("practice replay chapters %+v, want the pinned product's clip", replay.Chapters)
	}
	clip := replay.Chapters[0].Clip.URL
	if st, _ := fetch(t, base+clip); st != http.StatusForbidden {
		t.Errorf("practice clip without the token: status %d, want 403", st)
	}
	if st, n := fetch(t, base+clip+"?practice="+url.QueryEscape(sess.Token)); st != http.StatusOK || n == 0 {
		t.Errorf("practice clip with the token: status %d, %d bytes", st, n)
	}
	order := map[string]any{"items": []map[string]any{{"product_id": product, "qty": 1}},
		"buyer": map[string]any{"name": "김영희", "phone": "010-1234-5678"}}
	sendJSON(t, "POST", replayAPI+"/orders", "", order, http.StatusNotFound, nil)

	var history struct {
		Sessions []struct {
			ID    int64 `json:"id"`
			Score *int  `json:"score"`
		} `json:"sessions"`
	}
	getWithKey(t, base+"/api/channels/"+slug+"/practice/history", ch.key, &history)
	if len(history.Sessions) != 1 || history.Sessions[0].Score == nil || *history.Sessions[0].Score != *review.Score {
		t.Errorf("history %+v, want the session with score %d", history.Sessions, *review.Score)
	}
}

// closePracticeCode is the close code of a customer sent away from a practice.
const closePracticeCode = 4003

// sendJSON sends body as JSON with method to url with the token ("": none), checks the status and
// decodes the answer into v (if not nil).
func sendJSON(t *testing.T, method, url, token string, body any, status int, v any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, status, got)
	}
	if v != nil {
		if err := json.Unmarshal(got, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, got)
		}
	}
}

// fetch gets url and returns the status and the body's length.
func fetch(t *testing.T, url string) (int, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, int(n)
}

// refusedUpgrade tries the websocket url and returns the refusal's error code and status
// (0 if it was not refused).
func refusedUpgrade(u string) (code string, status int) {
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err == nil {
		conn.Close()
		return "", 0
	}
	if resp == nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Error.Code, resp.StatusCode
}

// whepStatus offers to watch the channel over WHEP from a real pion peer with the token
// ("" for none) and returns the answer's status. The peer is closed at once: only the
// admission is tested.
func whepStatus(t *testing.T, base, slug, token string) int {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", base+"/whep/"+slug, strings.NewReader(offer.SDP))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusCreated && loc != "" {
		del, _ := http.NewRequest("DELETE", base+loc, nil)
		if r, err := http.DefaultClient.Do(del); err == nil {
			r.Body.Close()
		}
	}
	return resp.StatusCode
}

// loopedVideo encodes a few seconds of VP8 and returns its frames, to send over and over.
func loopedVideo(t *testing.T) [][]byte {
	t.Helper()
	ivf, _, err := testmedia.Encode(t.TempDir(), 2, recordTestFPS)
	if err != nil {
		t.Fatal(err)
	}
	next := videoFrames(t, ivf)
	var frames [][]byte
	for {
		f, err := next()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
}

// streamVideo sends frames from pub in real time, from the first again after the last,
// until the returned function is called (more than once is fine).
func streamVideo(pub *mediaPublisher, frames [][]byte) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		const frameDur = time.Second / recordTestFPS
		tick := time.NewTicker(frameDur)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
				// A write error means the connection is gone: the test sees it elsewhere.
				_ = pub.video.WriteSample(media.Sample{Data: frames[i%len(frames)], Duration: frameDur})
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

// wsPeer is a room connection whose reader hands every message to the test in order.
type wsPeer struct {
	conn   *websocket.Conn
	in     chan map[string]any
	closed chan int // the close code, once the connection ends
	n      int
}

func dialPeer(t *testing.T, u string, h http.Header) *wsPeer {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", u, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	p := &wsPeer{conn: conn, in: make(chan map[string]any, 4096), closed: make(chan int, 1)}
	go func() {
		defer close(p.in)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				code := 0
				if ce, ok := err.(*websocket.CloseError); ok {
					code = ce.Code
				}
				p.closed <- code
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				p.in <- m
			}
		}
	}()
	return p
}

// hello says hello and returns the reply's state.
func (p *wsPeer) hello(t *testing.T, name string) map[string]any {
	t.Helper()
	r := p.call(t, "hello", map[string]any{"name": name})
	st, _ := r["state"].(map[string]any)
	return st
}

// call sends a command and returns its reply, failing t unless it is ok.
func (p *wsPeer) call(t *testing.T, typ string, body map[string]any) map[string]any {
	t.Helper()
	p.n++
	id := fmt.Sprintf("%s-%d", typ, p.n)
	msg := map[string]any{"type": typ, "id": id}
	for k, v := range body {
		msg[k] = v
	}
	if err := p.conn.WriteJSON(msg); err != nil {
		t.Fatalf("send %s: %v", typ, err)
	}
	return p.await(t, "reply to "+typ, 10*time.Second, func(m map[string]any) bool {
		if m["type"] != "reply" || m["id"] != id {
			return false
		}
		if !replyOK(m) {
			t.Fatalf("%s refused: %v", typ, m)
		}
		return true
	})
}

// await reads messages until match returns true for one, and returns it.
func (p *wsPeer) await(t *testing.T, what string, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-p.in:
			if !ok {
				t.Fatalf("connection closed waiting for %s", what)
			}
			if match(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, timeout)
		}
	}
}

// waitClosed waits for the server to close the connection with code.
func (p *wsPeer) waitClosed(t *testing.T, code int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-p.in: // events before the close
		case got := <-p.closed:
			if got != code {
				t.Fatalf("closed with %d, want %d", got, code)
			}
			return
		case <-deadline:
			t.Fatalf("not closed with %d within 10s", code)
		}
	}
}
