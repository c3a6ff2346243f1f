package commerce

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is a settable clock for Store.now, safe to read from the
// writer goroutine while a test moves it.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// room is a store with a channel that is live, another channel, and a
// clock the test controls.
type room struct {
	s     *Store
	clock *testClock
	ch    Channel   // the channel under test
	other Channel   // another stall, whose things must stay out of reach
	b     Broadcast // ch's live broadcast
	ob    Broadcast // other's live broadcast
	n     atomic.Int64
}

func newRoom(t *testing.T, newDB func(t *testing.T) storeOpener) *room {
	t.Helper()
	r := &room{s: newDB(t)(t), clock: newTestClock()}
	r.s.now = r.clock.Now
	var err error
	if r.ch, _, err = r.s.CreateChannel(t.Context(), "kim-fish", "김씨네 생선가게"); err != nil {
		t.Fatal(err)
	}
	if r.other, _, err = r.s.CreateChannel(t.Context(), "lee-veg", "이씨네 채소"); err != nil {
		t.Fatal(err)
	}
	if r.b, err = r.s.StartBroadcast(t.Context(), r.ch.ID, "오늘의 생선", false); err != nil {
		t.Fatal(err)
	}
	if r.ob, err = r.s.StartBroadcast(t.Context(), r.other.ID, "", false); err != nil {
		t.Fatal(err)
	}
	return r
}

// cmd returns a fresh command id.
func (r *room) cmd() string { return fmt.Sprintf("cmd-%d", r.n.Add(1)) }

func (r *room) viewer(t *testing.T, nickname string) Viewer {
	t.Helper()
	v, _, err := r.s.CreateViewer(t.Context(), r.ch.ID, nickname)
	if err != nil {
		t.Fatalf("CreateViewer: %v", err)
	}
	return v
}

func (r *room) product(t *testing.T, name string, price int64, stock int) Product {
	t.Helper()
	p, err := r.s.CreateProduct(t.Context(), r.ch.ID, ProductInput{Name: name, PriceWon: price, Stock: stock})
	if err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	return p
}

func (r *room) coupon(t *testing.T, discount int64, quantity int) Coupon {
	t.Helper()
	c, err := r.s.DropCoupon(t.Context(), r.cmd(), r.ch.ID, r.b.ID,
		CouponInput{Title: "선착순 할인", DiscountWon: discount, Quantity: quantity, ExpiresIn: 10 * time.Minute})
	if err != nil {
		t.Fatalf("DropCoupon: %v", err)
	}
	return c
}

func (r *room) claim(t *testing.T, v Viewer, c Coupon) ClaimResult {
	t.Helper()
	res, err := r.s.ClaimCoupon(t.Context(), r.cmd(), v.ID, c.ID)
	if err != nil {
		t.Fatalf("ClaimCoupon: %v", err)
	}
	return res
}

func (r *room) stock(t *testing.T, p Product) int {
	t.Helper()
	got, err := r.s.Product(t.Context(), p.ChannelID, p.ID)
	if err != nil {
		t.Fatalf("Product: %v", err)
	}
	return got.Stock
}

var buyer = Buyer{Name: "박영희", Phone: "010-1234-5678"}

// wantErr fails t unless err wraps want and has its code.
func wantErr(t *testing.T, what string, err error, want *Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want.Code())
	}
	if Code(err) != want.Code() {
		t.Fatalf("%s: Code = %q, want %q", what, Code(err), want.Code())
	}
}

func ptr[T any](v T) *T { return &v }

// testRoomContract is the part of the store contract for the live room.
func testRoomContract(t *testing.T, newDB func(t *testing.T) storeOpener) {
	tests := []struct {
		name string
		test func(t *testing.T, newDB func(t *testing.T) storeOpener)
	}{
		{"products", testProducts},
		{"broadcasts", testBroadcasts},
		{"viewers", testViewers},
		{"chat", testChat},
		{"coupons", testCoupons},
		{"commands", testCommands},
		{"orders", testOrders},
		{"order status", testOrderStatus},
		{"concurrent claims", testConcurrentClaims},
		{"concurrent orders", testConcurrentOrders},
		{"concurrent status changes", testConcurrentStatus},
		{"reopen keeps the room", testReopenRoom},
		{"viewer stats", testViewerStats},
		{"clips", testClips},
		{"sales totals", testSalesTotals},
		{"channel profile", testChannelProfile},
		{"schedule", testSchedule},
		{"pin and studio sessions", testPINSessions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each has a database of its own
			tt.test(t, newDB)
		})
	}
}

