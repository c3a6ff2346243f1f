package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/recordings"
)

// replayLookup adapts replays to commerce.API.Replays: the broadcasts listing and the replay
// document show a replay when one exists, and an error other than a missing recording is logged, not shown, since
// the listing is still useful without it.
func replayLookup(replays *recordings.Replays, log *slog.Logger) func(ctx context.Context, slug string, id int64) (commerce.ReplayInfo, bool) {
	return func(ctx context.Context, slug string, id int64) (commerce.ReplayInfo, bool) {
		info, err := replays.Info(ctx, slug, id)
		if err != nil {
			if !errors.Is(err, recordings.ErrNotExist) && ctx.Err() == nil {
				log.Warn("replay lookup failed", "channel", slug, "broadcast", id, "err", err)
			}
			return commerce.ReplayInfo{}, false
		}
		// StartedAt lets the replay document place chapters and chat on
		// the recording's timeline rather than the broadcast's.
		return commerce.ReplayInfo{URL: info.URL, HLSURL: info.HLSURL, DurationS: info.Duration.Seconds(), StartedAt: info.StartedAt}, true
	}
}

// privatePractice guards the recordings of practice broadcasts, which are the merchant's
// and the tutor's, never public like the other replays: a request for one needs
// ?practice=<the session's token>, which the review document puts on its recording_url
// (a <video> cannot send a header). Other recordings pass through to next.
func privatePractice(store *commerce.Store, log *slog.Logger, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("rec")
		if name == "" {
			name = r.PathValue("file")
		}
		digits, _, _ := strings.Cut(name, ".")
		id, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			next(w, r) // not a broadcast's file: the replays' own 404
			return
		}
		b, err := store.Broadcast(r.Context(), id)
		if err != nil || !b.Practice {
			// An unknown broadcast has no recording to hide; a store failure is
			// refused rather than risk showing a rehearsal.
			if err != nil && !errors.Is(err, commerce.ErrNotFound) {
				log.Error("replay: practice check", "broadcast", id, "err", err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			next(w, r)
			return
		}
		p, err := store.PracticeOfBroadcast(r.Context(), id)
		token := r.URL.Query().Get("practice")
		if err != nil || token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(p.Token)) != 1 {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "연습 방송의 녹화는 튜터와 사장님만 볼 수 있어요. / A practice recording is private.", http.StatusForbidden)
			return
		}
		next(w, r)
	}
}
