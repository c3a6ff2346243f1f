package practice

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
)

func TestDefaultLibrary(t *testing.T) {
	lib, err := DefaultLibrary()
	if err != nil {
		t.Fatal(err)
	}
	if got := lib.PaceNames(); !slices.Equal(got, []string{PaceBusy, PaceCalm, PaceRush}) {
		t.Fatalf("paces %v", got)
	}
	s, err := lib.Script(DefaultScript)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range allKinds {
		if len(s.Lines[kind]) == 0 {
			t.Errorf("the default script has no %s lines", kind)
		}
	}
	if _, err := lib.Script("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown script: %v", err)
	}
	rush, err := lib.Pace(PaceRush)
	if err != nil {
		t.Fatal(err)
	}
	if rush.Claim.DelayS != [2]float64{1, 3} {
		t.Errorf("rush claims after %v s, want most within 1-3 s", rush.Claim.DelayS)
	}
	rush.Quantities[0].Qty = 99 // a copy: the library's must not change
	if again, _ := lib.Pace(PaceRush); again.Quantities[0].Qty == 99 {
		t.Fatal("Pace returned the library's own quantities")
	}
}

// validScript is a small valid script file for the loader tests to break.
const validScript = `{"type":"script","name":"tiny","nicknames":["단골 이모"],
"buyers":{"names":["김영희"],"phones":["010-0000-####"],"notes":[""]},
"lines":{"greeting":["안녕하세요"],"price":["{product} 얼마예요?"],"pinned":["오 맛있겠다"],"thanks":["{qty}개 주문했어요"]}}`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, file, field, msg string
		body                   string
	}{
		{"broken JSON", "extra/bad.json", "", "line 2, column", "{\"type\":\"script\",\n \"name\": \"x\",,}"},
		{"truncated", "extra/bad.json", "", "unexpected end", `{"type":"script","name":`},
		{"no type", "extra/bad.json", "type", "missing", `{"name":"x"}`},
		{"wrong type", "extra/bad.json", "type", `"scripts"`, `{"type":"scripts"}`},
		{"unknown field", "extra/bad.json", "nickname", "unknown field", strings.Replace(validScript, `"nicknames"`, `"nickname"`, 1)},
		{"wrong field type", "extra/bad.json", "nicknames", "want a list", strings.Replace(validScript, `["단골 이모"]`, `"단골 이모"`, 1)},
		{"no name", "extra/bad.json", "name", "missing", strings.Replace(validScript, `"tiny"`, `""`, 1)},
		{"long nickname", "extra/bad.json", "nicknames[0]", "longer than 20", strings.Replace(validScript, `"단골 이모"`, `"`+strings.Repeat("가", 21)+`"`, 1)},
		{"bad phone", "extra/bad.json", "buyers.phones[0]", "digits", strings.Replace(validScript, `010-0000-####`, `010-0000-abcd`, 1)},
		{"unknown kind", "extra/bad.json", "lines.prices", "unknown kind", strings.Replace(validScript, `"price"`, `"prices"`, 1)},
		{"unknown placeholder", "extra/bad.json", "lines.price[0]", "{prodcut}", strings.Replace(validScript, `{product} 얼마`, `{prodcut} 얼마`, 1)},
		{"qty outside thanks", "extra/bad.json", "lines.pinned[0]", "{qty}", strings.Replace(validScript, `오 맛있겠다`, `{qty}개 주세요`, 1)},
		{"no thanks", "extra/bad.json", "lines.thanks", "missing", strings.Replace(validScript, `,"thanks":["{qty}개 주문했어요"]`, ``, 1)},
		{"greeting needs a product", "extra/bad.json", "lines.greeting", "at least one must not", strings.Replace(validScript, `"안녕하세요"`, `"{product} 보러 왔어요"`, 1)},
		{"duplicate name", "extra/bad.json", "name", "already defined in scripts/market.json", strings.Replace(validScript, `"tiny"`, `"market"`, 1)},
		{"pace chats over the limit", "extra/bad.json", "paces[0].chats_per_min", "want 0 to 30",
			`{"type":"paces","paces":[{"name":"x","viewers":1,"chats_per_min":40,"quantities":[{"qty":1,"weight":1}]}]}`},
		{"pace bad delay", "extra/bad.json", "paces[0].claim.delay_s", "min <= max",
			`{"type":"paces","paces":[{"name":"x","viewers":1,"claim":{"chance":1,"delay_s":[3,1]},"quantities":[{"qty":1,"weight":1}]}]}`},
		{"pace no viewers", "extra/bad.json", "paces[0].viewers", "want 1 to 500",
			`{"type":"paces","paces":[{"name":"x","quantities":[{"qty":1,"weight":1}]}]}`},
		{"pace taken", "extra/bad.json", "paces[0].name", "already defined in scripts/paces.json",
			`{"type":"paces","paces":[{"name":"busy","viewers":1,"quantities":[{"qty":1,"weight":1}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib, err := DefaultLibrary()
			if err != nil {
				t.Fatal(err)
			}
			err = lib.Load(fstest.MapFS{"bad.json": {Data: []byte(tt.body)}, "good.json": {Data: []byte(validScript)}}, "extra")
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidScript) {
				t.Fatalf("error %v (%T): want a FileError", err, err)
			}
			if fe.File != tt.file || fe.Field != tt.field || !strings.Contains(fe.Msg, tt.msg) {
				t.Fatalf("error %q: want file %q, field %q, message with %q", err, tt.file, tt.field, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), tt.file+": ") {
				t.Fatalf("error %q does not start with the file", err)
			}
			// Nothing of a failed load is added, not even its good file.
			if _, err := lib.Script("tiny"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("tiny after a failed load: %v", err)
			}
		})
	}
}

func TestLoadExtends(t *testing.T) {
	lib, err := DefaultLibrary()
	if err != nil {
		t.Fatal(err)
	}
	if err := lib.Load(fstest.MapFS{"tiny.json": {Data: []byte(validScript)}}, "extra"); err != nil {
		t.Fatal(err)
	}
	if got := lib.ScriptNames(); !slices.Equal(got, []string{"market", "tiny"}) {
		t.Fatalf("scripts %v", got)
	}
}

func TestLines(t *testing.T) {
	lib, err := DefaultLibrary()
	if err != nil {
		t.Fatal(err)
	}
	s, err := lib.Script(DefaultScript)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		kind Kind
		vars lineVars
		want string // a regexp every line must match
	}{
		{KindGreeting, lineVars{}, `^[^{}]+$`},
		{KindPrice, lineVars{product: "고등어", price: 12500}, `^[^{}]+$`},
		{KindThanks, lineVars{product: "사과", price: 5000, qty: 3}, `^[^{}]+$`},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			for range 50 {
				l, ok := s.line(tt.kind, rng, tt.vars)
				if !ok || !regexp.MustCompile(tt.want).MatchString(l) || !hasHangul(l) {
					t.Fatalf("line %q, %v", l, ok)
				}
				if tt.vars.product == "" && strings.Contains(l, "{product}") {
					t.Fatalf("line %q needs a product", l)
				}
			}
		})
	}
	for _, tt := range []struct {
		won  int64
		want string
	}{{0, "0원"}, {500, "500원"}, {5000, "5,000원"}, {1234567, "1,234,567원"}} {
		if got := formatWon(tt.won); got != tt.want {
			t.Errorf("formatWon(%d) = %q, want %q", tt.won, got, tt.want)
		}
	}
}

func TestNicknamesBySeed(t *testing.T) {
	lib, err := DefaultLibrary()
	if err != nil {
		t.Fatal(err)
	}
	s, err := lib.Script(DefaultScript)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		n          int
		seedA      uint64
		seedB      uint64
		wantEqual  bool
		wantUnique bool
	}{
		{"same seed", 30, 7, 7, true, true},
		{"other seed", 30, 7, 8, false, true},
		{"more viewers than nicknames", 120, 3, 3, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := s.nicknames(tt.n, tt.seedA), s.nicknames(tt.n, tt.seedB)
			if slices.Equal(a, b) != tt.wantEqual {
				t.Fatalf("equal %v, want %v:\n%v\n%v", slices.Equal(a, b), tt.wantEqual, a, b)
			}
			seen := map[string]bool{}
			for _, n := range a {
				if seen[n] && tt.wantUnique {
					t.Fatalf("nickname %q twice", n)
				}
				seen[n] = true
				if len([]rune(n)) > maxNicknameLen {
					t.Fatalf("nickname %q too long", n)
				}
			}
		})
	}
}

func hasHangul(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Hangul, r) })
}
