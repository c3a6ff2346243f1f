package commerce

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestAPIRecordingSettingsAndReplayOrders runs the settings, replay order
// and recording retention parts of the API on every backend.
func TestAPIRecordingSettingsAndReplayOrders(t *testing.T) {
	run := func(t *testing.T, newDB func(t *testing.T) storeOpener) {
		t.Run("settings", func(t *testing.T) { testAPISettings(t, newDB) })
		t.Run("replay orders", func(t *testing.T) { testAPIReplayOrders(t, newDB) })
		t.Run("deleted recording", func(t *testing.T) { testAPIDeletedRecording(t, newDB) })
	}
	t.Run("sqlite", func(t *testing.T) { run(t, newSQLiteDB) })
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t)
		run(t, newPostgresDB)
	})
}

func testAPISettings(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	const path = "/api/channels/kim-fish/settings"
	get := func() map[string]any {
		t.Helper()
		r := e.do(t, apiReq{method: "GET", path: path, auth: "Bearer " + e.studio})
		var got map[string]any
		r.decode(t, &got)
		if r.status != 200 {
			t.Fatalf("GET settings: %d %s", r.status, r.body)
		}
		return got
	}
	want := func(got map[string]any, record bool, days any) {
		t.Helper()
		if got["record"] != record || got["recording_retention_days"] != days {
			t.Fatalf("settings %v, want record %v, recording_retention_days %v", got, record, days)
		}
	}
	want(get(), true, nil)

	// Each step starts from the previous one's settings.
	steps := []struct {
		name       string
		body       string
		wantStatus int
		wantField  string
		record     bool
		days       any // float64 as JSON decodes it, or nil
	}{
		{"record off", `{"record": false}`, 200, "", false, nil},
		{"retention", `{"recording_retention_days": 30}`, 200, "", false, 30.0},
		{"too long", `{"record": true, "recording_retention_days": 3651}`, 400, "recording_retention_days", false, 30.0},
		{"negative", `{"recording_retention_days": -1}`, 400, "recording_retention_days", false, 30.0},
		{"fraction", `{"recording_retention_days": 1.5}`, 400, "recording_retention_days", false, 30.0},
		{"text", `{"recording_retention_days": "7"}`, 400, "recording_retention_days", false, 30.0},
		{"record not a bool", `{"record": "yes"}`, 400, "record", false, 30.0},
		{"unknown field", `{"retention": 3}`, 400, "retention", false, 30.0},
		{"longest", `{"recording_retention_days": 3650}`, 200, "", false, 3650.0},
		{"null keeps forever", `{"record": true, "recording_retention_days": null}`, 200, "", true, nil},
		{"one day", `{"recording_retention_days": 1}`, 200, "", true, 1.0},
		{"zero keeps forever", `{"recording_retention_days": 0}`, 200, "", true, nil},
	}
	for _, st := range steps {
		r := e.do(t, apiReq{method: "PATCH", path: path, auth: "Bearer " + e.key, ctype: "application/json", body: []byte(st.body)})
		if st.wantStatus != 200 {
			eb := r.wantError(t, st.wantStatus, "invalid")
			if eb.Error.Field != st.wantField {
				t.Errorf("%s: field %q, want %q", st.name, eb.Error.Field, st.wantField)
			}
		} else {
			var got map[string]any
			r.decode(t, &got)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", st.name, r.status, r.body)
			}
			want(got, st.record, st.days)
		}
		want(get(), st.record, st.days) // nothing changed on a refusal
	}

	// The merchant's only: no secret, or another channel's, is 401 and
	// changes nothing.
	for _, auth := range []string{"", "Bearer " + e.otherKey} {
		r := e.do(t, apiReq{method: "PATCH", path: path, auth: auth, ctype: "application/json", body: []byte(`{"record": false}`)})
		r.wantError(t, http.StatusUnauthorized, "unauthorized")
		r = e.do(t, apiReq{method: "GET", path: path, auth: auth})
		r.wantError(t, http.StatusUnauthorized, "unauthorized")
	}
	want(get(), true, nil)
	// An English error for an English client.
	r := e.do(t, apiReq{method: "PATCH", path: path, auth: "Bearer " + e.key, ctype: "application/json",
		body: []byte(`{"recording_retention_days": 5000}`), header: map[string]string{"Accept-Language": "en"}})
	if eb := r.wantError(t, 400, "invalid"); eb.Error.Message != errAPIRetention.en {
		t.Errorf("message %q, want %q", eb.Error.Message, errAPIRetention.en)
	}
}

