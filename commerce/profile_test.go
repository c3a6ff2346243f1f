package commerce

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func testChannelProfile(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()

	ch, err := r.s.UpdateChannel(ctx, r.ch.Slug, ChannelPatch{
		Market: ptr(" 망원시장 "), Location: ptr("정문에서 두 번째 골목"),
		Hours: ptr("평일 9시-19시\r\n일요일 쉼"), Description: ptr("40년 된 생선가게"),
	})
	if err != nil {
		t.Fatalf("UpdateChannel: %v", err)
	}
	want := Profile{Market: "망원시장", Location: "정문에서 두 번째 골목", Hours: "평일 9시-19시\n일요일 쉼", Description: "40년 된 생선가게"}
	if ch.Profile != want || ch.Name != r.ch.Name || ch.ID != r.ch.ID {
		t.Fatalf("UpdateChannel = %+v, want profile %+v and the name kept", ch, want)
	}
	got, err := r.s.Channel(ctx, r.ch.Slug)
	if err != nil || got.Profile != want {
		t.Fatalf("Channel = %+v, %v; want profile %+v", got, err, want)
	}

	// A bad field changes nothing, the good ones beside it included.
	bad := []struct {
		name string
		p    ChannelPatch
	}{
		{"empty name", ChannelPatch{Market: ptr("통인시장"), Name: ptr("  ")}},
		{"long market", ChannelPatch{Name: ptr("새 이름"), Market: ptr(strings.Repeat("시", maxMarketLen+1))}},
		{"location line break", ChannelPatch{Name: ptr("새 이름"), Location: ptr("a\nb")}},
		{"long description", ChannelPatch{Description: ptr(strings.Repeat("가", maxStallDescriptionLen+1))}},
		{"bidi override", ChannelPatch{Hours: ptr("9\u202e19")}},
	}
	for _, tt := range bad {
		_, err := r.s.UpdateChannel(ctx, r.ch.Slug, tt.p)
		wantErr(t, tt.name, err, ErrInvalid)
	}
	if got, _ := r.s.Channel(ctx, r.ch.Slug); got.Profile != want || got.Name != r.ch.Name {
		t.Fatalf("after bad updates: %+v", got)
	}
	_, err = r.s.UpdateChannel(ctx, "nobody-here", ChannelPatch{Market: ptr("x")})
	wantErr(t, "unknown channel", err, ErrNotFound)

	// "" clears; nil keeps.
	ch, err = r.s.UpdateChannel(ctx, r.ch.Slug, ChannelPatch{Name: ptr("김씨네"), Market: ptr("")})
	if err != nil || ch.Name != "김씨네" || ch.Market != "" || ch.Location != want.Location {
		t.Fatalf("clear market: %+v, %v", ch, err)
	}

	// The photo: set, replaced (the old key comes back), removed.
	ch, old, err := r.s.SetChannelPhoto(ctx, r.ch.Slug, "channels/1/a.jpg")
	if err != nil || old != "" || ch.PhotoKey != "channels/1/a.jpg" {
		t.Fatalf("SetChannelPhoto: %+v %q %v", ch, old, err)
	}
	if _, old, err = r.s.SetChannelPhoto(ctx, r.ch.Slug, "channels/1/b.jpg"); err != nil || old != "channels/1/a.jpg" {
		t.Fatalf("replace photo: old %q, %v", old, err)
	}
	if ch, old, err = r.s.SetChannelPhoto(ctx, r.ch.Slug, ""); err != nil || old != "channels/1/b.jpg" || ch.PhotoKey != "" {
		t.Fatalf("remove photo: %+v %q %v", ch, old, err)
	}
	_, _, err = r.s.SetChannelPhoto(ctx, r.ch.Slug, "../x.jpg")
	wantErr(t, "bad key", err, ErrInvalid)
	_, _, err = r.s.SetChannelPhoto(ctx, "nobody-here", "channels/1/c.jpg")
	wantErr(t, "photo of unknown channel", err, ErrNotFound)

	if other, _ := r.s.Channel(ctx, r.other.Slug); other.Profile != (Profile{}) || other.Name != r.other.Name {
		t.Errorf("the other channel changed: %+v", other)
	}
}

