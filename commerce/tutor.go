package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tutor is a "digital supporter" who sets merchants up and rehearses with
// them. A tutor logs in with a token of their own (see CreateTutor) and acts
// on the channels assigned to them.
type Tutor struct {
	ID int64 `json:"id"`
	// Handle is the tutor's short, unique name on the operator's command
	// line, like a channel slug.
	Handle    string    `json:"handle"`
	Name      string    `json:"name"`
	Phone     string    `json:"phone"`
	CreatedAt time.Time `json:"created_at"`
}

// TutorInput is what CreateTutor takes. An empty Handle is derived from the
// name (see HandleFromName).
type TutorInput struct {
	Handle string
	Name   string
	Phone  string
}

// TutorChannel is one of a tutor's channels with what the tutor checks at a
// glance: whether it is on air and how much the merchant has broadcast.
type TutorChannel struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
	// Live is true while a broadcast, a practice one included, is on air;
	// LivePractice tells which.
	Live         bool `json:"live"`
	LivePractice bool `json:"live_practice"`
	// LastBroadcastAt is when the newest broadcast started; nil if none.
	LastBroadcastAt *time.Time `json:"last_broadcast_at"`
	// Broadcasts counts the real broadcasts, PracticeBroadcasts the
	// rehearsals: a merchant who only ever practises is not yet selling.
	Broadcasts         int64 `json:"broadcasts"`
	PracticeBroadcasts int64 `json:"practice_broadcasts"`
}

// ValidHandle reports, as an error wrapping ErrInvalid, why h cannot be a
// tutor's handle, or nil if it can. Handles follow the rules of channel
// slugs (see ValidSlug) but for the reserved words, which only matter in
// URL paths.
func ValidHandle(h string) error {
	if n := len(h); n < minSlugLen || n > maxSlugLen {
		return fmt.Errorf("%w: handle must be %d to %d characters long, not %d", ErrInvalid, minSlugLen, maxSlugLen, n)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%w: handle %q may contain only lowercase letters a-z, digits 0-9 and '-'", ErrInvalid, h)
		}
	}
	if h[0] == '-' || h[len(h)-1] == '-' {
		return fmt.Errorf("%w: handle %q must not start or end with '-'", ErrInvalid, h)
	}
	if _, err := strconv.ParseInt(h, 10, 64); err == nil {
		// The command line takes a tutor by id or handle; digits alone would
		// be read as an id.
		return fmt.Errorf("%w: handle %q must not be only digits", ErrInvalid, h)
	}
	return nil
}

// HandleFromName derives a handle from a name written in Latin letters:
// "Jiwoo Park" gives "jiwoo-park". It returns "" when the name gives no
// valid handle, as a name in Hangul does; the operator then picks one.
func HandleFromName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	h := b.String()
	if len(h) > maxSlugLen {
		h = strings.TrimRight(h[:maxSlugLen], "-")
	}
	if ValidHandle(h) != nil {
		return ""
	}
	return h
}

// CreateTutor creates a tutor and returns it with its login token, which
// cannot be read again later: only its SHA-256 hash is kept, as for the
// studio token. It returns an error wrapping ErrInvalid for a bad handle,
// name or phone (or no handle given and none derivable from the name), and
// ErrExists if the handle is taken.
func (s *Store) CreateTutor(ctx context.Context, in TutorInput) (Tutor, string, error) {
	name, err := cleanName(in.Name)
	if err != nil {
		return Tutor{}, "", fmt.Errorf("create tutor: %w", err)
	}
	handle := in.Handle
	if handle == "" {
		if handle = HandleFromName(name); handle == "" {
			return Tutor{}, "", fmt.Errorf("create tutor: %w: no handle can be made from the name %q; give one (a-z, 0-9, '-')", ErrInvalid, name)
		}
	}
	if err := ValidHandle(handle); err != nil {
		return Tutor{}, "", fmt.Errorf("create tutor: %w", err)
	}
	phone := strings.TrimSpace(in.Phone)
	if phone != "" { // optional: the operator's contact for the tutor
		if phone, err = cleanPhone(phone); err != nil {
			return Tutor{}, "", fmt.Errorf("create tutor: %w", err)
		}
	}
	t := Tutor{Handle: handle, Name: name, Phone: phone, CreatedAt: s.timestamp()}
	token := newSecret()
	const q = `INSERT INTO tutors (handle, name, phone, token_hash, created_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (handle) DO NOTHING
RETURNING id`
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.dialect.rebind(q), t.Handle, t.Name, t.Phone, hashSecret(token), t.CreatedAt).Scan(&t.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("handle %q: %w", handle, ErrExists)
		}
		return err
	})
	if err != nil {
		return Tutor{}, "", fmt.Errorf("create tutor: %w", err)
	}
	return t, token, nil
}

