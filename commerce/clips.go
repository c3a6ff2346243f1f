package commerce

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Clip is the short video of a product cut from a broadcast's recording:
// from the product's pin to the next pin, at most a minute. The server cuts
// it once the recording has ended (cmd/dangol, with recordings.MakeClips)
// and records it here, by pin.
type Clip struct {
	PinID       int64     `json:"-"`
	BroadcastID int64     `json:"broadcast_id"`
	ProductID   int64     `json:"product_id"`
	PinnedAt    time.Time `json:"pinned_at"`
	URL         string    `json:"url"`
	DurationMs  int64     `json:"-"`
}

// SaveClip records the clip cut for pin pinID, replacing any recorded
// before (a rerun after a restart cuts the same clips again).
func (s *Store) SaveClip(ctx context.Context, pinID int64, url string, durationMs int64) error {
	if url == "" || !strings.HasPrefix(url, "/") || durationMs <= 0 {
		return fmt.Errorf("save clip: %w: url %q, duration %d ms", ErrInvalid, url, durationMs)
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT COUNT(*) FROM broadcast_pins
WHERE id = ? AND product_id IS NOT NULL`), pinID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("pin %d of a product: %w", pinID, ErrNotFound)
		}
		_, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO broadcast_clips (pin_id, url, duration_ms)
VALUES (?, ?, ?) ON CONFLICT (pin_id) DO UPDATE SET url = excluded.url, duration_ms = excluded.duration_ms`),
			pinID, url, durationMs)
		return err
	})
	if err != nil {
		return fmt.Errorf("save clip of pin %d: %w", pinID, err)
	}
	return nil
}

const clipColumns = `c.pin_id, p.broadcast_id, p.product_id, p.pinned_at, c.url, c.duration_ms`

func scanClips(rows *sql.Rows, add func(Clip)) error {
	defer rows.Close()
	for rows.Next() {
		var c Clip
		if err := rows.Scan(&c.PinID, &c.BroadcastID, &c.ProductID, &c.PinnedAt, &c.URL, &c.DurationMs); err != nil {
			return err
		}
		c.PinnedAt = c.PinnedAt.UTC()
		add(c)
	}
	return rows.Err()
}

// BroadcastClips returns the clips of a broadcast, by pin id.
func (s *Store) BroadcastClips(ctx context.Context, broadcastID int64) (map[int64]Clip, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+clipColumns+`
FROM broadcast_clips c JOIN broadcast_pins p ON p.id = c.pin_id WHERE p.broadcast_id = ?`), broadcastID)
	if err != nil {
		return nil, fmt.Errorf("clips of broadcast %d: %w", broadcastID, err)
	}
	out := map[int64]Clip{}
	if err := scanClips(rows, func(c Clip) { out[c.PinID] = c }); err != nil {
		return nil, fmt.Errorf("clips of broadcast %d: %w", broadcastID, err)
	}
	return out, nil
}

// productClipsScan bounds how many clips ProductClips reads to find each
// product's latest: a stall pins tens of products a broadcast.
const productClipsScan = 1000

// ProductClips returns the latest clip of each product of the channel, by
// product id: what the channel page shows under the product. Practice
// broadcasts and broadcasts whose recording retention deleted have none.
func (s *Store) ProductClips(ctx context.Context, channelID int64) (map[int64]Clip, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+clipColumns+`
FROM broadcast_clips c JOIN broadcast_pins p ON p.id = c.pin_id JOIN broadcasts b ON b.id = p.broadcast_id
WHERE b.channel_id = ? AND NOT b.practice AND b.recording_deleted_at IS NULL
ORDER BY p.pinned_at DESC, p.id DESC LIMIT ?`), channelID, productClipsScan)
	if err != nil {
		return nil, fmt.Errorf("product clips: %w", err)
	}
	out := map[int64]Clip{}
	err = scanClips(rows, func(c Clip) {
		if _, ok := out[c.ProductID]; !ok {
			out[c.ProductID] = c
		}
	})
	if err != nil {
		return nil, fmt.Errorf("product clips: %w", err)
	}
	return out, nil
}
