package commerce

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRoomWS runs the websocket room against every backend.
func TestRoomWS(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, newDB func(t *testing.T) storeOpener)
	}{
		{"hello and chat", testWSHelloChat},
		{"merchant pin notice likes", testWSMerchant},
		{"coupon rush", testWSCouponRush},
		{"orders", testWSOrders},
		{"bad input", testWSBadInput},
		{"slow client", testWSSlowClient},
		{"reap and limits", testWSReapAndLimits},
		{"limits per viewer", testWSViewerLimits},
		{"mute event", testWSMuteEvent},
		{"chat batches", testWSChatBatch},
		{"idle viewer", testWSIdleViewer},
		{"replay order", testWSReplayOrder},
		{"viewer counts", testWSViewerCounts},
		{"coupon expires in a restarted room", testWSCouponExpiresAfterRestart},
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
				t.Run(tt.name, func(t *testing.T) { tt.run(t, backend.newDB) })
			}
		})
	}
}

// wsEnv is a store with a live channel, and its rooms served on 127.0.0.1.
type wsEnv struct {
	s     *Store
	rooms *Rooms
	srv   *httptest.Server
	ch    Channel
	sec   Secrets
	b     Broadcast
	n     int
	mu    sync.Mutex
}

func newWSEnv(t *testing.T, newDB func(t *testing.T) storeOpener, opts RoomOptions, tune func(net.Conn)) *wsEnv {
	t.Helper()
	e := &wsEnv{s: newDB(t)(t)}
	var err error
	if e.ch, e.sec, err = e.s.CreateChannel(t.Context(), "kim-fish", "김씨네 생선가게"); err != nil {
		t.Fatal(err)
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	if e.rooms, err = NewRooms(e.s, opts); err != nil {
		t.Fatal(err)
	}
	if e.b, err = e.rooms.BroadcastStarted(t.Context(), e.ch.Slug); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws/{slug}", e.rooms.ServeWS)
	e.srv = httptest.NewUnstartedServer(mux)
	if tune != nil {
		e.srv.Listener = tuneListener{e.srv.Listener, tune}
	}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.rooms.Close) // runs first: closes the connections
	return e
}

type tuneListener struct {
	net.Listener
	tune func(net.Conn)
}

func (l tuneListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.tune(c)
	}
	return c, err
}

// wsTestClient is a websocket client whose reader goroutine (if reading)
// puts every message on msgs.
type wsTestClient struct {
	t    *testing.T
	e    *wsEnv
	conn *websocket.Conn
	msgs chan map[string]any
	errc chan error // the read error that ended the reader
	// backlog holds messages read while awaiting others, oldest first.
	backlog []map[string]any
}

type dialOpt struct {
	token   string
	header  http.Header
	noRead  bool
	netDial func(network, addr string) (net.Conn, error)
}

func (e *wsEnv) dial(t *testing.T, o dialOpt) *wsTestClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/" + e.ch.Slug
	h := o.header
	if h == nil {
		h = http.Header{}
	}
	if o.token != "" {
		h.Set("Authorization", "Bearer "+o.token)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDial: o.netDial}
	conn, resp, err := d.Dial(u, h)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	c := &wsTestClient{t: t, e: e, conn: conn, msgs: make(chan map[string]any, 100000), errc: make(chan error, 1)}
	t.Cleanup(func() { conn.Close() })
	if !o.noRead {
		go c.readLoop()
	}
	return c
}

func (c *wsTestClient) readLoop() {
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			c.errc <- err
			close(c.msgs)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			c.errc <- fmt.Errorf("bad JSON from server: %q", b)
			close(c.msgs)
			return
		}
		c.msgs <- m
	}
}

func (e *wsEnv) id() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	return fmt.Sprintf("c%d", e.n)
}

// send sends a command and returns its id.
func (c *wsTestClient) send(typ string, fields map[string]any) string {
	c.t.Helper()
	id := c.e.id()
	c.sendID(typ, id, fields)
	return id
}

func (c *wsTestClient) sendID(typ, id string, fields map[string]any) {
	c.t.Helper()
	m := map[string]any{"type": typ, "id": id}
	for k, v := range fields {
		m[k] = v
	}
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

// await returns the next message for which ok is true, skipping others,
// or fails after 20 s.
func (c *wsTestClient) await(what string, ok func(map[string]any) bool) map[string]any {
	c.t.Helper()
	for i, m := range c.backlog {
		if ok(m) {
			c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
			return m
		}
	}
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, open := <-c.msgs:
			if !open {
				c.t.Fatalf("awaiting %s: connection ended: %v", what, <-c.errc)
			}
			if ok(m) {
				return m
			}
			c.backlog = append(c.backlog, m)
		case <-timeout:
			c.t.Fatalf("awaiting %s: timed out", what)
		}
	}
}

func isType(typ string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ }
}

func (c *wsTestClient) reply(id string) map[string]any {
	c.t.Helper()
	return c.await("reply "+id, func(m map[string]any) bool { return m["type"] == "reply" && m["id"] == id })
}