func testProducts(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	in := ProductInput{Name: " 고등어 한 손 🐟 ", PriceWon: 8000, Stock: 12, Description: "제주산\n손질해 드립니다", PhotoKey: "products/kim-fish/1.jpg"}
	p, err := r.s.CreateProduct(ctx, r.ch.ID, in)
	if err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	want := Product{ID: p.ID, ChannelID: r.ch.ID, Name: "고등어 한 손 🐟", PriceWon: 8000, Stock: 12,
		Description: "제주산\n손질해 드립니다", PhotoKey: "products/kim-fish/1.jpg", CreatedAt: r.clock.Now(), UpdatedAt: r.clock.Now()}
	if p != want {
		t.Fatalf("CreateProduct = %+v, want %+v", p, want)
	}
	if got, err := r.s.Product(ctx, r.ch.ID, p.ID); err != nil || got != want {
		t.Fatalf("Product = %+v, %v; want %+v", got, err, want)
	}
	free := r.product(t, "덤", 0, 0) // a free item with no stock is a product too

	bad := []struct {
		name string
		in   ProductInput
	}{
		{"empty name", ProductInput{Name: " ", PriceWon: 1000, Stock: 1}},
		{"long name", ProductInput{Name: strings.Repeat("가", 81), PriceWon: 1000, Stock: 1}},
		{"newline in name", ProductInput{Name: "고등어\n갈치", PriceWon: 1000, Stock: 1}},
		{"invalid utf-8", ProductInput{Name: "고등어\xff", PriceWon: 1000, Stock: 1}},
		{"bidi override", ProductInput{Name: "고등어\u202e", PriceWon: 1000, Stock: 1}},
		{"negative price", ProductInput{Name: "고등어", PriceWon: -1, Stock: 1}},
		{"huge price", ProductInput{Name: "고등어", PriceWon: maxPriceWon + 1, Stock: 1}},
		{"negative stock", ProductInput{Name: "고등어", PriceWon: 1000, Stock: -1}},
		{"huge stock", ProductInput{Name: "고등어", PriceWon: 1000, Stock: maxStock + 1}},
		{"long description", ProductInput{Name: "고등어", PriceWon: 1000, Description: strings.Repeat("가", 2001)}},
		{"control in description", ProductInput{Name: "고등어", PriceWon: 1000, Description: "a\x00b"}},
		{"photo key with ..", ProductInput{Name: "고등어", PriceWon: 1000, PhotoKey: "../etc/passwd"}},
		{"absolute photo key", ProductInput{Name: "고등어", PriceWon: 1000, PhotoKey: "/etc/passwd"}},
		{"photo key with space", ProductInput{Name: "고등어", PriceWon: 1000, PhotoKey: "a b.jpg"}},
	}
	for _, tt := range bad {
		t.Run("create/"+tt.name, func(t *testing.T) {
			_, err := r.s.CreateProduct(ctx, r.ch.ID, tt.in)
			wantErr(t, "CreateProduct", err, ErrInvalid)
		})
	}
	if _, err := r.s.CreateProduct(ctx, 999999, ProductInput{Name: "고등어", PriceWon: 1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateProduct on no channel: err = %v, want ErrNotFound", err)
	}
	if ps, err := r.s.Products(ctx, r.ch.ID); err != nil || len(ps) != 2 || ps[0] != want || ps[1] != free {
		t.Fatalf("Products after refused creates = %+v, %v; want the two products", ps, err)
	}

	// A patch writes only what it sets.
	r.clock.Advance(time.Minute)
	got, err := r.s.UpdateProduct(ctx, r.ch.ID, p.ID, ProductPatch{PriceWon: ptr(int64(7500))})
	if err != nil {
		t.Fatalf("UpdateProduct: %v", err)
	}
	want.PriceWon, want.UpdatedAt = 7500, r.clock.Now()
	if got != want {
		t.Fatalf("UpdateProduct = %+v, want %+v", got, want)
	}
	got, err = r.s.UpdateProduct(ctx, r.ch.ID, p.ID, ProductPatch{Name: ptr("삼치"), Stock: ptr(3), Description: ptr(""), PhotoKey: ptr("")})
	if err != nil {
		t.Fatalf("UpdateProduct: %v", err)
	}
	want.Name, want.Stock, want.Description, want.PhotoKey = "삼치", 3, "", ""
	if got != want {
		t.Fatalf("UpdateProduct = %+v, want %+v", got, want)
	}
	badPatches := []struct {
		name  string
		patch ProductPatch
	}{
		{"empty name", ProductPatch{Name: ptr("")}},
		{"negative price", ProductPatch{PriceWon: ptr(int64(-5))}},
		{"negative stock", ProductPatch{Stock: ptr(-1)}},
		{"good price, bad stock", ProductPatch{PriceWon: ptr(int64(1)), Stock: ptr(-1)}},
		{"bad photo key", ProductPatch{PhotoKey: ptr("a//b")}},
	}
	for _, tt := range badPatches {
		t.Run("update/"+tt.name, func(t *testing.T) {
			_, err := r.s.UpdateProduct(ctx, r.ch.ID, p.ID, tt.patch)
			wantErr(t, "UpdateProduct", err, ErrInvalid)
			if got, _ := r.s.Product(ctx, r.ch.ID, p.ID); got != want {
				t.Errorf("product changed by a refused update: %+v, want %+v", got, want)
			}
		})
	}

	// Another channel's product is out of reach.
	if _, err := r.s.Product(ctx, r.other.ID, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Product of another channel: err = %v, want ErrNotFound", err)
	}
	if _, err := r.s.UpdateProduct(ctx, r.other.ID, p.ID, ProductPatch{Stock: ptr(0)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateProduct of another channel: err = %v, want ErrNotFound", err)
	}
	if err := r.s.DeleteProduct(ctx, r.other.ID, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteProduct of another channel: err = %v, want ErrNotFound", err)
	}
	if ps, _ := r.s.Products(ctx, r.other.ID); len(ps) != 0 {
		t.Errorf("other channel lists %d products, want 0", len(ps))
	}

	if err := r.s.DeleteProduct(ctx, r.ch.ID, p.ID); err != nil {
		t.Fatalf("DeleteProduct: %v", err)
	}
	if _, err := r.s.Product(ctx, r.ch.ID, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted Product: err = %v, want ErrNotFound", err)
	}
	if err := r.s.DeleteProduct(ctx, r.ch.ID, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteProduct twice: err = %v, want ErrNotFound", err)
	}
	if _, err := r.s.UpdateProduct(ctx, r.ch.ID, p.ID, ProductPatch{Stock: ptr(1)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateProduct of a deleted product: err = %v, want ErrNotFound", err)
	}
	if ps, err := r.s.Products(ctx, r.ch.ID); err != nil || len(ps) != 1 || ps[0] != free {
		t.Errorf("Products after delete = %+v, %v; want only %+v", ps, err, free)
	}
}

func testBroadcasts(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	want := Broadcast{ID: r.b.ID, ChannelID: r.ch.ID, Title: "오늘의 생선", StartedAt: r.clock.Now()}
	if r.b != want {
		t.Fatalf("StartBroadcast = %+v, want %+v", r.b, want)
	}
	if _, err := r.s.StartBroadcast(ctx, r.ch.ID, "again", true); !errors.Is(err, ErrExists) {
		t.Fatalf("StartBroadcast while live: err = %v, want ErrExists", err)
	}
	if _, err := r.s.StartBroadcast(ctx, 999999, "", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("StartBroadcast on no channel: err = %v, want ErrNotFound", err)
	}
	if _, err := r.s.StartBroadcast(ctx, r.ch.ID, "제\n목", false); !errors.Is(err, ErrInvalid) {
		t.Errorf("StartBroadcast with a bad title: err = %v, want ErrInvalid", err)
	}
	if got, err := r.s.LiveBroadcast(ctx, r.ch.ID); err != nil || got != want {
		t.Fatalf("LiveBroadcast = %+v, %v; want %+v", got, err, want)
	}

	p := r.product(t, "고등어", 8000, 5)
	op, err := r.s.CreateProduct(ctx, r.other.ID, ProductInput{Name: "배추", PriceWon: 3000, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Minute)
	got, err := r.s.PinProduct(ctx, r.ch.ID, r.b.ID, p.ID)
	if err != nil || got.PinnedProductID != p.ID {
		t.Fatalf("PinProduct = %+v, %v; want product %d pinned", got, err, p.ID)
	}
	for _, tt := range []struct {
		name             string
		channel, b, prod int64
		want             *Error
	}{
		{"other channel's product", r.ch.ID, r.b.ID, op.ID, ErrNotFound},
		{"unknown product", r.ch.ID, r.b.ID, 999999, ErrNotFound},
		{"other channel's broadcast", r.ch.ID, r.ob.ID, p.ID, ErrNotFound},
		{"as the other channel", r.other.ID, r.b.ID, p.ID, ErrNotFound},
	} {
		_, err := r.s.PinProduct(ctx, tt.channel, tt.b, tt.prod)
		wantErr(t, "PinProduct "+tt.name, err, tt.want)
	}
	if got, _ := r.s.Broadcast(ctx, r.b.ID); got.PinnedProductID != p.ID {
		t.Errorf("refused pins changed the pin to %d", got.PinnedProductID)
	}
	r.clock.Advance(time.Minute)
	if got, err := r.s.PinProduct(ctx, r.ch.ID, r.b.ID, 0); err != nil || got.PinnedProductID != 0 {
		t.Errorf("unpin = %+v, %v", got, err)
	}
	pins, err := r.s.Pins(ctx, r.b.ID)
	if err == nil && (len(pins) != 2 || pins[0].ID <= 0 || pins[1].ID <= pins[0].ID) {
		t.Errorf("Pins = %+v: want two, ids increasing", pins)
	}
	var noIDs []Pin
	for _, pin := range pins {
		pin.ID = 0
		noIDs = append(noIDs, pin)
	}
	wantPins := []Pin{{0, p.ID, r.clock.Now().Add(-time.Minute)}, {0, 0, r.clock.Now()}}
	if err != nil || !reflect.DeepEqual(noIDs, wantPins) {
		t.Errorf("Pins = %+v, %v; want %+v", noIDs, err, wantPins)
	}
	if _, err := r.s.PinProduct(ctx, r.ch.ID, r.b.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	// Deleting the pinned product unpins it.
	if err := r.s.DeleteProduct(ctx, r.ch.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.s.Broadcast(ctx, r.b.ID); got.PinnedProductID != 0 {
		t.Errorf("deleted product still pinned")
	}
	if _, err := r.s.PinProduct(ctx, r.ch.ID, r.b.ID, p.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("pin a deleted product: err = %v, want ErrNotFound", err)
	}

	if got, err := r.s.SetNotice(ctx, r.ch.ID, r.b.ID, " 오후 6시까지 픽업 "); err != nil || got.Notice != "오후 6시까지 픽업" {
		t.Errorf("SetNotice = %+v, %v", got, err)
	}
	if _, err := r.s.SetNotice(ctx, r.ch.ID, r.b.ID, strings.Repeat("가", 201)); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetNotice too long: err = %v, want ErrInvalid", err)
	}
	if _, err := r.s.SetNotice(ctx, r.other.ID, r.b.ID, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetNotice as another channel: err = %v, want ErrNotFound", err)
	}
	for _, n := range []int64{0, -1, 1_000_001} {
		if _, err := r.s.AddLikes(ctx, r.b.ID, n); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddLikes(%d): err = %v, want ErrInvalid", n, err)
		}
	}
	if total, err := r.s.AddLikes(ctx, r.b.ID, 3); err != nil || total != 3 {
		t.Errorf("AddLikes = %d, %v; want 3", total, err)
	}
	if total, err := r.s.AddLikes(ctx, r.b.ID, 40); err != nil || total != 43 {
		t.Errorf("AddLikes = %d, %v; want 43", total, err)
	}
	if _, err := r.s.AddLikes(ctx, 999999, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddLikes on no broadcast: err = %v, want ErrNotFound", err)
	}

	c := r.coupon(t, 1000, 10)
	if _, err := r.s.EndBroadcast(ctx, r.other.ID, r.b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("EndBroadcast as another channel: err = %v, want ErrNotFound", err)
	}
	r.clock.Advance(time.Hour)
	ended, err := r.s.EndBroadcast(ctx, r.ch.ID, r.b.ID)
	if err != nil || ended.Live() || !ended.EndedAt.Equal(r.clock.Now()) || ended.Likes != 43 || ended.Notice != "오후 6시까지 픽업" {
		t.Fatalf("EndBroadcast = %+v, %v", ended, err)
	}
	r.clock.Advance(time.Minute)
	if again, err := r.s.EndBroadcast(ctx, r.ch.ID, r.b.ID); err != nil || again != ended {
		t.Errorf("EndBroadcast twice = %+v, %v; want %+v unchanged", again, err, ended)
	}
	if got, _ := r.s.Coupon(ctx, c.ID); !got.Closed {
		t.Errorf("coupon still open after the broadcast ended")
	}
	if _, err := r.s.LiveBroadcast(ctx, r.ch.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("LiveBroadcast after end: err = %v, want ErrNotFound", err)
	}
	if _, err := r.s.PinProduct(ctx, r.ch.ID, r.b.ID, 0); !errors.Is(err, ErrNotLive) {
		t.Errorf("PinProduct after end: err = %v, want ErrNotLive", err)
	}
	if _, err := r.s.SetNotice(ctx, r.ch.ID, r.b.ID, ""); !errors.Is(err, ErrNotLive) {
		t.Errorf("SetNotice after end: err = %v, want ErrNotLive", err)
	}

	next, err := r.s.StartBroadcast(ctx, r.ch.ID, "", true)
	if err != nil || !next.Practice || next.ID == r.b.ID {
		t.Fatalf("StartBroadcast after end = %+v, %v", next, err)
	}
	bs, err := r.s.Broadcasts(ctx, r.ch.ID, 0)
	if err != nil || len(bs) != 2 || bs[0] != next || bs[1] != ended {
		t.Errorf("Broadcasts = %+v, %v; want newest first", bs, err)
	}
	if _, err := r.s.Broadcast(ctx, 999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Broadcast(unknown): err = %v, want ErrNotFound", err)
	}
}

func testViewers(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	v, token, err := r.s.CreateViewer(ctx, r.ch.ID, " 단골손님 ")
	if err != nil {
		t.Fatalf("CreateViewer: %v", err)
	}
	want := Viewer{ID: v.ID, ChannelID: r.ch.ID, Nickname: "단골손님", CreatedAt: r.clock.Now()}
	if v != want || len(token) < 26 {
		t.Fatalf("CreateViewer = %+v, %q; want %+v", v, token, want)
	}
	if got, err := r.s.ResumeViewer(ctx, r.ch.ID, token); err != nil || got != want {
		t.Fatalf("ResumeViewer = %+v, %v; want %+v", got, err, want)
	}
	anon, anonToken, err := r.s.CreateViewer(ctx, r.ch.ID, "")
	if err != nil || anon.Nickname != "" || anonToken == token {
		t.Fatalf("CreateViewer anonymous = %+v, %v", anon, err)
	}
	_, otherToken, err := r.s.CreateViewer(ctx, r.other.ID, "이웃")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", "nope", strings.ToLower(token), token + "A", otherToken} {
		if _, err := r.s.ResumeViewer(ctx, r.ch.ID, tok); !errors.Is(err, ErrBadKey) {
			t.Errorf("ResumeViewer(%q): err = %v, want ErrBadKey", tok, err)
		}
	}
	if _, err := r.s.ResumeViewer(ctx, r.other.ID, token); !errors.Is(err, ErrBadKey) {
		t.Errorf("ResumeViewer on another channel: err = %v, want ErrBadKey", err)
	}
	for _, nick := range []string{strings.Repeat("가", 21), "줄\n바꿈", "\x1b[31m", "bad\xff"} {
		if _, _, err := r.s.CreateViewer(ctx, r.ch.ID, nick); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateViewer(%q): err = %v, want ErrInvalid", nick, err)
		}
		if _, err := r.s.SetNickname(ctx, r.ch.ID, v.ID, nick); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetNickname(%q): err = %v, want ErrInvalid", nick, err)
		}
	}
	if _, _, err := r.s.CreateViewer(ctx, 999999, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateViewer on no channel: err = %v, want ErrNotFound", err)
	}

	msg, err := r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, "안녕하세요")
	if err != nil || msg.Nickname != "단골손님" {
		t.Fatalf("AddChat = %+v, %v", msg, err)
	}
	if got, err := r.s.SetNickname(ctx, r.ch.ID, v.ID, "고등어러버"); err != nil || got.Nickname != "고등어러버" {
		t.Fatalf("SetNickname = %+v, %v", got, err)
	}
	if got, _ := r.s.RecentChat(ctx, r.b.ID, 0); len(got) != 1 || got[0].Nickname != "단골손님" {
		t.Errorf("a sent message's nickname changed with the viewer's: %+v", got)
	}

	// Mute: no chat until the time has passed.
	until := r.clock.Now().Add(10 * time.Minute)
	mv, err := r.s.MuteViewer(ctx, r.ch.ID, v.ID, until)
	if err != nil || !mv.MutedUntil.Equal(until) || !mv.Muted(r.clock.Now()) {
		t.Fatalf("MuteViewer = %+v, %v", mv, err)
	}
	_, err = r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, "왜 안 돼요")
	wantErr(t, "AddChat muted", err, ErrMuted)
	r.clock.Advance(10*time.Minute + time.Second)
	if _, err := r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, "이제 돼요"); err != nil {
		t.Errorf("AddChat after the mute: %v", err)
	}
	if _, err := r.s.MuteViewer(ctx, r.ch.ID, v.ID, r.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if mv, err := r.s.MuteViewer(ctx, r.ch.ID, v.ID, time.Time{}); err != nil || !mv.MutedUntil.IsZero() {
		t.Fatalf("unmute = %+v, %v", mv, err)
	}
	if _, err := r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, "풀렸다"); err != nil {
		t.Errorf("AddChat after unmute: %v", err)
	}

	// Ban: no chat, no coupon, no order.
	p := r.product(t, "고등어", 8000, 5)
	c := r.coupon(t, 1000, 10)
	if bv, err := r.s.BanViewer(ctx, r.ch.ID, v.ID, true); err != nil || !bv.Banned {
		t.Fatalf("BanViewer = %+v, %v", bv, err)
	}
	_, err = r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, "hi")
	wantErr(t, "AddChat banned", err, ErrBanned)
	_, err = r.s.ClaimCoupon(ctx, r.cmd(), v.ID, c.ID)
	wantErr(t, "ClaimCoupon banned", err, ErrBanned)
	_, err = r.s.PlaceOrder(ctx, r.cmd(), v.ID, OrderInput{Items: []ItemInput{{p.ID, 1}}, Buyer: buyer})
	wantErr(t, "PlaceOrder banned", err, ErrBanned)
	if r.stock(t, p) != 5 {
		t.Errorf("a banned viewer's order took stock")
	}
	if _, err := r.s.BanViewer(ctx, r.ch.ID, v.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.ClaimCoupon(ctx, r.cmd(), v.ID, c.ID); err != nil {
		t.Errorf("ClaimCoupon after unban: %v", err)
	}

	// Another channel cannot touch the viewer.
	for name, f := range map[string]func() error{
		"Viewer":      func() error { _, err := r.s.Viewer(ctx, r.other.ID, v.ID); return err },
		"MuteViewer":  func() error { _, err := r.s.MuteViewer(ctx, r.other.ID, v.ID, until); return err },
		"BanViewer":   func() error { _, err := r.s.BanViewer(ctx, r.other.ID, v.ID, true); return err },
		"SetNickname": func() error { _, err := r.s.SetNickname(ctx, r.other.ID, v.ID, "x"); return err },
	} {
		if err := f(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s as another channel: err = %v, want ErrNotFound", name, err)
		}
	}
	if got, err := r.s.Viewer(ctx, r.ch.ID, v.ID); err != nil || got.Banned || got.Nickname != "고등어러버" {
		t.Errorf("Viewer = %+v, %v", got, err)
	}
}

