package commerce

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// PracticeState is where a practice session is in its life.
type PracticeState string

// A session is waiting from its creation until the studio goes live, live
// until its broadcast ends, then ended; or cancelled before it went live.
const (
	PracticeWaiting   PracticeState = "waiting"
	PracticeLive      PracticeState = "live"
	PracticeEnded     PracticeState = "ended"
	PracticeCancelled PracticeState = "cancelled"
)

// PracticeWaitLimit is how long a session may wait for the studio to go
// live. A session forgotten in the waiting state would keep the channel
// private, and make the merchant's next real broadcast a practice one.
const PracticeWaitLimit = 2 * time.Hour

// Limits of the tutor's words.
const (
	maxTipLen           = 120
	maxPracticeNoteLen  = 500
	maxPracticeSessions = 1000 // sessions listed at most
)

// PracticeTicks are the checklist items only the tutor can judge; the
// other items are scored from the broadcast's events.
var PracticeTicks = []string{"greeted", "price_stated"}

// PracticeSession is one rehearsal on a channel: a private practice
// broadcast, the tutor's tips and notes, and the tutor's ticks.
type PracticeSession struct {
	ID          int64         `json:"id"`
	ChannelID   int64         `json:"-"`
	Channel     string        `json:"channel"` // the slug
	Title       string        `json:"title"`
	State       PracticeState `json:"state"`
	Tutor       *SessionTutor `json:"tutor"` // nil: the merchant practised alone
	CreatedAt   time.Time     `json:"created_at"`
	StartedAt   time.Time     `json:"-"` // the broadcast's start; zero before
	EndedAt     time.Time     `json:"-"`
	BroadcastID int64         `json:"broadcast_id"`
	// Token is the practice credential of invited customers and simulated
	// ones. It opens the channel's room and video only while the session is
	// open (see CheckPracticeToken).
	Token string          `json:"token"`
	Ticks map[string]bool `json:"ticks"`
}

// SessionTutor names the tutor who runs a session.
type SessionTutor struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Open reports whether the session still makes the channel private.
func (p PracticeSession) Open() bool { return p.State == PracticeWaiting || p.State == PracticeLive }

// PracticeNote is a tutor's tip (shown on the merchant's studio) or note
// (for the review), stamped with when it was given.
type PracticeNote struct {
	ID        int64     `json:"id"`
	SessionID int64     `json:"-"`
	Kind      string    `json:"kind"` // "tip" or "note"
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
}

const practiceColumns = `p.id, p.channel_id, c.slug, p.title, p.tutor_id, COALESCE(t.name, ''), p.created_at, p.ended_at,
p.cancelled, p.broadcast_id, b.started_at, p.token, p.ticks`

const practiceFrom = ` FROM practice_sessions p
JOIN channels c ON c.id = p.channel_id
LEFT JOIN tutors t ON t.id = p.tutor_id
LEFT JOIN broadcasts b ON b.id = p.broadcast_id`

