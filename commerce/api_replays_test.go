package commerce

import (
	"context"
	"net/http"
	"strconv"
	"testing"
)

// testAPIPublicReplays lists a channel's replays as the channel page does:
// public, newest first, only ended broadcasts with a recording, never
// practice or deleted ones, nor another channel's.
func testAPIPublicReplays(t *testing.T, newDB func(t *testing.T) storeOpener) {
	e := newAPIEnv(t, newDB)
	ctx := t.Context()
	start := func(ch Channel, title string, practice bool) Broadcast {
		t.Helper()
		b, err := e.s.StartBroadcast(ctx, ch.ID, title, practice)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	end := func(ch Channel, b Broadcast) {
		t.Helper()
		if _, err := e.s.EndBroadcast(ctx, ch.ID, b.ID); err != nil {
			t.Fatal(err)
		}
	}
	old := start(e.ch, "지난주 방송", false)
	end(e.ch, old)
	practice := start(e.ch, "연습", true)
	end(e.ch, practice)
	unrecorded := start(e.ch, "녹화 안 됨", false)
	end(e.ch, unrecorded)
	deleted := start(e.ch, "지워진 녹화", false)
	end(e.ch, deleted)
	if err := e.s.MarkRecordingDeleted(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	recent := start(e.ch, "오늘 방송", false)
	end(e.ch, recent)
	live := start(e.ch, "지금 방송", false)
	other := start(e.other, "남의 방송", false)
	end(e.other, other)

	e.api.Replays = func(_ context.Context, slug string, id int64) (ReplayInfo, bool) {
		if id == unrecorded.ID {
			return ReplayInfo{}, false
		}
		url := "/replays/" + slug + "/" + strconv.FormatInt(id, 10) + ".mp4"
		return ReplayInfo{URL: url, HLSURL: url[:len(url)-4] + ".m3u8", DurationS: 60}, true
	}
	_ = live

	var got struct {
		Replays []replayListJSON `json:"replays"`
	}
	resp := e.do(t, apiReq{method: "GET", path: "/api/channels/kim-fish/replays"})
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	resp.decode(t, &got)
	var ids []int64
	for _, r := range got.Replays {
		ids = append(ids, r.ID)
	}
	if len(ids) != 2 || ids[0] != recent.ID || ids[1] != old.ID {
		t.Fatalf("replays %v, want %d then %d", ids, recent.ID, old.ID)
	}
	if r := got.Replays[0]; r.Title != "오늘 방송" || r.ReplayURL != "/replays/kim-fish/"+strconv.FormatInt(recent.ID, 10)+".mp4" || r.HLSURL == "" || r.DurationS != 60 {
		t.Errorf("replay %+v", r)
	}
	e.do(t, apiReq{method: "GET", path: "/api/channels/nobody/replays"}).wantError(t, http.StatusNotFound, "not_found")
}
