package commerce

import "testing"

// testSalesTotals sums the orders of several broadcasts at once, and checks
// that each sum is the one the replay's summary (Sales) gives: cancelled
// and rejected orders left out, coupon discounts taken off, replay orders
// counted, and no broadcast's orders in another's sum.
func testSalesTotals(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	mackerel := r.product(t, "고등어", 1500, 100)
	hairtail := r.product(t, "갈치", 12000, 100)
	v, w := r.viewer(t, "가"), r.viewer(t, "나")
	c := r.coupon(t, 2000, 10)
	r.claim(t, v, c)

	order := func(viewer Viewer, b Broadcast, couponID int64, items ...ItemInput) Order {
		t.Helper()
		o, err := r.s.PlaceOrder(ctx, r.cmd(), viewer.ID, OrderInput{BroadcastID: b.ID, Items: items, CouponID: couponID, Buyer: buyer})
		if err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		return o
	}
	// The first broadcast: 16500 less the coupon's 2000, and 1500 picked up.
	order(v, r.b, c.ID, ItemInput{mackerel.ID, 3}, ItemInput{hairtail.ID, 1})
	picked := order(w, r.b, 0, ItemInput{mackerel.ID, 1})
	for _, to := range []OrderStatus{StatusAccepted, StatusReady, StatusPickedUp} {
		if _, err := r.s.SetOrderStatus(ctx, r.cmd(), r.ch.ID, picked.ID, to); err != nil {
			t.Fatalf("SetOrderStatus %s: %v", to, err)
		}
	}
	cancelled := order(w, r.b, 0, ItemInput{hairtail.ID, 2})
	if _, err := r.s.CancelOrder(ctx, r.cmd(), w.ID, cancelled.ID); err != nil {
		t.Fatalf("CancelOrder: %v", err)
	}
	rejected := order(w, r.b, 0, ItemInput{hairtail.ID, 3})
	if _, err := r.s.SetOrderStatus(ctx, r.cmd(), r.ch.ID, rejected.ID, StatusRejected); err != nil {
		t.Fatalf("reject: %v", err)
	}
	if _, err := r.s.EndBroadcast(ctx, r.ch.ID, r.b.ID); err != nil {
		t.Fatal(err)
	}
	// Watching the replay, a customer orders 2 × 12000.
	if _, err := r.s.PlaceReplayOrder(ctx, "", r.ch.ID, OrderInput{BroadcastID: r.b.ID, Items: []ItemInput{{hairtail.ID, 2}}, Buyer: buyer}); err != nil {
		t.Fatalf("PlaceReplayOrder: %v", err)
	}

	// The next broadcast sells once; the one after, nothing.
	second, err := r.s.StartBroadcast(ctx, r.ch.ID, "둘째 날", false)
	if err != nil {
		t.Fatal(err)
	}
	order(v, second, 0, ItemInput{mackerel.ID, 2})
	if _, err := r.s.EndBroadcast(ctx, r.ch.ID, second.ID); err != nil {
		t.Fatal(err)
	}
	quiet, err := r.s.StartBroadcast(ctx, r.ch.ID, "조용한 날", false)
	if err != nil {
		t.Fatal(err)
	}
	// Another stall's order, for a broadcast not asked about.
	ov, _, err := r.s.CreateViewer(ctx, r.other.ID, "다")
	if err != nil {
		t.Fatal(err)
	}
	cabbage, err := r.s.CreateProduct(ctx, r.other.ID, ProductInput{Name: "배추", PriceWon: 3000, Stock: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.PlaceOrder(ctx, r.cmd(), ov.ID, OrderInput{BroadcastID: r.ob.ID, Items: []ItemInput{{cabbage.ID, 1}}, Buyer: buyer}); err != nil {
		t.Fatal(err)
	}

	ids := []int64{r.b.ID, second.ID, quiet.ID, 999999}
	totals, err := r.s.SalesTotals(ctx, ids)
	if err != nil {
		t.Fatalf("SalesTotals: %v", err)
	}
	tests := []struct {
		name string
		id   int64
		want SalesTotal
	}{
		{"coupon, cancelled, rejected and replay orders", r.b.ID, SalesTotal{Orders: 3, RevenueWon: 14500 + 1500 + 24000}},
		{"another broadcast of the channel", second.ID, SalesTotal{Orders: 1, RevenueWon: 3000}},
		{"no orders", quiet.ID, SalesTotal{}},
		{"unknown broadcast", 999999, SalesTotal{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := totals[tt.id]; got != tt.want {
				t.Errorf("SalesTotals[%d] = %+v, want %+v", tt.id, got, tt.want)
			}
			sales, err := r.s.Sales(ctx, tt.id)
			if err != nil {
				t.Fatalf("Sales: %v", err)
			}
			if sales.Orders != tt.want.Orders || sales.RevenueWon != tt.want.RevenueWon {
				t.Errorf("Sales = %d orders, %d won; want %+v as SalesTotals", sales.Orders, sales.RevenueWon, tt.want)
			}
		})
	}
	if _, ok := totals[r.ob.ID]; ok || len(totals) != 2 {
		t.Errorf("SalesTotals(%v) = %+v, want only the two broadcasts with orders", ids, totals)
	}
	if got, err := r.s.SalesTotals(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("SalesTotals(nil) = %+v, %v; want none", got, err)
	}
}
