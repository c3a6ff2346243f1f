package main

import (
	"strings"
	"testing"
	"time"

	"github.com/dangol/dangol/commerce"
)

// TestLeftOverBroadcast starts the server on a store whose broadcast a killed process left
// live: with no publisher it is ended once the grace has passed, and a publisher that comes
// back within the grace carries on with the same broadcast.
func TestLeftOverBroadcast(t *testing.T) {
	tests := []struct {
		name      string
		grace     time.Duration
		publish   bool
		wantEnded bool
	}{
		{name: "no publisher", grace: time.Second, wantEnded: true},
		// Long enough for a pion connection under -race on a busy machine.
		{name: "publisher comes back", grace: 4 * time.Second, publish: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			const slug = "kim-fish"
			secrets, left := leaveBroadcastLive(t, dir, slug, "김씨네 생선", true)

			start := time.Now()
			addr, logs, stop := startServe(t, loopbackArgs(dir, "--grace", tt.grace.String()))
			base := "http://" + addr
			room := joinRoom(t, base, slug)
			if !room.hello {
				t.Fatalf("room not live at start; the left-over broadcast should be until the grace passes")
			}
			if tt.publish {
				pc := publishMedia(t, base, slug, secrets.key).pc
				defer pc.Close()
				waitLog(t, logs, `msg="left-over broadcast taken over by the media server"`, 10*time.Second)
			}
			// The sweep runs once the grace has passed, whatever happened before.
			waitLog(t, logs, `msg="left-over broadcasts swept"`, tt.grace+10*time.Second)

			bs := broadcasts(t, base, slug, secrets.key)
			if len(bs) != 1 || bs[0].ID != left.ID {
				t.Fatalf("broadcasts = %+v, want only the left-over one, %d", bs, left.ID)
			}
			b := bs[0]
			if !tt.wantEnded {
				if !b.Live || b.EndedAt != nil {
					t.Fatalf("broadcast %d ended although its publisher came back: %+v\nlogs:\n%s", b.ID, b, logs)
				}
				if err := stop(); err != nil {
					t.Fatalf("run: %v", err)
				}
				return
			}
			if b.Live || b.EndedAt == nil {
				t.Fatalf("broadcast %d still live after the grace with no publisher: %+v\nlogs:\n%s", b.ID, b, logs)
			}
			if earliest := start.Add(tt.grace); b.EndedAt.Before(earliest.Truncate(time.Millisecond)) {
				t.Errorf("ended at %v, before the grace ran out at %v", b.EndedAt, earliest)
			}
			room.waitLive(t, false)
			if err := stop(); err != nil {
				t.Fatalf("run: %v", err)
			}
			store := openTestStore(t, dir)
			open, err := store.Coupons(t.Context(), left.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(open) != 0 {
				t.Errorf("coupons of the ended broadcast still open: %+v", open)
			}
		})
	}
}

// leaveBroadcastLive adds a channel in dir and leaves a broadcast live in its store, with a
// coupon if asked, as a process that went live and died without ending it would.
func leaveBroadcastLive(t *testing.T, dir, slug, name string, coupon bool) (addedChannel, commerce.Broadcast) {
	t.Helper()
	secrets := addChannel(t, dir, slug, name)
	store := openTestStore(t, dir)
	defer store.Close()
	ch, err := store.Channel(t.Context(), slug)
	if err != nil {
		t.Fatal(err)
	}
	left, err := store.StartBroadcast(t.Context(), ch.ID, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if coupon {
		if _, err := store.DropCoupon(t.Context(), "c1", ch.ID, left.ID, commerce.CouponInput{
			Title: "첫 구매 할인", DiscountWon: 1000, Quantity: 10, ExpiresIn: time.Hour,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return secrets, left
}

// TestLeftOverBroadcastNotEndedOnShutdown checks a server stopped within the grace leaves the
// broadcast live for the next one to sweep.
func TestLeftOverBroadcastNotEndedOnShutdown(t *testing.T) {
	dir := t.TempDir()
	_, left := leaveBroadcastLive(t, dir, "lee-veg", "이씨네 채소", false)

	_, logs, stop := startServe(t, loopbackArgs(dir, "--grace", "1m"))
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(logs.String(), `msg="left-over broadcasts swept"`) {
		t.Errorf("swept on shutdown; logs:\n%s", logs)
	}
	store := openTestStore(t, dir)
	b, err := store.Broadcast(t.Context(), left.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Live() {
		t.Errorf("broadcast %d ended by a shutdown within the grace", b.ID)
	}
}

// waitLog waits for a log line containing s.
func waitLog(t *testing.T, logs *logLines, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %s within %v; logs:\n%s", s, timeout, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type broadcastRow struct {
	ID         int64      `json:"id"`
	Live       bool       `json:"live"`
	Practice   bool       `json:"practice"`
	EndedAt    *time.Time `json:"ended_at"`
	Orders     int        `json:"orders"`
	RevenueWon int64      `json:"revenue_won"`

	ReplayURL string  `json:"replay_url"`
	DurationS float64 `json:"duration_s"`
}

// broadcasts lists the channel's broadcasts through the merchant API.
func broadcasts(t *testing.T, base, slug, key string) []broadcastRow {
	t.Helper()
	var out struct {
		Broadcasts []broadcastRow `json:"broadcasts"`
	}
	getWithKey(t, base+"/api/channels/"+slug+"/broadcasts", key, &out)
	return out.Broadcasts
}
