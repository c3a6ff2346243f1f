package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/recordings"
	"github.com/dangol/dangol/stream"
)

func openTestDirStore(t *testing.T) *recordings.DirStore {
	t.Helper()
	rs, err := recordings.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	return rs
}

// TestSweepRecordings deletes, in a real DirStore, the recordings of the
// broadcasts past their channel's retention, continuations included, and
// nothing else; the store remembers, so a second sweep does nothing.
func TestSweepRecordings(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t, t.TempDir())
	rs := openTestDirStore(t)

	// ended creates a channel with the retention (0: forever) and an ended
	// broadcast on it.
	ended := func(slug string, days int) int64 {
		t.Helper()
		ch, _, err := s.CreateChannel(ctx, slug, slug)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ChangeSettings(ctx, slug, commerce.SettingsChange{RetentionDays: &days}); err != nil {
			t.Fatal(err)
		}
		b, err := s.StartBroadcast(ctx, ch.ID, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.EndBroadcast(ctx, ch.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		return b.ID
	}
	week := ended("kim-fish", 7)
	month := ended("park-meat", 30)
	forever := ended("lee-veg", 0)
	kim, err := s.Channel(ctx, "kim-fish")
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.StartBroadcast(ctx, kim.ID, "", false)
	if err != nil {
		t.Fatal(err)
	}

	keys := []string{
		fmt.Sprintf("kim-fish/%d/init.webm", week),
		fmt.Sprintf("kim-fish/%d/000001.webm", week),
		fmt.Sprintf("kim-fish/%d.2/000001.webm", week), // continued after a restart
		fmt.Sprintf("kim-fish/%d0/000001.webm", week),  // another broadcast's id starting alike
		fmt.Sprintf("kim-fish/%d.x/000001.webm", week), // not a continuation
		fmt.Sprintf("kim-fish/%d/000001.webm", live.ID),
		fmt.Sprintf("park-meat/%d/000001.webm", month),
		fmt.Sprintf("park-meat/%d.3/000001.webm", month),
		fmt.Sprintf("lee-veg/%d/000001.webm", forever),
	}
	for _, k := range keys {
		if err := rs.Put(ctx, k, []byte("segment")); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now()
	// Each step sweeps the store as the previous one left it.
	steps := []struct {
		name        string
		at          time.Time
		wantDeleted int
		wantGone    []int64 // broadcasts marked deleted
		wantKeys    []string
	}{
		{"nothing expired yet", now.Add(6 * 24 * time.Hour), 0, nil, keys},
		{"a week on", now.Add(8 * 24 * time.Hour), 1, []int64{week}, keys[3:]},
		{"again", now.Add(9 * 24 * time.Hour), 0, []int64{week}, keys[3:]},
		{"a month on", now.Add(31 * 24 * time.Hour), 1, []int64{week, month}, keys[3:6:6]},
	}
	for _, st := range steps {
		n, err := sweepRecordings(ctx, s, rs, st.at)
		if err != nil || n != st.wantDeleted {
			t.Fatalf("%s: sweepRecordings = %d, %v; want %d", st.name, n, err, st.wantDeleted)
		}
		var got []string
		for _, prefix := range []string{"kim-fish/", "park-meat/", "lee-veg/"} {
			objs, err := rs.List(ctx, prefix)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				got = append(got, o.Key)
			}
		}
		want := slices.Clone(st.wantKeys)
		if st.name == "a month on" {
			want = append(want, keys[8]) // lee-veg keeps its recordings forever
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: objects\n%q\nwant\n%q", st.name, got, want)
		}
		for _, id := range []int64{week, month, forever, live.ID} {
			b, err := s.Broadcast(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if gone := !b.RecordingDeletedAt.IsZero(); gone != slices.Contains(st.wantGone, id) {
				t.Errorf("%s: broadcast %d marked deleted: %v", st.name, id, gone)
			}
		}
	}
}

// fakeMedia stands in for the media server the recorders attach to.
type fakeMedia struct{ attached []string }

func (m *fakeMedia) Record(channel string, _ stream.MediaSink) error {
	m.attached = append(m.attached, channel)
	return nil
}
func (m *fakeMedia) RequestKeyframe(string) {}

// TestLifecycleRecordSetting starts broadcasts through the lifecycle with
// a real store and recordings folder: a channel whose record setting is
// off gets no recorder, the others do.
func TestLifecycleRecordSetting(t *testing.T) {
	tests := []struct {
		name   string
		record *bool // nil: the default
		want   bool
	}{
		{"default", nil, true},
		{"on", new(true), true},
		{"off", new(false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTestStore(t, t.TempDir())
			if _, _, err := s.CreateChannel(ctx, "kim-fish", "김씨네"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ChangeSettings(ctx, "kim-fish", commerce.SettingsChange{Record: tt.record}); err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			rooms, err := commerce.NewRooms(s, commerce.RoomOptions{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer rooms.Close()
			media := &fakeMedia{}
			recs := newRecorders(openTestDirStore(t), log)
			recs.media = media
			l := newLifecycle(rooms, recs, log)
			l.store = s

			l.record(stream.Event{Kind: stream.BroadcastStarted, Channel: "kim-fish"})
			if got := recs.open["kim-fish"] != nil; got != tt.want {
				t.Errorf("recording = %v, want %v", got, tt.want)
			}
			if got := len(media.attached) == 1; got != tt.want {
				t.Errorf("recorders attached: %v, want one: %v", media.attached, tt.want)
			}
			if _, err := s.LiveBroadcast(ctx, mustChannel(t, s, "kim-fish").ID); err != nil {
				t.Errorf("broadcast not started: %v", err)
			}
			l.record(stream.Event{Kind: stream.BroadcastEnded, Channel: "kim-fish"})
			recs.closeAll()
		})
	}
	t.Run("unknown channel records", func(t *testing.T) {
		s := openTestStore(t, t.TempDir())
		if !channelRecords(context.Background(), s, "nobody", slog.New(slog.NewTextHandler(io.Discard, nil))) {
			t.Errorf("a channel whose setting cannot be read is not recorded")
		}
	})
}

func mustChannel(t *testing.T, s *commerce.Store, slug string) commerce.Channel {
	t.Helper()
	ch, err := s.Channel(t.Context(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}