// do sends a command and returns its reply, failing unless ok is as
// wanted.
func (c *wsTestClient) do(typ string, fields map[string]any, wantOK bool) map[string]any {
	c.t.Helper()
	r := c.reply(c.send(typ, fields))
	if r["ok"] != wantOK {
		c.t.Fatalf("%s %v: reply %v, want ok=%v", typ, fields, r, wantOK)
	}
	return r
}

func errCode(r map[string]any) string {
	e, _ := r["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (c *wsTestClient) hello(name string) map[string]any {
	c.t.Helper()
	return c.do("hello", map[string]any{"name": name}, true)
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func testWSHelloChat(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{ChatBurst: 100}, nil)
	a := e.dial(t, dialOpt{})
	h := a.hello("순이")
	if h["role"] != "viewer" || num(h["viewer_id"]) == 0 || h["viewer_token"] == "" {
		t.Fatalf("hello reply: %v", h)
	}
	st := h["state"].(map[string]any)
	if st["live"] != true || num(st["broadcast_id"]) != e.b.ID || num(st["viewers"]) != 1 || len(st["chat"].([]any)) != 0 {
		t.Fatalf("hello state: %v", st)
	}

	var others []*wsTestClient
	for i := range 3 {
		c := e.dial(t, dialOpt{header: http.Header{"Accept-Language": {"en-US,en;q=0.9"}}})
		c.hello(fmt.Sprintf("viewer%d", i))
		others = append(others, c)
	}
	texts := []string{"안녕하세요", "<script>alert(1)</script>", "고등어 있나요? 🐟"}
	for _, text := range texts {
		a.do("chat.send", map[string]any{"text": text}, true)
	}
	for _, c := range append(others, a) {
		for _, text := range texts {
			m := c.await("chat.message", isType("chat.message"))
			if got := m["message"].(map[string]any)["text"]; got != text {
				t.Fatalf("chat.message text %q, want %q (in order)", got, text)
			}
		}
	}

	// A new client resumes its identity with the token and sees the chat.
	tok := h["viewer_token"].(string)
	b := e.dial(t, dialOpt{})
	h2 := b.do("hello", map[string]any{"viewer_token": tok}, true)
	if num(h2["viewer_id"]) != num(h["viewer_id"]) || h2["nickname"] != "순이" {
		t.Fatalf("resumed hello: %v", h2)
	}
	if chat := h2["state"].(map[string]any)["chat"].([]any); len(chat) != 3 {
		t.Fatalf("hello chat has %d messages, want 3", len(chat))
	}
	// An English client gets English messages.
	r := others[0].do("chat.send", map[string]any{"text": ""}, false)
	if errCode(r) != "invalid" || !strings.Contains(r["error"].(map[string]any)["message"].(string), "Invalid") {
		t.Fatalf("empty chat reply: %v", r)
	}
	// Mute, then chat: muted with until; hide: chat.hidden to all.
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	if m.hello("사장님")["role"] != "merchant" {
		t.Fatal("merchant hello: role is not merchant")
	}
	m.do("viewer.mute", map[string]any{"viewer_id": num(h["viewer_id"]), "minutes": 5}, true)
	r = a.do("chat.send", map[string]any{"text": "또 왔어요"}, false)
	if errCode(r) != "muted" || r["error"].(map[string]any)["until"] == nil {
		t.Fatalf("muted chat reply: %v", r)
	}
	first := h2["state"].(map[string]any)["chat"].([]any)[0].(map[string]any)
	m.do("chat.hide", map[string]any{"message_id": num(first["id"])}, true)
	for _, c := range others {
		if ev := c.await("chat.hidden", isType("chat.hidden")); num(ev["message_id"]) != num(first["id"]) {
			t.Fatalf("chat.hidden %v", ev)
		}
	}
	r = others[1].do("chat.send", map[string]any{"text": "완전 FUCK 이네"}, false)
	if errCode(r) != "banned_word" {
		t.Fatalf("banned word reply: %v", r)
	}
}

func testWSMerchant(t *testing.T, newDB func(t *testing.T) storeOpener) {
	pinned := make(chan string, 10)
	e := newWSEnv(t, newDB, RoomOptions{Coalesce: 20 * time.Millisecond, Pinned: func(slug string, product int64) {
		pinned <- fmt.Sprintf("%s/%d", slug, product)
	}}, nil)
	p, err := e.s.CreateProduct(t.Context(), e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 10})
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err = e.s.SetProductPhoto(t.Context(), e.ch.ID, p.ID, "products/1/mackerel.jpg"); err != nil {
		t.Fatal(err)
	}
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	v := e.dial(t, dialOpt{})
	v.hello("손님")

	m.do("product.pin", map[string]any{"product_id": p.ID}, true)
	// The card needs the photo's URLs, as the API gives them.
	if ev := v.await("product.pinned", isType("product.pinned")); ev["product"].(map[string]any)["name"] != "고등어" ||
		ev["product"].(map[string]any)["thumb_url"] != "/photos/products/1/mackerel_320.jpg" {
		t.Fatalf("product.pinned %v", ev)
	}
	// The recording is told, to start a chapter there.
	if got, want := <-pinned, fmt.Sprintf("kim-fish/%d", p.ID); got != want {
		t.Errorf("Pinned(%s), want %s", got, want)
	}
	m.do("notice.set", map[string]any{"text": "오늘 3시까지 할인"}, true)
	if ev := v.await("notice", isType("notice")); ev["text"] != "오늘 3시까지 할인" {
		t.Fatalf("notice %v", ev)
	}
	for range 5 {
		v.do("like", nil, true)
	}
	v.await("likes 5", func(m map[string]any) bool { return m["type"] == "likes" && num(m["likes"]) == 5 })
	// A viewer cannot act as the merchant.
	if r := v.do("product.pin", map[string]any{"product_id": p.ID}, false); errCode(r) != "forbidden" {
		t.Fatalf("viewer pin: %v", r)
	}
	// A late joiner sees pin, notice, likes and the viewer count: the two
	// customers, not the merchant's studio.
	late := e.dial(t, dialOpt{})
	st := late.hello("늦은 손님")["state"].(map[string]any)
	if num(st["pinned"].(map[string]any)["id"]) != p.ID || st["notice"] != "오늘 3시까지 할인" || num(st["likes"]) != 5 || num(st["viewers"]) != 2 {
		t.Fatalf("late hello state %v", st)
	}
	// A wrong key is refused before the upgrade.
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/" + e.ch.Slug + "?token=nope"
	if _, resp, err := websocket.DefaultDialer.Dial(u, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: err %v, resp %v", err, resp)
	}
	// Ending the broadcast tells everyone.
	if err := e.rooms.BroadcastEnded(t.Context(), e.ch.Slug); err != nil {
		t.Fatal(err)
	}
	if ev := v.await("live off", isType("live")); ev["live"] != false {
		t.Fatalf("live %v", ev)
	}
}

