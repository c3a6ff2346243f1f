package commerce

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// ViewerSample is how many viewers were watching a broadcast at one moment
// of it. The merchant does not count, and a viewer with several tabs open
// counts once.
type ViewerSample struct {
	OffsetS int64 `json:"offset_s"` // whole seconds from the broadcast's started_at
	Viewers int   `json:"viewers"`  // at that moment
	// PeakViewers is the most viewers at once since the previous sample
	// (of the room that took it), this one's moment included.
	PeakViewers int `json:"peak_viewers"`
}

// ViewerStats is what a live room adds to a broadcast's viewer counts in
// one write.
type ViewerStats struct {
	// Seen are viewers who watched. Some may be recorded already (a room
	// that restarted mid-broadcast has forgotten them): each counts once in
	// the broadcast's total however often it is reported.
	Seen []int64
	// Peak is the most viewers watching at once that the room saw; the
	// broadcast keeps the highest ever reported.
	Peak int
	// Samples are new points of the series. A sample at an offset already
	// recorded replaces its count and keeps the higher peak.
	Samples []ViewerSample
}

// audienceChunk is how many viewers go into one INSERT: far below the
// bind-parameter limits of both databases (32,766 and 65,535).
const audienceChunk = 500

// AddViewerStats records a room's viewer counts for a broadcast, ended or
// not (the room's last write comes after the end). Reporting the same
// stats twice changes nothing more, so writes that overlap or are retried
// after a failure are safe.
func (s *Store) AddViewerStats(ctx context.Context, broadcastID int64, st ViewerStats) error {
	if st.Peak < 0 {
		return fmt.Errorf("add viewer stats: %w: peak %d below 0", ErrInvalid, st.Peak)
	}
	for _, smp := range st.Samples {
		if smp.OffsetS < 0 || smp.Viewers < 0 || smp.PeakViewers < smp.Viewers {
			return fmt.Errorf("add viewer stats: %w: bad sample %+v", ErrInvalid, smp)
		}
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var added int64
		for seen := st.Seen; len(seen) > 0; {
			n := min(len(seen), audienceChunk)
			q := `INSERT INTO broadcast_audience (broadcast_id, viewer_id) VALUES ` +
				strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ") +
				` ON CONFLICT (broadcast_id, viewer_id) DO NOTHING`
			args := make([]any, 0, 2*n)
			for _, id := range seen[:n] {
				args = append(args, broadcastID, id)
			}
			res, err := tx.ExecContext(ctx, s.dialect.rebind(q), args...)
			if err != nil {
				return fmt.Errorf("audience: %w", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("audience: %w", err)
			}
			added += k
			seen = seen[n:]
		}
		// The greater of two values spelled with CASE: SQLite says MAX and
		// PostgreSQL GREATEST.
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET total_viewers = total_viewers + ?,
peak_viewers = CASE WHEN peak_viewers < ? THEN ? ELSE peak_viewers END WHERE id = ?`),
			added, st.Peak, st.Peak, broadcastID)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("broadcast %d: %w", broadcastID, err)
		}
		for _, smp := range st.Samples {
			if _, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO broadcast_viewer_samples
(broadcast_id, offset_s, viewers, peak_viewers) VALUES (?, ?, ?, ?)
ON CONFLICT (broadcast_id, offset_s) DO UPDATE SET viewers = excluded.viewers,
peak_viewers = CASE WHEN broadcast_viewer_samples.peak_viewers < excluded.peak_viewers
	THEN excluded.peak_viewers ELSE broadcast_viewer_samples.peak_viewers END`),
				broadcastID, smp.OffsetS, smp.Viewers, smp.PeakViewers); err != nil {
				return fmt.Errorf("sample at %d s: %w", smp.OffsetS, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add viewer stats: %w", err)
	}
	return nil
}

// ViewerSamples returns a broadcast's viewers over time, by offset.
func (s *Store) ViewerSamples(ctx context.Context, broadcastID int64) ([]ViewerSample, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT offset_s, viewers, peak_viewers
FROM broadcast_viewer_samples WHERE broadcast_id = ? ORDER BY offset_s`), broadcastID)
	if err != nil {
		return nil, fmt.Errorf("viewer samples: %w", err)
	}
	defer rows.Close()
	out := []ViewerSample{}
	for rows.Next() {
		var smp ViewerSample
		if err := rows.Scan(&smp.OffsetS, &smp.Viewers, &smp.PeakViewers); err != nil {
			return nil, fmt.Errorf("viewer samples: %w", err)
		}
		out = append(out, smp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("viewer samples: %w", err)
	}
	return out, nil
}

// audience is what a live room knows of its viewers for the broadcast's
// counts: who is connected now, who watched, and what is not written yet.
// It belongs to the room's goroutine (see liveRoom): a join or a leave is
// a map update there, and the store hears of them once per sample, from a
// helper goroutine (see liveRoom.saveViewers).
//
// A viewer is a viewer id, as the room's limits count them: its tabs and
// reconnects are one viewer. The merchant's connections are left out.
type audience struct {
	conns map[int64]int // viewer id: its connections in the room now

	broadcastID int64     // the broadcast counted; 0 when not live
	startedAt   time.Time // its start, offset 0 of the samples

	seen         map[int64]bool // viewers this room counted in the broadcast
	unsaved      []int64        // of seen, not written yet
	peak         int            // most at once in the broadcast, as this room saw it
	peakUnsaved  bool
	intervalPeak int            // most at once since the last sample
	samples      []ViewerSample // not written yet
	saving       bool           // a periodic write is in flight
}

func newAudience() audience { return audience{conns: map[int64]int{}} }

// now is how many viewers are connected.
func (a *audience) now() int { return len(a.conns) }

func (a *audience) add(viewerID int64) {
	a.conns[viewerID]++
	if a.conns[viewerID] == 1 {
		a.counted(viewerID)
	}
}

func (a *audience) remove(viewerID int64) {
	if a.conns[viewerID] <= 1 {
		delete(a.conns, viewerID)
		return
	}
	a.conns[viewerID]--
}

// counted notes a viewer watching the live broadcast, and the new count.
func (a *audience) counted(viewerID int64) {
	if a.broadcastID == 0 {
		return
	}
	if !a.seen[viewerID] {
		a.seen[viewerID] = true
		a.unsaved = append(a.unsaved, viewerID)
	}
	n := a.now()
	a.intervalPeak = max(a.intervalPeak, n)
	if n > a.peak {
		a.peak, a.peakUnsaved = n, true
	}
}

// start counts broadcast b from now, with the viewers connected. What the
// previous broadcast had unwritten is dropped: take it first.
func (a *audience) start(b Broadcast) {
	a.broadcastID, a.startedAt = b.ID, b.StartedAt
	a.seen, a.unsaved, a.samples = map[int64]bool{}, nil, nil
	a.peak, a.peakUnsaved, a.intervalPeak = 0, false, 0
	for id := range a.conns {
		a.counted(id)
	}
}

func (a *audience) stop() { a.broadcastID = 0 }

// sample adds a point of the series at now, whole seconds from the start.
func (a *audience) sample(now time.Time) {
	if a.broadcastID == 0 {
		return
	}
	off := max(now.Sub(a.startedAt).Round(time.Second), 0)
	n := a.now()
	a.samples = append(a.samples, ViewerSample{OffsetS: int64(off / time.Second), Viewers: n, PeakViewers: max(a.intervalPeak, n)})
	a.intervalPeak = n
}

// take returns what is not written yet and forgets it; ok is false when
// there is nothing to write.
func (a *audience) take() (broadcastID int64, st ViewerStats, ok bool) {
	if a.broadcastID == 0 || len(a.unsaved) == 0 && len(a.samples) == 0 && !a.peakUnsaved {
		return 0, ViewerStats{}, false
	}
	st = ViewerStats{Seen: a.unsaved, Peak: a.peak, Samples: a.samples}
	a.unsaved, a.samples, a.peakUnsaved = nil, nil, false
	return a.broadcastID, st, true
}

// putBack returns what a failed write took, to go with the next one, if
// the broadcast is still the one counted.
func (a *audience) putBack(broadcastID int64, st ViewerStats) bool {
	if broadcastID != a.broadcastID {
		return false
	}
	a.unsaved = append(st.Seen, a.unsaved...)
	a.samples = append(st.Samples, a.samples...)
	a.peakUnsaved = true
	return true
}