func testAPIReplayOrders(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	ctx := t.Context()
	p, err := e.s.CreateProduct(ctx, e.ch.ID, ProductInput{Name: "고등어", PriceWon: 3000, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.s.StartBroadcast(ctx, e.ch.ID, "오늘의 생선", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.EndBroadcast(ctx, e.ch.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/orders", b.ID)
	order := func(body string) apiResp {
		return e.do(t, apiReq{method: "POST", path: path, ctype: "application/json", body: []byte(body)})
	}
	stock := func() int {
		t.Helper()
		got, err := e.s.Product(ctx, e.ch.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Stock
	}
	item := fmt.Sprintf(`"items": [{"product_id": %d, "qty": 1}]`, p.ID)
	buyer := `"buyer": {"name": "박영희", "phone": "010-1234-5678"}`

	refusals := []struct {
		name       string
		path       string // default: the broadcast's
		body       string
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"coupon", "", `{` + item + `, ` + buyer + `, "coupon_id": 3}`, 400, "invalid", "coupon_id"},
		{"no items", "", `{"items": [], ` + buyer + `}`, 400, "invalid", "items"},
		{"no quantity", "", fmt.Sprintf(`{"items": [{"product_id": %d}], %s}`, p.ID, buyer), 400, "invalid", "items[0].qty"},
		{"no buyer", "", `{` + item + `}`, 400, "invalid", "buyer.name"},
		{"bad phone", "", `{` + item + `, "buyer": {"name": "박영희", "phone": "전화"}}`, 400, "invalid", "buyer.phone"},
		{"short id", "", `{"id": "1", ` + item + `, ` + buyer + `}`, 400, "invalid", ""},
		{"unknown product", "", `{"items": [{"product_id": 999, "qty": 1}], ` + buyer + `}`, 404, "not_found", ""},
		{"too many", "", fmt.Sprintf(`{"items": [{"product_id": %d, "qty": 6}], %s}`, p.ID, buyer), 409, "out_of_stock", ""},
		{"unknown broadcast", "/api/channels/kim-fish/broadcasts/999/orders", `{` + item + `, ` + buyer + `}`, 404, "not_found", ""},
		{"unknown channel", fmt.Sprintf("/api/channels/nobody/broadcasts/%d/orders", b.ID), `{` + item + `, ` + buyer + `}`, 404, "not_found", ""},
		{"another channel's", fmt.Sprintf("/api/channels/lee-veg/broadcasts/%d/orders", b.ID), `{` + item + `, ` + buyer + `}`, 404, "not_found", ""},
	}
	for _, tt := range refusals {
		q := apiReq{method: "POST", path: path, ctype: "application/json", body: []byte(tt.body)}
		if tt.path != "" {
			q.path = tt.path
		}
		eb := e.do(t, q).wantError(t, tt.wantStatus, tt.wantCode)
		if eb.Error.Field != tt.wantField {
			t.Errorf("%s: field %q, want %q", tt.name, eb.Error.Field, tt.wantField)
		}
	}
	if got := stock(); got != 5 {
		t.Fatalf("stock %d after refused orders, want 5", got)
	}

	// An order with an id, then its retry: one order.
	body := `{"id": "5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f", ` + item + `, ` + buyer + `, "note": "다시보기 보고 주문해요"}`
	r := order(body)
	var first Order
	r.decode(t, &first)
	if r.status != http.StatusCreated || first.Source != SourceReplay || first.BroadcastID != b.ID || first.TotalWon != 3000 {
		t.Fatalf("replay order: %d %s", r.status, r.body)
	}
	r = order(body)
	var retry Order
	r.decode(t, &retry)
	if r.status != http.StatusOK || retry.ID != first.ID {
		t.Fatalf("retry: %d %s, want 200 and order %d", r.status, r.body, first.ID)
	}

	// 20 customers at once for the 4 left: exactly 4 get one.
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+path, bytes.NewReader([]byte(`{`+item+`, `+buyer+`}`)))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[http.StatusCreated] != 4 || statuses[http.StatusConflict] != n-4 || stock() != 0 {
		t.Fatalf("statuses %v, stock %d; want 4 created, %d out of stock, stock 0", statuses, stock(), n-4)
	}

	// The merchant sees where each order came from.
	v, _, err := e.s.CreateViewer(ctx, e.ch.ID, "단골")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UpdateProduct(ctx, e.ch.ID, p.ID, ProductPatch{Stock: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	live, err := e.s.PlaceOrder(ctx, "", v.ID, OrderInput{Items: []ItemInput{{p.ID, 1}}, Buyer: Buyer{Name: "김철수", Phone: "01099990000"}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders", auth: "Bearer " + e.key})
	var list struct{ Orders []map[string]any }
	r.decode(t, &list)
	if r.status != 200 || len(list.Orders) != 6 {
		t.Fatalf("orders: %d %s", r.status, r.body)
	}
	for _, o := range list.Orders {
		want := "replay"
		if o["id"] == float64(live.ID) {
			want = "live"
		}
		if o["source"] != want {
			t.Errorf("order %v: source %v, want %s", o["id"], o["source"], want)
		}
	}
	r = e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/orders?format=csv", auth: "Bearer " + e.key})
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.body, []byte("\uFEFF")))).ReadAll()
	if err != nil || len(rows) != 7 {
		t.Fatalf("csv: %v\n%s", err, r.body)
	}
	col := len(apiCSVHeader) - 1
	if rows[0][col] != "출처 Source" {
		t.Errorf("csv header %q, want the source last", rows[0])
	}
	for _, row := range rows[1:] {
		want := "다시보기"
		if row[0] == fmt.Sprint(live.ID) {
			want = "라이브"
		}
		if row[col] != want {
			t.Errorf("csv row %q: source %q, want %q", row, row[col], want)
		}
	}
}

// testAPIDeletedRecording checks that a broadcast whose recording the
// retention deleted has no replay_url, whatever the recordings say.
func testAPIDeletedRecording(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	ctx := t.Context()
	e.api.Replays = func(_ context.Context, slug string, id int64) (ReplayInfo, bool) {
		return ReplayInfo{URL: fmt.Sprintf("/replays/%s/%d.webm", slug, id), DurationS: 60}, true
	}
	var ids []int64
	for range 2 {
		b, err := e.s.StartBroadcast(ctx, e.ch.ID, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.EndBroadcast(ctx, e.ch.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	gone, kept := ids[0], ids[1]
	if err := e.s.MarkRecordingDeleted(ctx, gone); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/broadcasts", auth: "Bearer " + e.key})
	var out struct{ Broadcasts []map[string]any }
	r.decode(t, &out)
	if r.status != 200 || len(out.Broadcasts) != 2 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, b := range out.Broadcasts {
		_, hasURL := b["replay_url"]
		_, hasDeleted := b["recording_deleted_at"]
		if wantGone := b["id"] == float64(gone); hasURL == wantGone || hasDeleted != wantGone {
			t.Errorf("broadcast %v: replay_url %v, recording_deleted_at %v; want the replay gone: %v", b["id"], b["replay_url"], b["recording_deleted_at"], wantGone)
		}
	}
	for _, tt := range []struct {
		id       int64
		wantGone bool
	}{{gone, true}, {kept, false}} {
		r := e.do(t, apiReq{method: "GET", path: fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/replay", tt.id)})
		var doc struct {
			Broadcast struct {
				ReplayURL          string     `json:"replay_url"`
				RecordingDeletedAt *time.Time `json:"recording_deleted_at"`
			} `json:"broadcast"`
		}
		r.decode(t, &doc)
		if r.status != 200 || (doc.Broadcast.ReplayURL == "") != tt.wantGone || (doc.Broadcast.RecordingDeletedAt != nil) != tt.wantGone {
			t.Errorf("replay of %d: %d %s; want gone: %v", tt.id, r.status, r.body, tt.wantGone)
		}
	}
}