func scanPractice(sc interface{ Scan(...any) error }) (PracticeSession, error) {
	var (
		p                    PracticeSession
		tutorID, broadcastID sql.NullInt64
		tutorName, ticks     string
		ended, bStart        sql.NullTime
		cancelled            bool
	)
	err := sc.Scan(&p.ID, &p.ChannelID, &p.Channel, &p.Title, &tutorID, &tutorName, &p.CreatedAt, &ended,
		&cancelled, &broadcastID, &bStart, &p.Token, &ticks)
	if err != nil {
		return PracticeSession{}, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	if tutorID.Valid {
		p.Tutor = &SessionTutor{ID: tutorID.Int64, Name: tutorName}
	}
	p.BroadcastID = broadcastID.Int64
	if bStart.Valid {
		p.StartedAt = bStart.Time.UTC()
	}
	switch {
	case cancelled:
		p.State = PracticeCancelled
	case ended.Valid:
		p.State = PracticeEnded
	case broadcastID.Valid:
		p.State = PracticeLive
	default:
		p.State = PracticeWaiting
	}
	if ended.Valid {
		p.EndedAt = ended.Time.UTC()
	}
	p.Ticks = map[string]bool{}
	if err := json.Unmarshal([]byte(ticks), &p.Ticks); err != nil {
		return PracticeSession{}, fmt.Errorf("practice session %d: ticks: %w", p.ID, err)
	}
	return p, nil
}

// StartPractice opens a practice session on the channel, run by the tutor
// tutorID (0: the merchant alone), and returns it with created true. If a
// session is already open, it returns that one with created false. While
// open, the channel's next broadcast is the practice one (see
// BeginBroadcast). It returns an error wrapping ErrLive if the channel is
// live for real, ErrInvalid for a bad title.
func (s *Store) StartPractice(ctx context.Context, channelID, tutorID int64, title string) (p PracticeSession, created bool, err error) {
	title, err = cleanText("title", title, maxTitleLen, false, false)
	if err != nil {
		return PracticeSession{}, false, fmt.Errorf("start practice: %w", err)
	}
	var id int64
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.lockChannel(ctx, tx, channelID); err != nil {
			return err
		}
		now := s.timestamp()
		if err := s.expirePractice(ctx, tx, channelID, now); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT id FROM practice_sessions WHERE channel_id = ? AND ended_at IS NULL`),
			channelID).Scan(&id)
		if err == nil {
			return nil // the open one, as it is
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if b, err := s.liveBroadcastQ(ctx, tx, channelID); err == nil {
			return fmt.Errorf("channel %d has live broadcast %d: %w", channelID, b.ID, ErrLive)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		created = true
		return tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO practice_sessions (channel_id, tutor_id, title, token, created_at)
VALUES (?, ?, ?, ?, ?) RETURNING id`),
			channelID, sql.NullInt64{Int64: tutorID, Valid: tutorID != 0}, title, newSecret(), now).Scan(&id)
	})
	if err != nil {
		return PracticeSession{}, false, fmt.Errorf("start practice: %w", err)
	}
	p, err = s.PracticeSession(ctx, id)
	return p, created, err
}

// lockChannel holds the channel's row until the transaction ends, or
// returns an error wrapping ErrNotFound. Starting a practice and starting a
// broadcast each look at the other's rows before writing their own: on
// PostgreSQL, under READ COMMITTED, two of them at once would each miss the
// other (a real broadcast live with a practice waiting, which would lock
// the real customers out). Taking the channel's row first puts them in
// line. SQLite's one writer does that already; the UPDATE costs it nothing.
func (s *Store) lockChannel(ctx context.Context, tx *sql.Tx, channelID int64) error {
	res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE channels SET name = name WHERE id = ?`), channelID)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("channel %d: %w", channelID, err)
	}
	return nil
}

// expirePractice cancels the channel's session that waited longer than
// PracticeWaitLimit for the studio.
func (s *Store) expirePractice(ctx context.Context, tx *sql.Tx, channelID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE practice_sessions SET ended_at = ?, cancelled = ?
WHERE channel_id = ? AND ended_at IS NULL AND broadcast_id IS NULL AND created_at < ?`),
		now, true, channelID, now.Add(-PracticeWaitLimit))
	return err
}

