package commerce

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Channel is a stall's broadcast channel, reached at /{Slug}.
type Channel struct {
	ID        int64
	Slug      string
	Name      string
	CreatedAt time.Time
	Profile
}

// Secrets are a channel's credentials. They are returned once, when the
// channel is created, and the Store keeps only their hashes: SHA-256 for
// the random secrets, a salted slow hash for the PIN (see hashPIN).
type Secrets struct {
	// StreamKey authorises publishing (WHIP, e.g. from OBS).
	StreamKey string
	// StudioToken opens the merchant's studio page.
	StudioToken string
	// PIN is six digits that open a studio session (LoginWithPIN) when
	// the studio link is lost.
	PIN string
}

// Limits on channel slugs and names.
const (
	minSlugLen = 3
	maxSlugLen = 40
	maxNameLen = 80 // runes
)

// ValidSlug reports, as an error wrapping ErrInvalid, why slug cannot name a
// channel, or nil if it can. A slug is 3 to 40 characters of a-z, 0-9 and
// '-', does not start or end with '-', and is not a word the server's own
// paths use (such as "api" or "studio").
func ValidSlug(slug string) error {
	if n := len(slug); n < minSlugLen || n > maxSlugLen {
		return fmt.Errorf("%w: slug must be %d to %d characters long, not %d", ErrInvalid, minSlugLen, maxSlugLen, n)
	}
	for i := 0; i < len(slug); i++ {
		c := slug[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%w: slug %q may contain only lowercase letters a-z, digits 0-9 and '-'", ErrInvalid, slug)
		}
	}
	if slug[0] == '-' || slug[len(slug)-1] == '-' {
		return fmt.Errorf("%w: slug %q must not start or end with '-'", ErrInvalid, slug)
	}
	if reservedSlug(slug) {
		return fmt.Errorf("%w: slug %q is reserved", ErrInvalid, slug)
	}
	return nil
}

// reservedSlug reports whether slug is taken by the server's own paths or
// could be mistaken for them. Channels are served at /{slug}.
func reservedSlug(slug string) bool {
	switch slug {
	case "api", "static", "assets", "studio", "admin", "tutor",
		"whip", "whep", "ws", "docs", "health", "healthz", "metrics",
		"login", "logout", "new", "replay", "replays", "www":
		return true
	}
	return false
}

// cleanName returns name trimmed of surrounding space, or an error wrapping
// ErrInvalid if it is empty, longer than 80 characters, or holds invalid
// UTF-8 or control characters. Any script is allowed.
func cleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: name is not valid UTF-8", ErrInvalid)
	}
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "", fmt.Errorf("%w: name must not be empty", ErrInvalid)
	}
	if n > maxNameLen {
		return "", fmt.Errorf("%w: name must be at most %d characters, not %d", ErrInvalid, maxNameLen, n)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("%w: name must not contain control characters or line breaks", ErrInvalid)
	}
	return name, nil
}

// newSecret returns a random secret of 128 bits from crypto/rand as 26
// characters of unpadded base32 (A-Z, 2-7): safe in a URL or a QR code, and
// without look-alike characters for the tutor who has to type it into OBS.
func newSecret() string {
	return rand.Text()
}

// hashSecret returns the SHA-256 hash stored for a secret. A plain hash is
// enough: the secrets are random with 128 bits of entropy, not passwords.
func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// secretMatches reports, in constant time, whether secret hashes to hash.
func secretMatches(secret string, hash []byte) bool {
	return subtle.ConstantTimeCompare(hashSecret(secret), hash) == 1
}

// CreateChannel creates a channel and returns it with its secrets, which
// cannot be read again later. It returns an error wrapping ErrInvalid for a
// bad slug or name and ErrExists if the slug is taken. The name is stored
// trimmed of surrounding space.
func (s *Store) CreateChannel(ctx context.Context, slug, name string) (Channel, Secrets, error) {
	return s.createChannel(ctx, slug, name, 0)
}

// createChannel is CreateChannel, also assigning the channel to the tutor
// tutorID unless it is 0. Both happen in one transaction, so a channel is
// never left without the tutor who created it.
func (s *Store) createChannel(ctx context.Context, slug, name string, tutorID int64) (Channel, Secrets, error) {
	if err := ValidSlug(slug); err != nil {
		return Channel{}, Secrets{}, fmt.Errorf("create channel: %w", err)
	}
	name, err := cleanName(name)
	if err != nil {
		return Channel{}, Secrets{}, fmt.Errorf("create channel: %w", err)
	}
	sec := Secrets{StreamKey: newSecret(), StudioToken: newSecret(), PIN: newPIN()}
	ch := Channel{Slug: slug, Name: name, CreatedAt: s.timestamp()}
	pinHash, err := hashPIN(sec.PIN)
	if err != nil {
		return Channel{}, Secrets{}, fmt.Errorf("create channel: %w", err)
	}

	// ON CONFLICT ... RETURNING works the same on SQLite and PostgreSQL and
	// reports a taken slug as no row, without matching driver error codes.
	const q = `INSERT INTO channels (slug, name, stream_key_hash, studio_token_hash, pin_hash, created_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (slug) DO NOTHING
RETURNING id`
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.dialect.rebind(q),
			ch.Slug, ch.Name, hashSecret(sec.StreamKey), hashSecret(sec.StudioToken), pinHash, ch.CreatedAt,
		).Scan(&ch.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("slug %q: %w", slug, ErrExists)
		}
		if err != nil || tutorID == 0 {
			return err
		}
		return s.assignChannel(ctx, tx, tutorID, ch.ID)
	})
	if err != nil {
		return Channel{}, Secrets{}, fmt.Errorf("create channel: %w", err)
	}
	return ch, sec, nil
}

