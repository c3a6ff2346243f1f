package commerce

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// What the operator's page (api_admin.go) reads from the Store: every
// channel and every tutor at once, which no merchant or tutor route needs.

// AdminChannel is a channel as the operator lists it: who looks after it
// and whether it is on air.
type AdminChannel struct {
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Live is true while a broadcast, a practice one included, is on air;
	// LivePractice tells which.
	Live         bool `json:"live"`
	LivePractice bool `json:"live_practice"`
	// Tutors are the handles of the tutors the channel is assigned to.
	Tutors []string `json:"tutors"`
}

// AdminChannels returns every channel, by slug, with its tutors.
func (s *Store) AdminChannels(ctx context.Context) ([]AdminChannel, error) {
	// At most one broadcast a channel is live (broadcasts_one_live), so the
	// join gives one row a channel.
	const q = `SELECT c.slug, c.name, c.created_at, b.practice
FROM channels c
LEFT JOIN broadcasts b ON b.channel_id = c.id AND b.ended_at IS NULL
ORDER BY c.slug`
	rows, err := s.rdb.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("admin channels: %w", err)
	}
	out := []AdminChannel{}
	for rows.Next() {
		var (
			c        AdminChannel
			practice sql.NullBool
		)
		if err := rows.Scan(&c.Slug, &c.Name, &c.CreatedAt, &practice); err != nil {
			rows.Close()
			return nil, fmt.Errorf("admin channels: %w", err)
		}
		c.CreatedAt = c.CreatedAt.UTC()
		c.Live, c.LivePractice = practice.Valid, practice.Valid && practice.Bool
		out = append(out, c)
	}
	err = rows.Err()
	rows.Close() // before the next query: SQLite's read pool may be small
	if err != nil {
		return nil, fmt.Errorf("admin channels: %w", err)
	}
	pairs, err := s.tutorChannelPairs(ctx)
	if err != nil {
		return nil, fmt.Errorf("admin channels: %w", err)
	}
	tutors := map[string][]string{}
	for _, p := range pairs {
		tutors[p.slug] = append(tutors[p.slug], p.handle)
	}
	for i := range out {
		out[i].Tutors = append([]string{}, tutors[out[i].Slug]...) // [] rather than null in JSON
	}
	return out, nil
}

// TutorSlugs returns the slugs of each tutor's channels, by tutor id, each
// list by slug. A tutor without channels has no key.
func (s *Store) TutorSlugs(ctx context.Context) (map[int64][]string, error) {
	pairs, err := s.tutorChannelPairs(ctx)
	if err != nil {
		return nil, fmt.Errorf("tutor slugs: %w", err)
	}
	out := map[int64][]string{}
	for _, p := range pairs {
		out[p.tutorID] = append(out[p.tutorID], p.slug)
	}
	return out, nil
}

// tutorChannelPair is one row of tutor_channels, by name.
type tutorChannelPair struct {
	tutorID      int64
	handle, slug string
}

// tutorChannelPairs returns every assignment, by handle then slug: one
// query for the whole list rather than one a tutor, as TutorChannels would.
func (s *Store) tutorChannelPairs(ctx context.Context) ([]tutorChannelPair, error) {
	const q = `SELECT t.id, t.handle, c.slug
FROM tutor_channels tc
JOIN tutors t ON t.id = tc.tutor_id
JOIN channels c ON c.id = tc.channel_id
ORDER BY t.handle, c.slug`
	rows, err := s.rdb.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("tutor channels: %w", err)
	}
	defer rows.Close()
	var out []tutorChannelPair
	for rows.Next() {
		var p tutorChannelPair
		if err := rows.Scan(&p.tutorID, &p.handle, &p.slug); err != nil {
			return nil, fmt.Errorf("tutor channels: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tutor channels: %w", err)
	}
	return out, nil
}

// ForgetPINAttempts forgets the wrong PINs counted against the channel, so
// that a PIN reset elsewhere (the operator's page: Admin.PINReset) is not
// met by the old PIN's lockout, as a tutor's reset is not.
func (a *API) ForgetPINAttempts(slug string) {
	a.logins.succeeded(slug)
}