func testWSCouponRush(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{}, nil)
	const clients, quantity = 200, 20
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	cs := make([]*wsTestClient, clients)
	tokens := make([]string, clients)
	for i := range cs {
		cs[i] = e.dial(t, dialOpt{})
		tokens[i] = cs[i].hello(fmt.Sprintf("손님%d", i))["viewer_token"].(string)
	}
	drop := m.do("coupon.drop", map[string]any{"title": "선착순 2천원", "discount_won": 2000, "quantity": quantity, "expires_in_s": 600}, true)
	couponID := num(drop["coupon"].(map[string]any)["id"])

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		oks  int
		ids  = make([]string, clients)
		reps = make([]map[string]any, clients)
	)
	for i, c := range cs {
		c.await("coupon.dropped", isType("coupon.dropped"))
		ids[i] = e.id()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.sendID("coupon.claim", ids[i], map[string]any{"coupon_id": couponID})
		}()
	}
	wg.Wait()
	for i, c := range cs {
		r := c.reply(ids[i])
		reps[i] = r
		mu.Lock()
		if r["ok"] == true {
			oks++
		} else if code := errCode(r); code != "sold_out" {
			t.Errorf("claim refused with %q: %v", code, r)
		}
		mu.Unlock()
	}
	if oks != quantity {
		t.Fatalf("%d claims granted, want %d", oks, quantity)
	}
	// Everyone sees the count reach 0, then the coupon close.
	for _, c := range []*wsTestClient{m, cs[0], cs[clients-1]} {
		c.await("remaining 0", func(m map[string]any) bool { return m["type"] == "coupon.remaining" && num(m["remaining"]) == 0 })
		c.await("coupon.closed", func(m map[string]any) bool { return m["type"] == "coupon.closed" && m["reason"] == "sold_out" })
	}
	// A retry with the same id gets the identical reply, on the same
	// connection and on a new one (the store's record).
	for i := range 3 {
		cs[i].sendID("coupon.claim", ids[i], map[string]any{"coupon_id": couponID})
		if r := cs[i].reply(ids[i]); fmt.Sprint(r) != fmt.Sprint(reps[i]) {
			t.Fatalf("retried claim: %v, first %v", r, reps[i])
		}
	}
	var winner int
	for i, r := range reps {
		if r["ok"] == true {
			winner = i
			break
		}
	}
	again := e.dial(t, dialOpt{})
	again.do("hello", map[string]any{"viewer_token": tokens[winner]}, true)
	again.sendID("coupon.claim", ids[winner], map[string]any{"coupon_id": couponID})
	if r := again.reply(ids[winner]); fmt.Sprint(r) != fmt.Sprint(reps[winner]) {
		t.Fatalf("claim retried on a new connection: %v, first %v", r, reps[winner])
	}
	// After the sell-out the room answers claims itself, but a holder still hears that it
	// holds one, on a new command id and on a new connection alike.
	for _, c := range []*wsTestClient{cs[winner], again} {
		if r := c.do("coupon.claim", map[string]any{"coupon_id": couponID}, false); errCode(r) != "already_claimed" {
			t.Errorf("holder claiming again after the sell-out: %v, want already_claimed", r)
		}
	}
	loser := (winner + 1) % clients
	for reps[loser]["ok"] == true {
		loser = (loser + 1) % clients
	}
	if r := cs[loser].do("coupon.claim", map[string]any{"coupon_id": couponID}, false); errCode(r) != "sold_out" {
		t.Errorf("late claim after the sell-out: %v, want sold_out", r)
	}
	c, err := e.s.Coupon(t.Context(), couponID)
	if err != nil || c.Remaining != 0 {
		t.Fatalf("coupon after rush: %+v %v", c, err)
	}
}

