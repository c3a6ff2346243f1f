package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Broadcast is one time a channel went live, or rehearsed (Practice). It
// holds the room state that outlives a server restart: the pinned product,
// the notice and the like count.
type Broadcast struct {
	ID              int64     `json:"id"`
	ChannelID       int64     `json:"channel_id"`
	Title           string    `json:"title"`
	Practice        bool      `json:"practice"`
	StartedAt       time.Time `json:"started_at"`
	EndedAt         time.Time `json:"ended_at"`          // zero while live
	PinnedProductID int64     `json:"pinned_product_id"` // 0 when none
	Notice          string    `json:"notice"`
	Likes           int64     `json:"likes"`
	// PeakViewers and TotalViewers are the most viewers watching at once
	// and the distinct viewers who watched, the merchant left out. The live
	// room writes them now and then (see AddViewerStats): while live they
	// lag behind the room.
	PeakViewers  int64 `json:"peak_viewers"`
	TotalViewers int64 `json:"total_viewers"`
	// RecordingDeletedAt is when the retention sweep deleted the
	// broadcast's recording; zero while it is kept. The API shows it.
	RecordingDeletedAt time.Time `json:"-"`
}

// Live reports whether the broadcast has not ended.
func (b Broadcast) Live() bool { return b.EndedAt.IsZero() }

// Pin is one pin (or, with ProductID 0, unpin) of a product during a
// broadcast: the replay's chapters.
type Pin struct {
	ID        int64     `json:"id"`
	ProductID int64     `json:"product_id"`
	PinnedAt  time.Time `json:"pinned_at"`
}

// StartBroadcast starts a broadcast on the channel. A channel has at most
// one live broadcast: if one is live, StartBroadcast returns an error
// wrapping ErrExists (see LiveBroadcast to carry on with it).
func (s *Store) StartBroadcast(ctx context.Context, channelID int64, title string, practice bool) (Broadcast, error) {
	title, err := cleanText("title", title, maxTitleLen, false, false)
	if err != nil {
		return Broadcast{}, fmt.Errorf("start broadcast: %w", err)
	}
	b := Broadcast{ChannelID: channelID, Title: title, Practice: practice}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.channelExists(ctx, tx, channelID); err != nil {
			return err
		}
		b.StartedAt = s.timestamp()
		err := tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO broadcasts (channel_id, title, practice, started_at)
VALUES (?, ?, ?, ?)
ON CONFLICT (channel_id) WHERE ended_at IS NULL DO NOTHING
RETURNING id`), channelID, title, practice, b.StartedAt).Scan(&b.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("channel %d is already live: %w", channelID, ErrExists)
		}
		return err
	})
	if err != nil {
		return Broadcast{}, fmt.Errorf("start broadcast: %w", err)
	}
	return b, nil
}

// BeginBroadcast starts the channel's broadcast when its studio goes live,
// or returns the live one (a phone reconnecting, a server restarted
// mid-broadcast). If a practice session is open on the channel (see
// StartPractice), the new broadcast is its practice broadcast: private,
// sandboxed, and ended with the session.
func (s *Store) BeginBroadcast(ctx context.Context, channelID int64) (Broadcast, error) {
	var b Broadcast
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.lockChannel(ctx, tx, channelID); err != nil {
			return err
		}
		var err error
		if b, err = s.liveBroadcastQ(ctx, tx, channelID); !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := s.timestamp()
		session, err := s.beginPractice(ctx, tx, channelID, now)
		if err != nil {
			return err
		}
		b = Broadcast{ChannelID: channelID, Practice: session != 0, StartedAt: now}
		if session != 0 {
			if err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT title FROM practice_sessions WHERE id = ?`), session).Scan(&b.Title); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO broadcasts (channel_id, title, practice, started_at)
