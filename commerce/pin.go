package commerce

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// PINLen is the number of digits of a channel's PIN.
const PINLen = 6

// pinIterations is the PBKDF2 work factor for new PIN hashes. A PIN has
// only a million values, so a stolen database would give up a plain hash
// at once; the salt stops precomputed tables and the iterations make each
// guess cost. The API's attempt limit is what protects the PIN online.
const pinIterations = 100_000

// newPIN returns PINLen random digits from crypto/rand.
func newPIN() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail (see rand.Read)
	}
	return fmt.Sprintf("%0*d", PINLen, n.Int64())
}

// validPIN reports whether pin is PINLen ASCII digits.
func validPIN(pin string) bool {
	if len(pin) != PINLen {
		return false
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return false
		}
	}
	return true
}

// hashPIN returns the stored form of pin:
// "pbkdf2-sha256$<iterations>$<salt>$<hash>", salt and hash in unpadded
// base64. The iterations are stored so that they can grow without
// invalidating PINs already set.
func hashPIN(pin string) (string, error) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, pin, salt, pinIterations, 32)
	if err != nil {
		return "", fmt.Errorf("hash pin: %w", err)
	}
	enc := base64.RawStdEncoding
	return "pbkdf2-sha256$" + strconv.Itoa(pinIterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

// pinMatches reports whether pin hashes to stored (from hashPIN). A
// malformed stored value matches nothing.
func pinMatches(pin, stored string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pin, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// ResetPIN gives the channel a new random PIN and returns it; the old PIN
// stops working at once. Studio sessions opened with the old PIN stay
// open: a merchant who forgot the PIN has not lost the phone. It returns an
// error wrapping ErrNotFound if there is no such channel.
func (s *Store) ResetPIN(ctx context.Context, slug string) (string, error) {
	pin := newPIN()
	h, err := hashPIN(pin)
	if err != nil {
		return "", fmt.Errorf("reset pin: %w", err)
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE channels SET pin_hash = ? WHERE slug = ?`), h, slug)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("channel %q: %w", slug, err)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reset pin: %w", err)
	}
	return pin, nil
}

// CheckPIN returns the channel with the given slug if pin is its PIN.
// Otherwise it returns an error wrapping ErrNotFound (no such channel) or
// ErrBadKey (a wrong or malformed PIN, or the channel has none). It is
// slow on purpose (see pinIterations); callers limit the attempts.
func (s *Store) CheckPIN(ctx context.Context, slug, pin string) (Channel, error) {
	ch, h, err := s.channelWithHashes(ctx, slug)
	if err != nil {
		return Channel{}, fmt.Errorf("check pin: %w", err)
	}
	if !validPIN(pin) || !h.pin.Valid || !pinMatches(pin, h.pin.String) {
		return Channel{}, fmt.Errorf("check pin: channel %q: %w", slug, ErrBadKey)
	}
	return ch, nil
}

// OpenStudioSession opens a studio session for the channel and returns its
// token, which CheckStudioToken accepts from then on. Only the token's
// SHA-256 hash is stored, as for the studio token.
func (s *Store) OpenStudioSession(ctx context.Context, channelID int64) (string, error) {
	token := newSecret()
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO studio_sessions (channel_id, token_hash, created_at) VALUES (?, ?, ?)`),
			channelID, hashSecret(token), s.timestamp())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("open studio session: channel %d: %w", channelID, err)
	}
	return token, nil
}
