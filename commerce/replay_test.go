package commerce

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAPIReplay(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAPIReplay(t, newSQLiteDB) })
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		testAPIReplay(t, newPostgresDB)
	})
}

// replayDoc is the replay document as a client reads it.
type replayDoc struct {
	Broadcast struct {
		ID        int64      `json:"id"`
		Title     string     `json:"title"`
		Live      bool       `json:"live"`
		StartedAt time.Time  `json:"started_at"`
		EndedAt   *time.Time `json:"ended_at"`
		DurationS float64    `json:"duration_s"`
		ReplayURL *string    `json:"replay_url"`
	} `json:"broadcast"`
	Chapters []replayChapterJSON `json:"chapters"`
	Chat     []replayChatJSON    `json:"chat"`
	Summary  map[string]any      `json:"summary"`
}

// replayFixture is an ended broadcast of ten fishy minutes, with the
// times of everything in it as offsets from its start.
type replayFixture struct {
	e        *apiEnv
	clock    *testClock
	b        Broadcast
	mackerel Product // pinned at 10 s
	squid    Product // pinned at 30 s, unpinned at 45 s
	kept     ChatMessage
	kept2    ChatMessage
	coupon   Coupon
}

func newReplayFixture(t *testing.T, newDB func(t *testing.T) storeOpener) *replayFixture {
	t.Helper()
	ctx := t.Context()
	f := &replayFixture{e: newAPIEnv(t, newDB), clock: newTestClock()}
	s := f.e.s
	s.now = f.clock.Now
	n := 0
	cmd := func() string { n++; return fmt.Sprintf("replay-%d", n) }
	at := func(sec int) { // moves the clock to sec seconds into the broadcast
		t.Helper()
		f.clock.ns.Store(f.b.StartedAt.Add(time.Duration(sec) * time.Second).UnixNano())
	}
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f.mackerel, err = s.CreateProduct(ctx, f.e.ch.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 10})
	must(err)
	f.squid, err = s.CreateProduct(ctx, f.e.ch.ID, ProductInput{Name: "오징어", PriceWon: 8000, Stock: 5})
	must(err)
	f.b, err = s.StartBroadcast(ctx, f.e.ch.ID, "오늘의 생선", false)
	must(err)
	minsu, _, err := s.CreateViewer(ctx, f.e.ch.ID, "민수")
	must(err)
	jiyoung, _, err := s.CreateViewer(ctx, f.e.ch.ID, "지영")
	must(err)
	f.coupon, err = s.DropCoupon(ctx, cmd(), f.e.ch.ID, f.b.ID, CouponInput{Title: "첫 주문 천 원 할인", DiscountWon: 1000, Quantity: 5, ExpiresIn: time.Hour})
	must(err)
	_, err = s.ClaimCoupon(ctx, cmd(), minsu.ID, f.coupon.ID)
	must(err)
	_, err = s.ClaimCoupon(ctx, cmd(), jiyoung.ID, f.coupon.ID)
	must(err)

	at(10)
	_, err = s.PinProduct(ctx, f.e.ch.ID, f.b.ID, f.mackerel.ID)
	must(err)
	at(12)
	f.kept, err = s.AddChat(ctx, cmd(), minsu.ID, f.b.ID, "안녕하세요")
	must(err)
	// 2 mackerels with the coupon: 10,000 - 1,000.
	_, err = s.PlaceOrder(ctx, cmd(), minsu.ID, OrderInput{BroadcastID: f.b.ID, CouponID: f.coupon.ID,
		Items: []ItemInput{{f.mackerel.ID, 2}}, Buyer: buyer})
	must(err)
	at(30)
	_, err = s.PinProduct(ctx, f.e.ch.ID, f.b.ID, f.squid.ID)
	must(err)
	at(35)
	hidden, err := s.AddChat(ctx, cmd(), jiyoung.ID, f.b.ID, "광고 링크")
	must(err)
	_, err = s.HideChat(ctx, f.e.ch.ID, hidden.ID)
	must(err)
	// Cancelled: neither its items, its total nor its coupon use count.
	o, err := s.PlaceOrder(ctx, cmd(), jiyoung.ID, OrderInput{BroadcastID: f.b.ID, CouponID: f.coupon.ID,
		Items: []ItemInput{{f.squid.ID, 1}, {f.mackerel.ID, 1}}, Buyer: buyer})
	must(err)
	_, err = s.CancelOrder(ctx, cmd(), jiyoung.ID, o.ID)
	must(err)
	_, err = s.PlaceOrder(ctx, cmd(), jiyoung.ID, OrderInput{BroadcastID: f.b.ID,
		Items: []ItemInput{{f.squid.ID, 1}}, Buyer: buyer})
	must(err)
	at(45)
	_, err = s.PinProduct(ctx, f.e.ch.ID, f.b.ID, 0)
	must(err)
	at(50)
	f.kept2, err = s.AddChat(ctx, cmd(), minsu.ID, f.b.ID, "감사합니다 👍")
	must(err)
	_, err = s.AddLikes(ctx, f.b.ID, 7)
	must(err)
	at(90)
	f.b, err = s.EndBroadcast(ctx, f.e.ch.ID, f.b.ID)
	must(err)
	return f
}

