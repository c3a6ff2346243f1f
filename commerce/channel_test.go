package commerce

import (
	"errors"
	"strings"
	"testing"
)

func TestValidSlug(t *testing.T) {
	tests := []struct {
		slug string
		ok   bool
	}{
		{"kim-fish", true},
		{"abc", true},
		{"a1b", true},
		{"123", true},
		{"k--m", true},
		{strings.Repeat("a", 40), true},
		{"", false},
		{"ab", false},
		{strings.Repeat("a", 41), false},
		{"Kim", false},
		{"kim_fish", false},
		{"kim.fish", false},
		{"kim fish", false},
		{"kim/fish", false},
		{"김씨네", false},
		{"kım", false}, // dotless i, two bytes
		{"-kim", false},
		{"kim-", false},
		{"---", false},
		{"api", false},
		{"static", false},
		{"studio", false},
		{"admin", false},
		{"whip", false},
		{"whep", false},
		{"ws", false},
		{"metrics", false},
	}
	for _, tt := range tests {
		err := ValidSlug(tt.slug)
		if tt.ok && err != nil {
			t.Errorf("ValidSlug(%q) = %v, want nil", tt.slug, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidSlug(%q) = %v, want ErrInvalid", tt.slug, err)
		}
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"김씨네 생선가게", "김씨네 생선가게", true},
		{"  Kim's Fish \t", "Kim's Fish", true},
		{"\u3000한글 전각 공백\u3000", "한글 전각 공백", true},
		{"🐟👨‍👩‍👧", "🐟👨‍👩‍👧", true}, // ZWJ emoji
		{strings.Repeat("가", 80), strings.Repeat("가", 80), true},
		{"", "", false},
		{"   ", "", false},
		{strings.Repeat("가", 81), "", false},
		{"tab\tinside", "", false},
		{"bell\a", "", false},
		{"bad \xff utf-8", "", false},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("cleanName(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
		}
		if !tt.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("cleanName(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := newSecret()
		if len(s) < 26 {
			t.Fatalf("secret %q is shorter than 128 bits of base32", s)
		}
		if strings.ContainsAny(s, "=+/") {
			t.Fatalf("secret %q is not URL-safe and unpadded", s)
		}
		if seen[s] {
			t.Fatalf("secret %q repeated", s)
		}
		seen[s] = true
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		d        dialect
		in, want string
	}{
		{dialectSQLite, `SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = ? AND b = ?`},
		{dialectPostgres, `SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = $1 AND b = $2`},
		{dialectPostgres, `INSERT INTO t (a, b, c) VALUES (?, ?, ?)`, `INSERT INTO t (a, b, c) VALUES ($1, $2, $3)`},
		{dialectPostgres, `SELECT '?' , ? FROM t WHERE s = 'it''s ?' AND x = ?`, `SELECT '?' , $1 FROM t WHERE s = 'it''s ?' AND x = $2`},
		{dialectPostgres, `SELECT 1`, `SELECT 1`},
	}
	for _, tt := range tests {
		if got := tt.d.rebind(tt.in); got != tt.want {
			t.Errorf("%v.rebind(%q) = %q, want %q", tt.d, tt.in, got, tt.want)
		}
	}
}