// Channel returns the channel with the given slug, or an error wrapping
// ErrNotFound.
func (s *Store) Channel(ctx context.Context, slug string) (Channel, error) {
	ch, _, err := s.channelWithHashes(ctx, slug)
	if err != nil {
		return Channel{}, fmt.Errorf("get channel: %w", err)
	}
	return ch, nil
}

// CheckStreamKey returns the channel with the given slug if key is its
// current stream key. Otherwise it returns an error wrapping ErrNotFound
// (no such channel) or ErrBadKey.
func (s *Store) CheckStreamKey(ctx context.Context, slug, key string) (Channel, error) {
	ch, h, err := s.channelWithHashes(ctx, slug)
	if err != nil {
		return Channel{}, fmt.Errorf("check stream key: %w", err)
	}
	if !secretMatches(key, h.streamKey) {
		return Channel{}, fmt.Errorf("check stream key: channel %q: %w", slug, ErrBadKey)
	}
	return ch, nil
}

// CheckStudioToken returns the channel with the given slug if token is its
// studio token or the token of one of its studio sessions (LoginWithPIN).
// Otherwise it returns an error wrapping ErrNotFound (no such channel) or
// ErrBadKey.
func (s *Store) CheckStudioToken(ctx context.Context, slug, token string) (Channel, error) {
	ch, h, err := s.channelWithHashes(ctx, slug)
	if err != nil {
		return Channel{}, fmt.Errorf("check studio token: %w", err)
	}
	if secretMatches(token, h.studioToken) {
		return ch, nil
	}
	// Looked up by hash: the tokens are random, so the lookup's timing
	// tells nothing about a token one has not got.
	var one int
	err = s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT 1 FROM studio_sessions WHERE token_hash = ? AND channel_id = ?`),
		hashSecret(token), ch.ID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Channel{}, fmt.Errorf("check studio token: channel %q: %w", slug, ErrBadKey)
	case err != nil:
		return Channel{}, fmt.Errorf("check studio token: channel %q: %w", slug, err)
	}
	return ch, nil
}

// ResetStreamKey gives the channel a new stream key and returns it; the old
// key stops working at once. It returns an error wrapping ErrNotFound if
// there is no such channel.
func (s *Store) ResetStreamKey(ctx context.Context, slug string) (string, error) {
	key := newSecret()
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			s.dialect.rebind(`UPDATE channels SET stream_key_hash = ? WHERE slug = ?`),
			hashSecret(key), slug)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("channel %q: %w", slug, err)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reset stream key: %w", err)
	}
	return key, nil
}

// channelHashes are the stored hashes of a channel's secrets.
type channelHashes struct {
	streamKey   []byte
	studioToken []byte
	pin         sql.NullString
}

// channelWithHashes reads the channel with the given slug and the hashes of
// its secrets, or returns an error wrapping ErrNotFound.
func (s *Store) channelWithHashes(ctx context.Context, slug string) (Channel, channelHashes, error) {
	return s.channelWithHashesQ(ctx, s.rdb, slug)
}

// channelWithHashesQ is channelWithHashes through q, which may be a write
// transaction.
func (s *Store) channelWithHashesQ(ctx context.Context, q querier, slug string) (Channel, channelHashes, error) {
	const query = `SELECT id, slug, name, created_at, market, location, hours, description, photo_key,
stream_key_hash, studio_token_hash, pin_hash
FROM channels WHERE slug = ?`
	var (
		ch Channel
		h  channelHashes
	)
	err := q.QueryRowContext(ctx, s.dialect.rebind(query), slug).
		Scan(&ch.ID, &ch.Slug, &ch.Name, &ch.CreatedAt, &ch.Market, &ch.Location, &ch.Hours, &ch.Description, &ch.PhotoKey,
			&h.streamKey, &h.studioToken, &h.pin)
	if errors.Is(err, sql.ErrNoRows) {
		return Channel{}, channelHashes{}, fmt.Errorf("channel %q: %w", slug, ErrNotFound)
	}
	if err != nil {
		return Channel{}, channelHashes{}, fmt.Errorf("channel %q: %w", slug, err)
	}
	ch.CreatedAt = ch.CreatedAt.UTC()
	return ch, h, nil
}
