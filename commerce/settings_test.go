package commerce

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRecordingStore runs the contract of the recording settings, the
// retention's marks and replay orders on every backend.
func TestRecordingStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRecordingStore(t, newSQLiteDB) })
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		testRecordingStore(t, newPostgresDB)
	})
}

func testRecordingStore(t *testing.T, newDB func(t *testing.T) storeOpener) {
	t.Run("settings", func(t *testing.T) { testSettingsStore(t, newDB(t)(t)) })
	t.Run("expired recordings", func(t *testing.T) { testExpiredRecordings(t, newDB(t)(t)) })
	t.Run("replay orders", func(t *testing.T) { testReplayOrdersStore(t, newDB(t)(t)) })
}

func testSettingsStore(t *testing.T, s *Store) {
	ctx := t.Context()
	if _, _, err := s.CreateChannel(ctx, "kim-fish", "김씨네"); err != nil {
		t.Fatal(err)
	}
	got, err := s.ChannelSettings(ctx, "kim-fish")
	if err != nil {
		t.Fatalf("ChannelSettings: %v", err)
	}
	if want := (ChannelSettings{Record: true}); got != want {
		t.Fatalf("default settings = %+v, want %+v", got, want)
	}
	// Each step starts from the previous one's settings.
	steps := []struct {
		name    string
		change  SettingsChange
		want    ChannelSettings
		wantErr error
	}{
		{"record off", SettingsChange{Record: ptr(false)}, ChannelSettings{Record: false}, nil},
		{"retention", SettingsChange{RetentionDays: ptr(30)}, ChannelSettings{Record: false, RetentionDays: 30}, nil},
		{"nothing", SettingsChange{}, ChannelSettings{Record: false, RetentionDays: 30}, nil},
		{"too long", SettingsChange{Record: ptr(true), RetentionDays: ptr(MaxRetentionDays + 1)}, ChannelSettings{Record: false, RetentionDays: 30}, ErrInvalid},
		{"negative", SettingsChange{RetentionDays: ptr(-1)}, ChannelSettings{Record: false, RetentionDays: 30}, ErrInvalid},
		{"longest", SettingsChange{RetentionDays: ptr(MaxRetentionDays)}, ChannelSettings{Record: false, RetentionDays: MaxRetentionDays}, nil},
		{"both", SettingsChange{Record: ptr(true), RetentionDays: ptr(0)}, ChannelSettings{Record: true}, nil},
	}
	for _, st := range steps {
		got, err := s.ChangeSettings(ctx, "kim-fish", st.change)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: ChangeSettings err = %v, want %v", st.name, err, st.wantErr)
		}
		if err == nil && got != st.want {
			t.Errorf("%s: ChangeSettings = %+v, want %+v", st.name, got, st.want)
		}
		if got, err := s.ChannelSettings(ctx, "kim-fish"); err != nil || got != st.want {
			t.Errorf("%s: settings now %+v, %v; want %+v", st.name, got, err, st.want)
		}
	}
	if _, err := s.ChangeSettings(ctx, "nobody", SettingsChange{Record: ptr(false)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("ChangeSettings of an unknown channel: err = %v, want ErrNotFound", err)
	}
	if _, err := s.ChannelSettings(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ChannelSettings of an unknown channel: err = %v, want ErrNotFound", err)
	}
}