func testChat(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	v := r.viewer(t, "손님")
	m, err := r.s.AddChat(ctx, "c1", v.ID, r.b.ID, "  고등어 얼마예요? 🐟  ")
	if err != nil {
		t.Fatalf("AddChat: %v", err)
	}
	want := ChatMessage{ID: m.ID, BroadcastID: r.b.ID, ViewerID: v.ID, Nickname: "손님", Text: "고등어 얼마예요? 🐟", CreatedAt: r.clock.Now()}
	if m != want {
		t.Fatalf("AddChat = %+v, want %+v", m, want)
	}
	// A retry gets the same message back and adds nothing.
	r.clock.Advance(time.Second)
	again, err := r.s.AddChat(ctx, "c1", v.ID, r.b.ID, "  고등어 얼마예요? 🐟  ")
	if err != nil || !again.Replayed {
		t.Fatalf("AddChat retry = %+v, %v; want a replay", again, err)
	}
	again.Replayed = false
	if again != want {
		t.Errorf("AddChat retry = %+v, want %+v", again, want)
	}

	bad := []struct{ name, text string }{
		{"empty", ""},
		{"blank", " \t\u3000 "},
		{"too long", strings.Repeat("가", 301)},
		{"newline", "첫줄\n둘째줄"},
		{"escape", "\x1b[2J"},
		{"nul", "a\x00"},
		{"invalid utf-8", "\xff\xfe"},
		{"bidi override", "\u202egnp.exe"},
		{"bidi isolate", "a\u2066b"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, tt.text)
			wantErr(t, "AddChat", err, ErrInvalid)
		})
	}
	if ms, err := r.s.RecentChat(ctx, r.b.ID, 0); err != nil || len(ms) != 1 || ms[0] != want {
		t.Fatalf("RecentChat after refused messages = %+v, %v; want only %+v", ms, err, want)
	}
	// HTML is text like any other.
	if m, err := r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, `<script>alert("x")</script>`); err != nil || m.Text != `<script>alert("x")</script>` {
		t.Errorf("AddChat with markup = %+v, %v; want it stored as text", m, err)
	}
	if _, err := r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, strings.Repeat("가", 300)); err != nil {
		t.Errorf("AddChat of 300 characters: %v", err)
	}

	ov, _, err := r.s.CreateViewer(ctx, r.other.ID, "이웃")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.s.AddChat(ctx, r.cmd(), ov.ID, r.b.ID, "hi")
	wantErr(t, "AddChat by another channel's viewer", err, ErrNotFound)
	_, err = r.s.AddChat(ctx, r.cmd(), 999999, r.b.ID, "hi")
	wantErr(t, "AddChat by no viewer", err, ErrNotFound)

	// Hiding: gone for everyone, and only by the channel.
	if _, err := r.s.HideChat(ctx, r.other.ID, m.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("HideChat as another channel: err = %v, want ErrNotFound", err)
	}
	hidden, err := r.s.HideChat(ctx, r.ch.ID, m.ID)
	if err != nil || !hidden.Hidden || hidden.ID != m.ID {
		t.Fatalf("HideChat = %+v, %v", hidden, err)
	}
	if _, err := r.s.HideChat(ctx, r.ch.ID, m.ID); err != nil {
		t.Errorf("HideChat twice: %v", err)
	}
	if _, err := r.s.HideChat(ctx, r.ch.ID, 999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("HideChat(unknown): err = %v, want ErrNotFound", err)
	}
	ms, err := r.s.RecentChat(ctx, r.b.ID, 0)
	if err != nil || len(ms) != 2 {
		t.Fatalf("RecentChat = %d messages, %v; want 2", len(ms), err)
	}
	for _, got := range ms {
		if got.ID == m.ID {
			t.Errorf("hidden message %d still listed", m.ID)
		}
	}

	// The last 50, oldest first.
	for i := range 60 {
		if _, err := r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, fmt.Sprintf("메시지 %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ms, err = r.s.RecentChat(ctx, r.b.ID, DefaultRecentChat)
	if err != nil || len(ms) != 50 {
		t.Fatalf("RecentChat = %d messages, %v; want 50", len(ms), err)
	}
	if ms[0].Text != "메시지 10" || ms[49].Text != "메시지 59" {
		t.Errorf("RecentChat runs from %q to %q, want 메시지 10 to 메시지 59", ms[0].Text, ms[49].Text)
	}
	if ms, _ := r.s.RecentChat(ctx, r.ob.ID, 0); len(ms) != 0 {
		t.Errorf("another broadcast has %d messages, want 0", len(ms))
	}

	if _, err := r.s.EndBroadcast(ctx, r.ch.ID, r.b.ID); err != nil {
		t.Fatal(err)
	}
	_, err = r.s.AddChat(ctx, r.cmd(), v.ID, r.b.ID, "늦었다")
	wantErr(t, "AddChat after the end", err, ErrNotLive)
}

func testCoupons(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	in := CouponInput{Title: " 선착순 2,000원 할인 ", DiscountWon: 2000, Quantity: 2, ExpiresIn: 5 * time.Minute}
	c, err := r.s.DropCoupon(ctx, "drop-1", r.ch.ID, r.b.ID, in)
	if err != nil {
		t.Fatalf("DropCoupon: %v", err)
	}
	want := Coupon{ID: c.ID, BroadcastID: r.b.ID, Title: "선착순 2,000원 할인", DiscountWon: 2000, Quantity: 2, Remaining: 2,
		ExpiresAt: r.clock.Now().Add(5 * time.Minute), CreatedAt: r.clock.Now()}
	if c != want {
		t.Fatalf("DropCoupon = %+v, want %+v", c, want)
	}
	// A retried drop does not drop a second coupon.
	again, err := r.s.DropCoupon(ctx, "drop-1", r.ch.ID, r.b.ID, in)
	if err != nil || !again.Replayed || again.ID != c.ID {
		t.Fatalf("DropCoupon retry = %+v, %v; want a replay of %d", again, err, c.ID)
	}

	bad := []struct {
		name string
		in   CouponInput
	}{
		{"no title", CouponInput{Title: "", DiscountWon: 1000, Quantity: 1, ExpiresIn: time.Minute}},
		{"long title", CouponInput{Title: strings.Repeat("가", 41), DiscountWon: 1000, Quantity: 1, ExpiresIn: time.Minute}},
		{"zero discount", CouponInput{Title: "x", DiscountWon: 0, Quantity: 1, ExpiresIn: time.Minute}},
		{"negative discount", CouponInput{Title: "x", DiscountWon: -100, Quantity: 1, ExpiresIn: time.Minute}},
		{"huge discount", CouponInput{Title: "x", DiscountWon: maxDiscountWon + 1, Quantity: 1, ExpiresIn: time.Minute}},
		{"zero quantity", CouponInput{Title: "x", DiscountWon: 1000, Quantity: 0, ExpiresIn: time.Minute}},
		{"negative quantity", CouponInput{Title: "x", DiscountWon: 1000, Quantity: -1, ExpiresIn: time.Minute}},
		{"huge quantity", CouponInput{Title: "x", DiscountWon: 1000, Quantity: maxCouponQuantity + 1, ExpiresIn: time.Minute}},
		{"no time", CouponInput{Title: "x", DiscountWon: 1000, Quantity: 1, ExpiresIn: 0}},
		{"negative time", CouponInput{Title: "x", DiscountWon: 1000, Quantity: 1, ExpiresIn: -time.Minute}},
		{"too long", CouponInput{Title: "x", DiscountWon: 1000, Quantity: 1, ExpiresIn: 25 * time.Hour}},
	}
	for _, tt := range bad {
		t.Run("drop/"+tt.name, func(t *testing.T) {
			_, err := r.s.DropCoupon(ctx, r.cmd(), r.ch.ID, r.b.ID, tt.in)
			wantErr(t, "DropCoupon", err, ErrInvalid)
		})
	}
	_, err = r.s.DropCoupon(ctx, r.cmd(), r.ch.ID, r.ob.ID, in)
	wantErr(t, "DropCoupon on another channel's broadcast", err, ErrNotFound)
	if cs, err := r.s.Coupons(ctx, r.b.ID, false); err != nil || len(cs) != 1 || cs[0] != want {
		t.Fatalf("Coupons after refused drops = %+v, %v; want only %+v", cs, err, want)
	}

	a, b, late := r.viewer(t, "가"), r.viewer(t, "나"), r.viewer(t, "다")
	res, err := r.s.ClaimCoupon(ctx, "claim-a", a.ID, c.ID)
	if err != nil {
		t.Fatalf("ClaimCoupon: %v", err)
	}
	wantRes := ClaimResult{Claim: Claim{ID: res.Claim.ID, CouponID: c.ID, ViewerID: a.ID, ClaimedAt: r.clock.Now()}, Remaining: 1}
	if res != wantRes {
		t.Fatalf("ClaimCoupon = %+v, want %+v", res, wantRes)
	}
	// The retry: the same reply, even after the coupon has changed.
	r.clock.Advance(time.Second)
	if _, err := r.s.ClaimCoupon(ctx, r.cmd(), b.ID, c.ID); err != nil {
		t.Fatalf("ClaimCoupon b: %v", err)
	}
	replay, err := r.s.ClaimCoupon(ctx, "claim-a", a.ID, c.ID)
	if err != nil || !replay.Replayed {
		t.Fatalf("ClaimCoupon retry = %+v, %v; want a replay", replay, err)
	}
	replay.Replayed = false
	if replay != wantRes {
		t.Errorf("ClaimCoupon retry = %+v, want %+v", replay, wantRes)
	}
	_, err = r.s.ClaimCoupon(ctx, r.cmd(), a.ID, c.ID)
	wantErr(t, "ClaimCoupon twice", err, ErrAlreadyClaimed)
	_, err = r.s.ClaimCoupon(ctx, "late-1", late.ID, c.ID)
	wantErr(t, "ClaimCoupon sold out", err, ErrSoldOut)
	// A refusal is a reply too, and replays the same.
	_, err2 := r.s.ClaimCoupon(ctx, "late-1", late.ID, c.ID)
	if err2 == nil || err2.Error() != err.Error() || Code(err2) != Code(err) {
		t.Errorf("ClaimCoupon refused retry: err = %v, want %v", err2, err)
	}

	ov, _, err := r.s.CreateViewer(ctx, r.other.ID, "이웃")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.s.ClaimCoupon(ctx, r.cmd(), ov.ID, c.ID)
	wantErr(t, "ClaimCoupon by another channel's viewer", err, ErrNotFound)
	_, err = r.s.ClaimCoupon(ctx, r.cmd(), a.ID, 999999)
	wantErr(t, "ClaimCoupon of no coupon", err, ErrNotFound)
	_, err = r.s.ClaimCoupon(ctx, r.cmd(), 999999, c.ID)
	wantErr(t, "ClaimCoupon by no viewer", err, ErrNotFound)

	got, err := r.s.Coupon(ctx, c.ID)
	if err != nil || got.Remaining != 0 {
		t.Fatalf("Coupon = %+v, %v; want none remaining", got, err)
	}
	if claims, err := r.s.Claims(ctx, a.ID, r.b.ID); err != nil || len(claims) != 1 || claims[0] != wantRes.Claim {
		t.Errorf("Claims = %+v, %v; want [%+v]", claims, err, wantRes.Claim)
	}
	if claims, err := r.s.Claims(ctx, late.ID, r.b.ID); err != nil || len(claims) != 0 {
		t.Errorf("Claims of a viewer who got none = %+v, %v", claims, err)
	}

	// Expiry and closing.
	short, err := r.s.DropCoupon(ctx, r.cmd(), r.ch.ID, r.b.ID, CouponInput{Title: "번개", DiscountWon: 500, Quantity: 10, ExpiresIn: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closing := r.coupon(t, 700, 10)
	if cs, _ := r.s.Coupons(ctx, r.b.ID, true); len(cs) != 3 {
		t.Errorf("open coupons = %d, want 3 (one sold out)", len(cs))
	}
	r.clock.Advance(30 * time.Second)
	_, err = r.s.ClaimCoupon(ctx, r.cmd(), late.ID, short.ID)
	wantErr(t, "ClaimCoupon expired", err, ErrExpired)
	if _, err := r.s.CloseCoupon(ctx, r.other.ID, closing.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("CloseCoupon as another channel: err = %v, want ErrNotFound", err)
	}
	if cc, err := r.s.CloseCoupon(ctx, r.ch.ID, closing.ID); err != nil || !cc.Closed {
		t.Fatalf("CloseCoupon = %+v, %v", cc, err)
	}
	_, err = r.s.ClaimCoupon(ctx, r.cmd(), late.ID, closing.ID)
	wantErr(t, "ClaimCoupon closed", err, ErrClosed)
	if cs, _ := r.s.Coupons(ctx, r.b.ID, true); len(cs) != 1 || cs[0].ID != c.ID {
		t.Errorf("open coupons = %+v, want only the sold-out one", cs)
	}
	for _, id := range []int64{short.ID, closing.ID} {
		if got, _ := r.s.Coupon(ctx, id); got.Remaining != 10 {
			t.Errorf("coupon %d: remaining %d after refused claims, want 10", id, got.Remaining)
		}
	}
	if _, err := r.s.EndBroadcast(ctx, r.ch.ID, r.b.ID); err != nil {
		t.Fatal(err)
	}
	_, err = r.s.DropCoupon(ctx, r.cmd(), r.ch.ID, r.b.ID, in)
	wantErr(t, "DropCoupon after the end", err, ErrNotLive)
}

// testCommands checks the command ids themselves.
func testCommands(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	v, w := r.viewer(t, "가"), r.viewer(t, "나")
	c := r.coupon(t, 1000, 5)
	if _, err := r.s.ClaimCoupon(ctx, "same", v.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	// Ids are per viewer: another viewer's "same" is another command.
	if res, err := r.s.ClaimCoupon(ctx, "same", w.ID, c.ID); err != nil || res.Replayed || res.Claim.ViewerID != w.ID {
		t.Fatalf("ClaimCoupon by another viewer with the same id = %+v, %v; want a claim of its own", res, err)
	}
	// An id used for one kind of command cannot be used for another.
	_, err := r.s.AddChat(ctx, "same", v.ID, r.b.ID, "hi")
	wantErr(t, "AddChat with a claim's id", err, ErrInvalid)
	if ms, _ := r.s.RecentChat(ctx, r.b.ID, 0); len(ms) != 0 {
		t.Errorf("a refused command added %d messages", len(ms))
	}
	if _, err := r.s.AddChat(ctx, "chat-id", v.ID, r.b.ID, "hi"); err != nil {
		t.Fatal(err)
	}
	_, err = r.s.ClaimCoupon(ctx, "chat-id", v.ID, c.ID)
	wantErr(t, "ClaimCoupon with a chat's id", err, ErrInvalid)
	for _, id := range []string{strings.Repeat("x", 65), "a\nb", "\xff"} {
		_, err := r.s.ClaimCoupon(ctx, id, v.ID, c.ID)
		wantErr(t, fmt.Sprintf("ClaimCoupon with id %q", id), err, ErrInvalid)
	}
	// No id: no idempotency, and nothing stored.
	if _, err := r.s.AddChat(ctx, "", v.ID, r.b.ID, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.AddChat(ctx, "", v.ID, r.b.ID, "one"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := r.s.RecentChat(ctx, r.b.ID, 0); len(ms) != 3 {
		t.Errorf("%d messages, want 3", len(ms))
	}
	// A cancelled context does nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.s.ClaimCoupon(cctx, r.cmd(), r.viewer(t, "다").ID, c.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("ClaimCoupon with a cancelled context: err = %v, want context.Canceled", err)
	}
	if got, _ := r.s.Coupon(ctx, c.ID); got.Remaining != 3 {
		t.Errorf("remaining = %d, want 3", got.Remaining)
	}

	r.clock.Advance(48 * time.Hour)
	if _, err := r.s.AddChat(ctx, "fresh", v.ID, r.b.ID, "new"); err != nil {
		t.Fatal(err)
	}
	n, err := r.s.PruneCommands(ctx, r.clock.Now().Add(-24*time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("PruneCommands = %d, %v; want 4 (the drop, two claims, a chat)", n, err)
	}
	if m, err := r.s.AddChat(ctx, "fresh", v.ID, r.b.ID, "new"); err != nil || !m.Replayed {
		t.Errorf("a recent command was pruned: %+v, %v", m, err)
	}
}

func testOrders(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	mackerel := r.product(t, "고등어", 1500, 10)
	hairtail := r.product(t, "갈치", 12000, 3)
	gone := r.product(t, "꽁치", 1000, 10)
	if err := r.s.DeleteProduct(ctx, r.ch.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	cabbage, err := r.s.CreateProduct(ctx, r.other.ID, ProductInput{Name: "배추", PriceWon: 3000, Stock: 10})
	if err != nil {
		t.Fatal(err)
	}
	v, w := r.viewer(t, "가"), r.viewer(t, "나")
	c := r.coupon(t, 2000, 10)
	claim := r.claim(t, v, c)
	unclaimed := r.coupon(t, 3000, 10)
	otherCoupon, err := r.s.DropCoupon(ctx, r.cmd(), r.other.ID, r.ob.ID, CouponInput{Title: "x", DiscountWon: 100, Quantity: 5, ExpiresIn: time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	unchanged := func(t *testing.T) {
		t.Helper()
		if got := r.stock(t, mackerel); got != 10 {
			t.Errorf("고등어 stock = %d, want 10", got)
		}
		if got := r.stock(t, hairtail); got != 3 {
			t.Errorf("갈치 stock = %d, want 3", got)
		}
		if os, err := r.s.ListOrders(ctx, r.ch.ID, OrderFilter{}); err != nil || len(os) != 0 {
			t.Errorf("ListOrders = %d orders, %v; want none", len(os), err)
		}
		if cl, _ := r.s.Claims(ctx, v.ID, r.b.ID); len(cl) != 1 || cl[0].UsedByOrder != 0 {
			t.Errorf("claims = %+v, want one unused", cl)
		}
	}
	good := OrderInput{BroadcastID: r.b.ID, Items: []ItemInput{{mackerel.ID, 2}, {hairtail.ID, 1}}, CouponID: c.ID, Buyer: buyer, Note: "6시에 갈게요"}
	with := func(f func(in *OrderInput)) OrderInput {
		in := good
		in.Items = append([]ItemInput(nil), good.Items...)
		f(&in)
		return in
	}
	bad := []struct {
		name string
		in   OrderInput
		want *Error
	}{
		{"no items", with(func(in *OrderInput) { in.Items = nil }), ErrInvalid},
		{"zero quantity", with(func(in *OrderInput) { in.Items[0].Qty = 0 }), ErrInvalid},
		{"negative quantity", with(func(in *OrderInput) { in.Items[0].Qty = -3 }), ErrInvalid},
		{"huge quantity", with(func(in *OrderInput) { in.Items[0].Qty = 1000 }), ErrInvalid},
		{"huge merged quantity", with(func(in *OrderInput) {
			in.Items = []ItemInput{{mackerel.ID, 600}, {mackerel.ID, 600}}
		}), ErrInvalid},
		{"too many lines", with(func(in *OrderInput) {
			in.Items = nil
			for range 31 {
				in.Items = append(in.Items, ItemInput{mackerel.ID, 1})
			}
		}), ErrInvalid},
		{"product 0", with(func(in *OrderInput) { in.Items[0].ProductID = 0 }), ErrInvalid},
		{"negative coupon", with(func(in *OrderInput) { in.CouponID = -1 }), ErrInvalid},
		{"no buyer name", with(func(in *OrderInput) { in.Buyer.Name = " " }), ErrInvalid},
		{"long buyer name", with(func(in *OrderInput) { in.Buyer.Name = strings.Repeat("가", 41) }), ErrInvalid},
		{"no phone", with(func(in *OrderInput) { in.Buyer.Phone = "" }), ErrInvalid},
		{"short phone", with(func(in *OrderInput) { in.Buyer.Phone = "010-123" }), ErrInvalid},
		{"letters in phone", with(func(in *OrderInput) { in.Buyer.Phone = "010-CALL-ME" }), ErrInvalid},
		{"long phone", with(func(in *OrderInput) { in.Buyer.Phone = "0101234567890123" }), ErrInvalid},
		{"long note", with(func(in *OrderInput) { in.Note = strings.Repeat("가", 201) }), ErrInvalid},
		{"control in note", with(func(in *OrderInput) { in.Note = "\x07" }), ErrInvalid},
		{"unknown product", with(func(in *OrderInput) { in.Items[1].ProductID = 999999 }), ErrNotFound},
		{"deleted product", with(func(in *OrderInput) { in.Items[1].ProductID = gone.ID }), ErrNotFound},
		{"other channel's product", with(func(in *OrderInput) { in.Items[1].ProductID = cabbage.ID }), ErrNotFound},
		{"other channel's broadcast", with(func(in *OrderInput) { in.BroadcastID = r.ob.ID }), ErrNotFound},
		{"unknown broadcast", with(func(in *OrderInput) { in.BroadcastID = 999999 }), ErrNotFound},
		{"out of stock, last item", with(func(in *OrderInput) { in.Items[1].Qty = 4 }), ErrOutOfStock},
		{"out of stock, first item", with(func(in *OrderInput) { in.Items[0].Qty = 11 }), ErrOutOfStock},
		{"out of stock when merged", with(func(in *OrderInput) {
			in.Items = append(in.Items, ItemInput{hairtail.ID, 2}, ItemInput{hairtail.ID, 1})
		}), ErrOutOfStock},
		{"coupon not claimed", with(func(in *OrderInput) { in.CouponID = unclaimed.ID }), ErrNotClaimed},
		{"unknown coupon", with(func(in *OrderInput) { in.CouponID = 999999 }), ErrNotFound},
		{"other channel's coupon", with(func(in *OrderInput) { in.CouponID = otherCoupon.ID }), ErrNotFound},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.s.PlaceOrder(ctx, r.cmd(), v.ID, tt.in)
			wantErr(t, "PlaceOrder", err, tt.want)
			unchanged(t)
		})
	}
	_, err = r.s.PlaceOrder(ctx, r.cmd(), 999999, good)
	wantErr(t, "PlaceOrder by no viewer", err, ErrNotFound)
	_, err = r.s.PlaceOrder(ctx, r.cmd(), w.ID, good)
	wantErr(t, "PlaceOrder with another viewer's coupon", err, ErrNotClaimed)
	unchanged(t)

	// The order, with its amounts computed by the store.
	r.clock.Advance(time.Minute)
	in := with(func(in *OrderInput) {
		in.Items = []ItemInput{{hairtail.ID, 1}, {mackerel.ID, 2}, {mackerel.ID, 1}}
		in.Buyer = Buyer{Name: " 박영희 ", Phone: " 010-1234-5678 "}
	})
	o, err := r.s.PlaceOrder(ctx, "order-1", v.ID, in)
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	want := Order{
		ID: o.ID, ChannelID: r.ch.ID, BroadcastID: r.b.ID, ViewerID: v.ID, Buyer: buyer, Note: "6시에 갈게요",
		Items: []OrderItem{
			{ProductID: mackerel.ID, Name: "고등어", UnitPriceWon: 1500, Qty: 3},
			{ProductID: hairtail.ID, Name: "갈치", UnitPriceWon: 12000, Qty: 1},
		},
		SubtotalWon: 16500, DiscountWon: 2000, TotalWon: 14500, CouponID: c.ID, ClaimID: claim.Claim.ID,
		Status: StatusPlaced, Source: SourceLive, CreatedAt: r.clock.Now(), UpdatedAt: r.clock.Now(),
	}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("PlaceOrder =\n%+v\nwant\n%+v", o, want)
	}
	if r.stock(t, mackerel) != 7 || r.stock(t, hairtail) != 2 {
		t.Errorf("stock = %d, %d; want 7, 2", r.stock(t, mackerel), r.stock(t, hairtail))
	}
	if got, err := r.s.Order(ctx, r.ch.ID, o.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Order =\n%+v, %v\nwant\n%+v", got, err, want)
	}
	if _, err := r.s.Order(ctx, r.other.ID, o.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Order of another channel: err = %v, want ErrNotFound", err)
	}
	if cl, _ := r.s.Claims(ctx, v.ID, r.b.ID); len(cl) != 1 || cl[0].UsedByOrder != o.ID {
		t.Errorf("claims = %+v, want used by order %d", cl, o.ID)
	}
	// The retry: the same order, not a second one.
	replay, err := r.s.PlaceOrder(ctx, "order-1", v.ID, in)
	if err != nil || !replay.Replayed {
		t.Fatalf("PlaceOrder retry = %+v, %v; want a replay", replay, err)
	}
	replay.Replayed = false
	if !reflect.DeepEqual(replay, want) {
		t.Errorf("PlaceOrder retry =\n%+v\nwant\n%+v", replay, want)
	}
	if r.stock(t, mackerel) != 7 {
		t.Errorf("a retried order took stock again")
	}
	// The price changes; the order keeps the price it was placed at.
	if _, err := r.s.UpdateProduct(ctx, r.ch.ID, mackerel.ID, ProductPatch{PriceWon: ptr(int64(2000))}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.s.Order(ctx, r.ch.ID, o.ID); got.Items[0].UnitPriceWon != 1500 || got.TotalWon != 14500 {
		t.Errorf("order changed with the price: %+v", got)
	}
	// The claim is used.
	_, err = r.s.PlaceOrder(ctx, r.cmd(), v.ID, good)
	wantErr(t, "PlaceOrder with a used coupon", err, ErrCouponUsed)
	if r.stock(t, mackerel) != 7 || r.stock(t, hairtail) != 2 {
		t.Errorf("a refused order took stock")
	}

	// A discount larger than the order is capped at the subtotal.
	big := r.coupon(t, 50000, 1)
	r.claim(t, w, big)
	small, err := r.s.PlaceOrder(ctx, r.cmd(), w.ID, OrderInput{Items: []ItemInput{{mackerel.ID, 1}}, CouponID: big.ID, Buyer: buyer})
	if err != nil {
		t.Fatal(err)
	}
	if small.SubtotalWon != 2000 || small.DiscountWon != 2000 || small.TotalWon != 0 || small.BroadcastID != 0 {
		t.Errorf("capped order = %+v", small)
	}

	// Cancel: stock back, claim free again.
	if _, err := r.s.CancelOrder(ctx, r.cmd(), w.ID, o.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("CancelOrder of another viewer's order: err = %v, want ErrNotFound", err)
	}
	r.clock.Advance(time.Minute)
	cancelled, err := r.s.CancelOrder(ctx, "cancel-1", v.ID, o.ID)
	if err != nil || cancelled.Status != StatusCancelled || !cancelled.UpdatedAt.Equal(r.clock.Now()) {
		t.Fatalf("CancelOrder = %+v, %v", cancelled, err)
	}
	if r.stock(t, mackerel) != 9 || r.stock(t, hairtail) != 3 {
		t.Errorf("stock after cancel = %d, %d; want 9, 3", r.stock(t, mackerel), r.stock(t, hairtail))
	}
	if cl, _ := r.s.Claims(ctx, v.ID, r.b.ID); len(cl) != 1 || cl[0].UsedByOrder != 0 {
		t.Errorf("claims after cancel = %+v, want unused", cl)
	}
	if again, err := r.s.CancelOrder(ctx, "cancel-1", v.ID, o.ID); err != nil || !again.Replayed || again.Status != StatusCancelled {
		t.Errorf("CancelOrder retry = %+v, %v; want a replay", again, err)
	}
	_, err = r.s.CancelOrder(ctx, r.cmd(), v.ID, o.ID)
	wantErr(t, "CancelOrder twice", err, ErrBadTransition)
	if r.stock(t, mackerel) != 9 {
		t.Errorf("a second cancel returned stock again")
	}
	// The freed claim pays for another order.
	o2, err := r.s.PlaceOrder(ctx, r.cmd(), v.ID, OrderInput{BroadcastID: r.b.ID, Items: []ItemInput{{hairtail.ID, 1}}, CouponID: c.ID, Buyer: buyer})
	if err != nil || o2.DiscountWon != 2000 || o2.TotalWon != 10000 {
		t.Fatalf("PlaceOrder with the freed coupon = %+v, %v", o2, err)
	}
	hist, err := r.s.OrderHistory(ctx, r.ch.ID, o.ID)
	wantHist := []StatusChange{
		{From: "", To: StatusPlaced, Actor: ActorBuyer, At: r.clock.Now().Add(-time.Minute)},
		{From: StatusPlaced, To: StatusCancelled, Actor: ActorBuyer, At: r.clock.Now()},
	}
	if err != nil || !reflect.DeepEqual(hist, wantHist) {
		t.Errorf("OrderHistory = %+v, %v; want %+v", hist, err, wantHist)
	}
	if _, err := r.s.OrderHistory(ctx, r.other.ID, o.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("OrderHistory of another channel's order: err = %v, want ErrNotFound", err)
	}

	// Listing.
	all, err := r.s.ListOrders(ctx, r.ch.ID, OrderFilter{})
	if err != nil || len(all) != 3 || all[0].ID != o2.ID || all[2].ID != o.ID || len(all[2].Items) != 2 {
		t.Fatalf("ListOrders = %+v, %v; want 3, newest first, with items", all, err)
	}
	for _, tt := range []struct {
		f    OrderFilter
		want []int64
	}{
		{OrderFilter{Status: StatusCancelled}, []int64{o.ID}},
		{OrderFilter{Status: StatusPlaced}, []int64{o2.ID, small.ID}},
		{OrderFilter{Status: StatusReady}, nil},
		{OrderFilter{ViewerID: w.ID}, []int64{small.ID}},
		{OrderFilter{BroadcastID: r.b.ID}, []int64{o2.ID, o.ID}},
		{OrderFilter{BroadcastID: r.b.ID, Status: StatusPlaced}, []int64{o2.ID}},
		{OrderFilter{Limit: 1}, []int64{o2.ID}},
	} {
		got, err := r.s.ListOrders(ctx, r.ch.ID, tt.f)
		var ids []int64
		for _, o := range got {
			ids = append(ids, o.ID)
		}
		if err != nil || !reflect.DeepEqual(ids, tt.want) {
			t.Errorf("ListOrders(%+v) = %v, %v; want %v", tt.f, ids, err, tt.want)
		}
	}
	if _, err := r.s.ListOrders(ctx, r.ch.ID, OrderFilter{Status: "lost"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ListOrders with an unknown status: err = %v, want ErrInvalid", err)
	}
	if os, _ := r.s.ListOrders(ctx, r.other.ID, OrderFilter{}); len(os) != 0 {
		t.Errorf("another channel lists %d orders", len(os))
	}
}

func testOrderStatus(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	p := r.product(t, "고등어", 1500, 100)
	v := r.viewer(t, "가")

	type step struct {
		to    OrderStatus
		buyer bool // the buyer cancels rather than the merchant
		want  *Error
	}
	tests := []struct {
		name     string
		steps    []step
		returned bool // the stock and the coupon came back
	}{
		{"the whole way", []step{{to: StatusAccepted}, {to: StatusReady}, {to: StatusPickedUp}}, false},
		{"rejected at once", []step{{to: StatusRejected}}, true},
		{"rejected when accepted", []step{{to: StatusAccepted}, {to: StatusRejected}}, true},
		{"rejected when ready (not picked up)", []step{{to: StatusAccepted}, {to: StatusReady}, {to: StatusRejected}}, true},
		{"cancelled by the buyer", []step{{to: StatusCancelled, buyer: true}}, true},
		{"no cancel once accepted", []step{{to: StatusAccepted}, {to: StatusCancelled, buyer: true, want: ErrBadTransition}}, false},
		{"no skipping to ready", []step{{to: StatusReady, want: ErrBadTransition}}, false},
		{"no skipping to picked up", []step{{to: StatusAccepted}, {to: StatusPickedUp, want: ErrBadTransition}}, false},
		{"no accepting twice", []step{{to: StatusAccepted}, {to: StatusAccepted, want: ErrBadTransition}}, false},
		{"nothing after picked up", []step{{to: StatusAccepted}, {to: StatusReady}, {to: StatusPickedUp}, {to: StatusRejected, want: ErrBadTransition}}, false},
		{"nothing after rejected", []step{{to: StatusRejected}, {to: StatusAccepted, want: ErrBadTransition}, {to: StatusRejected, want: ErrBadTransition}}, true},
		{"nothing after cancelled", []step{{to: StatusCancelled, buyer: true}, {to: StatusAccepted, want: ErrBadTransition}, {to: StatusCancelled, buyer: true, want: ErrBadTransition}}, true},
		{"the merchant cannot cancel", []step{{to: StatusCancelled, want: ErrInvalid}}, false},
		{"nor place", []step{{to: StatusPlaced, want: ErrInvalid}}, false},
		{"nor invent", []step{{to: "shipped", want: ErrInvalid}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := r.coupon(t, 1000, 1)
			r.claim(t, v, c)
			before := r.stock(t, p)
			o, err := r.s.PlaceOrder(ctx, r.cmd(), v.ID, OrderInput{Items: []ItemInput{{p.ID, 2}}, CouponID: c.ID, Buyer: buyer})
			if err != nil {
				t.Fatal(err)
			}
			wantHist := 1
			status := StatusPlaced
			for _, st := range tt.steps {
				var got Order
				if st.buyer {
					got, err = r.s.CancelOrder(ctx, r.cmd(), v.ID, o.ID)
				} else {
					got, err = r.s.SetOrderStatus(ctx, r.cmd(), r.ch.ID, o.ID, st.to)
				}
				if st.want != nil {
					wantErr(t, fmt.Sprintf("%s -> %s", status, st.to), err, st.want)
					continue
				}
				if err != nil || got.Status != st.to {
					t.Fatalf("%s -> %s = %+v, %v", status, st.to, got, err)
				}
				status = st.to
				wantHist++
			}
			if got, _ := r.s.Order(ctx, r.ch.ID, o.ID); got.Status != status {
				t.Errorf("status = %s, want %s", got.Status, status)
			}
			if h, _ := r.s.OrderHistory(ctx, r.ch.ID, o.ID); len(h) != wantHist || h[len(h)-1].To != status {
				t.Errorf("history = %+v, want %d entries ending in %s", h, wantHist, status)
			}
			wantStock := before - 2
			if tt.returned {
				wantStock = before
			}
			if got := r.stock(t, p); got != wantStock {
				t.Errorf("stock = %d, want %d", got, wantStock)
			}
			cl, _ := r.s.Claims(ctx, v.ID, r.b.ID)
			if used := cl[len(cl)-1].UsedByOrder; (used == 0) != tt.returned {
				t.Errorf("claim used by order %d after %s", used, status)
			}
		})
	}

	o, err := r.s.PlaceOrder(ctx, r.cmd(), v.ID, OrderInput{Items: []ItemInput{{p.ID, 1}}, Buyer: buyer})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.s.SetOrderStatus(ctx, r.cmd(), r.other.ID, o.ID, StatusAccepted)
	wantErr(t, "SetOrderStatus as another channel", err, ErrNotFound)
	_, err = r.s.SetOrderStatus(ctx, r.cmd(), r.ch.ID, 999999, StatusAccepted)
	wantErr(t, "SetOrderStatus of no order", err, ErrNotFound)
	// A retried status change gets its reply, not a refusal.
	a1, err := r.s.SetOrderStatus(ctx, "accept", r.ch.ID, o.ID, StatusAccepted)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := r.s.SetOrderStatus(ctx, "accept", r.ch.ID, o.ID, StatusAccepted)
	if err != nil || !a2.Replayed || a2.Status != StatusAccepted || !a2.UpdatedAt.Equal(a1.UpdatedAt) {
		t.Errorf("SetOrderStatus retry = %+v, %v; want a replay of %+v", a2, err, a1)
	}
}

// testConcurrentClaims: 500 claimers of a coupon of 100, some of them the
// same viewer twice, some the same command sent twice.
func testConcurrentClaims(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	const (
		quantity   = 100
		viewers    = 400
		duplicates = 50 // a viewer claiming again with a new command id
		retries    = 50 // a command sent again with the same id
	)
	vs := make([]Viewer, viewers)
	var wg sync.WaitGroup
	for i := range vs {
		wg.Go(func() {
			v, _, err := r.s.CreateViewer(ctx, r.ch.ID, "")
			if err != nil {
				t.Error(err)
			}
			vs[i] = v
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	c := r.coupon(t, 1000, quantity)

	type attempt struct {
		viewer int
		cmd    string
		res    ClaimResult
		err    error
	}
	var as []*attempt
	for i := range viewers {
		as = append(as, &attempt{viewer: i, cmd: fmt.Sprintf("claim-%d", i)})
	}
	for i := range duplicates {
		as = append(as, &attempt{viewer: i * 7 % viewers, cmd: fmt.Sprintf("again-%d", i)})
	}
	for i := range retries {
		n := i * 3 % viewers
		as = append(as, &attempt{viewer: n, cmd: fmt.Sprintf("claim-%d", n)})
	}
	start := make(chan struct{})
	for _, a := range as {
		wg.Go(func() {
			<-start
			a.res, a.err = r.s.ClaimCoupon(ctx, a.cmd, vs[a.viewer].ID, c.ID)
		})
	}
	close(start)
	wg.Wait()

	// Every outcome is a grant or a clean refusal.
	granted := map[int64]ClaimResult{} // by viewer
	byCmd := map[string][]*attempt{}
	for _, a := range as {
		key := fmt.Sprintf("%d/%s", a.viewer, a.cmd)
		byCmd[key] = append(byCmd[key], a)
		switch {
		case a.err == nil:
			v := vs[a.viewer].ID
			if prev, ok := granted[v]; ok && prev.Claim.ID != a.res.Claim.ID {
				t.Errorf("viewer %d granted two claims: %d and %d", v, prev.Claim.ID, a.res.Claim.ID)
			}
			granted[v] = a.res
		case errors.Is(a.err, ErrSoldOut), errors.Is(a.err, ErrAlreadyClaimed):
		default:
			t.Errorf("claim by viewer %d: unexpected error %v", a.viewer, a.err)
		}
	}
	if len(granted) != quantity {
		t.Errorf("%d viewers were granted the coupon, want %d", len(granted), quantity)
	}
	remainings := map[int]bool{}
	for _, g := range granted {
		remainings[g.Remaining] = true
	}
	for i := range quantity {
		if !remainings[i] {
			t.Errorf("no grant reported %d remaining: each of 0..%d once", i, quantity-1)
			break
		}
	}
	// A command sent twice got one reply twice.
	for key, list := range byCmd {
		if len(list) < 2 {
			continue
		}
		a, b := list[0], list[1]
		ra, rb := a.res, b.res
		if ra.Replayed == rb.Replayed && a.err == nil {
			t.Errorf("%s: both replies claim to be first (or both replays)", key)
		}
		ra.Replayed, rb.Replayed = false, false
		if ra != rb || (a.err == nil) != (b.err == nil) || a.err != nil && (a.err.Error() != b.err.Error() || Code(a.err) != Code(b.err)) {
			t.Errorf("%s: replies differ: %+v, %v and %+v, %v", key, a.res, a.err, b.res, b.err)
		}
	}

	// And the database agrees.
	got, err := r.s.Coupon(ctx, c.ID)
	if err != nil || got.Remaining != 0 {
		t.Errorf("remaining = %d, %v; want 0", got.Remaining, err)
	}
	var claims, distinct int
	if err := r.s.db.QueryRowContext(ctx, r.s.dialect.rebind(`SELECT COUNT(*), COUNT(DISTINCT viewer_id) FROM coupon_claims WHERE coupon_id = ?`), c.ID).
		Scan(&claims, &distinct); err != nil {
		t.Fatal(err)
	}
	if claims != quantity || distinct != quantity {
		t.Errorf("coupon_claims has %d rows for %d viewers, want %d and %d", claims, distinct, quantity, quantity)
	}
}

// testConcurrentOrders: 200 buyers rush two products; then half of the
// orders are cancelled or rejected at once.
func testConcurrentOrders(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	const buyers = 200
	a := r.product(t, "고등어", 1500, 50)
	b := r.product(t, "갈치", 12000, 30)
	c := r.coupon(t, 1000, buyers)
	vs := make([]Viewer, buyers)
	var wg sync.WaitGroup
	for i := range vs {
		wg.Go(func() {
			v, _, err := r.s.CreateViewer(ctx, r.ch.ID, "")
			if err == nil && i%2 == 0 {
				_, err = r.s.ClaimCoupon(ctx, "", v.ID, c.ID)
			}
			if err != nil {
				t.Error(err)
			}
			vs[i] = v
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Everyone orders one 고등어; every third also a 갈치 (all or nothing);
	// half use their coupon, and half of those twice at once.
	type result struct {
		o   Order
		err error
	}
	results := make([]result, buyers)
	twins := make([]result, buyers)
	start := make(chan struct{})
	for i := range buyers {
		in := OrderInput{BroadcastID: r.b.ID, Items: []ItemInput{{a.ID, 1}}, Buyer: buyer}
		if i%3 == 0 {
			in.Items = append(in.Items, ItemInput{b.ID, 1})
		}
		if i%2 == 0 {
			in.CouponID = c.ID
		}
		wg.Go(func() {
			<-start
			results[i].o, results[i].err = r.s.PlaceOrder(ctx, fmt.Sprintf("o-%d", i), vs[i].ID, in)
		})
		if i%4 == 0 {
			wg.Go(func() {
				<-start
				twins[i].o, twins[i].err = r.s.PlaceOrder(ctx, fmt.Sprintf("twin-%d", i), vs[i].ID, in)
			})
		}
	}
	close(start)
	wg.Wait()

	var placed []Order
	reservedA, reservedB := 0, 0
	for i, list := range [][]result{results, twins} {
		for j, res := range list {
			if i == 1 && j%4 != 0 {
				continue
			}
			switch {
			case res.err == nil:
				placed = append(placed, res.o)
				for _, it := range res.o.Items {
					switch it.ProductID {
					case a.ID:
						reservedA += it.Qty
					case b.ID:
						reservedB += it.Qty
					}
				}
				if res.o.TotalWon != res.o.SubtotalWon-res.o.DiscountWon || res.o.DiscountWon != 0 && res.o.DiscountWon != 1000 {
					t.Errorf("order %d amounts: %+v", res.o.ID, res.o)
				}
			case errors.Is(res.err, ErrOutOfStock), errors.Is(res.err, ErrCouponUsed):
			default:
				t.Errorf("order %d: unexpected error %v", j, res.err)
			}
		}
	}
	stockA, stockB := r.stock(t, a), r.stock(t, b)
	if reservedA+stockA != 50 || reservedB+stockB != 30 {
		t.Errorf("reserved %d+%d left of 고등어, %d+%d of 갈치; want 50 and 30", reservedA, stockA, reservedB, stockB)
	}
	if reservedA != 50 {
		t.Errorf("%d 고등어 sold, want all 50 (there were %d buyers)", reservedA, buyers)
	}
	// Each claim paid for at most one order.
	usedBy := map[int64]int64{}
	for _, o := range placed {
		if o.ClaimID == 0 {
			continue
		}
		if prev, ok := usedBy[o.ClaimID]; ok {
			t.Errorf("claim %d used by orders %d and %d", o.ClaimID, prev, o.ID)
		}
		usedBy[o.ClaimID] = o.ID
	}

	// Cancel or reject half of them at once, and accept the others.
	var mu sync.Mutex
	returnedA, returnedB := 0, 0
	for i, o := range placed {
		wg.Go(func() {
			var (
				got Order
				err error
			)
			switch i % 4 {
			case 0:
				got, err = r.s.CancelOrder(ctx, r.cmd(), o.ViewerID, o.ID)
			case 1:
				got, err = r.s.SetOrderStatus(ctx, r.cmd(), r.ch.ID, o.ID, StatusRejected)
			default:
				got, err = r.s.SetOrderStatus(ctx, r.cmd(), r.ch.ID, o.ID, StatusAccepted)
			}
			if err != nil {
				t.Errorf("order %d: %v", o.ID, err)
				return
			}
			if returnsStock(got.Status) {
				mu.Lock()
				for _, it := range got.Items {
					if it.ProductID == a.ID {
						returnedA += it.Qty
					} else {
						returnedB += it.Qty
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := r.stock(t, a); got != stockA+returnedA {
		t.Errorf("고등어 stock = %d, want %d", got, stockA+returnedA)
	}
	if got := r.stock(t, b); got != stockB+returnedB {
		t.Errorf("갈치 stock = %d, want %d", got, stockB+returnedB)
	}
	var used int
	if err := r.s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM coupon_claims WHERE used_by_order IS NOT NULL`).Scan(&used); err != nil {
		t.Fatal(err)
	}
	want := 0
	for i, o := range placed {
		if o.ClaimID != 0 && i%4 >= 2 {
			want++
		}
	}
	if used != want {
		t.Errorf("%d claims in use, want %d (those of the accepted orders)", used, want)
	}
	var sum int
	if err := r.s.db.QueryRowContext(ctx, r.s.dialect.rebind(`SELECT COALESCE(SUM(i.qty), 0) FROM order_items i JOIN orders o ON o.id = i.order_id
WHERE i.product_id = ? AND o.status NOT IN ('cancelled', 'rejected')`), a.ID).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum+r.stock(t, a) != 50 {
		t.Errorf("live orders hold %d 고등어 and %d are in stock; want 50 in all", sum, r.stock(t, a))
	}
}

// testConcurrentStatus: the buyer cancels while the merchant accepts or
// rejects, on many orders at once; exactly one of the two wins each time,
// and stock comes back once per order that was cancelled or rejected.
func testConcurrentStatus(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	const n = 60
	p := r.product(t, "고등어", 1500, n)
	v := r.viewer(t, "가")
	orders := make([]Order, n)
	for i := range orders {
		var err error
		if orders[i], err = r.s.PlaceOrder(ctx, r.cmd(), v.ID, OrderInput{Items: []ItemInput{{p.ID, 1}}, Buyer: buyer}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg             sync.WaitGroup
		cancels, other = make([]error, n), make([]error, n)
	)
	for i, o := range orders {
		merchant := StatusAccepted
		if i%2 == 1 {
			merchant = StatusRejected
		}
		wg.Go(func() { _, cancels[i] = r.s.CancelOrder(ctx, r.cmd(), v.ID, o.ID) })
		wg.Go(func() { _, other[i] = r.s.SetOrderStatus(ctx, r.cmd(), r.ch.ID, o.ID, merchant) })
	}
	wg.Wait()
	returned := 0
	for i, o := range orders {
		if (cancels[i] == nil) == (other[i] == nil) {
			t.Errorf("order %d: cancel %v, merchant %v; want exactly one to win", o.ID, cancels[i], other[i])
		}
		for _, err := range []error{cancels[i], other[i]} {
			if err != nil && !errors.Is(err, ErrBadTransition) {
				t.Errorf("order %d: %v", o.ID, err)
			}
		}
		got, _ := r.s.Order(ctx, r.ch.ID, o.ID)
		if h, _ := r.s.OrderHistory(ctx, r.ch.ID, o.ID); len(h) != 2 || h[1].To != got.Status {
			t.Errorf("order %d is %s with history %+v", o.ID, got.Status, h)
		}
		if returnsStock(got.Status) {
			returned++
		}
	}
	if got := r.stock(t, p); got != returned {
		t.Errorf("stock = %d, want %d (one per cancelled or rejected order)", got, returned)
	}
}

// testReopenRoom checks that the room's state is all in the database.
func testReopenRoom(t *testing.T, newDB func(t *testing.T) storeOpener) {
	open := newDB(t)
	r := &room{s: open(t), clock: newTestClock()}
	r.s.now = r.clock.Now
	ctx := t.Context()
	ch, _, err := r.s.CreateChannel(ctx, "kim-fish", "김씨네")
	if err != nil {
		t.Fatal(err)
	}
	r.ch = ch
	if r.b, err = r.s.StartBroadcast(ctx, ch.ID, "", false); err != nil {
		t.Fatal(err)
	}
	p := r.product(t, "고등어", 1500, 10)
	if _, err := r.s.PinProduct(ctx, ch.ID, r.b.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	v, token, err := r.s.CreateViewer(ctx, ch.ID, "가")
	if err != nil {
		t.Fatal(err)
	}
	c := r.coupon(t, 1000, 5)
	claim := r.claim(t, v, c)
	o, err := r.s.PlaceOrder(ctx, "o1", v.ID, OrderInput{BroadcastID: r.b.ID, Items: []ItemInput{{p.ID, 2}}, CouponID: c.ID, Buyer: buyer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.AddChat(ctx, "m1", v.ID, r.b.ID, "안녕"); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t)
	s.now = r.clock.Now
	b, err := s.LiveBroadcast(ctx, ch.ID)
	if err != nil || b.ID != r.b.ID || b.PinnedProductID != p.ID {
		t.Fatalf("LiveBroadcast after reopen = %+v, %v", b, err)
	}
	if got, err := s.ResumeViewer(ctx, ch.ID, token); err != nil || got.ID != v.ID {
		t.Errorf("ResumeViewer after reopen = %+v, %v", got, err)
	}
	if cs, err := s.Coupons(ctx, b.ID, true); err != nil || len(cs) != 1 || cs[0].Remaining != 4 {
		t.Errorf("open coupons after reopen = %+v, %v", cs, err)
	}
	if cl, err := s.Claims(ctx, v.ID, b.ID); err != nil || len(cl) != 1 || cl[0].ID != claim.Claim.ID || cl[0].UsedByOrder != o.ID {
		t.Errorf("claims after reopen = %+v, %v", cl, err)
	}
	if ms, err := s.RecentChat(ctx, b.ID, 0); err != nil || len(ms) != 1 {
		t.Errorf("chat after reopen = %+v, %v", ms, err)
	}
	// The commands' replies survive too.
	again, err := s.PlaceOrder(ctx, "o1", v.ID, OrderInput{BroadcastID: r.b.ID, Items: []ItemInput{{p.ID, 2}}, CouponID: c.ID, Buyer: buyer})
	if err != nil || !again.Replayed || again.ID != o.ID {
		t.Errorf("PlaceOrder retry after reopen = %+v, %v", again, err)
	}
	if got, _ := s.Product(ctx, ch.ID, p.ID); got.Stock != 8 {
		t.Errorf("stock after reopen = %d, want 8", got.Stock)
	}
}
