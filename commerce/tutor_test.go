package commerce

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testTutorContract is the Store contract for tutors and their channels.
func testTutorContract(t *testing.T, newDB func(t *testing.T) storeOpener) {
	t.Run("tutor create", func(t *testing.T) {
		s := newDB(t)(t)
		now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
		s.now = func() time.Time { return now }
		tests := []struct {
			name       string
			in         TutorInput
			wantHandle string
			wantPhone  string
			is         error
			msg        string // substring of the error
		}{
			{name: "derived handle", in: TutorInput{Name: " Jiwoo Park ", Phone: " 010-1234-5678 "}, wantHandle: "jiwoo-park", wantPhone: "010-1234-5678"},
			{name: "given handle", in: TutorInput{Handle: "minji", Name: "김민지"}, wantHandle: "minji"},
			{name: "taken handle", in: TutorInput{Handle: "minji", Name: "다른 민지"}, is: ErrExists, msg: "minji"},
			{name: "taken derived handle", in: TutorInput{Name: "jiwoo park"}, is: ErrExists, msg: "jiwoo-park"},
			{name: "hangul name without handle", in: TutorInput{Name: "박지우"}, is: ErrInvalid, msg: "handle"},
			{name: "bad handle", in: TutorInput{Handle: "Min_Ji", Name: "민지"}, is: ErrInvalid, msg: "handle"},
			{name: "digit handle", in: TutorInput{Handle: "1234", Name: "민지"}, is: ErrInvalid, msg: "digits"},
			{name: "empty name", in: TutorInput{Handle: "nobody", Name: "  "}, is: ErrInvalid, msg: "name"},
			{name: "bad phone", in: TutorInput{Handle: "phoney", Name: "민지", Phone: "call me"}, is: ErrInvalid, msg: "phone"},
		}
		tokens := map[string]bool{}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tu, token, err := s.CreateTutor(t.Context(), tt.in)
				if tt.is != nil {
					if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.msg) {
						t.Fatalf("CreateTutor(%+v) = %v, want %v mentioning %q", tt.in, err, tt.is, tt.msg)
					}
					return
				}
				if err != nil {
					t.Fatalf("CreateTutor(%+v): %v", tt.in, err)
				}
				if tu.Handle != tt.wantHandle || tu.Phone != tt.wantPhone || tu.ID <= 0 || !tu.CreatedAt.Equal(now) {
					t.Errorf("tutor = %+v, want handle %q, phone %q", tu, tt.wantHandle, tt.wantPhone)
				}
				if len(token) < 26 || tokens[token] {
					t.Errorf("token %q is short or repeated", token)
				}
				tokens[token] = true
				got, err := s.CheckTutorToken(t.Context(), token)
				if err != nil || got != tu {
					t.Errorf("CheckTutorToken = %+v, %v; want %+v", got, err, tu)
				}
				for _, ref := range []string{tu.Handle, strconv.FormatInt(tu.ID, 10)} {
					if got, err := s.Tutor(t.Context(), ref); err != nil || got != tu {
						t.Errorf("Tutor(%q) = %+v, %v; want %+v", ref, got, err, tu)
					}
				}
			})
		}
		ts, err := s.Tutors(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var handles []string
		for _, tu := range ts {
			handles = append(handles, tu.Handle)
		}
		if want := []string{"jiwoo-park", "minji"}; !slices.Equal(handles, want) {
			t.Errorf("Tutors = %v, want %v", handles, want)
		}
		if _, err := s.CheckTutorToken(t.Context(), "64BFYNP5PFR74LVVWFYHTB74B4"); !errors.Is(err, ErrBadKey) {
			t.Errorf("CheckTutorToken(wrong) = %v, want ErrBadKey", err)
		}
		for _, ref := range []string{"nobody", "999"} {
			if _, err := s.Tutor(t.Context(), ref); !errors.Is(err, ErrNotFound) {
				t.Errorf("Tutor(%q) = %v, want ErrNotFound", ref, err)
			}
		}
	})

	t.Run("tutor channels", func(t *testing.T) {
		s := newDB(t)(t)
		ctx := t.Context()
		jiwoo, _, err := s.CreateTutor(ctx, TutorInput{Name: "Jiwoo"})
		if err != nil {
			t.Fatal(err)
		}
		minji, _, err := s.CreateTutor(ctx, TutorInput{Handle: "minji", Name: "김민지"})
		if err != nil {
			t.Fatal(err)
		}
		fish, _, err := s.CreateTutorChannel(ctx, jiwoo.ID, "kim-fish", "김씨네 생선")
		if err != nil {
			t.Fatal(err)
		}
		veg, _, err := s.CreateChannel(ctx, "lee-veg", "이씨네 채소")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateTutorChannel(ctx, 9999, "no-tutor", "없음"); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateTutorChannel for no tutor = %v, want ErrNotFound", err)
		}
		if _, err := s.Channel(ctx, "no-tutor"); !errors.Is(err, ErrNotFound) {
			t.Errorf("channel of a failed CreateTutorChannel exists: %v", err)
		}

		links := []struct {
			name   string
			unlink bool
			tutor  int64
			slug   string
			is     error
		}{
			{name: "link", tutor: jiwoo.ID, slug: "lee-veg"},
			{name: "link again", tutor: jiwoo.ID, slug: "lee-veg", is: ErrExists},
			{name: "second tutor", tutor: minji.ID, slug: "lee-veg"},
			{name: "unknown channel", tutor: jiwoo.ID, slug: "nobody", is: ErrNotFound},
			{name: "unknown tutor", tutor: 9999, slug: "kim-fish", is: ErrNotFound},
			{name: "unlink", unlink: true, tutor: minji.ID, slug: "lee-veg"},
			{name: "unlink again", unlink: true, tutor: minji.ID, slug: "lee-veg", is: ErrNotFound},
			{name: "unlink unknown channel", unlink: true, tutor: minji.ID, slug: "nobody", is: ErrNotFound},
		}
		for _, l := range links {
			var err error
			if l.unlink {
				err = s.UnassignChannel(ctx, l.tutor, l.slug)
			} else {
				err = s.AssignChannel(ctx, l.tutor, l.slug)
			}
			if l.is == nil && err != nil || l.is != nil && !errors.Is(err, l.is) {
				t.Errorf("%s: err = %v, want %v", l.name, err, l.is)
			}
		}

		access := []struct {
			tutor int64
			slug  string
			is    error
		}{
			{jiwoo.ID, "kim-fish", nil},
			{jiwoo.ID, "lee-veg", nil},
			{minji.ID, "kim-fish", ErrForbidden},
			{minji.ID, "lee-veg", ErrForbidden},
			{minji.ID, "nobody", ErrNotFound},
		}
		for _, a := range access {
			ch, err := s.TutorChannel(ctx, a.tutor, a.slug)
			if a.is == nil && (err != nil || ch.Slug != a.slug) || a.is != nil && !errors.Is(err, a.is) {
				t.Errorf("TutorChannel(%d, %q) = %+v, %v; want %v", a.tutor, a.slug, ch, err, a.is)
			}
		}

		// kim-fish: a practice and a real broadcast ended, a practice one
		// live; lee-veg: nothing yet.
		var last Broadcast
		for i, practice := range []bool{true, false, true} {
			if last, err = s.StartBroadcast(ctx, fish.ID, "", practice); err != nil {
				t.Fatal(err)
			}
			if i < 2 {
				if _, err := s.EndBroadcast(ctx, fish.ID, last.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := s.TutorChannels(ctx, jiwoo.ID)
		if err != nil {
			t.Fatal(err)
		}
		started := last.StartedAt
		want := []TutorChannel{
			{Slug: "kim-fish", Name: "김씨네 생선", Live: true, LivePractice: true, LastBroadcastAt: &started, Broadcasts: 1, PracticeBroadcasts: 2},
			{Slug: "lee-veg", Name: veg.Name},
		}
		if len(got) != len(want) {
			t.Fatalf("TutorChannels = %+v, want %+v", got, want)
		}
		for i := range want {
			g, w := got[i], want[i]
			gt, wt := g.LastBroadcastAt, w.LastBroadcastAt
			g.LastBroadcastAt, w.LastBroadcastAt = nil, nil
			if g != w || (gt == nil) != (wt == nil) || gt != nil && !gt.Equal(*wt) {
				t.Errorf("channel %d = %+v (last %v), want %+v (last %v)", i, g, gt, w, wt)
			}
		}
		if got, err := s.TutorChannels(ctx, minji.ID); err != nil || len(got) != 0 || got == nil {
			t.Errorf("TutorChannels(minji) = %#v, %v; want an empty list", got, err)
		}
	})
}