func testSchedule(t *testing.T, newDB func(t *testing.T) storeOpener) {
	r := newRoom(t, newDB)
	ctx := t.Context()
	now := r.clock.Now()

	invalid := []struct {
		name  string
		title string
		at    time.Time
	}{
		{"now", "", now},
		{"past", "", now.Add(-time.Minute)},
		{"too far", "", now.Add(MaxScheduleAhead + time.Second)},
		{"long title", strings.Repeat("가", maxTitleLen+1), now.Add(time.Hour)},
		{"title line break", "a\nb", now.Add(time.Hour)},
	}
	for _, tt := range invalid {
		_, err := r.s.ScheduleBroadcast(ctx, r.ch.ID, tt.title, tt.at)
		wantErr(t, tt.name, err, ErrInvalid)
	}

	// Added out of order, listed soonest first, in UTC.
	kst := time.FixedZone("KST", 9*3600)
	later, err := r.s.ScheduleBroadcast(ctx, r.ch.ID, "주말 특가", now.Add(48*time.Hour).In(kst))
	if err != nil {
		t.Fatalf("ScheduleBroadcast: %v", err)
	}
	soon, err := r.s.ScheduleBroadcast(ctx, r.ch.ID, " 아침 생선 ", now.Add(time.Hour))
	if err != nil {
		t.Fatalf("ScheduleBroadcast: %v", err)
	}
	edge, err := r.s.ScheduleBroadcast(ctx, r.ch.ID, "", now.Add(MaxScheduleAhead))
	if err != nil {
		t.Fatalf("ScheduleBroadcast 90 days ahead: %v", err)
	}
	if soon.Title != "아침 생선" || !soon.StartsAt.Equal(now.Add(time.Hour)) || later.StartsAt.Location() != time.UTC {
		t.Errorf("scheduled %+v, %+v", soon, later)
	}
	if _, err := r.s.ScheduleBroadcast(ctx, r.other.ID, "남의 방송", now.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ids := func(sbs []ScheduledBroadcast) []int64 {
		var out []int64
		for _, sb := range sbs {
			out = append(out, sb.ID)
		}
		return out
	}
	list := func(limit int) []int64 {
		t.Helper()
		sbs, err := r.s.UpcomingBroadcasts(ctx, r.ch.ID, limit)
		if err != nil {
			t.Fatalf("UpcomingBroadcasts: %v", err)
		}
		return ids(sbs)
	}
	if got, want := list(0), []int64{soon.ID, later.ID, edge.ID}; !equalIDs(got, want) {
		t.Fatalf("upcoming = %v, want %v", got, want)
	}
	if got := list(1); !equalIDs(got, []int64{soon.ID}) {
		t.Fatalf("upcoming, limit 1 = %v", got)
	}

	// Still upcoming for two hours after its start, then gone.
	r.clock.Advance(time.Hour + ScheduleGrace - time.Second)
	if got := list(0); len(got) != 3 {
		t.Fatalf("within the grace: %v", got)
	}
	r.clock.Advance(time.Second)
	if got, want := list(0), []int64{later.ID, edge.ID}; !equalIDs(got, want) {
		t.Fatalf("after the grace: %v, want %v", got, want)
	}

	// Another channel's id is not found; a past one can still be deleted.
	wantErr(t, "delete other's", r.s.DeleteScheduledBroadcast(ctx, r.other.ID, later.ID), ErrNotFound)
	if err := r.s.DeleteScheduledBroadcast(ctx, r.ch.ID, soon.ID); err != nil {
		t.Fatalf("delete past: %v", err)
	}
	if err := r.s.DeleteScheduledBroadcast(ctx, r.ch.ID, later.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	wantErr(t, "delete twice", r.s.DeleteScheduledBroadcast(ctx, r.ch.ID, later.ID), ErrNotFound)
	if got := list(0); !equalIDs(got, []int64{edge.ID}) {
		t.Fatalf("after delete: %v", got)
	}

	// At most MaxUpcoming at once.
	for i := 1; i < MaxUpcoming; i++ {
		if _, err := r.s.ScheduleBroadcast(ctx, r.ch.ID, "", r.clock.Now().Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatalf("schedule %d: %v", i, err)
		}
	}
	_, err = r.s.ScheduleBroadcast(ctx, r.ch.ID, "", r.clock.Now().Add(time.Hour))
	if !errors.Is(err, errTooManyScheduled) {
		t.Fatalf("schedule beyond %d: %v", MaxUpcoming, err)
	}
	if got := list(0); len(got) != MaxUpcoming {
		t.Fatalf("listed %d, want %d", len(got), MaxUpcoming)
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testPINSessions(t *testing.T, newDB func(t *testing.T) storeOpener) {
	s := newDB(t)(t)
	ctx := t.Context()
	ch, sec, err := s.CreateChannel(ctx, "kim-fish", "김씨네")
	if err != nil {
		t.Fatal(err)
	}
	other, osec, err := s.CreateChannel(ctx, "lee-veg", "이씨네")
	if err != nil {
		t.Fatal(err)
	}
	if !validPIN(sec.PIN) || sec.PIN == sec.StreamKey {
		t.Fatalf("PIN %q", sec.PIN)
	}
	wrong := "000000"
	if sec.PIN == wrong {
		wrong = "111111"
	}
	checks := []struct {
		name, slug, pin string
		want            *Error // nil: accepted
	}{
		{"right", "kim-fish", sec.PIN, nil},
		{"wrong", "kim-fish", wrong, ErrBadKey},
		{"other channel's", "kim-fish", osec.PIN, ErrBadKey},
		{"too short", "kim-fish", sec.PIN[:5], ErrBadKey},
		{"not digits", "kim-fish", "abcdef", ErrBadKey},
		{"unknown channel", "nobody-here", sec.PIN, ErrNotFound},
	}
	for _, tt := range checks {
		if tt.name == "other channel's" && osec.PIN == sec.PIN { // one in a million
			continue
		}
		got, err := s.CheckPIN(ctx, tt.slug, tt.pin)
		if tt.want == nil {
			if err != nil || got.ID != ch.ID {
				t.Errorf("%s: CheckPIN = %+v, %v", tt.name, got, err)
			}
			continue
		}
		wantErr(t, tt.name, err, tt.want)
	}

	// A session token works as the studio token, for its channel only.
	tok, err := s.OpenStudioSession(ctx, ch.ID)
	if err != nil {
		t.Fatalf("OpenStudioSession: %v", err)
	}
	if tok == sec.StudioToken {
		t.Fatal("session token is the studio token")
	}
	for _, token := range []string{tok, sec.StudioToken} {
		if got, err := s.CheckStudioToken(ctx, "kim-fish", token); err != nil || got.ID != ch.ID {
			t.Errorf("CheckStudioToken(%q) = %+v, %v", token, got, err)
		}
	}
	_, err = s.CheckStudioToken(ctx, other.Slug, tok)
	wantErr(t, "session on another channel", err, ErrBadKey)
	_, err = s.CheckStudioToken(ctx, "kim-fish", "not-a-token")
	wantErr(t, "garbage token", err, ErrBadKey)

	// A new PIN replaces the old one; sessions stay open.
	pin, err := s.ResetPIN(ctx, "kim-fish")
	if err != nil || !validPIN(pin) {
		t.Fatalf("ResetPIN = %q, %v", pin, err)
	}
	if pin != sec.PIN {
		_, err = s.CheckPIN(ctx, "kim-fish", sec.PIN)
		wantErr(t, "old PIN after reset", err, ErrBadKey)
	}
	if _, err := s.CheckPIN(ctx, "kim-fish", pin); err != nil {
		t.Errorf("new PIN: %v", err)
	}
	if _, err := s.CheckStudioToken(ctx, "kim-fish", tok); err != nil {
		t.Errorf("session after PIN reset: %v", err)
	}
	if _, err := s.CheckPIN(ctx, "lee-veg", osec.PIN); err != nil {
		t.Errorf("other channel's PIN after reset: %v", err)
	}
	_, err = s.ResetPIN(ctx, "nobody-here")
	wantErr(t, "reset unknown", err, ErrNotFound)
}