// get fetches a replay document, as a customer (no auth) or as the merchant
// (auth "Bearer <key>").
func (f *replayFixture) get(t *testing.T, path string, auth ...string) (apiResp, replayDoc) {
	t.Helper()
	r := f.e.do(t, apiReq{method: "GET", path: path, auth: strings.Join(auth, "")})
	var doc replayDoc
	if r.status == http.StatusOK {
		r.decode(t, &doc)
	}
	return r, doc
}

func testAPIReplay(t *testing.T, newDB func(t *testing.T) storeOpener) {
	f := newReplayFixture(t, newDB)
	path := fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/replay", f.b.ID)
	product := func(p Product, stock int) replayProductJSON {
		return replayProductJSON{ID: p.ID, Name: p.Name, PriceWon: p.PriceWon, Stock: stock}
	}

	tests := []struct {
		name        string
		hook        func(ctx context.Context, slug string, id int64) (ReplayInfo, bool)
		wantURL     string
		wantDur     float64
		chapters    []replayChapterJSON
		chatOffsets [2]float64 // the two messages' offsets
	}{{
		name:    "no recording",
		wantDur: 90,
		chapters: []replayChapterJSON{
			{Product: product(f.mackerel, 8), OffsetS: 10, DurationS: 20},
			{Product: product(f.squid, 4), OffsetS: 30, DurationS: 15},
		},
		chatOffsets: [2]float64{12, 50},
	}, {
		name: "hook without this recording",
		hook: func(context.Context, string, int64) (ReplayInfo, bool) { return ReplayInfo{}, false },
		// as without recordings
		wantDur: 90,
		chapters: []replayChapterJSON{
			{Product: product(f.mackerel, 8), OffsetS: 10, DurationS: 20},
			{Product: product(f.squid, 4), OffsetS: 30, DurationS: 15},
		},
		chatOffsets: [2]float64{12, 50},
	}, {
		name: "recording from 4.5 s",
		hook: func(_ context.Context, slug string, id int64) (ReplayInfo, bool) {
			if slug != "kim-fish" || id != f.b.ID {
				return ReplayInfo{}, false
			}
			return ReplayInfo{URL: "/replays/kim-fish/1.webm", DurationS: 85.25, StartedAt: f.b.StartedAt.Add(4500 * time.Millisecond)}, true
		},
		wantURL: "/replays/kim-fish/1.webm",
		wantDur: 85.25,
		chapters: []replayChapterJSON{
			{Product: product(f.mackerel, 8), OffsetS: 5.5, DurationS: 20},
			{Product: product(f.squid, 4), OffsetS: 25.5, DurationS: 15},
		},
		chatOffsets: [2]float64{7.5, 45.5},
	}, {
		name: "recording from 20 s, after the first pin",
		hook: func(context.Context, string, int64) (ReplayInfo, bool) {
			return ReplayInfo{URL: "/replays/kim-fish/1.webm", DurationS: 70, StartedAt: f.b.StartedAt.Add(20 * time.Second)}, true
		},
		wantURL: "/replays/kim-fish/1.webm",
		wantDur: 70,
		chapters: []replayChapterJSON{
			{Product: product(f.mackerel, 8), OffsetS: 0, DurationS: 10},
			{Product: product(f.squid, 4), OffsetS: 10, DurationS: 15},
		},
		chatOffsets: [2]float64{0, 30},
	}, {
		name: "recording without a start time",
		hook: func(context.Context, string, int64) (ReplayInfo, bool) {
			return ReplayInfo{URL: "/replays/kim-fish/1.webm", DurationS: 90}, true
		},
		wantURL: "/replays/kim-fish/1.webm",
		wantDur: 90,
		chapters: []replayChapterJSON{
			{Product: product(f.mackerel, 8), OffsetS: 10, DurationS: 20},
			{Product: product(f.squid, 4), OffsetS: 30, DurationS: 15},
		},
		chatOffsets: [2]float64{12, 50},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.e.api.Replays = tt.hook
			r, doc := f.get(t, path)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			b := doc.Broadcast
			if b.ID != f.b.ID || b.Title != "오늘의 생선" || b.Live || !b.StartedAt.Equal(f.b.StartedAt) ||
				b.EndedAt == nil || !b.EndedAt.Equal(f.b.EndedAt) || b.DurationS != tt.wantDur {
				t.Errorf("broadcast = %+v, want id %d, ended at %v, duration %v", b, f.b.ID, f.b.EndedAt, tt.wantDur)
			}
			switch {
			case tt.wantURL == "" && b.ReplayURL != nil:
				t.Errorf("replay_url = %q, want none", *b.ReplayURL)
			case tt.wantURL != "" && (b.ReplayURL == nil || *b.ReplayURL != tt.wantURL):
				t.Errorf("replay_url = %v, want %q", b.ReplayURL, tt.wantURL)
			}
			if !reflect.DeepEqual(doc.Chapters, tt.chapters) {
				t.Errorf("chapters:\n got %+v\nwant %+v", doc.Chapters, tt.chapters)
			}
			wantChat := []replayChatJSON{
				{ID: f.kept.ID, Nickname: "민수", Text: "안녕하세요", OffsetS: tt.chatOffsets[0]},
				{ID: f.kept2.ID, Nickname: "민수", Text: "감사합니다 👍", OffsetS: tt.chatOffsets[1]},
			}
			if !reflect.DeepEqual(doc.Chat, wantChat) {
				t.Errorf("chat:\n got %+v\nwant %+v", doc.Chat, wantChat)
			}
		})
	}

	t.Run("summary", func(t *testing.T) {
		f.e.api.Replays = nil
		// The sales are the merchant's: not in a customer's document, and a wrong key is refused.
		if _, doc := f.get(t, path); doc.Summary != nil {
			t.Errorf("customer's document has a summary: %v", doc.Summary)
		}
		r, _ := f.get(t, path, "Bearer wrong-key")
		r.wantError(t, 401, "unauthorized")
		_, doc := f.get(t, path, "Bearer "+f.e.key)
		want := map[string]any{
			"orders":      2.0,
			"revenue_won": 17000.0, // 10,000 - 1,000 + 8,000
			"likes":       7.0,
			// No room counted this broadcast's viewers.
			"peak_viewers": 0.0, "total_viewers": 0.0, "viewers": []any{},
			"products": []any{
				map[string]any{"product_id": float64(f.mackerel.ID), "name": "고등어", "qty": 2.0, "revenue_won": 10000.0},
				map[string]any{"product_id": float64(f.squid.ID), "name": "오징어", "qty": 1.0, "revenue_won": 8000.0},
			},
			"coupons": []any{
				map[string]any{"id": float64(f.coupon.ID), "title": "첫 주문 천 원 할인", "quantity": 5.0, "claimed": 2.0, "used": 1.0},
			},
		}
		if !reflect.DeepEqual(doc.Summary, want) {
			t.Errorf("summary:\n got %v\nwant %v", doc.Summary, want)
		}
	})

	t.Run("chat limit", func(t *testing.T) {
		// The document's cap (ReplayChatLimit) keeps the last messages, as a smaller one does.
		for _, tt := range []struct {
			limit int
			want  []int64
		}{
			{1, []int64{f.kept2.ID}},
			{2, []int64{f.kept.ID, f.kept2.ID}},
			{0, []int64{f.kept.ID, f.kept2.ID}},
		} {
			ms, err := f.e.s.ReplayChat(t.Context(), f.b.ID, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, m := range ms {
				got = append(got, m.ID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReplayChat(limit %d) = %v, want %v", tt.limit, got, tt.want)
			}
		}
	})

	t.Run("live", func(t *testing.T) {
		s := f.e.s
		b, err := s.StartBroadcast(t.Context(), f.e.ch.ID, "", false)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(5 * time.Second)
		if _, err := s.PinProduct(t.Context(), f.e.ch.ID, b.ID, f.squid.ID); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(7 * time.Second)
		_, doc := f.get(t, fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/replay", b.ID), "Bearer "+f.e.key)
		if !doc.Broadcast.Live || doc.Broadcast.EndedAt != nil || doc.Broadcast.DurationS != 12 {
			t.Errorf("live broadcast = %+v, want live, 12 s so far", doc.Broadcast)
		}
		want := []replayChapterJSON{{Product: product(f.squid, 4), OffsetS: 5, DurationS: 7}}
		if !reflect.DeepEqual(doc.Chapters, want) || len(doc.Chat) != 0 {
			t.Errorf("live chapters %+v, chat %+v; want %+v and no chat", doc.Chapters, doc.Chat, want)
		}
		if doc.Summary["orders"] != 0.0 || len(doc.Summary["products"].([]any)) != 0 || len(doc.Summary["coupons"].([]any)) != 0 {
			t.Errorf("live summary %v, want empty", doc.Summary)
		}
	})

	t.Run("not found", func(t *testing.T) {
		ob, err := f.e.s.StartBroadcast(t.Context(), f.e.other.ID, "", false)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{
			"/api/channels/kim-fish/broadcasts/999999/replay",
			"/api/channels/kim-fish/broadcasts/abc/replay",
			"/api/channels/kim-fish/broadcasts/0/replay",
			fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/replay", ob.ID), // another channel's
			fmt.Sprintf("/api/channels/lee-veg/broadcasts/%d/replay", f.b.ID), // under another channel
			fmt.Sprintf("/api/channels/no-such/broadcasts/%d/replay", f.b.ID),
		} {
			r, _ := f.get(t, p)
			r.wantError(t, http.StatusNotFound, "not_found")
		}
	})
}
