package main

import (
	"context"
	"errors"
	"log/slog"

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
