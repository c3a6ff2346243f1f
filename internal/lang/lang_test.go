package lang

import "testing"

func TestPick(t *testing.T) {
	tests := []struct {
		accept, want string
	}{
		{"", "ko"},
		{"ko-KR", "ko"},
		{"fr", "ko"},
		{"en;q=0.3, ko", "ko"},
		{"en;q=0", "ko"},
		{"ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"},
		{"en", "en"},
		{"EN-us", "en"},
		{"en-US,en;q=0.9", "en"},
		{"ko;q=0.5, en;q=0.8", "en"},
		{"fr, en;q=0.5", "en"},
		{"ja, en-GB;q=0.6, ko;q=0.4", "en"},
	}
	for _, tt := range tests {
		if got := Pick(tt.accept); got != tt.want {
			t.Errorf("Pick(%q) = %q, want %q", tt.accept, got, tt.want)
		}
	}
}