const tutorColumns = `id, handle, name, phone, created_at`

func scanTutor(sc interface{ Scan(...any) error }) (Tutor, error) {
	var t Tutor
	if err := sc.Scan(&t.ID, &t.Handle, &t.Name, &t.Phone, &t.CreatedAt); err != nil {
		return Tutor{}, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// Tutor returns the tutor whose handle, or id in decimal, is ref, or an
// error wrapping ErrNotFound.
func (s *Store) Tutor(ctx context.Context, ref string) (Tutor, error) {
	q, arg := `SELECT `+tutorColumns+` FROM tutors WHERE handle = ?`, any(ref)
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		// ValidHandle refuses all-digit handles, so this cannot shadow one.
		q, arg = `SELECT `+tutorColumns+` FROM tutors WHERE id = ?`, id
	}
	t, err := scanTutor(s.rdb.QueryRowContext(ctx, s.dialect.rebind(q), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Tutor{}, fmt.Errorf("get tutor: tutor %q: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Tutor{}, fmt.Errorf("get tutor: tutor %q: %w", ref, err)
	}
	return t, nil
}

// Tutors returns every tutor, by handle.
func (s *Store) Tutors(ctx context.Context) ([]Tutor, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+tutorColumns+` FROM tutors ORDER BY handle`)
	if err != nil {
		return nil, fmt.Errorf("list tutors: %w", err)
	}
	defer rows.Close()
	ts := []Tutor{}
	for rows.Next() {
		t, err := scanTutor(rows)
		if err != nil {
			return nil, fmt.Errorf("list tutors: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tutors: %w", err)
	}
	return ts, nil
}

// CheckTutorToken returns the tutor whose login token is token, or an error
// wrapping ErrBadKey.
func (s *Store) CheckTutorToken(ctx context.Context, token string) (Tutor, error) {
	// Looked up by hash: the tokens are random, so the lookup's timing tells
	// nothing about a token one has not got.
	t, err := scanTutor(s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+tutorColumns+` FROM tutors WHERE token_hash = ?`), hashSecret(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return Tutor{}, fmt.Errorf("check tutor token: %w", ErrBadKey)
	}
	if err != nil {
		return Tutor{}, fmt.Errorf("check tutor token: %w", err)
	}
	return t, nil
}

// CreateTutorChannel creates a channel as CreateChannel does and assigns it
// to the tutor in the same transaction. It returns an error wrapping
// ErrNotFound if there is no such tutor.
func (s *Store) CreateTutorChannel(ctx context.Context, tutorID int64, slug, name string) (Channel, Secrets, error) {
	return s.createChannel(ctx, slug, name, tutorID)
}

// AssignChannel gives the channel to the tutor to look after. It returns an
// error wrapping ErrNotFound if the tutor or the channel does not exist, and
// ErrExists if the channel is already the tutor's.
func (s *Store) AssignChannel(ctx context.Context, tutorID int64, slug string) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ch, _, err := s.channelWithHashesQ(ctx, tx, slug)
		if err != nil {
			return err
		}
		return s.assignChannel(ctx, tx, tutorID, ch.ID)
	})
	if err != nil {
		return fmt.Errorf("assign channel: %w", err)
	}
	return nil
}