func testWSOrders(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{}, nil)
	p, err := e.s.CreateProduct(t.Context(), e.ch.ID, ProductInput{Name: "갈치", PriceWon: 12000, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	m := e.dial(t, dialOpt{token: e.sec.StudioToken})
	m.hello("사장님")
	buyer := e.dial(t, dialOpt{})
	token := buyer.hello("손님")["viewer_token"].(string)
	other := e.dial(t, dialOpt{})
	other.hello("구경꾼")

	place := func(qty int) map[string]any {
		return buyer.do("order.place", map[string]any{
			"items": []any{map[string]any{"product_id": p.ID, "qty": qty}},
			"buyer": map[string]any{"name": "김손님", "phone": "010-1234-5678"}, "note": "3시 픽업",
		}, true)
	}
	stockIs := func(c *wsTestClient, n int64) {
		c.t.Helper()
		c.await(fmt.Sprintf("stock %d", n), func(m map[string]any) bool {
			return m["type"] == "stock" && num(m["product_id"]) == p.ID && num(m["stock"]) == n
		})
	}
	r := place(2)
	o := r["order"].(map[string]any)
	if num(o["total_won"]) != 24000 || o["status"] != "placed" {
		t.Fatalf("order reply %v", r)
	}
	stockIs(other, 3)
	if ev := m.await("order.updated", isType("order.updated")); num(ev["order"].(map[string]any)["id"]) != num(o["id"]) {
		t.Fatalf("merchant order.updated %v", ev)
	}
	// Too many: out_of_stock, nothing changes.
	if r := buyer.do("order.place", map[string]any{
		"items": []any{map[string]any{"product_id": p.ID, "qty": 4}},
		"buyer": map[string]any{"name": "김손님", "phone": "010-1234-5678"},
	}, false); errCode(r) != "out_of_stock" {
		t.Fatalf("oversized order: %v", r)
	}
	// The merchant accepts: the buyer hears.
	m.do("order.status", map[string]any{"order_id": num(o["id"]), "status": "accepted"}, true)
	buyer.await("order accepted", func(m map[string]any) bool {
		return m["type"] == "order.updated" && m["order"].(map[string]any)["status"] == "accepted"
	})
	// Cancelling an accepted order is refused; a new order cancelled gives
	// its stock back.
	if r := buyer.do("order.cancel", map[string]any{"order_id": num(o["id"])}, false); errCode(r) != "bad_transition" {
		t.Fatalf("cancel accepted: %v", r)
	}
	o2 := place(3)["order"].(map[string]any)
	stockIs(other, 0)
	buyer.do("order.cancel", map[string]any{"order_id": num(o2["id"])}, true)
	stockIs(other, 3)
	m.await("order cancelled", func(m map[string]any) bool {
		return m["type"] == "order.updated" && m["order"].(map[string]any)["status"] == "cancelled"
	})
	// Someone else cannot cancel the buyer's order.
	if r := other.do("order.cancel", map[string]any{"order_id": num(o["id"])}, false); errCode(r) != "not_found" {
		t.Fatalf("cancel another's order: %v", r)
	}
	// The buyer reloads the page: its hello brings its orders back, newest
	// first, with their status; nobody else's hello has them.
	again := e.dial(t, dialOpt{})
	h := again.do("hello", map[string]any{"viewer_token": token}, true)
	orders, _ := h["orders"].([]any)
	if len(orders) != 2 || num(orders[0].(map[string]any)["id"]) != num(o2["id"]) || orders[1].(map[string]any)["status"] != "accepted" {
		t.Fatalf("hello orders after a reload: %v", h["orders"])
	}
	for _, c := range []*wsTestClient{other, m} {
		if orders, _ := c.hello("누구")["orders"].([]any); len(orders) != 0 {
			t.Errorf("another's hello has orders: %v", orders)
		}
	}
}

func testWSBadInput(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{}, nil)
	fresh := e.dial(t, dialOpt{})
	v := e.dial(t, dialOpt{})
	v.hello("손님")
	tests := []struct {
		name      string
		c         *wsTestClient
		raw       string
		wantID    any
		wantCode  string
		wantField string
	}{
		{"malformed json", v, `{"type":"chat.send",`, nil, "bad_json", ""},
		{"not an object", v, `[1,2]`, nil, "bad_json", ""},
		{"no id", v, `{"type":"like"}`, nil, "invalid", "id"},
		{"unknown type", v, `{"type":"dance","id":"u1"}`, "u1", "unknown_type", ""},
		{"before hello", fresh, `{"type":"chat.send","id":"b1","text":"hi"}`, "b1", "hello_required", ""},
		{"missing text", v, `{"type":"chat.send","id":"m1"}`, "m1", "invalid", "text"},
		{"text wrong type", v, `{"type":"chat.send","id":"m2","text":5}`, "m2", "invalid", "text"},
		{"text too long", v, `{"type":"chat.send","id":"m3","text":"` + strings.Repeat("가", 301) + `"}`, "m3", "invalid", "text"},
		{"control chars", v, `{"type":"chat.send","id":"m4","text":"a\u0007b"}`, "m4", "invalid", "text"},
		{"claim no coupon", v, `{"type":"coupon.claim","id":"m5"}`, "m5", "invalid", "coupon_id"},
		{"claim unknown coupon", v, `{"type":"coupon.claim","id":"m6","coupon_id":999999}`, "m6", "not_found", ""},
		{"order no items", v, `{"type":"order.place","id":"m7","buyer":{"name":"a","phone":"01012345678"}}`, "m7", "invalid", "items"},
		{"order bad qty", v, `{"type":"order.place","id":"m8","items":[{"product_id":1,"qty":0}],"buyer":{"name":"a","phone":"01012345678"}}`, "m8", "invalid", "items[0].qty"},
		{"order no buyer", v, `{"type":"order.place","id":"m9","items":[{"product_id":1,"qty":1}]}`, "m9", "invalid", "buyer"},
		{"order bad phone", v, `{"type":"order.place","id":"m10","items":[{"product_id":1,"qty":1}],"buyer":{"name":"a","phone":"x"}}`, "m10", "invalid", "buyer.phone"},
		{"merchant command", v, `{"type":"notice.set","id":"m11","text":"x"}`, "m11", "forbidden", ""},
		{"numeric id", v, `{"type":"dance","id":7}`, float64(7), "unknown_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.t = t
			if err := tt.c.conn.WriteMessage(websocket.TextMessage, []byte(tt.raw)); err != nil {
				t.Fatal(err)
			}
			r := tt.c.await("error reply", isType("reply"))
			if r["id"] != tt.wantID || r["ok"] != false || errCode(r) != tt.wantCode {
				t.Fatalf("reply %v, want id %v code %s", r, tt.wantID, tt.wantCode)
			}
			e := r["error"].(map[string]any)
			if tt.wantField != "" && e["field"] != tt.wantField {
				t.Fatalf("field %v, want %s", e["field"], tt.wantField)
			}
			if msg, _ := e["message"].(string); msg == "" {
				t.Fatalf("no message: %v", r)
			}
		})
	}
	v.t = t
	// The room keeps running.
	v.do("chat.send", map[string]any{"text": "아직 살아있나요"}, true)
}

