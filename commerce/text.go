package commerce

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on text people type. Lengths count characters (runes), so that a
// Korean text gets as many characters as an English one.
const (
	maxNicknameLen    = 20
	maxChatLen        = 300
	maxProductNameLen = 80
	maxDescriptionLen = 2000
	maxTitleLen       = 80 // broadcast titles
	maxCouponTitleLen = 40
	maxNoticeLen      = 200
	maxBuyerNameLen   = 40
	maxNoteLen        = 200
	maxPhotoKeyLen    = 200
)

// cleanText returns s trimmed of surrounding white space, or an error
// wrapping ErrInvalid, naming field, if it is not valid UTF-8, longer than
// maxRunes characters, empty while required, or holds control characters
// (line breaks are allowed if multiline) or the invisible characters that
// reorder text (bidirectional overrides and isolates), which could make a
// message display as something else. Any script and emoji are fine.
func cleanText(field, s string, maxRunes int, required, multiline bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	s = strings.TrimSpace(s)
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	n := utf8.RuneCountInString(s)
	if n == 0 && required {
		return "", fmt.Errorf("%w: %s must not be empty", ErrInvalid, field)
	}
	if n > maxRunes {
		return "", fmt.Errorf("%w: %s must be at most %d characters, not %d", ErrInvalid, field, maxRunes, n)
	}
	for _, r := range s {
		if r == '\n' && multiline {
			continue
		}
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%w: %s must not contain control characters or line breaks", ErrInvalid, field)
		}
		if bidiControl(r) {
			return "", fmt.Errorf("%w: %s must not contain invisible direction-changing characters", ErrInvalid, field)
		}
	}
	return s, nil
}

// bidiControl reports whether r is a Unicode bidirectional embedding,
// override or isolate character, or the byte order mark.
func bidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0xFEFF
}

// cleanPhone returns a buyer's phone number trimmed, or an error wrapping
// ErrInvalid unless it is 8 to 15 digits, optionally with a leading '+'
// and with '-', ' ', '(' or ')' between them: 010-1234-5678, 02 123 4567,
// +82 10-1234-5678.
func cleanPhone(phone string) (string, error) {
	phone = strings.TrimSpace(phone)
	digits := 0
	for i, r := range phone {
		switch {
		case '0' <= r && r <= '9':
			digits++
		case r == '+' && i == 0, r == '-', r == ' ', r == '(', r == ')':
		default:
			return "", fmt.Errorf("%w: phone number %q may contain only digits, '+', '-', spaces and parentheses", ErrInvalid, phone)
		}
	}
	if digits < 8 || digits > 15 || len(phone) > 24 {
		return "", fmt.Errorf("%w: phone number %q must have 8 to 15 digits", ErrInvalid, phone)
	}
	return phone, nil
}

// cleanPhotoKey checks an object-store key for a product photo: empty (no
// photo) or up to 200 characters of a-z, A-Z, 0-9, '-', '_', '.', '/',
// with no empty, "." or ".." segment and no leading '/'.
func cleanPhotoKey(key string) (string, error) {
	if key == "" {
		return "", nil
	}
	if len(key) > maxPhotoKeyLen {
		return "", fmt.Errorf("%w: photo key must be at most %d characters", ErrInvalid, maxPhotoKeyLen)
	}
	for _, c := range []byte(key) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			return "", fmt.Errorf("%w: photo key %q may contain only letters, digits, '-', '_', '.' and '/'", ErrInvalid, key)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: photo key %q is not a clean relative path", ErrInvalid, key)
		}
	}
	return key, nil
}
