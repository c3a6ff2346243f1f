package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ChannelSettings are a channel's recording settings.
type ChannelSettings struct {
	// Record says whether the channel's broadcasts are recorded (the
	// server's --record must be on too). On by default.
	Record bool `json:"record"`
	// RetentionDays is how many days after a broadcast ended its recording
	// is kept; 0 keeps it forever.
	RetentionDays int `json:"recording_retention_days"`
}

// SettingsChange is a change of a channel's settings; nil fields stay as
// they are. RetentionDays 0 means keep forever.
type SettingsChange struct {
	Record        *bool
	RetentionDays *int
}

// MaxRetentionDays is the longest retention one can set: ten years.
const MaxRetentionDays = 3650

// ChannelSettings returns the settings of the channel with the given slug,
// or an error wrapping ErrNotFound.
func (s *Store) ChannelSettings(ctx context.Context, slug string) (ChannelSettings, error) {
	st, err := s.channelSettings(ctx, s.rdb, slug)
	if err != nil {
		return ChannelSettings{}, fmt.Errorf("channel settings: %w", err)
	}
	return st, nil
}

func (s *Store) channelSettings(ctx context.Context, q querier, slug string) (ChannelSettings, error) {
	var (
		st   ChannelSettings
		days sql.NullInt64
	)
	err := q.QueryRowContext(ctx, s.dialect.rebind(`SELECT record, recording_retention_days FROM channels WHERE slug = ?`), slug).
		Scan(&st.Record, &days)
	if errors.Is(err, sql.ErrNoRows) {
		return ChannelSettings{}, fmt.Errorf("channel %q: %w", slug, ErrNotFound)
	}
	if err != nil {
		return ChannelSettings{}, err
	}
	st.RetentionDays = int(days.Int64)
	return st, nil
}

// ChangeSettings applies c to the channel's settings and returns them. A
// retention out of 0..MaxRetentionDays is an error wrapping ErrInvalid, an
// unknown channel ErrNotFound; nothing changes then.
func (s *Store) ChangeSettings(ctx context.Context, slug string, c SettingsChange) (ChannelSettings, error) {
	if c.RetentionDays != nil && (*c.RetentionDays < 0 || *c.RetentionDays > MaxRetentionDays) {
		return ChannelSettings{}, fmt.Errorf("change settings: %w: recording_retention_days must be from 1 to %d, or 0 or null to keep recordings forever, not %d",
			ErrInvalid, MaxRetentionDays, *c.RetentionDays)
	}
	var st ChannelSettings
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if c.Record != nil {
			res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE channels SET record = ? WHERE slug = ?`), *c.Record, slug)
			if err := oneRow(res, err); err != nil {
				return fmt.Errorf("channel %q: %w", slug, err)
			}
		}
		if c.RetentionDays != nil {
			// 0 is stored as NULL, so that the column's CHECK and the sweep's
			// query see one way of saying "forever".
			days := sql.NullInt64{Int64: int64(*c.RetentionDays), Valid: *c.RetentionDays != 0}
			res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE channels SET recording_retention_days = ? WHERE slug = ?`), days, slug)
			if err := oneRow(res, err); err != nil {
				return fmt.Errorf("channel %q: %w", slug, err)
			}
		}
		var err error
		st, err = s.channelSettings(ctx, tx, slug)
		return err
	})
	if err != nil {
		return ChannelSettings{}, fmt.Errorf("change settings: %w", err)
	}
	return st, nil
}

// ExpiredRecording is a broadcast whose recording its channel's retention
// says to delete.
type ExpiredRecording struct {
	Slug        string
	BroadcastID int64
	EndedAt     time.Time
}

// ExpiredRecordings returns the broadcasts, oldest first, that ended more
// than their channel's retention before now and whose recording is not
// marked deleted yet (see MarkRecordingDeleted). Channels that keep
// recordings forever have none.
func (s *Store) ExpiredRecordings(ctx context.Context, now time.Time) ([]ExpiredRecording, error) {
	// The cutoff differs per channel; comparing in Go rather than with each
	// dialect's date arithmetic keeps one query for both. Deleted recordings
	// are left out by the query, so the rows read are the retained ones.
	rows, err := s.rdb.QueryContext(ctx, `SELECT c.slug, b.id, b.ended_at, c.recording_retention_days
FROM broadcasts b JOIN channels c ON c.id = b.channel_id
WHERE b.ended_at IS NOT NULL AND b.recording_deleted_at IS NULL AND c.recording_retention_days IS NOT NULL
ORDER BY b.id`)
	if err != nil {
		return nil, fmt.Errorf("expired recordings: %w", err)
	}
	defer rows.Close()
	out := []ExpiredRecording{}
	for rows.Next() {
		var (
			e    ExpiredRecording
			days int
		)
		if err := rows.Scan(&e.Slug, &e.BroadcastID, &e.EndedAt, &days); err != nil {
			return nil, fmt.Errorf("expired recordings: %w", err)
		}
		e.EndedAt = e.EndedAt.UTC()
		if now.Sub(e.EndedAt) > time.Duration(days)*24*time.Hour {
			out = append(out, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("expired recordings: %w", err)
	}
	return out, nil
}

// MarkRecordingDeleted records that the broadcast's recording was deleted:
// the replay is gone and ExpiredRecordings leaves it out. Marking it again
// keeps the first time.
func (s *Store) MarkRecordingDeleted(ctx context.Context, broadcastID int64) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.broadcast(ctx, tx, broadcastID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET recording_deleted_at = ?
WHERE id = ? AND recording_deleted_at IS NULL`), s.timestamp(), broadcastID)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark recording deleted: %w", err)
	}
	return nil
}
