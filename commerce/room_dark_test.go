package commerce

import (
	"testing"
	"time"
)

// TestRoomDarkVideo runs the room's dark video spells (video.dark) against
// every backend.
func TestRoomDarkVideo(t *testing.T) {
	for _, backend := range []struct {
		name  string
		newDB func(t *testing.T) storeOpener
	}{{"sqlite", newSQLiteDB}, {"postgres", newPostgresDB}} {
		t.Run(backend.name, func(t *testing.T) {
			if backend.name == "postgres" {
				testPostgres(t)
			}
			t.Run("spells", func(t *testing.T) { testWSDarkSpells(t, backend.newDB) })
			t.Run("merchant leaves", func(t *testing.T) { testWSDarkMerchantLeaves(t, backend.newDB) })
		})
	}
}

// newDarkEnv is a live room whose store runs on a clock the test moves:
// the room times dark spells by the store's clock.
func newDarkEnv(t *testing.T, newDB func(t *testing.T) storeOpener) (*wsEnv, *testClock) {
	t.Helper()
	e := newWSEnv(t, newDB, RoomOptions{Coalesce: 10 * time.Millisecond}, nil)
	clock := newTestClock()
	clock.ns.Store(e.b.StartedAt.UnixNano())
	e.s.now = clock.Now // before any connection: nothing else reads it yet
	return e, clock
}

// darkMS reads the broadcast's stored dark time.
func darkMS(t *testing.T, s *Store, broadcastID int64) int64 {
	t.Helper()
	var ms int64
	if err := s.rdb.QueryRowContext(t.Context(), s.dialect.rebind(`SELECT dark_ms FROM broadcasts WHERE id = ?`), broadcastID).Scan(&ms); err != nil {
		t.Fatalf("read dark_ms: %v", err)
	}
	return ms
}

// testWSDarkSpells: a spell lasts from the studio's dark to its bright
// again, a repeated dark changes nothing, a viewer cannot say it, the
// broadcast's end closes a spell still open, and once off the air there
// is nothing to say.
func testWSDarkSpells(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e, clock := newDarkEnv(t, newDB)
	m := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m.hello("사장님")
	v := e.dial(t, dialOpt{})
	v.hello("손님")

	if r := v.do("video.dark", map[string]any{"dark": true}, false); errCode(r) != "forbidden" {
		t.Fatalf("viewer video.dark: %v", r)
	}
	for _, bad := range []map[string]any{nil, {"dark": "yes"}, {"dark": 1}} {
		if r := m.do("video.dark", bad, false); errCode(r) != "invalid" || r["error"].(map[string]any)["field"] != "dark" {
			t.Fatalf("video.dark %v: %v", bad, r)
		}
	}
	// Bright again while not dark: no spell.
	if r := m.do("video.dark", map[string]any{"dark": false}, true); r["dark"] != false {
		t.Fatalf("video.dark false reply %v", r)
	}

	// The reply comes once the room has the spell (and, for its end, once
	// the store has it): the clock moves between replies only.
	if r := m.do("video.dark", map[string]any{"dark": true}, true); r["dark"] != true {
		t.Fatalf("video.dark true reply %v", r)
	}
	clock.Advance(4 * time.Second)
	m.do("video.dark", map[string]any{"dark": true}, true) // still dark: the spell began before
	clock.Advance(3*time.Second + 250*time.Millisecond)
	m.do("video.dark", map[string]any{"dark": false}, true)
	if got := darkMS(t, e.s, e.b.ID); got != 7250 {
		t.Fatalf("dark_ms after a spell = %d, want 7250", got)
	}
	clock.Advance(time.Minute) // bright: not counted
	m.do("video.dark", map[string]any{"dark": false}, true)
	if got := darkMS(t, e.s, e.b.ID); got != 7250 {
		t.Fatalf("dark_ms after a bright minute = %d, want 7250", got)
	}

	// The end of the broadcast closes the spell at the end's time;
	// BroadcastEnded returns once it is written.
	m.do("video.dark", map[string]any{"dark": true}, true)
	clock.Advance(2 * time.Second)
	if err := e.rooms.BroadcastEnded(t.Context(), e.ch.Slug); err != nil {
		t.Fatal(err)
	}
	if got := darkMS(t, e.s, e.b.ID); got != 9250 {
		t.Fatalf("dark_ms after the end = %d, want 9250", got)
	}
	m.await("live off", isType("live"))
	if r := m.do("video.dark", map[string]any{"dark": false}, false); errCode(r) != "not_live" {
		t.Fatalf("video.dark off the air: %v", r)
	}
	if got := darkMS(t, e.s, e.b.ID); got != 9250 {
		t.Fatalf("dark_ms after a late bright again = %d, want 9250", got)
	}
}

// testWSDarkMerchantLeaves: the merchant's last connection leaving closes
// the spell (no one is left to say it ended), while the room stays up for
// its customers; a second studio leaving first does not.
func testWSDarkMerchantLeaves(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e, clock := newDarkEnv(t, newDB)
	v := e.dial(t, dialOpt{}) // keeps the room up after the merchant goes
	v.hello("손님")
	m1 := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m1.hello("사장님")
	m2 := e.dial(t, dialOpt{token: e.sec.StreamKey})
	m2.hello("사장님")
	m1.do("video.dark", map[string]any{"dark": true}, true)
	clock.Advance(3 * time.Second)

	m2.conn.Close()
	awaitMerchantConns(t, e, 1)
	clock.Advance(2 * time.Second)
	m1.conn.Close()
	awaitMerchantConns(t, e, 0)
	// Had the departure not closed it, the room's stop would, later.
	clock.Advance(time.Minute)
	// Close waits for the room's helpers, and so for the spell's write.
	e.rooms.Close()
	if got := darkMS(t, e.s, e.b.ID); got != 5000 {
		t.Fatalf("dark_ms = %d, want 5000", got)
	}
}

// awaitMerchantConns waits for the room to have seen the merchant's
// connections go down to n. Nothing reaches a client when a studio leaves,
// so the test asks the room, on its goroutine, until it has.
func awaitMerchantConns(t *testing.T, e *wsEnv, n int) {
	t.Helper()
	r := e.rooms.room(e.ch.Slug)
	if r == nil {
		t.Fatal("the room stopped")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := make(chan int, 1)
		if !r.do(func() { got <- r.merchantConns }) {
			t.Fatal("the room stopped")
		}
		if <-got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("merchant connections: still not %d", n)
		}
		time.Sleep(time.Millisecond)
	}
}
