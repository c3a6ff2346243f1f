package commerce

import (
	"net/http"
	"time"
)

// publicReplaysLimit is how many replays the channel page lists: the
// recent ones a customer who missed the live would look for.
const publicReplaysLimit = 20

// replayListJSON is a replay as the public list shows it.
type replayListJSON struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	StartedAt time.Time `json:"started_at"`
	DurationS float64   `json:"duration_s"`
	ReplayURL string    `json:"replay_url"`
	HLSURL    string    `json:"replay_hls_url,omitempty"`
}

// listReplays serves GET /api/channels/{slug}/replays, public like the
// products: the channel's ended broadcasts that have a replay, newest first.
// Practice broadcasts are the merchant's own and are never listed, nor
// broadcasts whose recording retention deleted.
func (a *API) listReplays(w http.ResponseWriter, r *http.Request) {
	ch, err := a.store.Channel(r.Context(), r.PathValue("slug"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []replayListJSON{}
	if a.Replays == nil {
		apiWriteJSON(w, http.StatusOK, map[string]any{"replays": out})
		return
	}
	// Read more than shown: practice, live and deleted ones are skipped.
	bs, err := a.store.Broadcasts(r.Context(), ch.ID, 3*publicReplaysLimit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, b := range bs {
		if len(out) == publicReplaysLimit {
			break
		}
		if b.Practice || b.Live() || !b.RecordingDeletedAt.IsZero() {
			continue
		}
		info, ok := a.Replays(r.Context(), ch.Slug, b.ID)
		if !ok {
			continue
		}
		out = append(out, replayListJSON{ID: b.ID, Title: b.Title, StartedAt: b.StartedAt,
			DurationS: info.DurationS, ReplayURL: info.URL, HLSURL: info.HLSURL})
	}
	apiWriteJSON(w, http.StatusOK, map[string]any{"replays": out})
}