// assignChannel adds the pair inside a write's transaction.
func (s *Store) assignChannel(ctx context.Context, q querier, tutorID, channelID int64) error {
	var one int
	err := q.QueryRowContext(ctx, s.dialect.rebind(`SELECT 1 FROM tutors WHERE id = ?`), tutorID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("tutor %d: %w", tutorID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("tutor %d: %w", tutorID, err)
	}
	res, err := q.ExecContext(ctx, s.dialect.rebind(`INSERT INTO tutor_channels (tutor_id, channel_id) VALUES (?, ?)
ON CONFLICT (tutor_id, channel_id) DO NOTHING`), tutorID, channelID)
	if err := oneRow(res, err); errors.Is(err, ErrNotFound) {
		return fmt.Errorf("channel %d is already tutor %d's: %w", channelID, tutorID, ErrExists)
	} else if err != nil {
		return fmt.Errorf("tutor %d, channel %d: %w", tutorID, channelID, err)
	}
	return nil
}

// UnassignChannel takes the channel away from the tutor. It returns an error
// wrapping ErrNotFound if the channel does not exist or is not the tutor's.
func (s *Store) UnassignChannel(ctx context.Context, tutorID int64, slug string) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`DELETE FROM tutor_channels
WHERE tutor_id = ? AND channel_id = (SELECT id FROM channels WHERE slug = ?)`), tutorID, slug)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("channel %q of tutor %d: %w", slug, tutorID, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unassign channel: %w", err)
	}
	return nil
}

// TutorChannel returns the channel with the given slug if it is assigned to
// the tutor. Otherwise it returns an error wrapping ErrNotFound (no such
// channel) or ErrForbidden (another tutor's, or nobody's).
func (s *Store) TutorChannel(ctx context.Context, tutorID int64, slug string) (Channel, error) {
	ch, err := s.Channel(ctx, slug)
	if err != nil {
		return Channel{}, fmt.Errorf("tutor channel: %w", err)
	}
	var one int
	err = s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT 1 FROM tutor_channels WHERE tutor_id = ? AND channel_id = ?`),
		tutorID, ch.ID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Channel{}, fmt.Errorf("tutor channel: channel %q is not tutor %d's: %w", slug, tutorID, ErrForbidden)
	case err != nil:
		return Channel{}, fmt.Errorf("tutor channel: channel %q: %w", slug, err)
	}
	return ch, nil
}

// TutorChannels returns the tutor's channels, by slug, with their
// broadcast counts and newest broadcast.
func (s *Store) TutorChannels(ctx context.Context, tutorID int64) ([]TutorChannel, error) {
	// Counts only: aggregated timestamps come back from SQLite as text
	// (the column type is lost), so the newest broadcast is read below.
	const q = `SELECT c.id, c.slug, c.name,
COALESCE(SUM(CASE WHEN b.practice = ? THEN 1 ELSE 0 END), 0),
COALESCE(SUM(CASE WHEN b.practice = ? THEN 1 ELSE 0 END), 0)
FROM tutor_channels tc
JOIN channels c ON c.id = tc.channel_id
LEFT JOIN broadcasts b ON b.channel_id = c.id
WHERE tc.tutor_id = ?
GROUP BY c.id, c.slug, c.name
ORDER BY c.slug`
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(q), false, true, tutorID)
	if err != nil {
		return nil, fmt.Errorf("tutor channels: tutor %d: %w", tutorID, err)
	}
	var (
		out []TutorChannel
		ids []int64
	)
	for rows.Next() {
		var (
			tc TutorChannel
			id int64
		)
		if err := rows.Scan(&id, &tc.Slug, &tc.Name, &tc.Broadcasts, &tc.PracticeBroadcasts); err != nil {
			rows.Close()
			return nil, fmt.Errorf("tutor channels: tutor %d: %w", tutorID, err)
		}
		out, ids = append(out, tc), append(ids, id)
	}
	err = rows.Err()
	rows.Close() // before the queries below: SQLite's read pool may be small
	if err != nil {
		return nil, fmt.Errorf("tutor channels: tutor %d: %w", tutorID, err)
	}
	out = append([]TutorChannel{}, out...) // [] rather than null in JSON
	for i, id := range ids {
		// One query a channel: a tutor looks after tens of stalls, not
		// thousands.
		bs, err := s.Broadcasts(ctx, id, 1)
		if err != nil {
			return nil, fmt.Errorf("tutor channels: tutor %d: %w", tutorID, err)
		}
		if len(bs) == 1 {
			b := bs[0]
			t := b.StartedAt
			out[i].LastBroadcastAt = &t
			out[i].Live, out[i].LivePractice = b.Live(), b.Live() && b.Practice
		}
	}
	return out, nil
}