func testExpiredRecordings(t *testing.T, s *Store) {
	ctx := t.Context()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	s.now = func() time.Time { return clock }

	// broadcast starts and ends a broadcast of the channel that ended daysAgo.
	broadcast := func(ch Channel, daysAgo int) Broadcast {
		t.Helper()
		clock = now.Add(-time.Duration(daysAgo)*24*time.Hour - time.Hour)
		b, err := s.StartBroadcast(ctx, ch.ID, "", false)
		if err != nil {
			t.Fatal(err)
		}
		clock = now.Add(-time.Duration(daysAgo) * 24 * time.Hour)
		if b, err = s.EndBroadcast(ctx, ch.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		return b
	}
	kim, _, _ := s.CreateChannel(ctx, "kim-fish", "김씨네")
	lee, _, _ := s.CreateChannel(ctx, "lee-veg", "이씨네")
	if _, err := s.ChangeSettings(ctx, "kim-fish", SettingsChange{RetentionDays: ptr(7)}); err != nil {
		t.Fatal(err)
	}
	old := broadcast(kim, 10)
	recent := broadcast(kim, 3)
	broadcast(lee, 400) // lee keeps recordings forever
	clock = now.Add(-30 * 24 * time.Hour)
	if _, err := s.StartBroadcast(ctx, kim.ID, "", false); err != nil { // live: not ended, never expired
		t.Fatal(err)
	}

	tests := []struct {
		name string
		at   time.Time
		want []int64
	}{
		{"now", now, []int64{old.ID}},
		{"a day before the old one expires", now.Add(-4 * 24 * time.Hour), nil},
		{"after the recent one expires too", now.Add(5 * 24 * time.Hour), []int64{old.ID, recent.ID}},
	}
	for _, tt := range tests {
		got, err := s.ExpiredRecordings(ctx, tt.at)
		if err != nil {
			t.Fatalf("%s: ExpiredRecordings: %v", tt.name, err)
		}
		var ids []int64
		for _, e := range got {
			if e.Slug != "kim-fish" {
				t.Errorf("%s: expired %+v of another channel", tt.name, e)
			}
			ids = append(ids, e.BroadcastID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("%s: expired %v, want %v", tt.name, ids, tt.want)
		}
	}

	clock = now
	if err := s.MarkRecordingDeleted(ctx, old.ID); err != nil {
		t.Fatalf("MarkRecordingDeleted: %v", err)
	}
	clock = now.Add(time.Hour)
	if err := s.MarkRecordingDeleted(ctx, old.ID); err != nil {
		t.Fatalf("MarkRecordingDeleted again: %v", err)
	}
	if got, err := s.ExpiredRecordings(ctx, now); err != nil || len(got) != 0 {
		t.Errorf("ExpiredRecordings after the mark = %v, %v; want none", got, err)
	}
	b, err := s.Broadcast(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !b.RecordingDeletedAt.Equal(now) {
		t.Errorf("RecordingDeletedAt = %v, want the first mark's %v", b.RecordingDeletedAt, now)
	}
	if b, _ := s.Broadcast(ctx, recent.ID); !b.RecordingDeletedAt.IsZero() {
		t.Errorf("unmarked broadcast has RecordingDeletedAt %v", b.RecordingDeletedAt)
	}
	if err := s.MarkRecordingDeleted(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkRecordingDeleted of no broadcast: err = %v, want ErrNotFound", err)
	}
	// Turning retention off keeps every recording again.
	if _, err := s.ChangeSettings(ctx, "kim-fish", SettingsChange{RetentionDays: ptr(0)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ExpiredRecordings(ctx, now.Add(100*24*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("ExpiredRecordings with retention off = %v, %v; want none", got, err)
	}
}

func testReplayOrdersStore(t *testing.T, s *Store) {
	ctx := t.Context()
	kim, _, _ := s.CreateChannel(ctx, "kim-fish", "김씨네")
	lee, _, _ := s.CreateChannel(ctx, "lee-veg", "이씨네")
	p, err := s.CreateProduct(ctx, kim.ID, ProductInput{Name: "고등어", PriceWon: 5000, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.StartBroadcast(ctx, kim.ID, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = s.EndBroadcast(ctx, kim.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	leeB, err := s.StartBroadcast(ctx, lee.ID, "", false)
	if err != nil {
		t.Fatal(err)
	}
	buyer := Buyer{Name: "박영희", Phone: "010-1234-5678"}
	in := func(bid int64, qty int) OrderInput {
		return OrderInput{BroadcastID: bid, Items: []ItemInput{{ProductID: p.ID, Qty: qty}}, Buyer: buyer}
	}

	refusals := []struct {
		name    string
		cmdID   string
		channel int64
		in      OrderInput
		want    error
	}{
		{"coupon", "", kim.ID, OrderInput{BroadcastID: b.ID, Items: in(b.ID, 1).Items, Buyer: buyer, CouponID: 1}, ErrInvalid},
		{"no broadcast", "", kim.ID, in(0, 1), ErrInvalid},
		{"another channel's broadcast", "", kim.ID, in(leeB.ID, 1), ErrNotFound},
		{"another channel's product", "", lee.ID, in(leeB.ID, 1), ErrNotFound},
		{"short id", "abc", kim.ID, in(b.ID, 1), ErrInvalid},
		{"more than the stock", "", kim.ID, in(b.ID, 6), ErrOutOfStock},
	}
	for _, tt := range refusals {
		if _, err := s.PlaceReplayOrder(ctx, tt.cmdID, tt.channel, tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if got, _ := s.Product(ctx, kim.ID, p.ID); got.Stock != 5 {
		t.Fatalf("stock %d after refused orders, want 5 unchanged", got.Stock)
	}

	const id = "0b6f3c9e-7d1a-4f0e-9a51-2c3d4e5f6a7b"
	o, err := s.PlaceReplayOrder(ctx, id, kim.ID, in(b.ID, 2))
	if err != nil {
		t.Fatalf("PlaceReplayOrder: %v", err)
	}
	if o.Source != SourceReplay || o.BroadcastID != b.ID || o.ChannelID != kim.ID || o.TotalWon != 10000 || o.ViewerID == 0 || o.Replayed {
		t.Errorf("order = %+v", o)
	}
	again, err := s.PlaceReplayOrder(ctx, id, kim.ID, in(b.ID, 2))
	if err != nil || again.ID != o.ID || !again.Replayed {
		t.Errorf("retry = %+v, %v; want order %d replayed", again, err, o.ID)
	}
	if got, _ := s.Product(ctx, kim.ID, p.ID); got.Stock != 3 {
		t.Errorf("stock %d, want 3: the retry must not reserve again", got.Stock)
	}
	// A live order is marked live.
	v, _, err := s.CreateViewer(ctx, kim.ID, "단골")
	if err != nil {
		t.Fatal(err)
	}
	lo, err := s.PlaceOrder(ctx, "", v.ID, OrderInput{Items: in(0, 1).Items, Buyer: buyer})
	if err != nil {
		t.Fatal(err)
	}
	os, err := s.ListOrders(ctx, kim.ID, OrderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(os) != 2 || os[0].ID != lo.ID || os[0].Source != SourceLive || os[1].ID != o.ID || os[1].Source != SourceReplay {
		t.Errorf("orders = %+v, want the live one then the replay one", os)
	}

	// Concurrent replay orders never take more than the stock: 2 left.
	const n = 10
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		placed int
	)
	for range n {
		wg.Go(func() {
			_, err := s.PlaceReplayOrder(ctx, "", kim.ID, in(b.ID, 1))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				placed++
			case !errors.Is(err, ErrOutOfStock):
				t.Errorf("concurrent order: %v", err)
			}
		})
	}
	wg.Wait()
	if got, _ := s.Product(ctx, kim.ID, p.ID); placed != 2 || got.Stock != 0 {
		t.Errorf("%d orders placed, stock %d; want 2 and 0", placed, got.Stock)
	}
}
