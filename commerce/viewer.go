package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Viewer is an anonymous customer of one channel. The browser keeps the
// token it was given at creation and resumes the same viewer with it.
type Viewer struct {
	ID         int64     `json:"id"`
	ChannelID  int64     `json:"channel_id"`
	Nickname   string    `json:"nickname"`
	MutedUntil time.Time `json:"muted_until"` // zero if never muted
	Banned     bool      `json:"banned"`
	CreatedAt  time.Time `json:"created_at"`
}

// Muted reports whether the viewer may not chat at now.
func (v Viewer) Muted(now time.Time) bool { return now.Before(v.MutedUntil) }

// CreateViewer creates a viewer of the channel with a nickname (may be
// empty; at most 20 characters) and returns it with its token, which is
// not stored and cannot be read again.
func (s *Store) CreateViewer(ctx context.Context, channelID int64, nickname string) (Viewer, string, error) {
	nickname, err := cleanText("nickname", nickname, maxNicknameLen, false, false)
	if err != nil {
		return Viewer{}, "", fmt.Errorf("create viewer: %w", err)
	}
	token := newSecret()
	v := Viewer{ChannelID: channelID, Nickname: nickname}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.channelExists(ctx, tx, channelID); err != nil {
			return err
		}
		v.CreatedAt = s.timestamp()
		return tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO viewers (channel_id, nickname, token_hash, created_at)
VALUES (?, ?, ?, ?) RETURNING id`), channelID, nickname, hashSecret(token), v.CreatedAt).Scan(&v.ID)
	})
	if err != nil {
		return Viewer{}, "", fmt.Errorf("create viewer: %w", err)
	}
	return v, token, nil
}

const viewerColumns = `id, channel_id, nickname, muted_until, banned, created_at`

func scanViewer(sc interface{ Scan(...any) error }) (Viewer, error) {
	var (
		v     Viewer
		muted sql.NullTime
	)
	if err := sc.Scan(&v.ID, &v.ChannelID, &v.Nickname, &muted, &v.Banned, &v.CreatedAt); err != nil {
		return Viewer{}, err
	}
	v.CreatedAt = v.CreatedAt.UTC()
	if muted.Valid {
		v.MutedUntil = muted.Time.UTC()
	}
	return v, nil
}

// ResumeViewer returns the channel's viewer whose token this is, or an
// error wrapping ErrBadKey (a token of another channel is as wrong as a
// made-up one).
func (s *Store) ResumeViewer(ctx context.Context, channelID int64, token string) (Viewer, error) {
	// The lookup by hash is not constant-time, which is fine: the token is
	// 128 random bits, and timing reveals at most a prefix of its hash.
	v, err := scanViewer(s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+viewerColumns+`
FROM viewers WHERE token_hash = ? AND channel_id = ?`), hashSecret(token), channelID))
	if errors.Is(err, sql.ErrNoRows) {
		return Viewer{}, fmt.Errorf("resume viewer: %w", ErrBadKey)
	}
	if err != nil {
		return Viewer{}, fmt.Errorf("resume viewer: %w", err)
	}
	return v, nil
}

// Viewer returns the channel's viewer with the id, or an error wrapping
// ErrNotFound.
func (s *Store) Viewer(ctx context.Context, channelID, viewerID int64) (Viewer, error) {
	v, err := s.viewer(ctx, s.rdb, viewerID)
	if err == nil && v.ChannelID != channelID {
		err = fmt.Errorf("viewer %d: %w", viewerID, ErrNotFound)
	}
	if err != nil {
		return Viewer{}, fmt.Errorf("get viewer: %w", err)
	}
	return v, nil
}

func (s *Store) viewer(ctx context.Context, q querier, viewerID int64) (Viewer, error) {
	v, err := scanViewer(q.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+viewerColumns+` FROM viewers WHERE id = ?`), viewerID))
	if errors.Is(err, sql.ErrNoRows) {
		return Viewer{}, fmt.Errorf("viewer %d: %w", viewerID, ErrNotFound)
	}
	return v, err
}

// SetNickname changes a viewer's chat nickname (messages already sent keep
// the old one).
func (s *Store) SetNickname(ctx context.Context, channelID, viewerID int64, nickname string) (Viewer, error) {
	nickname, err := cleanText("nickname", nickname, maxNicknameLen, false, false)
	if err != nil {
		return Viewer{}, fmt.Errorf("set nickname: %w", err)
	}
	return s.updateViewer(ctx, "set nickname", channelID, viewerID, `nickname = ?`, nickname)
}

// MuteViewer keeps a viewer of the channel from chatting until the given
// time; a zero or past time lifts the mute.
func (s *Store) MuteViewer(ctx context.Context, channelID, viewerID int64, until time.Time) (Viewer, error) {
	muted := sql.NullTime{Time: until.UTC().Truncate(time.Microsecond), Valid: !until.IsZero()}
	return s.updateViewer(ctx, "mute viewer", channelID, viewerID, `muted_until = ?`, muted)
}

// BanViewer bans (or with banned false, readmits) a viewer of the channel:
// a banned viewer cannot chat, claim coupons or order.
func (s *Store) BanViewer(ctx context.Context, channelID, viewerID int64, banned bool) (Viewer, error) {
	return s.updateViewer(ctx, "ban viewer", channelID, viewerID, `banned = ?`, banned)
}

func (s *Store) updateViewer(ctx context.Context, op string, channelID, viewerID int64, set string, arg any) (Viewer, error) {
	var v Viewer
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE viewers SET `+set+` WHERE id = ? AND channel_id = ?`),
			arg, viewerID, channelID)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("viewer %d: %w", viewerID, err)
		}
		v, err = s.viewer(ctx, tx, viewerID)
		return err
	})
	if err != nil {
		return Viewer{}, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}