// PracticeSession returns the session with the id, or an error wrapping
// ErrNotFound.
func (s *Store) PracticeSession(ctx context.Context, id int64) (PracticeSession, error) {
	p, err := scanPractice(s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+practiceColumns+practiceFrom+` WHERE p.id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return PracticeSession{}, fmt.Errorf("practice session %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return PracticeSession{}, fmt.Errorf("practice session %d: %w", id, err)
	}
	return s.expired(p), nil
}

// expired shows a session that waited too long as cancelled, before the
// next write on the channel records it so.
func (s *Store) expired(p PracticeSession) PracticeSession {
	if p.State == PracticeWaiting && s.now().Sub(p.CreatedAt) > PracticeWaitLimit {
		p.State = PracticeCancelled
	}
	return p
}

// OpenPractice returns the channel's open practice session, or an error
// wrapping ErrNotFound when none is.
func (s *Store) OpenPractice(ctx context.Context, channelID int64) (PracticeSession, error) {
	p, err := scanPractice(s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+practiceColumns+practiceFrom+`
WHERE p.channel_id = ? AND p.ended_at IS NULL`), channelID))
	if err == nil {
		if p = s.expired(p); !p.Open() {
			err = sql.ErrNoRows
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return PracticeSession{}, fmt.Errorf("open practice of channel %d: %w", channelID, ErrNotFound)
	}
	if err != nil {
		return PracticeSession{}, fmt.Errorf("open practice of channel %d: %w", channelID, err)
	}
	return p, nil
}

// PracticeAccess reports whether the channel is private, in a practice
// session, and if so whether token opens it: the session's practice token
// or the token of a tutor assigned to the channel. The merchant's own
// secrets are the caller's to check. It is asked at every room connection
// and WHEP offer, a rush's thousands included: it reads one row of the
// open-session index, and a tutor's token only when the practice token is
// not it.
func (s *Store) PracticeAccess(ctx context.Context, channelID int64, token string) (private, allowed bool, err error) {
	var (
		sessionToken string
		created      time.Time
		broadcast    sql.NullInt64
	)
	err = s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT token, created_at, broadcast_id FROM practice_sessions
WHERE channel_id = ? AND ended_at IS NULL`), channelID).Scan(&sessionToken, &created, &broadcast)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("practice access of channel %d: %w", channelID, err)
	}
	if !broadcast.Valid && s.now().Sub(created) > PracticeWaitLimit {
		return false, false, nil // forgotten: see expired
	}
	if token == "" {
		return true, false, nil
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(sessionToken)) == 1 {
		return true, true, nil
	}
	t, err := s.CheckTutorToken(ctx, token)
	if errors.Is(err, ErrBadKey) {
		return true, false, nil
	}
	if err != nil {
		return true, false, fmt.Errorf("practice access of channel %d: %w", channelID, err)
	}
	var one int
	err = s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT 1 FROM tutor_channels WHERE tutor_id = ? AND channel_id = ?`),
		t.ID, channelID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return true, false, nil
	}
	if err != nil {
		return true, false, fmt.Errorf("practice access of channel %d: %w", channelID, err)
	}
	return true, true, nil
}

// Private reports whether the channel is in a practice session, and so
// its room and video need a practice credential (see PracticeAccess).
func (s *Store) Private(ctx context.Context, channelID int64) (bool, error) {
	private, _, err := s.PracticeAccess(ctx, channelID, "")
	return private, err
}

// CheckPracticeToken reports, with nil, that token opens the channel's
// practice (see PracticeAccess). It returns an error wrapping ErrBadKey
// otherwise, ErrNotFound if no session is open.
func (s *Store) CheckPracticeToken(ctx context.Context, channelID int64, token string) error {
	private, allowed, err := s.PracticeAccess(ctx, channelID, token)
	switch {
	case err != nil:
		return fmt.Errorf("check practice token: %w", err)
	case !private:
		return fmt.Errorf("check practice token: channel %d has no open practice: %w", channelID, ErrNotFound)
	case !allowed:
		return fmt.Errorf("check practice token: %w", ErrBadKey)
	}
	return nil
}

// CancelPractice cancels a session that has not gone live and returns it.
// A live session ends with its broadcast: cancelling one is an error
// wrapping ErrLive; an ended or cancelled one is returned as it is.
func (s *Store) CancelPractice(ctx context.Context, id int64) (PracticeSession, error) {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Conditional, so that a broadcast beginning at the same time either
		// took the session first (and it is live) or finds it cancelled.
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE practice_sessions SET ended_at = ?, cancelled = ?
WHERE id = ? AND ended_at IS NULL AND broadcast_id IS NULL`), s.timestamp(), true, id)
		if err := oneRow(res, err); !errors.Is(err, ErrNotFound) {
			return err
		}
		var (
			broadcast sql.NullInt64
			ended     sql.NullTime
		)
		err = tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT broadcast_id, ended_at FROM practice_sessions WHERE id = ?`), id).
			Scan(&broadcast, &ended)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("practice session %d: %w", id, ErrNotFound)
		case err != nil:
			return err
		case !ended.Valid && broadcast.Valid:
			return fmt.Errorf("practice session %d is live; end its broadcast: %w", id, ErrLive)
		}
		return nil // ended or cancelled already: as it is
	})
	if err != nil {
		return PracticeSession{}, fmt.Errorf("cancel practice: %w", err)
	}
	return s.PracticeSession(ctx, id)
}

// beginPractice returns the channel's open session that is waiting for its
// broadcast, 0 if none, holding its row. It runs in BeginBroadcast's
// transaction, which links the new broadcast to it.
func (s *Store) beginPractice(ctx context.Context, tx *sql.Tx, channelID int64, now time.Time) (sessionID int64, err error) {
	if err := s.expirePractice(ctx, tx, channelID, now); err != nil {
		return 0, err
	}
	// An UPDATE rather than a SELECT: it holds the session's row, so that a
	// cancel at the same time waits and then finds the session live.
	err = tx.QueryRowContext(ctx, s.dialect.rebind(`UPDATE practice_sessions SET title = title
