package commerce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// sampleViewers is a tick of the channel's room's sample timer, on demand:
// it samples the live broadcast's viewers at the Store's clock and returns
// once the room has written what it had not. Tests set ViewerSample long
// enough for the timer never to fire.
func (rs *Rooms) sampleViewers(slug string) error {
	r := rs.room(slug)
	if r == nil {
		return fmt.Errorf("sample viewers: no room for %s", slug)
	}
	saved := make(chan error, 1)
	ok := r.do(func() {
		r.aud.sample(rs.store.timestamp())
		r.saveViewers(rs.log, true, func(err error) { saved <- err })
	})
	if !ok {
		return fmt.Errorf("sample viewers: room %s stopped", slug)
	}
	return <-saved
}

// TestAudience checks the room's viewer tally: viewers are ids, the
// merchant is never added, counts start with the broadcast, and samples
// carry the peak since the previous one.
func TestAudience(t *testing.T) {
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	b := Broadcast{ID: 7, StartedAt: start}
	type op func(a *audience)
	add := func(id int64) op { return func(a *audience) { a.add(id) } }
	remove := func(id int64) op { return func(a *audience) { a.remove(id) } }
	sample := func(s float64) op { return func(a *audience) { a.sample(at(s)) } }
	begin := func(a *audience) { a.start(b) }
	tests := []struct {
		name    string
		ops     []op
		now     int
		want    ViewerStats
		nothing bool // take has nothing to write
	}{
		{name: "not live", ops: []op{add(1), add(2), sample(30)}, now: 2, nothing: true},
		{name: "live counts those already there", ops: []op{add(1), add(2), begin},
			now: 2, want: ViewerStats{Seen: []int64{1, 2}, Peak: 2}},
		{name: "tabs are one viewer", ops: []op{begin, add(1), add(1), add(1), remove(1), sample(30)},
			now: 1, want: ViewerStats{Seen: []int64{1}, Peak: 1, Samples: []ViewerSample{{30, 1, 1}}}},
		{name: "reconnect is not a new viewer", ops: []op{begin, add(1), remove(1), add(1), add(2)},
			now: 2, want: ViewerStats{Seen: []int64{1, 2}, Peak: 2}},
		{name: "peak within an interval", ops: []op{begin, add(1), add(2), add(3), remove(2), remove(3), sample(30.4),
			add(4), sample(59.6), remove(1), remove(4), sample(75)},
			now: 0, want: ViewerStats{Seen: []int64{1, 2, 3, 4}, Peak: 3,
				Samples: []ViewerSample{{30, 1, 3}, {60, 2, 2}, {75, 0, 2}}}},
		{name: "sample before the start is at 0", ops: []op{begin, add(1), sample(-2)},
			now: 1, want: ViewerStats{Seen: []int64{1}, Peak: 1, Samples: []ViewerSample{{0, 1, 1}}}},
		{name: "stopped", ops: []op{begin, add(1), func(a *audience) { a.take() }, func(a *audience) { a.stop() }, add(2), sample(30)},
			now: 2, nothing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAudience()
			for _, o := range tt.ops {
				o(&a)
			}
			if a.now() != tt.now {
				t.Errorf("now = %d, want %d", a.now(), tt.now)
			}
			bid, st, ok := a.take()
			slices.Sort(st.Seen) // a.start counts those there in map order
			if tt.nothing {
				if ok {
					t.Errorf("take = %d %+v, want nothing", bid, st)
				}
				return
			}
			if !ok || bid != b.ID || !reflect.DeepEqual(st, tt.want) {
				t.Fatalf("take = %d %+v %v, want %d %+v", bid, st, ok, b.ID, tt.want)
			}
			if _, st, ok := a.take(); ok {
				t.Errorf("second take = %+v, want nothing", st)
			}
			// A failed write comes back, ahead of what came meanwhile.
			a.add(99)
			a.sample(at(90))
			if !a.putBack(bid, st) {
				t.Fatal("putBack refused for the live broadcast")
			}
			_, again, _ := a.take()
			slices.Sort(again.Seen)
			if !reflect.DeepEqual(again.Seen, append(slices.Clone(tt.want.Seen), 99)) || len(again.Samples) != len(tt.want.Samples)+1 {
				t.Errorf("after putBack: %+v", again)
			}
			if a.putBack(bid+1, again) {
				t.Error("putBack accepted another broadcast's counts")
			}
		})
	}
}