func testWSSlowClient(t *testing.T, newDB func(t *testing.T) storeOpener) {
	// Small socket buffers on both ends, so the slow client's queue fills. The write
	// timeout is far off: a loaded machine may take longer than the default 10 s over
	// the flood, and this test is about the queue, not about giving up on a writer.
	e := newWSEnv(t, newDB, RoomOptions{ChatBurst: 100000, SendQueue: 16, MaxQueued: 100000, WriteTimeout: 2 * time.Minute}, func(c net.Conn) {
		c.(*net.TCPConn).SetWriteBuffer(4096)
	})
	fast := e.dial(t, dialOpt{})
	fast.hello("빠른 손님")
	slow := e.dial(t, dialOpt{noRead: true, netDial: func(network, addr string) (net.Conn, error) {
		d := net.Dialer{Control: nil}
		c, err := d.Dial(network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}})
	slow.sendID("hello", "slow-hello", map[string]any{"name": "느린 손님"})
	// Find the slow client's room entry before flooding, so it gets events.
	e.awaitViewers(t, fast, 2)

	const n = 600
	text := strings.Repeat("생선", 100)
	talker := e.dial(t, dialOpt{})
	talker.hello("수다쟁이")
	for range n {
		talker.send("chat.send", map[string]any{"text": text})
	}
	// The fast client gets every message in order while the slow one reads
	// nothing.
	for range n {
		fast.await("chat.message", isType("chat.message"))
	}
	// The slow client's own command is answered, after the flood.
	slow.sendID("like", "slow-like", nil)
	fast.do("like", nil, true) // its like is counted after the slow one's
	go slow.readLoop()
	slow.reply("slow-hello")
	if r := slow.reply("slow-like"); r["ok"] != true {
		t.Fatalf("slow client's like: %v", r)
	}
	var dropped int64
	e.rooms.mu.Lock()
	for c := range e.rooms.conns {
		dropped += c.q.droppedCount()
	}
	e.rooms.mu.Unlock()
	if dropped == 0 {
		t.Fatal("the slow client dropped no events: its queue never filled")
	}
	t.Logf("slow client dropped %d events", dropped)
}

func (e *wsEnv) awaitViewers(t *testing.T, c *wsTestClient, n int64) {
	t.Helper()
	c.await(fmt.Sprintf("viewers %d", n), func(m map[string]any) bool { return m["type"] == "viewers" && num(m["viewers"]) == n })
}

func testWSReapAndLimits(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{PingInterval: 200 * time.Millisecond, PongWait: 2 * time.Second, Coalesce: 20 * time.Millisecond}, nil)
	live := e.dial(t, dialOpt{})
	live.hello("살아있는 손님")
	// A client that never reads never answers pings: it is reaped.
	dead := e.dial(t, dialOpt{noRead: true})
	dead.sendID("hello", "dead-hello", map[string]any{"name": "잠든 손님"})
	e.awaitViewers(t, live, 2)
	e.awaitViewers(t, live, 1)

	// A frame over the limit closes the connection with 1009 and a reason.
	big := e.dial(t, dialOpt{})
	big.hello("큰 손님")
	if err := big.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"chat.send","id":"x","text":"`+strings.Repeat("a", 9000)+`"}`)); err != nil {
		t.Fatal(err)
	}
	code, reason := big.awaitClose()
	if code != websocket.CloseMessageTooBig || reason == "" {
		t.Fatalf("oversized frame: close %d %q, want 1009 with a reason", code, reason)
	}
	// The others carry on.
	live.do("chat.send", map[string]any{"text": "다들 계세요?"}, true)
}

// awaitClose reads until the connection ends and returns the close frame's
// code and reason.
func (c *wsTestClient) awaitClose() (int, string) {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case _, open := <-c.msgs:
			if open {
				continue
			}
			err := <-c.errc
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Text
			}
			c.t.Fatalf("connection ended without a close frame: %v", err)
		case <-timeout:
			c.t.Fatal("awaiting close: timed out")
		}
	}
}

// testWSViewerLimits checks that a viewer's connections share one chat and
// like allowance, and that another viewer's is its own.
func testWSViewerLimits(t *testing.T, newDB func(t *testing.T) storeOpener) {
	// No refill within the test: only the burst counts. One like per second
	// refills after a second, far longer than two round trips here.
	e := newWSEnv(t, newDB, RoomOptions{ChatBurst: 5, ChatEvery: time.Hour, LikesPerSecond: 1}, nil)
	a1 := e.dial(t, dialOpt{})
	tok := a1.hello("여러 탭 손님")["viewer_token"].(string)
	a2 := e.dial(t, dialOpt{})
	if r := a2.do("hello", map[string]any{"viewer_token": tok}, true); r["viewer_token"] != tok {
		t.Fatalf("resumed hello: %v", r)
	}
	b := e.dial(t, dialOpt{})
	b.hello("다른 손님")

	steps := []struct {
		name     string
		c        *wsTestClient
		typ      string
		wantCode string // "" for ok
	}{
		{"first tab 1", a1, "chat.send", ""},
		{"first tab 2", a1, "chat.send", ""},
		{"first tab 3", a1, "chat.send", ""},
		{"second tab 4", a2, "chat.send", ""},
		{"second tab 5", a2, "chat.send", ""},
		{"second tab 6th of the viewer", a2, "chat.send", "rate_limited"},
		{"first tab 7th of the viewer", a1, "chat.send", "rate_limited"},
		{"other viewer unaffected", b, "chat.send", ""},
		{"like first tab", a1, "like", ""},
		{"like second tab shares it", a2, "like", "rate_limited"},
		{"like other viewer", b, "like", ""},
	}
	for i, st := range steps {
		fields := map[string]any{"text": fmt.Sprintf("메시지 %d", i)}
		if st.typ == "like" {
			fields = nil
		}
		r := st.c.reply(st.c.send(st.typ, fields))
		if st.wantCode == "" && r["ok"] != true || st.wantCode != "" && errCode(r) != st.wantCode {
			t.Fatalf("%s: reply %v, want code %q", st.name, r, st.wantCode)
		}
	}
	// A third connection of the same viewer gets no fresh allowance either.
	a3 := e.dial(t, dialOpt{})
	a3.do("hello", map[string]any{"viewer_token": tok}, true)
	if r := a3.do("chat.send", map[string]any{"text": "새 탭"}, false); errCode(r) != "rate_limited" {
		t.Fatalf("chat from a new tab of a limited viewer: %v", r)
	}
}

// testWSMuteEvent checks that viewer.mute tells the muted viewer's
// connections and the merchant's at once, and nobody else.
func testWSMuteEvent(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{}, nil)
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	v1 := e.dial(t, dialOpt{})
	h := v1.hello("시끄러운 손님")
	vid := num(h["viewer_id"])
	v2 := e.dial(t, dialOpt{})
	v2.do("hello", map[string]any{"viewer_token": h["viewer_token"]}, true)
	other := e.dial(t, dialOpt{})
	other.hello("조용한 손님")

	isMuted := func(m map[string]any) bool { return m["type"] == "viewer.muted" }
	tests := []struct {
		name     string
		minutes  int
		wantTime bool
	}{
		{"mute", 5, true},
		{"unmute", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []*wsTestClient{m, v1, v2, other} {
				c.t = t
			}
			before := time.Now()
			r := m.do("viewer.mute", map[string]any{"viewer_id": vid, "minutes": tt.minutes}, true)
			for _, c := range []*wsTestClient{v1, v2, m} {
				ev := c.await("viewer.muted", isMuted)
				if num(ev["viewer_id"]) != vid {
					t.Fatalf("viewer.muted %v, want viewer_id %d", ev, vid)
				}
				raw, has := ev["muted_until"]
				if !has {
					t.Fatalf("viewer.muted %v has no muted_until", ev)
				}
				if !tt.wantTime {
					if raw != nil {
						t.Fatalf("viewer.muted after unmute: %v, want muted_until null", ev)
					}
					continue
				}
				s, _ := raw.(string)
				until, err := time.Parse(time.RFC3339, s)
				if err != nil {
					t.Fatalf("viewer.muted muted_until %q: %v", raw, err)
				}
				want := before.Add(time.Duration(tt.minutes) * time.Minute)
				if until.Before(want.Add(-time.Second)) || until.After(want.Add(time.Minute)) {
					t.Fatalf("viewer.muted until %v, want about %v", until, want)
				}
				if replied, _ := time.Parse(time.RFC3339, r["muted_until"].(string)); !replied.Equal(until) {
					t.Fatalf("viewer.muted until %v, the reply says %v", until, r["muted_until"])
				}
			}
			// An event to all, sent after the mute's: once the other
			// viewer has it, it would have had viewer.muted before.
			m.do("notice.set", map[string]any{"text": tt.name}, true)
			other.await("notice", isType("notice"))
			for _, ev := range other.backlog {
				if isMuted(ev) {
					t.Fatalf("another viewer got %v", ev)
				}
			}
		})
	}
	// The muted state holds: a mute, then chat refused, as before.
	m.t, v1.t = t, t
	m.do("viewer.mute", map[string]any{"viewer_id": vid, "minutes": 1}, true)
	v1.await("viewer.muted", isMuted)
	if r := v1.do("chat.send", map[string]any{"text": "왜요"}, false); errCode(r) != "muted" {
		t.Fatalf("chat after viewer.muted: %v", r)
	}
}

// TestRoomViewerLimits checks the per-viewer buckets and their sweep on a
// made-up clock.
func TestRoomViewerLimits(t *testing.T) {
	o := RoomOptions{ChatBurst: 2, ChatEvery: time.Second, LikesPerSecond: 1}.withDefaults()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	l := newViewerLimits(o)
	if l.sweepEvery != 2*time.Second {
		t.Fatalf("sweepEvery %v, want 2s (the chat bucket's refill)", l.sweepEvery)
	}
	steps := []struct {
		name     string
		at       time.Duration // since t0
		viewer   int64
		like     bool
		want     bool
		wantSize int // entries after the step
	}{
		{"first chat", 0, 1, false, true, 1},
		{"second chat", 0, 1, false, true, 1},
		{"burst spent", 0, 1, false, false, 1},
		{"other viewer", 0, 2, false, true, 2},
		{"likes apart from chat", 0, 1, true, true, 2},
		{"like spent", 500 * time.Millisecond, 1, true, false, 2},
		{"one chat refilled", 1500 * time.Millisecond, 1, false, true, 2},
		// The sweep at 2 s finds viewer 2 full again and drops it; viewer 1's
		// chat is at 1 of 2 and stays.
		{"sweep keeps the not yet full", 2 * time.Second, 1, false, true, 1},
		{"kept entry still spent", 2 * time.Second, 1, false, false, 1},
		{"sweep later drops it too", 10 * time.Second, 3, false, true, 1},
		{"a dropped viewer starts full", 10 * time.Second, 1, false, true, 2},
	}
	for _, st := range steps {
		allow := l.allowChat
		if st.like {
			allow = l.allowLike
		}
		if got := allow(st.viewer, t0.Add(st.at)); got != st.want {
			t.Fatalf("%s: allowed %v, want %v", st.name, got, st.want)
		}
		if n := l.size(); n != st.wantSize {
			t.Fatalf("%s: %d entries, want %d", st.name, n, st.wantSize)
		}
	}
}

// testWSChatBatch: chat sent within ChatBatch of the last message goes out
// as one batch, yet in order with the other events, and a viewer who joins
// while a batch waits gets each message once.
func testWSChatBatch(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{ChatBurst: 100, ChatBatch: time.Hour}, nil)
	a := e.dial(t, dialOpt{})
	a.hello("순이")
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	text := func(want string) func(map[string]any) bool {
		return func(msg map[string]any) bool {
			cm, _ := msg["message"].(map[string]any)
			return msg["type"] == "chat.message" && cm["text"] == want
		}
	}

	// The first message after a quiet spell goes out at once, batch or not.
	a.do("chat.send", map[string]any{"text": "첫 메시지"}, true)
	m.await("the first message", text("첫 메시지"))

	// The second waits for its batch (an hour here); a hide goes out after
	// it all the same.
	r := a.do("chat.send", map[string]any{"text": "두 번째"}, true)
	second := num(r["message"].(map[string]any)["id"])
	m.do("chat.hide", map[string]any{"message_id": second}, true)
	for _, c := range []*wsTestClient{a, m} {
		got := false
		c.await("chat.hidden", func(msg map[string]any) bool {
			got = got || text("두 번째")(msg)
			return msg["type"] == "chat.hidden" && num(msg["message_id"]) == second
		})
		if !got {
			t.Errorf("the hide came before the message it hides")
		}
	}

	// A viewer who joins while a batch waits finds its message in the room's
	// state, and does not get it a second time.
	a.do("chat.send", map[string]any{"text": "세 번째"}, true)
	b := e.dial(t, dialOpt{})
	st := b.hello("철수")["state"].(map[string]any)
	chat := st["chat"].([]any)
	if len(chat) != 2 || chat[1].(map[string]any)["text"] != "세 번째" {
		t.Fatalf("joining viewer's chat: %v, want the first and the third", chat)
	}
	m.do("notice.set", map[string]any{"text": "곧 마감"}, true)
	a.await("the third message", text("세 번째"))
	dup := false
	b.await("notice", func(msg map[string]any) bool {
		dup = dup || text("세 번째")(msg)
		return msg["type"] == "notice"
	})
	if dup {
		t.Errorf("the joining viewer got the third message twice")
	}
}

// testWSIdleViewer: a viewer who has had nothing for longer than the write
// timeout still gets the next event (the room's fan-out writes to idle
// sockets directly, and a deadline left from an earlier write once failed
// those writes and dropped every quiet viewer).
func testWSIdleViewer(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{WriteTimeout: 100 * time.Millisecond}, nil)
	v := e.dial(t, dialOpt{})
	v.hello("조용한 손님")
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	for i, text := range []string{"첫 공지", "두 번째 공지", "세 번째 공지"} {
		if i > 0 {
			time.Sleep(300 * time.Millisecond) // the scenario: a viewer idle past the write timeout
		}
		m.do("notice.set", map[string]any{"text": text}, true)
		v.await("notice "+text, func(msg map[string]any) bool { return msg["type"] == "notice" && msg["text"] == text })
	}
}

// testWSReplayOrder: an order placed from a replay through the REST API
// shows in the live room: the merchant gets it, everyone the new stock.
func testWSReplayOrder(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{}, nil)
	p, err := e.s.CreateProduct(t.Context(), e.ch.ID, ProductInput{Name: "갈치", PriceWon: 12000, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	api := NewAPI(e.s, nil, nil)
	api.OrderPlaced = e.rooms.OrderPlaced
	mux := http.NewServeMux()
	api.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	v := e.dial(t, dialOpt{})
	v.hello("손님")
	body := fmt.Sprintf(`{"items": [{"product_id": %d, "qty": 2}], "buyer": {"name": "박영희", "phone": "010-1234-5678"}}`, p.ID)
	resp, err := http.Post(fmt.Sprintf("%s/api/channels/%s/broadcasts/%d/orders", srv.URL, e.ch.Slug, e.b.ID), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var o Order
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("replay order: %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	ev := m.await("order.updated", isType("order.updated"))
	if got := ev["order"].(map[string]any); num(got["id"]) != o.ID || got["source"] != "replay" {
		t.Errorf("merchant's order.updated %v, want order %d from the replay", got, o.ID)
	}
	for _, c := range []*wsTestClient{m, v} {
		c.await("stock 3", func(msg map[string]any) bool {
			return msg["type"] == "stock" && num(msg["product_id"]) == p.ID && num(msg["stock"]) == 3
		})
	}
}

// testWSCouponExpiresAfterRestart drops a coupon while the room is not
// running (its connections all gone, or the server restarted): the room
// that starts later loads it and still closes it when it expires.
func testWSCouponExpiresAfterRestart(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newWSEnv(t, newDB, RoomOptions{}, nil)
	c, err := e.s.DropCoupon(t.Context(), e.id(), e.ch.ID, e.b.ID,
		CouponInput{Title: "선착순 할인", DiscountWon: 1000, Quantity: 5, ExpiresIn: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v := e.dial(t, dialOpt{})
	v.hello("손님")
	ev := v.await("coupon.closed", isType("coupon.closed"))
	if num(ev["coupon_id"]) != c.ID || ev["reason"] != "expired" {
		t.Fatalf("coupon.closed %v, want coupon %d expired", ev, c.ID)
	}
}
