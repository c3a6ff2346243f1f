package commerce

import (
	"context"
	"database/sql"
	"fmt"
)

// Profile is what a channel page tells customers about the stall.
// Every field is optional: "" when not given.
type Profile struct {
	Market      string // the market, e.g. "망원시장"
	Location    string // how to find the stall: "정문에서 두 번째 골목"
	Hours       string // opening hours as the merchant writes them; may span lines
	Description string // a few lines about the stall
	PhotoKey    string // the stall photo in the PhotoStore; set with SetChannelPhoto
}

// Limits on the profile's text, in characters.
const (
	maxMarketLen           = 40
	maxLocationLen         = 100
	maxHoursLen            = 200
	maxStallDescriptionLen = 500
)

// ChannelPatch is a change of a channel's name and profile; nil fields
// stay as they are, "" clears an optional one.
type ChannelPatch struct {
	Name        *string
	Market      *string
	Location    *string
	Hours       *string
	Description *string
}

// clean returns p with its set fields cleaned (cleanText), or an error
// wrapping ErrInvalid about the first bad one.
func (p ChannelPatch) clean() (ChannelPatch, error) {
	fields := []struct {
		name      string
		v         **string
		max       int
		required  bool
		multiline bool
	}{
		{"name", &p.Name, maxNameLen, true, false},
		{"market", &p.Market, maxMarketLen, false, false},
		{"location", &p.Location, maxLocationLen, false, false},
		{"hours", &p.Hours, maxHoursLen, false, true},
		{"description", &p.Description, maxStallDescriptionLen, false, true},
	}
	for _, f := range fields {
		if *f.v == nil {
			continue
		}
		v, err := cleanText(f.name, **f.v, f.max, f.required, f.multiline)
		if err != nil {
			return ChannelPatch{}, err
		}
		*f.v = &v
	}
	return p, nil
}

// UpdateChannel applies p to the channel with the given slug and returns
// it. A bad field is an error wrapping ErrInvalid and an unknown channel
// ErrNotFound; nothing changes then, whatever else p holds.
func (s *Store) UpdateChannel(ctx context.Context, slug string, p ChannelPatch) (Channel, error) {
	p, err := p.clean()
	if err != nil {
		return Channel{}, fmt.Errorf("update channel: %w", err)
	}
	var ch Channel
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// One statement, so the fields change together or not at all.
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE channels SET
name = COALESCE(?, name), market = COALESCE(?, market), location = COALESCE(?, location),
hours = COALESCE(?, hours), description = COALESCE(?, description)
WHERE slug = ?`), nullString(p.Name), nullString(p.Market), nullString(p.Location),
			nullString(p.Hours), nullString(p.Description), slug)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("channel %q: %w", slug, err)
		}
		ch, _, err = s.channelWithHashesQ(ctx, tx, slug)
		return err
	})
	if err != nil {
		return Channel{}, fmt.Errorf("update channel: %w", err)
	}
	return ch, nil
}

func nullString(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

// SetChannelPhoto sets the channel's stall photo to key ("" for none) and
// returns the channel and the key it replaced, which no channel refers to
// any more. It returns an error wrapping ErrNotFound for an unknown channel
// and ErrInvalid for a malformed key.
func (s *Store) SetChannelPhoto(ctx context.Context, slug, key string) (ch Channel, old string, err error) {
	if _, err := cleanPhotoKey(key); err != nil {
		return Channel{}, "", fmt.Errorf("set channel photo: %w", err)
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		before, _, err := s.channelWithHashesQ(ctx, tx, slug)
		if err != nil {
			return err
		}
		old = before.PhotoKey
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE channels SET photo_key = ? WHERE id = ?`), key, before.ID); err != nil {
			return err
		}
		ch = before
		ch.PhotoKey = key
		return nil
	})
	if err != nil {
		return Channel{}, "", fmt.Errorf("set channel photo: %w", err)
	}
	return ch, old, nil
}
