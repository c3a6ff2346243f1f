package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/recordings"
)

// retentionInterval is how often the retention sweep runs. Retention is in
// days: an hour late is no matter, and a sweep finding nothing is one query.
const retentionInterval = time.Hour

// runRetention deletes expired recordings (see sweepRecordings) once at
// once, then every interval, until ctx is cancelled; it closes done when it
// returns. Start it in its own goroutine.
func runRetention(ctx context.Context, store *commerce.Store, rstore recordings.Store, interval time.Duration, log *slog.Logger, done chan<- struct{}) {
	defer close(done)
	sweep := func() {
		n, err := sweepRecordings(ctx, store, rstore, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("recording retention sweep incomplete", "deleted", n, "err", err)
		case n > 0:
			log.Info("expired recordings deleted", "deleted", n)
		}
	}
	sweep()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			sweep()
		}
	}
}

// sweepRecordings deletes the recordings of the broadcasts that ended more
// than their channel's retention before now: every object under
// "<slug>/<id>/" and under its continuations "<slug>/<id>.N/" (see
// recorders.prefixes). Each broadcast is marked deleted in the store only
// once its objects are gone, so a failure leaves it for the next sweep,
// and a marked one is never tried again. It returns how many broadcasts'
// recordings it deleted; an error for one broadcast does not stop the others.
func sweepRecordings(ctx context.Context, store *commerce.Store, rstore recordings.Store, now time.Time) (int, error) {
	due, err := store.ExpiredRecordings(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("retention sweep: %w", err)
	}
	var (
		deleted int
		errs    []error
	)
	for _, e := range due {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		if err := deleteRecording(ctx, rstore, e.Slug, e.BroadcastID); err != nil {
			errs = append(errs, fmt.Errorf("retention sweep: %s/%d: %w", e.Slug, e.BroadcastID, err))
			continue
		}
		if err := store.MarkRecordingDeleted(ctx, e.BroadcastID); err != nil {
			errs = append(errs, fmt.Errorf("retention sweep: %s/%d: %w", e.Slug, e.BroadcastID, err))
			continue
		}
		deleted++
	}
	return deleted, errors.Join(errs...)
}

// deleteRecording deletes every object of the broadcast's recording:
// under "<slug>/<id>/" and "<slug>/<id>.N/". Listing the channel's folder
// finds the continuations; "<slug>/<id>" alone as a prefix would also
// match another broadcast's, such as <id>0.
func deleteRecording(ctx context.Context, rstore recordings.Store, slug string, id int64) error {
	objs, err := rstore.List(ctx, slug+"/")
	if err != nil {
		return fmt.Errorf("list recordings: %w", err)
	}
	base := strconv.FormatInt(id, 10)
	prefixes := []string{slug + "/" + base + "/"} // deleted even if not listed: Delete of nothing is no error
	seen := map[string]bool{prefixes[0]: true}
	for _, o := range objs {
		dir, _, ok := strings.Cut(strings.TrimPrefix(o.Key, slug+"/"), "/")
		if !ok || !isContinuation(dir, base) {
			continue
		}
		p := slug + "/" + dir + "/"
		if !seen[p] {
			seen[p] = true
			prefixes = append(prefixes, p)
		}
	}
	for _, p := range prefixes {
		if err := rstore.Delete(ctx, p); err != nil {
			return fmt.Errorf("delete %s: %w", p, err)
		}
	}
	return nil
}

// isContinuation reports whether dir is base ("42") or one of its
// continuations ("42.2", "42.3", ...).
func isContinuation(dir, base string) bool {
	if dir == base {
		return true
	}
	n, ok := strings.CutPrefix(dir, base+".")
	if !ok || n == "" {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// channelRecords reports whether the channel's broadcasts are to be
// recorded, by its setting. A store that cannot tell gets a recording: one
// made against the merchant's wish can be deleted, one missed cannot be
// made afterwards.
func channelRecords(ctx context.Context, store *commerce.Store, slug string, log *slog.Logger) bool {
	st, err := store.ChannelSettings(ctx, slug)
	if err != nil {
		log.Warn("channel settings not read, recording anyway", "channel", slug, "err", err)
		return true
	}
	return st.Record
}