// testViewerStats is the store's side: distinct viewers count once however
// often reported, the peak only rises, a sample at a known offset merges.
func testViewerStats(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	// More viewers than one INSERT takes.
	vs := make([]Viewer, audienceChunk+3)
	var wg sync.WaitGroup
	errs := make(chan error, len(vs))
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(vs); i += 8 {
				v, _, err := r.s.CreateViewer(ctx, r.ch.ID, "")
				if err != nil {
					errs <- err
					return
				}
				vs[i] = v
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ids := func(from, to int) []int64 {
		var out []int64
		for _, v := range vs[from:to] {
			out = append(out, v.ID)
		}
		return out
	}

	steps := []struct {
		name      string
		stats     ViewerStats
		wantErr   error
		peak      int64
		total     int64
		samples   []ViewerSample
		broadcast int64 // r.b when 0
	}{
		{name: "first", stats: ViewerStats{Seen: ids(0, 2), Peak: 2, Samples: []ViewerSample{{30, 2, 2}}},
			peak: 2, total: 2, samples: []ViewerSample{{30, 2, 2}}},
		{name: "again and a new one", stats: ViewerStats{Seen: ids(0, 3), Peak: 1},
			peak: 2, total: 3, samples: []ViewerSample{{30, 2, 2}}},
		{name: "same offset merges", stats: ViewerStats{Samples: []ViewerSample{{30, 1, 1}, {60, 0, 3}}},
			peak: 2, total: 3, samples: []ViewerSample{{30, 1, 2}, {60, 0, 3}}},
		{name: "many", stats: ViewerStats{Seen: ids(0, len(vs)), Peak: len(vs)},
			peak: int64(len(vs)), total: int64(len(vs)), samples: []ViewerSample{{30, 1, 2}, {60, 0, 3}}},
		{name: "nothing", peak: int64(len(vs)), total: int64(len(vs)), samples: []ViewerSample{{30, 1, 2}, {60, 0, 3}}},
		{name: "negative peak", stats: ViewerStats{Peak: -1}, wantErr: ErrInvalid},
		{name: "peak below viewers", stats: ViewerStats{Samples: []ViewerSample{{90, 3, 2}}}, wantErr: ErrInvalid},
		{name: "negative offset", stats: ViewerStats{Samples: []ViewerSample{{-30, 0, 0}}}, wantErr: ErrInvalid},
		{name: "no such broadcast", broadcast: 1 << 40, wantErr: ErrNotFound},
	}
	for _, st := range steps {
		bid := st.broadcast
		if bid == 0 {
			bid = r.b.ID
		}
		err := r.s.AddViewerStats(ctx, bid, st.stats)
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Errorf("%s: err = %v, want %v", st.name, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		b, err := r.s.Broadcast(ctx, r.b.ID)
		if err != nil {
			t.Fatal(err)
		}
		samples, err := r.s.ViewerSamples(ctx, r.b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if b.PeakViewers != st.peak || b.TotalViewers != st.total || !reflect.DeepEqual(samples, st.samples) {
			t.Errorf("%s: peak %d total %d samples %v; want %d %d %v", st.name, b.PeakViewers, b.TotalViewers, samples, st.peak, st.total, st.samples)
		}
	}

	// The room's last write comes after the end.
	if _, err := r.s.EndBroadcast(ctx, r.ch.ID, r.b.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.s.AddViewerStats(ctx, r.b.ID, ViewerStats{Peak: len(vs) + 1, Samples: []ViewerSample{{75, 0, 1}}}); err != nil {
		t.Fatalf("after the end: %v", err)
	}
	// Another broadcast's counts are its own.
	ob, err := r.s.Broadcast(ctx, r.ob.ID)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := r.s.ViewerSamples(ctx, r.ob.ID)
	if err != nil || ob.PeakViewers != 0 || ob.TotalViewers != 0 || len(samples) != 0 {
		t.Errorf("other broadcast: peak %d total %d samples %v %v, want none", ob.PeakViewers, ob.TotalViewers, samples, err)
	}
}

// testWSViewerCounts: viewers connecting to a live room over websockets are
// counted, by viewer (tabs and reconnects once), without the merchant; the
// samples and the counts reach the broadcasts listing and the replay
// summary.
func testWSViewerCounts(t *testing.T, newDB func(t *testing.T) storeOpener) {
	// No timer sample within the test: it samples with sampleViewers.
	e := newWSEnv(t, newDB, RoomOptions{ViewerSample: time.Hour, Coalesce: 10 * time.Millisecond}, nil)
	clock := newTestClock()
	clock.ns.Store(e.b.StartedAt.UnixNano())
	e.s.now = clock.Now // before any connection: nothing else reads it yet
	ctx := t.Context()
	sample := func(after time.Duration) {
		t.Helper()
		clock.Advance(after)
		if err := e.rooms.sampleViewers(e.ch.Slug); err != nil {
			t.Fatal(err)
		}
	}
	// The merchant's studio sees the room's viewer connections (its own
	// left out) and tells the test when a departure has reached the room.
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	a1 := e.dial(t, dialOpt{})
	tokA := a1.hello("순이")["viewer_token"].(string)
	a2 := e.dial(t, dialOpt{})
	a2.do("hello", map[string]any{"viewer_token": tokA}, true) // a second tab
	b := e.dial(t, dialOpt{})
	b.hello("민수")
	sample(30 * time.Second) // A and B: 2

	// conns waits for the studio's count of connections to reach n. Each n
	// awaited differs from the one before, and what came before it is
	// dropped, so that an older count is never taken for it.
	conns := func(n int64) {
		t.Helper()
		e.awaitViewers(t, m, n)
		m.backlog = nil
	}
	c := e.dial(t, dialOpt{})
	c.hello("지영") // 3 at once
	conns(4)
	c.conn.Close()
	conns(3) // a1, a2, b
	a1.conn.Close()
	conns(2) // A still has a tab open
	sample(30 * time.Second)

	a2.conn.Close()
	conns(1)
	a3 := e.dial(t, dialOpt{})
	a3.do("hello", map[string]any{"viewer_token": tokA}, true) // A comes back
	conns(2)
	b.conn.Close()
	conns(1) // a3
	clock.Advance(15 * time.Second)
	if err := e.rooms.BroadcastEnded(ctx, e.ch.Slug); err != nil {
		t.Fatal(err)
	}
	// BroadcastEnded returns once the room has written its last counts.
	wantSamples := []ViewerSample{{30, 2, 2}, {60, 2, 3}, {75, 1, 2}}
	checkCounts(t, e.s, e.b.ID, 3, 3, wantSamples)

	// The next broadcast counts whoever is there when it starts, and a
	// sample at the end's offset merges with the one there.
	clock.Advance(time.Minute)
	b2, err := e.rooms.BroadcastStarted(ctx, e.ch.Slug)
	if err != nil {
		t.Fatal(err)
	}
	sample(30 * time.Second)
	if err := e.rooms.BroadcastEnded(ctx, e.ch.Slug); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, e.s, b2.ID, 1, 1, []ViewerSample{{30, 1, 1}})

	// The merchant's API shows them.
	api := NewAPI(e.s, nil, nil)
	mux := http.NewServeMux()
	api.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string, into any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.sec.StudioToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
	}
	var list struct {
		Broadcasts []struct {
			ID           int64 `json:"id"`
			PeakViewers  int64 `json:"peak_viewers"`
			TotalViewers int64 `json:"total_viewers"`
		} `json:"broadcasts"`
	}
	get("/api/channels/kim-fish/broadcasts", &list)
	type counts struct{ id, peak, total int64 }
	var gotList []counts
	for _, b := range list.Broadcasts {
		gotList = append(gotList, counts{b.ID, b.PeakViewers, b.TotalViewers})
	}
	if want := []counts{{b2.ID, 1, 1}, {e.b.ID, 3, 3}}; !reflect.DeepEqual(gotList, want) {
		t.Errorf("broadcasts listing: %+v, want %+v", gotList, want)
	}
	var doc struct {
		Summary struct {
			PeakViewers  int64               `json:"peak_viewers"`
			TotalViewers int64               `json:"total_viewers"`
			Viewers      []replayViewersJSON `json:"viewers"`
		} `json:"summary"`
	}
	get(fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/replay", e.b.ID), &doc)
	wantDoc := []replayViewersJSON{{30, 2, 2}, {60, 2, 3}, {75, 1, 2}} // no recording: from the start
	if doc.Summary.PeakViewers != 3 || doc.Summary.TotalViewers != 3 || !reflect.DeepEqual(doc.Summary.Viewers, wantDoc) {
		t.Errorf("replay summary %+v, want peak 3, total 3, viewers %+v", doc.Summary, wantDoc)
	}
	// With a recording, the samples are on its timeline, like the chat.
	api.Replays = func(_ context.Context, _ string, id int64) (ReplayInfo, bool) {
		return ReplayInfo{URL: "/replays/x.webm", DurationS: 70.25, StartedAt: e.b.StartedAt.Add(4750 * time.Millisecond)}, true
	}
	get(fmt.Sprintf("/api/channels/kim-fish/broadcasts/%d/replay", e.b.ID), &doc)
	wantDoc = []replayViewersJSON{{25.25, 2, 2}, {55.25, 2, 3}, {70.25, 1, 2}}
	if !reflect.DeepEqual(doc.Summary.Viewers, wantDoc) {
		t.Errorf("recorded replay's viewers %+v, want %+v", doc.Summary.Viewers, wantDoc)
	}
}

func checkCounts(t *testing.T, s *Store, broadcastID, peak, total int64, samples []ViewerSample) {
	t.Helper()
	b, err := s.Broadcast(context.Background(), broadcastID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ViewerSamples(context.Background(), broadcastID)
	if err != nil {
		t.Fatal(err)
	}
	if b.PeakViewers != peak || b.TotalViewers != total || !reflect.DeepEqual(got, samples) {
		t.Errorf("broadcast %d: peak %d, total %d, samples %v; want %d, %d, %v",
			broadcastID, b.PeakViewers, b.TotalViewers, got, peak, total, samples)
	}
}

// TestViewerCountsMigration: broadcasts from before version 4 read as
// counted by no room.
func TestViewerCountsMigration(t *testing.T) {
	db := openRawSQLite(t)
	ms, err := loadMigrations(migrationFiles, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(t.Context(), db, dialectSQLite, ms[:3]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO channels (slug, name, stream_key_hash, studio_token_hash, created_at)
VALUES ('kim-fish', '김씨네', randomblob(32), randomblob(32), '2026-03-01 09:00:00');
INSERT INTO broadcasts (channel_id, started_at, ended_at) VALUES (1, '2026-03-01 09:00:00', '2026-03-01 10:00:00')`); err != nil {
		t.Fatal(err)
	}
	if err := migrate(t.Context(), db, dialectSQLite, ms); err != nil {
		t.Fatal(err)
	}
	var peak, total, samples int
	if err := db.QueryRowContext(t.Context(), `SELECT peak_viewers, total_viewers,
(SELECT COUNT(*) FROM broadcast_viewer_samples WHERE broadcast_id = b.id) FROM broadcasts b`).Scan(&peak, &total, &samples); err != nil {
		t.Fatal(err)
	}
	if peak != 0 || total != 0 || samples != 0 {
		t.Errorf("old broadcast: peak %d, total %d, %d samples; want none", peak, total, samples)
	}
}