VALUES (?, ?, ?, ?) RETURNING id`), channelID, b.Title, b.Practice, now).Scan(&b.ID); err != nil {
			return err
		}
		if session != 0 {
			_, err = tx.ExecContext(ctx, s.dialect.rebind(`UPDATE practice_sessions SET broadcast_id = ? WHERE id = ?`), b.ID, session)
		}
		return err
	})
	if err != nil {
		return Broadcast{}, fmt.Errorf("begin broadcast: %w", err)
	}
	return b, nil
}

const broadcastColumns = `id, channel_id, title, practice, started_at, ended_at, pinned_product_id, notice, likes, recording_deleted_at, peak_viewers, total_viewers`

func scanBroadcast(sc interface{ Scan(...any) error }) (Broadcast, error) {
	var (
		b      Broadcast
		ended  sql.NullTime
		pinned sql.NullInt64
		gone   sql.NullTime
	)
	if err := sc.Scan(&b.ID, &b.ChannelID, &b.Title, &b.Practice, &b.StartedAt, &ended, &pinned, &b.Notice, &b.Likes, &gone, &b.PeakViewers, &b.TotalViewers); err != nil {
		return Broadcast{}, err
	}
	b.StartedAt = b.StartedAt.UTC()
	if ended.Valid {
		b.EndedAt = ended.Time.UTC()
	}
	b.PinnedProductID = pinned.Int64
	if gone.Valid {
		b.RecordingDeletedAt = gone.Time.UTC()
	}
	return b, nil
}

// LiveBroadcast returns the channel's live broadcast, or an error wrapping
// ErrNotFound if it is not live. A server restarting mid-broadcast carries
// on with it.
func (s *Store) LiveBroadcast(ctx context.Context, channelID int64) (Broadcast, error) {
	b, err := s.liveBroadcastQ(ctx, s.rdb, channelID)
	if errors.Is(err, sql.ErrNoRows) {
		return Broadcast{}, fmt.Errorf("live broadcast: channel %d is not live: %w", channelID, ErrNotFound)
	}
	if err != nil {
		return Broadcast{}, fmt.Errorf("live broadcast: %w", err)
	}
	return b, nil
}

// LiveChannels returns the slugs of the channels with a live broadcast, in
// slug order. At start-up these are the broadcasts a previous process left
// live: each either continues, when its publisher reconnects, or must be
// ended.
func (s *Store) LiveChannels(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT c.slug FROM broadcasts b JOIN channels c ON c.id = b.channel_id
WHERE b.ended_at IS NULL ORDER BY c.slug`)
	if err != nil {
		return nil, fmt.Errorf("live channels: %w", err)
	}
	defer rows.Close()
	slugs := []string{}
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			return nil, fmt.Errorf("live channels: %w", err)
		}
		slugs = append(slugs, slug)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("live channels: %w", err)
	}
	return slugs, nil
}

// liveBroadcastQ reads the channel's live broadcast with q; sql.ErrNoRows
// when it is not live.
func (s *Store) liveBroadcastQ(ctx context.Context, q querier, channelID int64) (Broadcast, error) {
	return scanBroadcast(q.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+broadcastColumns+`
FROM broadcasts WHERE channel_id = ? AND ended_at IS NULL`), channelID))
}

// Broadcast returns the broadcast with the id, or an error wrapping
// ErrNotFound.
func (s *Store) Broadcast(ctx context.Context, broadcastID int64) (Broadcast, error) {
	b, err := s.broadcast(ctx, s.rdb, broadcastID)
	if err != nil {
		return Broadcast{}, fmt.Errorf("get broadcast: %w", err)
	}
	return b, nil
}

func (s *Store) broadcast(ctx context.Context, q querier, broadcastID int64) (Broadcast, error) {
	b, err := scanBroadcast(q.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+broadcastColumns+`
FROM broadcasts WHERE id = ?`), broadcastID))
	if errors.Is(err, sql.ErrNoRows) {
		return Broadcast{}, fmt.Errorf("broadcast %d: %w", broadcastID, ErrNotFound)
	}
	return b, err
}

// liveChannelBroadcast reads a broadcast of the channel for a change: it must
// exist, belong to the channel (ErrNotFound) and be live (ErrNotLive).
func (s *Store) liveChannelBroadcast(ctx context.Context, q querier, channelID, broadcastID int64) (Broadcast, error) {
	b, err := s.broadcast(ctx, q, broadcastID)
	if err != nil {
		return Broadcast{}, err
	}
	if b.ChannelID != channelID {
		return Broadcast{}, fmt.Errorf("broadcast %d: %w", broadcastID, ErrNotFound)
	}
	if !b.Live() {
		return Broadcast{}, fmt.Errorf("broadcast %d has ended: %w", broadcastID, ErrNotLive)
	}
	return b, nil
}

// Broadcasts returns the channel's broadcasts, newest first, at most limit
// of them (100 if limit is not positive).
func (s *Store) Broadcasts(ctx context.Context, channelID int64, limit int) ([]Broadcast, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+broadcastColumns+`
FROM broadcasts WHERE channel_id = ? ORDER BY id DESC LIMIT ?`), channelID, limit)
	if err != nil {
		return nil, fmt.Errorf("list broadcasts: %w", err)
	}
	defer rows.Close()
	bs := []Broadcast{}
	for rows.Next() {
		b, err := scanBroadcast(rows)
		if err != nil {
			return nil, fmt.Errorf("list broadcasts: %w", err)
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list broadcasts: %w", err)
	}
	return bs, nil
}