WHERE channel_id = ? AND ended_at IS NULL AND broadcast_id IS NULL RETURNING id`), channelID).Scan(&sessionID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return sessionID, err
}

// endPractice ends the session whose broadcast is broadcastID, if any.
func (s *Store) endPractice(ctx context.Context, tx *sql.Tx, broadcastID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE practice_sessions SET ended_at = ? WHERE broadcast_id = ? AND ended_at IS NULL`),
		now, broadcastID)
	return err
}

// AddPracticeNote keeps a tutor's tip or note ("tip" or "note") on the
// session, stamped at (zero: now), and returns it. A tip needs the session
// live (ErrNotLive otherwise): it is shown on the studio at once. It
// returns an error wrapping ErrInvalid for bad text, ErrNotFound for an
// unknown session.
func (s *Store) AddPracticeNote(ctx context.Context, sessionID int64, kind, text string, at time.Time) (PracticeNote, error) {
	limit := maxPracticeNoteLen
	switch kind {
	case "tip":
		limit = maxTipLen
	case "note":
	default:
		return PracticeNote{}, fmt.Errorf("add practice note: %w: kind %q is not tip or note", ErrInvalid, kind)
	}
	text, err := cleanText("text", text, limit, true, kind == "note")
	if err != nil {
		return PracticeNote{}, fmt.Errorf("add practice note: %w", err)
	}
	n := PracticeNote{SessionID: sessionID, Kind: kind, Text: text, At: at.UTC().Truncate(time.Microsecond)}
	if at.IsZero() {
		n.At = s.timestamp()
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var (
			broadcast sql.NullInt64
			ended     sql.NullTime
		)
		err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT broadcast_id, ended_at FROM practice_sessions WHERE id = ?`), sessionID).
			Scan(&broadcast, &ended)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("practice session %d: %w", sessionID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if kind == "tip" && (!broadcast.Valid || ended.Valid) {
			return fmt.Errorf("practice session %d: %w", sessionID, ErrNotLive)
		}
		return tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO practice_notes (session_id, kind, text, at)
VALUES (?, ?, ?, ?) RETURNING id`), sessionID, kind, text, n.At).Scan(&n.ID)
	})
	if err != nil {
		return PracticeNote{}, fmt.Errorf("add practice note: %w", err)
	}
	return n, nil
}

