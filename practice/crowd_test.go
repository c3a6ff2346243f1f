package practice

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dangol/dangol/commerce"
	"github.com/gorilla/websocket"
)

// testRoom is a real room server: a SQLite store, the live rooms, and a
// channel with one product, served on 127.0.0.1.
type testRoom struct {
	store   *commerce.Store
	rooms   *commerce.Rooms
	srv     *httptest.Server
	ch      commerce.Channel
	key     string
	product commerce.Product
}

const testStock = 12

func newTestRoom(t *testing.T) *testRoom {
	t.Helper()
	ctx := t.Context()
	s, err := commerce.OpenSQLite(ctx, filepath.Join(t.TempDir(), "dangol.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &testRoom{store: s}
	var sec commerce.Secrets
	if r.ch, sec, err = s.CreateChannel(ctx, "kim-fruit", "김씨네 과일"); err != nil {
		t.Fatal(err)
	}
	r.key = sec.StreamKey
	if r.product, err = s.CreateProduct(ctx, r.ch.ID, commerce.ProductInput{Name: "부사 사과", PriceWon: 5000, Stock: testStock}); err != nil {
		t.Fatal(err)
	}
	if r.rooms, err = commerce.NewRooms(s, commerce.RoomOptions{Logger: discard()}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws/{slug}", r.rooms.ServeWS)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	t.Cleanup(r.rooms.Close) // runs first: closes the connections
	return r
}

func (r *testRoom) url() string {
	return "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/ws/" + r.ch.Slug
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// merchant is the stall owner's websocket client: it sends commands and
// keeps what the room tells it.
type merchant struct {
	conn *websocket.Conn
	n    int

	mu       sync.Mutex // guards the fields below
	replies  map[string]json.RawMessage
	viewers  int
	chats    []chatMsg
	orders   map[int64]orderMsg
	stocks   []int // the product's stock events, in order
	soldOut  map[int64]bool
	readErr  error
	closedCh chan struct{}
}

type chatMsg struct {
	Nickname string `json:"nickname"`
	Text     string `json:"text"`
}

type orderMsg struct {
	ID    int64 `json:"id"`
	Buyer struct {
		Name  string `json:"name"`
		Phone string `json:"phone"`
	} `json:"buyer"`
	Items []struct {
		ProductID int64 `json:"product_id"`
		Qty       int   `json:"qty"`
	} `json:"items"`
	CouponID int64 `json:"coupon_id"`
}

func dialMerchant(t *testing.T, r *testRoom) *merchant {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + r.key}}
	conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), r.url(), h)
	if err != nil {
		t.Fatal(err)
	}
	m := &merchant{conn: conn, replies: map[string]json.RawMessage{}, orders: map[int64]orderMsg{}, soldOut: map[int64]bool{}, closedCh: make(chan struct{})}
	go m.read(r.product.ID)
	t.Cleanup(func() {
		conn.Close()
		<-m.closedCh
	})
	m.command(t, map[string]any{"type": "hello", "name": "사장님"})
	return m
}

