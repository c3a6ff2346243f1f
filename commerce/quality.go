package commerce

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// AddDarkTime adds d, one spell of dark video the merchant's studio
// reported (video.dark, docs/protocol.md), to the broadcast's dark time.
// The room writes each spell once it closes; adding rather than setting
// lets spells written by a room and by the room started after it (a
// reconnect) add up, in any order. It returns an error wrapping
// ErrNotFound for an unknown broadcast, ErrInvalid for a negative d.
func (s *Store) AddDarkTime(ctx context.Context, broadcastID int64, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("add dark time to broadcast %d: %w: %v is negative", broadcastID, ErrInvalid, d)
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET dark_ms = dark_ms + ? WHERE id = ?`),
			d.Milliseconds(), broadcastID)
		return oneRow(res, err)
	})
	if err != nil {
		return fmt.Errorf("add dark time to broadcast %d: %w", broadcastID, err)
	}
	return nil
}

// darkSpell is a closed spell of dark video, to add to its broadcast's
// dark time; the zero value is no spell.
type darkSpell struct {
	broadcastID int64
	start       time.Time
	length      time.Duration
}

// setDark takes what the merchant's studio says of its picture: dark
// starts a spell (a repeated dark changes nothing), not dark closes it.
// It returns the spell closed, for the caller to write, and false when
// the room is not live. Runs on run.
func (r *liveRoom) setDark(dark bool) (darkSpell, bool) {
	if !r.live {
		return darkSpell{}, false
	}
	now := r.rs.store.timestamp()
	if !dark {
		return r.endDark(now), true
	}
	if r.darkSince.IsZero() {
		r.darkSince = now
	}
	return darkSpell{}, true
}

// endDark closes the dark spell, if there is one, at end. Runs on run.
func (r *liveRoom) endDark(end time.Time) darkSpell {
	if r.darkSince.IsZero() {
		return darkSpell{}
	}
	sp := darkSpell{broadcastID: r.broadcast.ID, start: r.darkSince, length: max(end.Sub(r.darkSince), 0)}
	r.darkSince = time.Time{}
	return sp
}

// reopenDark opens again a spell whose write failed, so that the studio's
// retry of its video.dark closes it whole. A spell begun since wins: its
// start is later, and merging the two would count the bright time between
// them. Runs on run.
func (r *liveRoom) reopenDark(sp darkSpell) {
	if r.live && r.broadcast.ID == sp.broadcastID && r.darkSince.IsZero() {
		r.darkSince = sp.start
	}
}

// saveDark writes a spell closed by the room itself (the broadcast ended,
// the merchant left), on a helper goroutine: no one is there to retry it,
// so a failed write is only logged. done, if not nil, gets the write's
// outcome, or nil at once when there is nothing to write.
func (r *liveRoom) saveDark(log *slog.Logger, sp darkSpell, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	if sp.length <= 0 {
		done(nil)
		return
	}
	r.rs.wg.Add(1)
	go func() {
		defer r.rs.wg.Done()
		err := r.rs.store.AddDarkTime(context.Background(), sp.broadcastID, sp.length)
		if err != nil {
			log.Warn("dark video time lost", "channel", r.channel.Slug, "broadcast", sp.broadcastID, "ms", sp.length.Milliseconds(), "err", err)
		}
		done(err)
	}()
}

// afterAll returns a function to call n times, from any goroutine: the
// last call hands done the first error seen. A nil done gives nil.
func afterAll(n int, done func(error)) func(error) {
	if done == nil {
		return nil
	}
	var (
		mu    sync.Mutex
		first error
	)
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
		if n--; n == 0 {
			done(first)
		}
	}
}
