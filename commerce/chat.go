package commerce

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// ChatMessage is a chat line of a broadcast, with the sender's nickname as
// it was when sent. Text is plain text, to be shown as text.
type ChatMessage struct {
	ID          int64     `json:"id"`
	BroadcastID int64     `json:"broadcast_id"`
	ViewerID    int64     `json:"viewer_id"`
	Nickname    string    `json:"nickname"`
	Text        string    `json:"text"`
	Hidden      bool      `json:"hidden"`
	Merchant    bool      `json:"merchant"` // said from the studio
	CreatedAt   time.Time `json:"created_at"`

	// Replayed is set when AddChat returns the stored reply of an earlier
	// command with the same id.
	Replayed bool `json:"-"`
}

func (m *ChatMessage) markReplayed() { m.Replayed = true }

// DefaultRecentChat is how many messages the room shows a viewer who joins.
const DefaultRecentChat = 50

// AddChat adds viewer's chat message to the live broadcast, as the command
// cmdID (see runCommand). It returns an error wrapping ErrInvalid for bad
// text (empty, over 300 characters, control characters), ErrNotFound if
// the viewer is not of the broadcast's channel, ErrBanned, ErrMuted, or
// ErrNotLive. Rate limits and banned words are the room's business.
func (s *Store) AddChat(ctx context.Context, cmdID string, viewerID, broadcastID int64, text string) (ChatMessage, error) {
	return s.addChat(ctx, cmdID, viewerID, broadcastID, text, false)
}

// AddMerchantChat is AddChat for the merchant's studio, which chats through
// a viewer of its own: the message is marked as the merchant's, for the
// pages and for the practice review (the merchant's answers).
func (s *Store) AddMerchantChat(ctx context.Context, cmdID string, viewerID, broadcastID int64, text string) (ChatMessage, error) {
	return s.addChat(ctx, cmdID, viewerID, broadcastID, text, true)
}

func (s *Store) addChat(ctx context.Context, cmdID string, viewerID, broadcastID int64, text string, merchant bool) (ChatMessage, error) {
	text, err := cleanText("message", text, maxChatLen, true, false)
	if err != nil {
		return ChatMessage{}, fmt.Errorf("chat: %w", err)
	}
	return runCommand(ctx, s, viewerActor(viewerID), cmdID, "chat",
		func(ctx context.Context, tx *sql.Tx, now time.Time) (ChatMessage, error) {
			v, err := s.viewer(ctx, tx, viewerID)
			if err != nil {
				return ChatMessage{}, err
			}
			if _, err := s.liveChannelBroadcast(ctx, tx, v.ChannelID, broadcastID); err != nil {
				return ChatMessage{}, err
			}
			if v.Banned {
				return ChatMessage{}, fmt.Errorf("viewer %d: %w", viewerID, ErrBanned)
			}
			if v.Muted(now) {
				return ChatMessage{}, fmt.Errorf("viewer %d until %s: %w", viewerID, v.MutedUntil.Format(time.RFC3339), ErrMuted)
			}
			m := ChatMessage{BroadcastID: broadcastID, ViewerID: viewerID, Nickname: v.Nickname, Text: text, Merchant: merchant, CreatedAt: now}
			err = tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO chat_messages (broadcast_id, viewer_id, nickname, text, merchant, created_at)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), broadcastID, viewerID, m.Nickname, m.Text, merchant, now).Scan(&m.ID)
			return m, err
		})
}

const chatColumns = `id, broadcast_id, viewer_id, nickname, text, hidden, merchant, created_at`

func scanChat(sc interface{ Scan(...any) error }) (ChatMessage, error) {
	var m ChatMessage
	err := sc.Scan(&m.ID, &m.BroadcastID, &m.ViewerID, &m.Nickname, &m.Text, &m.Hidden, &m.Merchant, &m.CreatedAt)
	m.CreatedAt = m.CreatedAt.UTC()
	return m, err
}

// HideChat hides a message of one of the channel's broadcasts from
// everyone. Hiding a hidden message changes nothing.
func (s *Store) HideChat(ctx context.Context, channelID, messageID int64) (ChatMessage, error) {
	var m ChatMessage
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE chat_messages SET hidden = ?
WHERE id = ? AND broadcast_id IN (SELECT id FROM broadcasts WHERE channel_id = ?)`), true, messageID, channelID)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("message %d: %w", messageID, err)
		}
		m, err = scanChat(tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+chatColumns+` FROM chat_messages WHERE id = ?`), messageID))
		return err
	})
	if err != nil {
		return ChatMessage{}, fmt.Errorf("hide chat: %w", err)
	}
	return m, nil
}

// RecentChat returns the last limit (DefaultRecentChat if not positive, at
// most 500) messages of a broadcast that are not hidden, oldest first.
func (s *Store) RecentChat(ctx context.Context, broadcastID int64, limit int) ([]ChatMessage, error) {
	if limit <= 0 {
		limit = DefaultRecentChat
	}
	limit = min(limit, 500)
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+chatColumns+` FROM chat_messages
WHERE broadcast_id = ? AND hidden = ? ORDER BY id DESC LIMIT ?`), broadcastID, false, limit)
	if err != nil {
		return nil, fmt.Errorf("recent chat: %w", err)
	}
	defer rows.Close()
	ms := []ChatMessage{}
	for rows.Next() {
		m, err := scanChat(rows)
		if err != nil {
			return nil, fmt.Errorf("recent chat: %w", err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent chat: %w", err)
	}
	slices.Reverse(ms)
	return ms, nil
}