func (m *merchant) read(productID int64) {
	defer close(m.closedCh)
	for {
		_, b, err := m.conn.ReadMessage()
		if err != nil {
			m.mu.Lock()
			m.readErr = err
			m.mu.Unlock()
			return
		}
		var e struct {
			Type      string   `json:"type"`
			ID        string   `json:"id"`
			Viewers   int      `json:"viewers"`
			Message   chatMsg  `json:"message"`
			Order     orderMsg `json:"order"`
			ProductID int64    `json:"product_id"`
			Stock     int      `json:"stock"`
			CouponID  int64    `json:"coupon_id"`
			Reason    string   `json:"reason"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			continue // a number id: not ours
		}
		m.mu.Lock()
		switch e.Type {
		case "reply":
			m.replies[e.ID] = b
		case "viewers":
			m.viewers = e.Viewers
		case "chat.message":
			m.chats = append(m.chats, e.Message)
		case "order.updated":
			m.orders[e.Order.ID] = e.Order
		case "stock":
			if e.ProductID == productID {
				m.stocks = append(m.stocks, e.Stock)
			}
		case "coupon.closed":
			m.soldOut[e.CouponID] = e.Reason == "sold_out"
		}
		m.mu.Unlock()
	}
}

// command sends a command and waits for its reply, which must be ok.
func (m *merchant) command(t *testing.T, cmd map[string]any) map[string]any {
	t.Helper()
	m.n++
	id := "m" + strconv.Itoa(m.n)
	cmd["id"] = id
	if err := m.conn.WriteJSON(cmd); err != nil {
		t.Fatal(err)
	}
	var raw json.RawMessage
	waitFor(t, cmd["type"].(string)+" reply", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		raw = m.replies[id]
		return raw != nil
	})
	var reply map[string]any
	if err := json.Unmarshal(raw, &reply); err != nil || reply["ok"] != true {
		t.Fatalf("%s: %s", cmd["type"], raw)
	}
	return reply
}

// snapshot runs f with the merchant's view locked.
func (m *merchant) snapshot(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCrowd runs a busy crowd, ten times faster, against a real room while
// a merchant goes live, pins a product and drops a coupon.
func TestCrowd(t *testing.T) {
	r := newTestRoom(t)
	m := dialMerchant(t, r)
	lib, err := DefaultLibrary()
	if err != nil {
		t.Fatal(err)
	}
	pace, err := lib.Pace(PaceBusy)
	if err != nil {
		t.Fatal(err)
	}
	script, err := lib.Script(DefaultScript)
	if err != nil {
		t.Fatal(err)
	}
	crowd, err := Start(t.Context(), Config{RoomURL: r.url(), Script: script, Pace: pace, Seed: 42, Speed: 10, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(crowd.Stop)
	if got, want := crowd.Nicknames(), script.nicknames(pace.Viewers, 42); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("nicknames %v, want %v (seed 42)", got, want)
	}

	// Not live yet: the viewers join and keep quiet.
	waitFor(t, "all viewers joined", func() bool {
		var viewers int
		m.snapshot(func() { viewers = m.viewers })
		return crowd.Stats().Joined == pace.Viewers && viewers == pace.Viewers
	})
	waitFor(t, "viewers staying quiet", func() bool { return crowd.Stats().Quiet >= pace.Viewers })
	if s := crowd.Stats(); s.Chats+s.Likes+s.ChatsRefused != 0 {
		t.Fatalf("the crowd acted in a room not live: %+v", s)
	}

	// Live: they greet and chat.
	b, err := r.rooms.BroadcastStarted(t.Context(), r.ch.Slug)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "greetings", func() bool { return crowd.Stats().Chats >= pace.Viewers/2 })

	m.command(t, map[string]any{"type": "product.pin", "product_id": r.product.ID})
	const quantity = 5
	reply := m.command(t, map[string]any{"type": "coupon.drop", "title": "선착순 천원", "discount_won": 1000, "quantity": quantity, "expires_in_s": 600})
	couponID := int64(reply["coupon"].(map[string]any)["id"].(float64))

	waitFor(t, "the coupon sold out", func() bool {
		var sold bool
		m.snapshot(func() { sold = m.soldOut[couponID] })
		return sold && crowd.Stats().ClaimsOK == quantity
	})
	waitFor(t, "orders", func() bool {
		var orders int
		m.snapshot(func() { orders = len(m.orders) })
		return crowd.Stats().OrdersPlaced >= 3 && orders >= 3
	})
	waitFor(t, "likes", func() bool { return crowd.Stats().Likes > 0 })

	crowd.Stop()
	waitFor(t, "the viewers gone", func() bool {
		var viewers int
		m.snapshot(func() { viewers = m.viewers })
		return viewers == 0 && crowd.Stats().Connected == 0
	})

	// The store has every order the merchant saw, and no more; the stock
	// went down by what they ordered, never below zero.
	var stored []commerce.Order
	waitFor(t, "the merchant told of every order", func() bool {
		stored, err = r.store.ListOrders(t.Context(), r.ch.ID, commerce.OrderFilter{BroadcastID: b.ID})
		if err != nil {
			t.Fatal(err)
		}
		var seen int
		m.snapshot(func() { seen = len(m.orders) })
		return seen == len(stored)
	})
	s := crowd.Stats()
	if s.OrdersPlaced > len(stored) || s.ClaimsOK != quantity || s.RateLimited != 0 || s.DialErrors != 0 {
		t.Fatalf("stats %+v with %d orders stored", s, len(stored))
	}
	ordered, withCoupon := 0, 0
	phone := regexp.MustCompile(`^010-000[0-2]-[0-9]{4}$`)
	m.snapshot(func() {
		for _, o := range m.orders {
			if len(o.Items) != 1 || o.Items[0].ProductID != r.product.ID || !phone.MatchString(o.Buyer.Phone) || !hasHangul(o.Buyer.Name) {
				t.Errorf("order %+v", o)
			}
			if o.CouponID != 0 {
				if o.CouponID != couponID {
					t.Errorf("order %d uses coupon %d", o.ID, o.CouponID)
				}
				withCoupon++
			}
		}
		for _, st := range m.stocks {
			if st < 0 {
				t.Errorf("stock %d", st)
			}
		}
	})
	for _, o := range stored {
		ordered += o.Items[0].Qty
	}
	if withCoupon > quantity {
		t.Errorf("%d orders used the coupon of %d", withCoupon, quantity)
	}
	p, err := r.store.Product(t.Context(), r.ch.ID, r.product.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stock != testStock-ordered || p.Stock < 0 {
		t.Fatalf("stock %d after %d ordered of %d", p.Stock, ordered, testStock)
	}

	// The chat is the crowd's, from the script's pools, in Korean.
	names := map[string]bool{}
	for _, n := range crowd.Nicknames() {
		names[n] = true
	}
	pools := scriptPattern(script)
	var chats int
	m.snapshot(func() {
		for _, c := range m.chats {
			if !names[c.Nickname] {
				t.Errorf("chat from %q, not the crowd", c.Nickname)
			}
			if !pools.MatchString(c.Text) || !hasHangul(c.Text) {
				t.Errorf("chat %q is not from the script", c.Text)
			}
		}
		chats = len(m.chats)
	})
	if chats < pace.Viewers/2 {
		t.Fatalf("%d chat messages", chats)
	}
	t.Logf("stats %+v; %d orders, %d ordered, %d with the coupon", s, len(stored), ordered, withCoupon)
}

// scriptPattern matches any line of the script, placeholders filled.
func scriptPattern(s *Script) *regexp.Regexp {
	var alts []string
	for _, lines := range s.Lines {
		for _, l := range lines {
			q := regexp.QuoteMeta(l)
			for _, ph := range []string{"{product}", "{price}", "{qty}"} {
				q = strings.ReplaceAll(q, regexp.QuoteMeta(ph), ".+")
			}
			alts = append(alts, q)
		}
	}
	return regexp.MustCompile("^(?:" + strings.Join(alts, "|") + ")$")
}

func TestStartConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no URL", Config{}},
		{"http URL", Config{RoomURL: "http://127.0.0.1/ws/x"}},
		{"negative speed", Config{RoomURL: "ws://127.0.0.1/ws/x", Speed: -1}},
		{"bad pace", Config{RoomURL: "ws://127.0.0.1/ws/x", Pace: Pace{Name: "x", Viewers: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Start(t.Context(), tt.cfg)
			if !errors.Is(err, ErrInvalidConfig) {
				if c != nil {
					c.Stop()
				}
				t.Fatalf("error %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestMerchantCredential checks that a crowd given the merchant's key does
// not act as the merchant: the room greets it as the merchant and the
// viewer leaves.
func TestMerchantCredential(t *testing.T) {
	r := newTestRoom(t)
	pace := Pace{Name: "one", Viewers: 1, ChatsPerMin: 30, Quantities: []Quantity{{1, 1}}}
	crowd, err := Start(t.Context(), Config{
		RoomURL: r.url(), Pace: pace, Speed: 100, Logger: discard(),
		Header: http.Header{"Authorization": {"Bearer " + r.key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Stop returns once the viewer's goroutine ends; it ends on its own.
	done := make(chan struct{})
	go func() {
		crowd.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer with the merchant's key did not leave")
	}
	crowd.Stop()
	if s := crowd.Stats(); s.Joined != 0 || s.Chats != 0 {
		t.Fatalf("stats %+v", s)
	}
}
