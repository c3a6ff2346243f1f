package commerce

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestIsQuestion(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"고등어 얼마예요?", true},
		{"얼마예요", true},
		{"가격이 어떻게 돼요", true},
		{"언제 들어온 거예요", true},
		{"가게 위치가 어디예요", true},
		{"몇 시까지 하세요", true},
		{"오늘 들어온 거 신선한가요", true},
		{"아직 남아 있나요", true},
		{"내일 찾아가도 되나요", true},
		{"주차 돼요?", true},
		{"배달은 안 되죠？", true}, // a full-width question mark
		{"카드 결제 가능해요", true},
		{"is it fresh?", true},
		{"안녕하세요~", false},
		{"오늘 날씨 좋네요", false},
		{"쿠폰 받았어요!", false},
		{"세 개 사면 더 주세요~", false},
		{"주문했어요~", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isQuestion(tt.text); got != tt.want {
			t.Errorf("isQuestion(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// itemJSON is how an item reads in the review: what the tests compare.
func itemJSON(t *testing.T, it CheckItem) string {
	t.Helper()
	b, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReviewGreeted(t *testing.T) {
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		first  time.Duration // after start; -1: no word
		ticked bool
		live   bool
		want   string
	}{
		{"in time", 8200 * time.Millisecond, false, false,
			`{"key":"greeted","status":"pass","seconds":8.2,"limit_s":30,"tick":true}`},
		{"at the limit", 30 * time.Second, false, true,
			`{"key":"greeted","status":"pass","seconds":30,"limit_s":30,"tick":true}`},
		{"late, ended", 45 * time.Second, false, false,
			`{"key":"greeted","status":"fail","seconds":45,"limit_s":30,"tick":true}`},
		{"late, ticked", 45 * time.Second, true, false,
			`{"key":"greeted","status":"pass","seconds":45,"limit_s":30,"tick":true}`},
		{"silent, ticked", -1, true, false,
			`{"key":"greeted","status":"pass","limit_s":30,"tick":true}`},
		{"silent, ended", -1, false, false,
			`{"key":"greeted","status":"fail","limit_s":30,"tick":true}`},
		{"silent, live", -1, false, true,
			`{"key":"greeted","status":"todo","limit_s":30,"tick":true}`},
		{"late, live", 40 * time.Second, false, true,
			`{"key":"greeted","status":"todo","seconds":40,"limit_s":30,"tick":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first time.Time
			if tt.first >= 0 {
				first = start.Add(tt.first)
			}
			if got := itemJSON(t, greetedItem(start, first, tt.ticked, tt.live)); got != tt.want {
				t.Errorf("greetedItem =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

func TestReviewSimpleItems(t *testing.T) {
	kbps := func(k int) *int { return &k }
	tests := []struct {
		name string
		got  CheckItem
		want string
	}{
		{"all pinned", pinnedItem(3, 3), `{"key":"products_pinned","status":"pass","done":3,"total":3}`},
		{"some pinned", pinnedItem(2, 3), `{"key":"products_pinned","status":"fail","done":2,"total":3}`},
		{"none pinned", pinnedItem(0, 3), `{"key":"products_pinned","status":"fail","done":0,"total":3}`},
		{"no products", pinnedItem(0, 0), `{"key":"products_pinned","status":"na","done":0,"total":0}`},
		{"price ticked", tickItem("price_stated", true), `{"key":"price_stated","status":"pass","tick":true}`},
		{"price not ticked", tickItem("price_stated", false), `{"key":"price_stated","status":"todo","tick":true}`},
		{"coupon", couponItem(2), `{"key":"coupon_dropped","status":"pass","done":2}`},
		{"no coupon", couponItem(0), `{"key":"coupon_dropped","status":"fail","done":0}`},
		{"good video", qualityItem(kbps(820), 0, 0, 0),
			`{"key":"stream_quality","status":"pass","kbps":820,"reconnects":0,"frozen_s":0,"dark_s":0}`},
		{"just enough", qualityItem(kbps(300), 0, 4999*time.Millisecond, 4999*time.Millisecond),
			`{"key":"stream_quality","status":"pass","kbps":300,"reconnects":0,"frozen_s":4.999,"dark_s":4.999}`},
		{"low bitrate", qualityItem(kbps(299), 0, 0, 0),
			`{"key":"stream_quality","status":"fail","kbps":299,"reconnects":0,"frozen_s":0,"dark_s":0}`},
		{"reconnected", qualityItem(kbps(900), 1, 0, 0),
			`{"key":"stream_quality","status":"fail","kbps":900,"reconnects":1,"frozen_s":0,"dark_s":0}`},
		{"frozen", qualityItem(kbps(900), 0, 5*time.Second, 0),
			`{"key":"stream_quality","status":"fail","kbps":900,"reconnects":0,"frozen_s":5,"dark_s":0}`},
		{"dark", qualityItem(kbps(900), 0, 0, 5*time.Second),
			`{"key":"stream_quality","status":"fail","kbps":900,"reconnects":0,"frozen_s":0,"dark_s":5}`},
		{"dark for long", qualityItem(kbps(900), 0, 0, 3*time.Minute),
			`{"key":"stream_quality","status":"fail","kbps":900,"reconnects":0,"frozen_s":0,"dark_s":180}`},
		{"not measured", qualityItem(nil, 2, time.Second, time.Minute), `{"key":"stream_quality","status":"na"}`},
	}
	for _, tt := range tests {
		if got := itemJSON(t, tt.got); got != tt.want {
			t.Errorf("%s:\n %s\nwant\n %s", tt.name, got, tt.want)
		}
	}
}

func TestReviewResponses(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	never := time.Time{}
	tests := []struct {
		name string
		rs   []response
		live bool
		now  float64 // seconds after t0
		want string
	}{
		{"none", nil, false, 0,
			`{"key":"questions_answered","status":"na","limit_s":60,"done":0,"total":0}`},
		{"4 of 5 in time", []response{
			{at(0), at(10)}, {at(20), at(34)}, {at(40), at(55)}, {at(60), at(62)}, {at(70), never},
		}, false, 500,
			`{"key":"questions_answered","status":"pass","seconds":12,"limit_s":60,"done":4,"total":5}`},
		{"3 of 4 in time", []response{
			{at(0), at(10)}, {at(20), at(30)}, {at(40), at(50)}, {at(60), at(200)},
		}, false, 500,
			`{"key":"questions_answered","status":"fail","seconds":10,"limit_s":60,"done":3,"total":4}`},
		{"at the limit", []response{{at(0), at(60)}}, false, 500,
			`{"key":"questions_answered","status":"pass","seconds":60,"limit_s":60,"done":1,"total":1}`},
		{"never answered", []response{{at(0), never}}, false, 10,
			`{"key":"questions_answered","status":"fail","limit_s":60,"done":0,"total":1}`},
		{"live, still within the limit", []response{{at(0), at(5)}, {at(100), never}}, true, 130,
			`{"key":"questions_answered","status":"pass","seconds":5,"limit_s":60,"done":1,"total":1}`},
		{"live, past the limit", []response{{at(0), at(5)}, {at(100), never}}, true, 160,
			`{"key":"questions_answered","status":"fail","seconds":5,"limit_s":60,"done":1,"total":2}`},
		{"ended: a fresh question counts", []response{{at(100), never}}, false, 101,
			`{"key":"questions_answered","status":"fail","limit_s":60,"done":0,"total":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := itemJSON(t, responseItem("questions_answered", tt.rs, tt.live, at(tt.now)))
			if got != tt.want {
				t.Errorf("responseItem =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

func TestReviewOrderResponses(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	orders := []orderTimes{
		{placed: s(0), moved: s(5)},            // accepted in time
		{placed: s(10), moved: s(100)},         // accepted late
		{placed: s(20)},                        // never moved
		{placed: s(30), cancelled: s(40)},      // the buyer changed their mind at once: left out
		{placed: s(50), cancelled: s(200)},     // kept waiting, then given up
		{placed: s(60), moved: s(61)},          // rejected (or accepted) in time
		{placed: s(70), cancelled: s(70 + 60)}, // cancelled right at the limit: left out
		{placed: s(80), cancelled: s(80 + 61)}, // a second too late
		{placed: s(90), moved: s(90 + 60)},     // moved right at the limit
		{placed: s(95), moved: s(95 + 61)},     // a second too late
	}
	want := []response{
		{s(0), s(5)}, {s(10), s(100)}, {s(20), time.Time{}}, {s(50), time.Time{}}, {s(60), s(61)},
		{s(80), time.Time{}}, {s(90), s(150)}, {s(95), s(156)},
	}
	got := orderResponses(orders)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("orderResponses =\n %v\nwant\n %v", got, want)
	}
	it := itemJSON(t, responseItem("orders_handled", got, false, s(1000)))
	// Moved: 5, 90, 1, 60, 61 s; the median is 60 s.
	if w := `{"key":"orders_handled","status":"fail","seconds":60,"limit_s":60,"done":3,"total":8}`; it != w {
		t.Errorf("orders_handled =\n %s\nwant\n %s", it, w)
	}
}

func TestReviewNextAction(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	actions := []time.Time{s(10), s(20), s(20), s(30)}
	tests := []struct {
		at   int
		want time.Time
	}{
		{0, s(10)}, {10, s(20)}, {15, s(20)}, {20, s(30)}, {29, s(30)}, {30, time.Time{}}, {99, time.Time{}},
	}
	for _, tt := range tests {
		if got := nextAction(actions, s(tt.at)); !got.Equal(tt.want) {
			t.Errorf("nextAction(%d s) = %v, want %v", tt.at, got, tt.want)
		}
	}
	if got := nextAction(nil, s(0)); !got.IsZero() {
		t.Errorf("nextAction of none = %v, want zero", got)
	}
}

func TestReviewScore(t *testing.T) {
	items := func(statuses ...string) []CheckItem {
		out := make([]CheckItem, len(statuses))
		for i, st := range statuses {
			out[i] = CheckItem{Status: st}
		}
		return out
	}
	tests := []struct {
		name  string
		items []CheckItem
		want  string
	}{
		{"the documented example", items("pass", "fail", "todo", "pass", "pass", "fail", "pass"), "57"},
		{"na left out", items("pass", "na", "todo", "na", "na", "na", "na"), "50"},
		{"all pass", items("pass", "pass", "na"), "100"},
		{"none pass", items("fail", "todo"), "0"},
		{"two thirds", items("pass", "pass", "fail"), "67"},
		{"nothing to judge", items("na", "na"), "null"},
	}
	for _, tt := range tests {
		b, _ := json.Marshal(reviewScore(tt.items))
		if string(b) != tt.want {
			t.Errorf("%s: score %s, want %s", tt.name, b, tt.want)
		}
	}
}

func TestReviewMedian(t *testing.T) {
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{7}, 7},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{90 * time.Second, 5 * time.Second}, 47500 * time.Millisecond},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestReviewChecklistOrder(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	kbps := 820
	ev := practiceEvents{
		start: t0, now: s(1000), ticks: map[string]bool{"price_stated": true},
		firstWord: s(8),
		questions: []time.Time{s(20), s(50), s(200)},
		actions:   []time.Time{s(8), s(30), s(60), s(150)},
		pinned:    1, products: 1, coupons: 1,
		orders: []orderTimes{{placed: s(100), moved: s(150)}},
		kbps:   &kbps,
	}
	items := scoreChecklist(ev)
	var keys, statuses []string
	for _, it := range items {
		keys, statuses = append(keys, it.Key), append(statuses, it.Status)
	}
	if got, want := fmt.Sprint(keys), "[greeted products_pinned price_stated coupon_dropped questions_answered orders_handled stream_quality]"; got != want {
		t.Errorf("keys %s, want %s", got, want)
	}
	// Questions: 20 → 30 (10 s), 50 → 60 (10 s), 200 never: 2 of 3.
	if got, want := fmt.Sprint(statuses), "[pass pass pass pass fail pass pass]"; got != want {
		t.Errorf("statuses %s, want %s", got, want)
	}
	if got, want := itemJSON(t, items[4]), `{"key":"questions_answered","status":"fail","seconds":10,"limit_s":60,"done":2,"total":3}`; got != want {
		t.Errorf("questions_answered =\n %s\nwant\n %s", got, want)
	}
}

func TestReviewWaiting(t *testing.T) {
	p := PracticeSession{State: PracticeWaiting, Ticks: map[string]bool{"price_stated": true}}
	rev := waitingReview(p)
	b, _ := json.Marshal(rev)
	want := `{"checklist":[{"key":"greeted","status":"todo","tick":true},{"key":"products_pinned","status":"todo"},` +
		`{"key":"price_stated","status":"pass","tick":true},{"key":"coupon_dropped","status":"todo"},` +
		`{"key":"questions_answered","status":"todo"},{"key":"orders_handled","status":"todo"},{"key":"stream_quality","status":"todo"}],` +
		`"score":null,"stats":{"viewers":0,"chats":0,"questions":0,"claims":0,"orders":0,"likes":0}}`
	if string(b) != want {
		t.Errorf("waiting review =\n %s\nwant\n %s", b, want)
	}
	p.State = PracticeCancelled
	for _, it := range waitingReview(p).Checklist {
		if it.Status != checkNA {
			t.Errorf("cancelled: %s is %s, want na", it.Key, it.Status)
		}
	}
}

func TestPracticeReviewStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testPracticeReviewStore(t, newSQLiteDB) })
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		testPracticeReviewStore(t, newPostgresDB)
	})
}

// testPracticeReviewStore runs a practice broadcast through the store,
// second by second on a test clock, and checks its review.
func testPracticeReviewStore(t *testing.T, newDB func(t *testing.T) storeOpener) {
	ctx := t.Context()
	s := newDB(t)(t)
	clock := newTestClock()
	s.now = clock.Now
	n := 0
	cmd := func() string { n++; return fmt.Sprintf("cmd-%d", n) }
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	ch, _, err := s.CreateChannel(ctx, "kim-fish", "김씨네 생선가게")
	must("CreateChannel", err)
	product := func(name string) Product {
		t.Helper()
		p, err := s.CreateProduct(ctx, ch.ID, ProductInput{Name: name, PriceWon: 5000, Stock: 10})
		must("CreateProduct", err)
		return p
	}
	mackerel, hairtail, _ := product("고등어"), product("갈치"), product("오징어")
	gone := product("꽁치")
	must("DeleteProduct", s.DeleteProduct(ctx, ch.ID, gone.ID))

	p, created, err := s.StartPractice(ctx, ch.ID, 0, "첫 연습")
	if err != nil || !created {
		t.Fatalf("StartPractice = %v, %v", created, err)
	}
	rev, err := s.PracticeReview(ctx, p)
	must("PracticeReview waiting", err)
	if rev.Score != nil || len(rev.Checklist) != 7 || rev.Checklist[0].Status != checkTodo {
		t.Errorf("waiting review = %+v, want todo items and no score", rev)
	}

	clock.Advance(time.Minute)
	b, err := s.BeginBroadcast(ctx, ch.ID)
	must("BeginBroadcast", err)
	if !b.Practice {
		t.Fatalf("broadcast %+v is not the practice one", b)
	}
	at := func(sec int) { // moves the clock to sec seconds after going live
		t.Helper()
		clock.ns.Store(b.StartedAt.Add(time.Duration(sec) * time.Second).UnixNano())
	}
	viewer := func(name string) Viewer {
		t.Helper()
		v, _, err := s.CreateViewer(ctx, ch.ID, name)
		must("CreateViewer", err)
		return v
	}
	merchant, c1, c2, c3 := viewer("사장님"), viewer("망원동 김씨"), viewer("단골 이모"), viewer("합정 새댁")
	must("AddViewerStats", s.AddViewerStats(ctx, b.ID, ViewerStats{Seen: []int64{c1.ID, c2.ID, c3.ID}, Peak: 3}))
	chat := func(v Viewer, text string) ChatMessage {
		t.Helper()
		add := s.AddChat
		if v.ID == merchant.ID {
			add = s.AddMerchantChat // as the live room does for the studio
		}
		m, err := add(ctx, cmd(), v.ID, b.ID, text)
		must("AddChat", err)
		return m
	}
	pin := func(id int64) {
		t.Helper()
		_, err := s.PinProduct(ctx, ch.ID, b.ID, id)
		must("PinProduct", err)
	}
	order := func(v Viewer, productID int64) Order {
		t.Helper()
		o, err := s.PlaceOrder(ctx, cmd(), v.ID, OrderInput{BroadcastID: b.ID, Items: []ItemInput{{ProductID: productID, Qty: 1}},
			Buyer: Buyer{Name: "김영희", Phone: "010-1234-5678"}})
		must("PlaceOrder", err)
		return o
	}
	accept := func(o Order) {
		t.Helper()
		_, err := s.SetOrderStatus(ctx, cmd(), ch.ID, o.ID, StatusAccepted)
		must("SetOrderStatus", err)
	}

	at(8)
	chat(merchant, "안녕하세요 김씨네 생선가게입니다")
	at(20)
	chat(c1, "고등어 얼마예요?") // answered at 30 s
	at(30)
	pin(mackerel.ID)
	at(40)
	chat(c2, "안녕하세요~")
	at(50)
	chat(c2, "내일 찾아가도 되나요") // answered late, at 130 s
	at(130)
	chat(merchant, "네 내일도 됩니다")
	at(132)
	pin(hairtail.ID)
	at(135)
	squid2 := product("오늘 들어온 오징어") // added live: counts once pinned
	at(140)
	pin(squid2.ID)
	at(150)
	coupon, err := s.DropCoupon(ctx, cmd(), ch.ID, b.ID, CouponInput{Title: "천원 할인", DiscountWon: 1000, Quantity: 10, ExpiresIn: time.Minute})
	must("DropCoupon", err)
	_, err = s.ClaimCoupon(ctx, cmd(), c1.ID, coupon.ID)
	must("ClaimCoupon", err)
	at(160)
	chat(c3, "신선한가요") // answered at 170 s, by accepting an order
	spam := chat(c3, "광고 보세요?")
	_, err = s.HideChat(ctx, ch.ID, spam.ID)
	must("HideChat", err)
	at(165)
	o1 := order(c1, mackerel.ID)
	at(170)
	accept(o1) // 5 s
	at(180)
	o2 := order(c2, hairtail.ID)
	at(270)
	accept(o2) // 90 s
	at(275)
	o3 := order(c3, mackerel.ID)
	at(280)
	_, err = s.CancelOrder(ctx, cmd(), c3.ID, o3.ID) // at once: not the merchant's to handle
	must("CancelOrder", err)
	at(300)
	chat(c1, "몇 시까지 하세요") // never answered
	_, err = s.AddLikes(ctx, b.ID, 80)
	must("AddLikes", err)

	// Live, 10 s after the last question: it may still be answered in time.
	at(310)
	p, err = s.PracticeSession(ctx, p.ID)
	must("PracticeSession", err)
	rev, err = s.PracticeReview(ctx, p)
	must("PracticeReview live", err)
	checkReview(t, "live", rev, `{"checklist":[`+
		`{"key":"greeted","status":"pass","seconds":8,"limit_s":30,"tick":true},`+
		`{"key":"products_pinned","status":"fail","done":3,"total":4},`+
		`{"key":"price_stated","status":"todo","tick":true},`+
		`{"key":"coupon_dropped","status":"pass","done":1},`+
		`{"key":"questions_answered","status":"fail","seconds":10,"limit_s":60,"done":2,"total":3},`+
		`{"key":"orders_handled","status":"fail","seconds":47.5,"limit_s":60,"done":1,"total":2},`+
		`{"key":"stream_quality","status":"na"}],`+
		`"score":33,"stats":{"viewers":3,"chats":6,"questions":4,"claims":1,"orders":2,"likes":80}}`)

	at(360)
	_, err = s.EndBroadcast(ctx, ch.ID, b.ID)
	must("EndBroadcast", err)
	// What the media server measures at the end of the broadcast.
	_, err = s.db.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET video_kbps = ?, reconnects = ?, frozen_ms = ? WHERE id = ?`),
		820, 0, 1200, b.ID)
	must("set stream quality", err)
	// What the studio found too dark, in two spells.
	must("AddDarkTime", s.AddDarkTime(ctx, b.ID, 1500*time.Millisecond))
	must("AddDarkTime", s.AddDarkTime(ctx, b.ID, 800*time.Millisecond))
	_, err = s.SetPracticeTicks(ctx, p.ID, map[string]bool{"price_stated": true})
	must("SetPracticeTicks", err)
	at(400)
	p, err = s.PracticeSession(ctx, p.ID)
	must("PracticeSession", err)
	if p.State != PracticeEnded {
		t.Fatalf("session state %s, want ended", p.State)
	}
	rev, err = s.PracticeReview(ctx, p)
	must("PracticeReview ended", err)
	checkReview(t, "ended", rev, `{"checklist":[`+
		`{"key":"greeted","status":"pass","seconds":8,"limit_s":30,"tick":true},`+
		`{"key":"products_pinned","status":"fail","done":3,"total":4},`+
		`{"key":"price_stated","status":"pass","tick":true},`+
		`{"key":"coupon_dropped","status":"pass","done":1},`+
		`{"key":"questions_answered","status":"fail","seconds":10,"limit_s":60,"done":2,"total":4},`+
		`{"key":"orders_handled","status":"fail","seconds":47.5,"limit_s":60,"done":1,"total":2},`+
		`{"key":"stream_quality","status":"pass","kbps":820,"reconnects":0,"frozen_s":1.2,"dark_s":2.3}],`+
		`"score":57,"stats":{"viewers":3,"chats":6,"questions":4,"claims":1,"orders":2,"likes":80}}`)
}

func checkReview(t *testing.T, what string, rev PracticeReview, want string) {
	t.Helper()
	b, err := json.Marshal(rev)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("%s review =\n %s\nwant\n %s", what, b, want)
	}
}
