package commerce

import (
	"errors"
	"testing"
	"time"
)

// testClips records clips for pins and reads them back by broadcast and by
// product: the latest per product, none from practice broadcasts or from
// broadcasts whose recording retention deleted.
func testClips(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	cabbage := r.product(t, "배추", 3000, 10)
	radish := r.product(t, "무", 2000, 10)
	pin := func(b Broadcast, p Product) Pin {
		t.Helper()
		r.clock.Advance(time.Minute)
		if _, err := r.s.PinProduct(ctx, r.ch.ID, b.ID, p.ID); err != nil {
			t.Fatal(err)
		}
		pins, err := r.s.Pins(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		return pins[len(pins)-1]
	}
	end := func(b Broadcast) {
		t.Helper()
		if _, err := r.s.EndBroadcast(ctx, r.ch.ID, b.ID); err != nil {
			t.Fatal(err)
		}
	}
	start := func(practice bool) Broadcast {
		t.Helper()
		b, err := r.s.StartBroadcast(ctx, r.ch.ID, "", practice)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	p1 := pin(r.b, cabbage)
	p2 := pin(r.b, radish)
	if _, err := r.s.PinProduct(ctx, r.ch.ID, r.b.ID, 0); err != nil {
		t.Fatal(err)
	}
	end(r.b)
	for _, c := range []struct {
		pin Pin
		url string
	}{{p1, "/replays/kim-fish/1/clips/pin-1.mp4"}, {p2, "/replays/kim-fish/1/clips/pin-2.mp4"}} {
		if err := r.s.SaveClip(ctx, c.pin.ID, c.url, 4000); err != nil {
			t.Fatalf("SaveClip: %v", err)
		}
	}
	// Cut again (a rerun): replaced, not doubled.
	if err := r.s.SaveClip(ctx, p1.ID, "/replays/kim-fish/1/clips/pin-1.mp4", 4500); err != nil {
		t.Fatal(err)
	}
	got, err := r.s.BroadcastClips(ctx, r.b.ID)
	if err != nil || len(got) != 2 || got[p1.ID].DurationMs != 4500 || got[p1.ID].ProductID != cabbage.ID ||
		got[p2.ID].URL != "/replays/kim-fish/1/clips/pin-2.mp4" || !got[p2.ID].PinnedAt.Equal(p2.PinnedAt) {
		t.Fatalf("BroadcastClips = %+v, %v", got, err)
	}

	// A later broadcast's clip of the cabbage is the one the products show; a practice
	// broadcast's is not.
	later := start(false)
	p3 := pin(later, cabbage)
	end(later)
	practice := start(true)
	p4 := pin(practice, radish)
	end(practice)
	for _, p := range []Pin{p3, p4} {
		if err := r.s.SaveClip(ctx, p.ID, "/replays/kim-fish/x/clips/pin.mp4", 1000); err != nil {
			t.Fatal(err)
		}
	}
	byProduct, err := r.s.ProductClips(ctx, r.ch.ID)
	if err != nil || len(byProduct) != 2 || byProduct[cabbage.ID].PinID != p3.ID || byProduct[radish.ID].PinID != p2.ID {
		t.Fatalf("ProductClips = %+v, %v; want cabbage's from pin %d, radish's from pin %d", byProduct, err, p3.ID, p2.ID)
	}
	// Retention deleted the later recording: the earlier clip shows again.
	if err := r.s.MarkRecordingDeleted(ctx, later.ID); err != nil {
		t.Fatal(err)
	}
	if byProduct, err = r.s.ProductClips(ctx, r.ch.ID); err != nil || byProduct[cabbage.ID].PinID != p1.ID {
		t.Errorf("ProductClips after retention = %+v, %v; want cabbage's from pin %d", byProduct, err, p1.ID)
	}
	// Another channel's products have none of these.
	if other, err := r.s.ProductClips(ctx, r.other.ID); err != nil || len(other) != 0 {
		t.Errorf("other channel's clips = %+v, %v", other, err)
	}

	// Bad input changes nothing.
	for _, tt := range []struct {
		name  string
		pin   int64
		url   string
		durMs int64
		want  *Error
	}{
		{"no url", p1.ID, "", 1000, ErrInvalid},
		{"not a path", p1.ID, "https://elsewhere/x.mp4", 1000, ErrInvalid},
		{"no duration", p1.ID, "/replays/x.mp4", 0, ErrInvalid},
		{"no such pin", 99999, "/replays/x.mp4", 1000, ErrNotFound},
	} {
		if err := r.s.SaveClip(ctx, tt.pin, tt.url, tt.durMs); !errors.Is(err, tt.want) {
			t.Errorf("%s: SaveClip = %v, want %v", tt.name, err, tt.want)
		}
	}
	if got, _ := r.s.BroadcastClips(ctx, r.b.ID); got[p1.ID].DurationMs != 4500 {
		t.Errorf("a refused SaveClip changed the clip: %+v", got[p1.ID])
	}
}
