package commerce

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ScheduledBroadcast is a broadcast the merchant announced: the channel
// page shows it so that customers know when to come back.
type ScheduledBroadcast struct {
	ID        int64     `json:"id"`
	ChannelID int64     `json:"-"`
	Title     string    `json:"title"` // may be ""
	StartsAt  time.Time `json:"starts_at"`
	CreatedAt time.Time `json:"created_at"`
}

// Limits on scheduling.
const (
	// MaxScheduleAhead is how far ahead a broadcast can be scheduled.
	MaxScheduleAhead = 90 * 24 * time.Hour
	// ScheduleGrace is how long after its start a scheduled broadcast
	// still counts as upcoming: a merchant who starts late is still on.
	ScheduleGrace = 2 * time.Hour
	// MaxUpcoming is the most upcoming broadcasts listed, and the most a
	// channel may have scheduled at once.
	MaxUpcoming = 20
)

// errTooManyScheduled is the error for a channel with MaxUpcoming upcoming
// broadcasts already.
var errTooManyScheduled = fmt.Errorf("%w: at most %d broadcasts can be scheduled at once", ErrInvalid, MaxUpcoming)

// ScheduleBroadcast schedules a broadcast on the channel. The title may be
// empty and is at most 80 characters; startsAt must be in the future and
// at most MaxScheduleAhead away, and the channel may have at most
// MaxUpcoming upcoming broadcasts. Otherwise it returns an error wrapping
// ErrInvalid.
func (s *Store) ScheduleBroadcast(ctx context.Context, channelID int64, title string, startsAt time.Time) (ScheduledBroadcast, error) {
	title, err := cleanText("title", title, maxTitleLen, false, false)
	if err != nil {
		return ScheduledBroadcast{}, fmt.Errorf("schedule broadcast: %w", err)
	}
	now := s.timestamp()
	sb := ScheduledBroadcast{ChannelID: channelID, Title: title, StartsAt: startsAt.UTC().Truncate(time.Microsecond), CreatedAt: now}
	if !sb.StartsAt.After(now) {
		return ScheduledBroadcast{}, fmt.Errorf("schedule broadcast: %w: starts_at must be in the future", ErrInvalid)
	}
	if sb.StartsAt.Sub(now) > MaxScheduleAhead {
		return ScheduledBroadcast{}, fmt.Errorf("schedule broadcast: %w: starts_at must be at most %d days ahead", ErrInvalid, MaxScheduleAhead/(24*time.Hour))
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT COUNT(*) FROM scheduled_broadcasts WHERE channel_id = ? AND starts_at > ?`),
			channelID, now.Add(-ScheduleGrace)).Scan(&n); err != nil {
			return err
		}
		if n >= MaxUpcoming {
			return errTooManyScheduled
		}
		return tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO scheduled_broadcasts (channel_id, title, starts_at, created_at)
VALUES (?, ?, ?, ?) RETURNING id`), channelID, sb.Title, sb.StartsAt, sb.CreatedAt).Scan(&sb.ID)
	})
	if err != nil {
		return ScheduledBroadcast{}, fmt.Errorf("schedule broadcast: %w", err)
	}
	return sb, nil
}

// UpcomingBroadcasts returns the channel's scheduled broadcasts that start
// later than ScheduleGrace ago, soonest first, at most limit of them
// (MaxUpcoming when limit is not in 1..MaxUpcoming).
func (s *Store) UpcomingBroadcasts(ctx context.Context, channelID int64, limit int) ([]ScheduledBroadcast, error) {
	if limit < 1 || limit > MaxUpcoming {
		limit = MaxUpcoming
	}
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT id, channel_id, title, starts_at, created_at
FROM scheduled_broadcasts WHERE channel_id = ? AND starts_at > ?
ORDER BY starts_at, id LIMIT ?`), channelID, s.timestamp().Add(-ScheduleGrace), limit)
	if err != nil {
		return nil, fmt.Errorf("upcoming broadcasts: %w", err)
	}
	defer rows.Close()
	out := []ScheduledBroadcast{}
	for rows.Next() {
		var sb ScheduledBroadcast
		if err := rows.Scan(&sb.ID, &sb.ChannelID, &sb.Title, &sb.StartsAt, &sb.CreatedAt); err != nil {
			return nil, fmt.Errorf("upcoming broadcasts: %w", err)
		}
		sb.StartsAt, sb.CreatedAt = sb.StartsAt.UTC(), sb.CreatedAt.UTC()
		out = append(out, sb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("upcoming broadcasts: %w", err)
	}
	return out, nil
}

// DeleteScheduledBroadcast removes one of the channel's scheduled
// broadcasts, past or upcoming. Another channel's, or none, is an error
// wrapping ErrNotFound.
func (s *Store) DeleteScheduledBroadcast(ctx context.Context, channelID, id int64) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`DELETE FROM scheduled_broadcasts WHERE id = ? AND channel_id = ?`), id, channelID)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("scheduled broadcast %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete scheduled broadcast: %w", err)
	}
	return nil
}