// EndBroadcast ends the channel's broadcast and closes its coupons. Ending
// a broadcast that has ended already changes nothing and returns it.
func (s *Store) EndBroadcast(ctx context.Context, channelID, broadcastID int64) (Broadcast, error) {
	var b Broadcast
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if b, err = s.broadcast(ctx, tx, broadcastID); err != nil {
			return err
		}
		if b.ChannelID != channelID {
			return fmt.Errorf("broadcast %d: %w", broadcastID, ErrNotFound)
		}
		if !b.Live() {
			return nil
		}
		now := s.timestamp()
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET ended_at = ? WHERE id = ? AND ended_at IS NULL`),
			now, broadcastID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE coupons SET closed = ? WHERE broadcast_id = ?`),
			true, broadcastID); err != nil {
			return err
		}
		if b.Practice {
			if err := s.endPractice(ctx, tx, broadcastID, now); err != nil {
				return err
			}
		}
		b, err = s.broadcast(ctx, tx, broadcastID)
		return err
	})
	if err != nil {
		return Broadcast{}, fmt.Errorf("end broadcast: %w", err)
	}
	return b, nil
}

// PinProduct shows one of the channel's products in its live broadcast;
// productID 0 unpins. Each pin is recorded for the replay's chapters.
func (s *Store) PinProduct(ctx context.Context, channelID, broadcastID, productID int64) (Broadcast, error) {
	var b Broadcast
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.liveChannelBroadcast(ctx, tx, channelID, broadcastID); err != nil {
			return err
		}
		pinned := sql.NullInt64{Int64: productID, Valid: productID != 0}
		if productID != 0 {
			if _, err := s.product(ctx, tx, channelID, productID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET pinned_product_id = ? WHERE id = ?`),
			pinned, broadcastID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO broadcast_pins (broadcast_id, product_id, pinned_at) VALUES (?, ?, ?)`),
			broadcastID, pinned, s.timestamp()); err != nil {
			return err
		}
		var err error
		b, err = s.broadcast(ctx, tx, broadcastID)
		return err
	})
	if err != nil {
		return Broadcast{}, fmt.Errorf("pin product: %w", err)
	}
	return b, nil
}

// Pins returns the pins of a broadcast in order.
func (s *Store) Pins(ctx context.Context, broadcastID int64) ([]Pin, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT id, product_id, pinned_at FROM broadcast_pins
WHERE broadcast_id = ? ORDER BY id`), broadcastID)
	if err != nil {
		return nil, fmt.Errorf("list pins: %w", err)
	}
	defer rows.Close()
	pins := []Pin{}
	for rows.Next() {
		var (
			p  Pin
			id sql.NullInt64
		)
		if err := rows.Scan(&p.ID, &id, &p.PinnedAt); err != nil {
			return nil, fmt.Errorf("list pins: %w", err)
		}
		p.ProductID, p.PinnedAt = id.Int64, p.PinnedAt.UTC()
		pins = append(pins, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pins: %w", err)
	}
	return pins, nil
}

// SetNotice sets the notice pinned above the chat of a live broadcast; ""
// clears it.
func (s *Store) SetNotice(ctx context.Context, channelID, broadcastID int64, text string) (Broadcast, error) {
	text, err := cleanText("notice", text, maxNoticeLen, false, false)
	if err != nil {
		return Broadcast{}, fmt.Errorf("set notice: %w", err)
	}
	var b Broadcast
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.liveChannelBroadcast(ctx, tx, channelID, broadcastID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET notice = ? WHERE id = ?`), text, broadcastID); err != nil {
			return err
		}
		var err error
		b, err = s.broadcast(ctx, tx, broadcastID)
		return err
	})
	if err != nil {
		return Broadcast{}, fmt.Errorf("set notice: %w", err)
	}
	return b, nil
}

// AddLikes adds n (1 to 1,000,000; the room sums likes and writes them now
// and then) to a broadcast's likes and returns the new total.
func (s *Store) AddLikes(ctx context.Context, broadcastID, n int64) (int64, error) {
	if n < 1 || n > 1_000_000 {
		return 0, fmt.Errorf("add likes: %w: count must be from 1 to 1000000, not %d", ErrInvalid, n)
	}
	var total int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET likes = likes + ? WHERE id = ? RETURNING likes`),
			n, broadcastID).Scan(&total)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("broadcast %d: %w", broadcastID, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("add likes: %w", err)
	}
	return total, nil
}

// BroadcastQuality is how a broadcast's video came through from the phone.
type BroadcastQuality struct {
	VideoKbps  int64 // average over the live time, every simulcast layer together
	Reconnects int   // times the phone came back within the grace period
	Frozen     time.Duration
}

// SetBroadcastQuality records the quality of the broadcast, measured by
// the media server when it ended. It returns an error wrapping ErrNotFound
// for an unknown broadcast.
func (s *Store) SetBroadcastQuality(ctx context.Context, broadcastID int64, q BroadcastQuality) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE broadcasts SET video_kbps = ?, reconnects = ?, frozen_ms = ? WHERE id = ?`),
			max(q.VideoKbps, 0), max(q.Reconnects, 0), max(q.Frozen.Milliseconds(), 0), broadcastID)
		return oneRow(res, err)
	})
	if err != nil {
		return fmt.Errorf("set broadcast %d quality: %w", broadcastID, err)
	}
	return nil
}