// PracticeNotes returns the session's tips and notes, oldest first.
func (s *Store) PracticeNotes(ctx context.Context, sessionID int64) ([]PracticeNote, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT id, session_id, kind, text, at FROM practice_notes
WHERE session_id = ? ORDER BY at, id`), sessionID)
	if err != nil {
		return nil, fmt.Errorf("practice notes: %w", err)
	}
	defer rows.Close()
	notes := []PracticeNote{}
	for rows.Next() {
		var n PracticeNote
		if err := rows.Scan(&n.ID, &n.SessionID, &n.Kind, &n.Text, &n.At); err != nil {
			return nil, fmt.Errorf("practice notes: %w", err)
		}
		n.At = n.At.UTC()
		notes = append(notes, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("practice notes: %w", err)
	}
	return notes, nil
}

// SetPracticeTicks sets (true) or takes back (false) the tutor's ticks
// named in ticks, keeping the others, and returns the session. A key not
// in PracticeTicks is an error wrapping ErrInvalid.
func (s *Store) SetPracticeTicks(ctx context.Context, id int64, ticks map[string]bool) (PracticeSession, error) {
	for k := range ticks {
		if !slices.Contains(PracticeTicks, k) {
			return PracticeSession{}, fmt.Errorf("set practice ticks: %w: unknown tick %q", ErrInvalid, k)
		}
	}
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var raw string
		// Read with the row held (a no-op UPDATE): two ticks at once must
		// not write back each other's stale set.
		err := tx.QueryRowContext(ctx, s.dialect.rebind(`UPDATE practice_sessions SET ticks = ticks WHERE id = ? RETURNING ticks`), id).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("practice session %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		cur := map[string]bool{}
		if err := json.Unmarshal([]byte(raw), &cur); err != nil {
			return fmt.Errorf("practice session %d: ticks: %w", id, err)
		}
		for k, v := range ticks {
			if v {
				cur[k] = true
			} else {
				delete(cur, k)
			}
		}
		b, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.dialect.rebind(`UPDATE practice_sessions SET ticks = ? WHERE id = ?`), string(b), id)
		return err
	})
	if err != nil {
		return PracticeSession{}, fmt.Errorf("set practice ticks: %w", err)
	}
	return s.PracticeSession(ctx, id)
}

// PracticeSessions returns the channel's sessions, newest first, at most
// limit (1 to 1000).
func (s *Store) PracticeSessions(ctx context.Context, channelID int64, limit int) ([]PracticeSession, error) {
	limit = min(max(limit, 1), maxPracticeSessions)
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+practiceColumns+practiceFrom+`
WHERE p.channel_id = ? ORDER BY p.id DESC LIMIT ?`), channelID, limit)
	if err != nil {
		return nil, fmt.Errorf("practice sessions: %w", err)
	}
	defer rows.Close()
	ps := []PracticeSession{}
	for rows.Next() {
		p, err := scanPractice(rows)
		if err != nil {
			return nil, fmt.Errorf("practice sessions: %w", err)
		}
		ps = append(ps, s.expired(p))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("practice sessions: %w", err)
	}
	return ps, nil
}

// practiceLine prices one line of a practice order without touching the
// product's stock. The practice sells from the real stock as it stands,
// less what the session's other practice orders hold, so the merchant
// meets "sold out" as in a real broadcast while the stall's stock and
// sales stay as they are. Two practice orders at once may both take the
// last units: nothing real is at stake, so no row is locked for it.
func (s *Store) practiceLine(ctx context.Context, tx *sql.Tx, channelID, broadcastID int64, it ItemInput) (OrderItem, error) {
	p, err := s.product(ctx, tx, channelID, it.ProductID)
	if err != nil {
		return OrderItem{}, err
	}
	var held int64
	if err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT CAST(COALESCE(SUM(oi.qty), 0) AS BIGINT)
FROM order_items oi JOIN orders o ON o.id = oi.order_id
WHERE o.broadcast_id = ? AND o.practice = ? AND oi.product_id = ? AND o.status NOT IN (?, ?)`),
		broadcastID, true, it.ProductID, string(StatusCancelled), string(StatusRejected)).Scan(&held); err != nil {
		return OrderItem{}, err
	}
	if left := max(int64(p.Stock)-held, 0); int64(it.Qty) > left {
		return OrderItem{}, fmt.Errorf("%q: %d left in practice, %d asked: %w", p.Name, left, it.Qty, ErrOutOfStock)
	}
	return OrderItem{ProductID: p.ID, Name: p.Name, UnitPriceWon: p.PriceWon, Qty: it.Qty}, nil
}

// PracticeOfBroadcast returns the session whose practice broadcast is
// broadcastID, or an error wrapping ErrNotFound.
func (s *Store) PracticeOfBroadcast(ctx context.Context, broadcastID int64) (PracticeSession, error) {
	p, err := scanPractice(s.rdb.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+practiceColumns+practiceFrom+` WHERE p.broadcast_id = ?`), broadcastID))
	if errors.Is(err, sql.ErrNoRows) {
		return PracticeSession{}, fmt.Errorf("practice of broadcast %d: %w", broadcastID, ErrNotFound)
	}
	if err != nil {
		return PracticeSession{}, fmt.Errorf("practice of broadcast %d: %w", broadcastID, err)
	}
	return p, nil
}
