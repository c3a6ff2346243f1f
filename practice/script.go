package practice

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

//go:embed scripts/*.json
var builtin embed.FS

// Builtin returns the scripts and paces that ship with Dangol (the files
// of practice/scripts).
func Builtin() fs.FS {
	sub, err := fs.Sub(builtin, "scripts")
	if err != nil {
		panic(err) // "scripts" is a valid path: fs.Sub cannot fail
	}
	return sub
}

// Names of the built-in script and paces.
const (
	DefaultScript = "market"
	PaceCalm      = "calm"
	PaceBusy      = "busy"
	PaceRush      = "rush"
)

// Kind is a kind of chat line: when a simulated viewer says it.
type Kind string

// The kinds of lines a script has.
const (
	KindGreeting  Kind = "greeting"  // once, after joining a live room
	KindIdle      Kind = "idle"      // small talk, any time
	KindPrice     Kind = "price"     // questions while a product is pinned
	KindFreshness Kind = "freshness" //
	KindOrigin    Kind = "origin"    //
	KindPickup    Kind = "pickup"    //
	KindQuantity  Kind = "quantity"  //
	KindPinned    Kind = "pinned"    // a reaction to a product being pinned
	KindClaimed   Kind = "claimed"   // after claiming a coupon
	KindThanks    Kind = "thanks"    // after an order went through
)

// questionKinds are what a viewer asks about the pinned product.
var questionKinds = []Kind{KindPrice, KindFreshness, KindOrigin, KindPickup, KindQuantity}

var allKinds = append([]Kind{KindGreeting, KindIdle, KindPinned, KindClaimed, KindThanks}, questionKinds...)

// Limits of the server (docs/protocol.md) that a script must keep to, with
// room for a product name in a line.
const (
	maxNicknameLen  = 20
	maxBuyerNameLen = 40
	maxNoteLen      = 200
	maxLineLen      = 200 // chat allows 300; a filled-in product name may take the rest
	maxViewers      = 500
	maxChatsPerMin  = 30 // the server's sustained chat limit: one per 2 s
	maxDelayS       = 3600
)

// Script is what simulated customers say and who they are. Load scripts
// with a Library; a Script is read-only once loaded, so crowds may share it.
type Script struct {
	Name      string
	Title     string
	Nicknames []string
	Buyers    Buyers
	// Lines are chat lines by kind, with placeholders: {product} (the
	// pinned product's name), {price} (its price, "5,000원") and, in
	// thanks, {qty} (how many were ordered).
	Lines map[Kind][]string
}

// Buyers are the names, phone patterns and pickup notes orders are placed
// with. A '#' in a phone pattern is a random digit: keep the patterns to
// test numbers (010-0000-####) so no real person is called.
type Buyers struct {
	Names  []string `json:"names"`
	Phones []string `json:"phones"`
	Notes  []string `json:"notes"` // "" places an order without a note
}

// Pace is how busy a crowd is. Times are in seconds of real time; a
// Crowd's Speed scales them for tests.
type Pace struct {
	Name        string     `json:"name"`
	Title       string     `json:"title"`
	Viewers     int        `json:"viewers"`       // simulated viewers
	JoinSpreadS float64    `json:"join_spread_s"` // they join at random times within this
	ChatsPerMin float64    `json:"chats_per_min"` // per viewer, at most 30 (the server's limit)
	LikesPerMin float64    `json:"likes_per_min"` // per viewer
	Claim       Reaction   `json:"claim"`         // claiming a dropped coupon
	Order       Reaction   `json:"order"`         // ordering a pinned product
	React       Reaction   `json:"react"`         // saying a "pinned" line after a pin
	Thanks      Reaction   `json:"thanks"`        // saying a "thanks" line after an order
	UseCoupon   float64    `json:"use_coupon"`    // chance that an order uses a claimed coupon
	Quantities  []Quantity `json:"quantities"`    // how many of the product an order asks for
}

// Reaction is the chance that a viewer acts on an event, and after how
// long: uniformly between DelayS[0] and DelayS[1] seconds.
type Reaction struct {
	Chance float64    `json:"chance"`
	DelayS [2]float64 `json:"delay_s"`
}

// Quantity is an order quantity and its relative weight.
type Quantity struct {
	Qty    int     `json:"qty"`
	Weight float64 `json:"weight"`
}

// Library holds scripts and paces by name. It is safe for concurrent use.
type Library struct {
	mu      sync.Mutex // guards scripts, paces, files
	scripts map[string]*Script
	paces   map[string]*Pace
	files   map[string]string // "script:name" or "pace:name" to the file that has it
}

// NewLibrary returns an empty library.
func NewLibrary() *Library {
	return &Library{scripts: map[string]*Script{}, paces: map[string]*Pace{}, files: map[string]string{}}
}

// DefaultLibrary returns a library of the built-in scripts and paces.
func DefaultLibrary() (*Library, error) {
	l := NewLibrary()
	if err := l.Load(Builtin(), "scripts"); err != nil {
		return nil, err
	}
	return l, nil
}

// Load adds every *.json file at the top of fsys: each is a script
// ({"type":"script",...}) or a list of paces ({"type":"paces",...}).
// label (e.g. the directory) prefixes file names in errors. A name already
// in the library is an error, not an override, so that a tutor's file
// cannot silently change a built-in one. On error nothing is added.
func (l *Library) Load(fsys fs.FS, label string) error {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return fmt.Errorf("load practice scripts from %s: %w", label, err)
	}
	slices.Sort(names)
	var (
		scripts []*Script
		paces   []*Pace
		files   = map[string]string{}
	)
	l.mu.Lock()
	defer l.mu.Unlock()
	claim := func(key, file, field string) error {
		if other, ok := l.files[key]; ok {
			return &FileError{File: file, Field: field, Msg: fmt.Sprintf("%q is already defined in %s", key[strings.IndexByte(key, ':')+1:], other)}
		}
		if other, ok := files[key]; ok {
			return &FileError{File: file, Field: field, Msg: fmt.Sprintf("%q is already defined in %s", key[strings.IndexByte(key, ':')+1:], other)}
		}
		files[key] = file
		return nil
	}
	for _, name := range names {
		file := path.Join(label, name)
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("load practice scripts: %w", err)
		}
		s, ps, err := parseFile(file, b)
		if err != nil {
			return err
		}
		if s != nil {
			if err := claim("script:"+s.Name, file, "name"); err != nil {
				return err
			}
			scripts = append(scripts, s)
		}
		for i, p := range ps {
			if err := claim("pace:"+p.Name, file, fmt.Sprintf("paces[%d].name", i)); err != nil {
				return err
			}
			paces = append(paces, p)
		}
	}
	for _, s := range scripts {
		l.scripts[s.Name] = s
	}
	for _, p := range paces {
		l.paces[p.Name] = p
	}
	for k, v := range files {
		l.files[k] = v
	}
	return nil
}

// Script returns the script called name, or an error wrapping ErrNotFound.
func (l *Library) Script(name string) (*Script, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.scripts[name]
	if !ok {
		return nil, fmt.Errorf("practice script %q: %w", name, ErrNotFound)
	}
	return s, nil
}

// Pace returns a copy of the pace called name, or an error wrapping
// ErrNotFound. The copy may be changed (e.g. fewer viewers) without
// changing the library's.
func (l *Library) Pace(name string) (Pace, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.paces[name]
	if !ok {
		return Pace{}, fmt.Errorf("practice pace %q: %w", name, ErrNotFound)
	}
	c := *p
	c.Quantities = slices.Clone(p.Quantities)
	return c, nil
}

// ScriptNames and PaceNames list the library's names, sorted, for a
// tutor's menu.
func (l *Library) ScriptNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sortedKeys(l.scripts)
}

// PaceNames lists the library's pace names, sorted.
func (l *Library) PaceNames() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sortedKeys(l.paces)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// scriptFile and pacesFile are the files as written.
type scriptFile struct {
	Type      string            `json:"type"`
	Name      string            `json:"name"`
	Title     string            `json:"title"`
	Nicknames []string          `json:"nicknames"`
	Buyers    Buyers            `json:"buyers"`
	Lines     map[Kind][]string `json:"lines"`
}

type pacesFile struct {
	Type  string `json:"type"`
	Paces []Pace `json:"paces"`
}

// parseFile decodes and checks one file: a script or paces.
func parseFile(file string, b []byte) (*Script, []*Pace, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, nil, decodeError(file, b, err)
	}
	switch head.Type {
	case "script":
		var f scriptFile
		if err := decodeStrict(file, b, &f); err != nil {
			return nil, nil, err
		}
		s, err := f.check(file)
		return s, nil, err
	case "paces":
		var f pacesFile
		if err := decodeStrict(file, b, &f); err != nil {
			return nil, nil, err
		}
		if len(f.Paces) == 0 {
			return nil, nil, &FileError{File: file, Field: "paces", Msg: "no paces"}
		}
		ps := make([]*Pace, len(f.Paces))
		for i := range f.Paces {
			if err := f.Paces[i].check(file, fmt.Sprintf("paces[%d]", i)); err != nil {
				return nil, nil, err
			}
			ps[i] = &f.Paces[i]
		}
		return nil, ps, nil
	case "":
		return nil, nil, &FileError{File: file, Field: "type", Msg: `missing: want "script" or "paces"`}
	default:
		return nil, nil, &FileError{File: file, Field: "type", Msg: fmt.Sprintf(`%q: want "script" or "paces"`, head.Type)}
	}
}

// decodeStrict decodes b into v refusing unknown fields, so that a typo in
// a field name is an error rather than a silently missing pool.
func decodeStrict(file string, b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(file, b, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FileError{File: file, Msg: "more than one JSON value"}
	}
	return nil
}

// decodeError turns a JSON decoding error into a FileError naming the line
// or the field.
func decodeError(file string, b []byte, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		line, col := position(b, syn.Offset)
		return &FileError{File: file, Msg: fmt.Sprintf("line %d, column %d: %v", line, col, syn)}
	case errors.As(err, &typ):
		return &FileError{File: file, Field: typ.Field, Msg: fmt.Sprintf("want %s, not %s", typeName(typ), typ.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &FileError{File: file, Msg: "unexpected end of file"}
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &FileError{File: file, Field: strings.Trim(field, `"`), Msg: "unknown field"}
	}
	return &FileError{File: file, Msg: err.Error()}
}

func typeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind().String() {
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "an object"
	case "string":
		return "a string"
	case "int", "int64", "float64":
		return "a number"
	}
	return e.Type.String()
}

// position returns the 1-based line and column of byte offset off in b.
func position(b []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

// placeholder matches a {placeholder} in a line.
var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// check validates a script file and returns the Script.
func (f *scriptFile) check(file string) (*Script, error) {
	bad := func(field, format string, args ...any) error {
		return &FileError{File: file, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(f.Name) == "" {
		return nil, bad("name", "missing")
	}
	if err := checkPool(file, "nicknames", f.Nicknames, 1, maxNicknameLen, false); err != nil {
		return nil, err
	}
	if i, j, ok := duplicate(f.Nicknames); ok {
		return nil, bad(fmt.Sprintf("nicknames[%d]", j), "%q is also nicknames[%d]", f.Nicknames[j], i)
	}
	if err := checkPool(file, "buyers.names", f.Buyers.Names, 1, maxBuyerNameLen, false); err != nil {
		return nil, err
	}
	if err := checkPool(file, "buyers.notes", f.Buyers.Notes, 0, maxNoteLen, true); err != nil {
		return nil, err
	}
	if len(f.Buyers.Phones) == 0 {
		return nil, bad("buyers.phones", "empty: want at least one pattern such as 010-0000-####")
	}
	for i, p := range f.Buyers.Phones {
		if err := checkPhone(p); err != nil {
			return nil, bad(fmt.Sprintf("buyers.phones[%d]", i), "%q: %v", p, err)
		}
	}
	for kind, lines := range f.Lines {
		if !slices.Contains(allKinds, kind) {
			return nil, bad("lines."+string(kind), "unknown kind: want one of %v", allKinds)
		}
		field := "lines." + string(kind)
		if err := checkPool(file, field, lines, 0, maxLineLen, false); err != nil {
			return nil, err
		}
		for i, line := range lines {
			for _, ph := range placeholder.FindAllString(line, -1) {
				ok := ph == "{product}" || ph == "{price}" || (ph == "{qty}" && kind == KindThanks)
				if !ok {
					return nil, bad(fmt.Sprintf("%s[%d]", field, i), "unknown placeholder %s: want {product} or {price} (and {qty} in thanks)", ph)
				}
			}
		}
	}
	for _, kind := range []Kind{KindGreeting, KindPinned, KindThanks} {
		if len(f.Lines[kind]) == 0 {
			return nil, bad("lines."+string(kind), "missing: a script needs greeting, pinned and thanks lines")
		}
	}
	if !slices.ContainsFunc(f.Lines[KindGreeting], func(l string) bool { return !needsProduct(l) }) {
		return nil, bad("lines.greeting", "every line uses {product} or {price}: at least one must not, for a room with nothing pinned")
	}
	if !slices.ContainsFunc(questionKinds, func(k Kind) bool { return len(f.Lines[k]) > 0 }) {
		return nil, bad("lines", "no questions: want lines of at least one of %v", questionKinds)
	}
	return &Script{Name: f.Name, Title: f.Title, Nicknames: f.Nicknames, Buyers: f.Buyers, Lines: f.Lines}, nil
}

// checkPool checks a list of strings: at least minLen of them, each one
// line of at most maxRunes characters, blank only if blankOK.
func checkPool(file, field string, pool []string, minLen, maxRunes int, blankOK bool) error {
	if len(pool) < minLen {
		return &FileError{File: file, Field: field, Msg: fmt.Sprintf("want at least %d entries, have %d", minLen, len(pool))}
	}
	for i, s := range pool {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !blankOK && strings.TrimSpace(s) == "":
			return &FileError{File: file, Field: f, Msg: "blank"}
		case utf8.RuneCountInString(s) > maxRunes:
			return &FileError{File: file, Field: f, Msg: fmt.Sprintf("longer than %d characters", maxRunes)}
		case strings.ContainsAny(s, "\r\n"):
			return &FileError{File: file, Field: f, Msg: "more than one line"}
		}
	}
	return nil
}

func duplicate(pool []string) (int, int, bool) {
	seen := map[string]int{}
	for j, s := range pool {
		if i, ok := seen[s]; ok {
			return i, j, true
		}
		seen[s] = j
	}
	return 0, 0, false
}

// checkPhone accepts what the server accepts (8 to 15 digits, '-', spaces)
// with '#' counted as a digit.
func checkPhone(p string) error {
	digits := 0
	for _, r := range p {
		switch {
		case r >= '0' && r <= '9', r == '#':
			digits++
		case r == '-' || r == ' ':
		default:
			return fmt.Errorf("only digits, '#', '-' and spaces")
		}
	}
	if digits < 8 || digits > 15 {
		return fmt.Errorf("want 8 to 15 digits, have %d", digits)
	}
	return nil
}

// check validates a pace; field is its path in the file.
func (p *Pace) check(file, field string) error {
	bad := func(f, format string, args ...any) error {
		return &FileError{File: file, Field: field + "." + f, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.TrimSpace(p.Name) == "":
		return bad("name", "missing")
	case p.Viewers < 1 || p.Viewers > maxViewers:
		return bad("viewers", "%d: want 1 to %d", p.Viewers, maxViewers)
	case p.JoinSpreadS < 0 || p.JoinSpreadS > maxDelayS:
		return bad("join_spread_s", "%g: want 0 to %d", p.JoinSpreadS, maxDelayS)
	case p.ChatsPerMin < 0 || p.ChatsPerMin > maxChatsPerMin:
		return bad("chats_per_min", "%g: want 0 to %d (the room allows 5 messages per 10 s)", p.ChatsPerMin, maxChatsPerMin)
	case p.LikesPerMin < 0 || p.LikesPerMin > 600:
		return bad("likes_per_min", "%g: want 0 to 600", p.LikesPerMin)
	case p.UseCoupon < 0 || p.UseCoupon > 1:
		return bad("use_coupon", "%g: want a chance from 0 to 1", p.UseCoupon)
	case len(p.Quantities) == 0:
		return bad("quantities", "empty: want at least one {\"qty\":1,\"weight\":1}")
	}
	for _, nr := range []struct {
		name string
		r    Reaction
	}{{"claim", p.Claim}, {"order", p.Order}, {"react", p.React}, {"thanks", p.Thanks}} {
		name, r := nr.name, nr.r
		switch {
		case r.Chance < 0 || r.Chance > 1:
			return bad(name+".chance", "%g: want a chance from 0 to 1", r.Chance)
		case r.DelayS[0] < 0 || r.DelayS[1] < r.DelayS[0] || r.DelayS[1] > maxDelayS:
			return bad(name+".delay_s", "%v: want [min, max] seconds, 0 <= min <= max <= %d", r.DelayS, maxDelayS)
		}
	}
	for i, q := range p.Quantities {
		if q.Qty < 1 || q.Qty > 999 {
			return bad(fmt.Sprintf("quantities[%d].qty", i), "%d: want 1 to 999", q.Qty)
		}
		if q.Weight <= 0 {
			return bad(fmt.Sprintf("quantities[%d].weight", i), "%g: want more than 0", q.Weight)
		}
	}
	return nil
}

// needsProduct reports whether a line can only be said with a product.
func needsProduct(line string) bool {
	return strings.Contains(line, "{product}") || strings.Contains(line, "{price}")
}

// lineVars fill a line's placeholders; a zero product means none pinned.
type lineVars struct {
	product string
	price   int64
	qty     int
}

// Line returns a random line of kind filled in with vars, or false if the
// script has none that fits (e.g. all need a product and none is pinned).
func (s *Script) line(kind Kind, rng *rand.Rand, v lineVars) (string, bool) {
	pool := s.Lines[kind]
	usable := make([]string, 0, len(pool))
	for _, l := range pool {
		if v.product == "" && needsProduct(l) {
			continue
		}
		usable = append(usable, l)
	}
	if len(usable) == 0 {
		return "", false
	}
	l := usable[rng.IntN(len(usable))]
	r := strings.NewReplacer("{product}", v.product, "{price}", formatWon(v.price), "{qty}", strconv.Itoa(v.qty))
	return r.Replace(l), true
}

// formatWon writes a price as a Korean customer says it: 5,000원.
func formatWon(won int64) string {
	s := strconv.FormatInt(won, 10)
	var b strings.Builder
	if won < 0 {
		b.WriteByte('-')
		s = s[1:]
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	b.WriteString("원")
	return b.String()
}

// nicknames returns n nicknames for a crowd, the same for the same seed:
// the script's pool shuffled, with " 2", " 3"... once it runs out.
func (s *Script) nicknames(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x6e69636b6e616d65)) // a stream of its own: "nickname"
	perm := rng.Perm(len(s.Nicknames))
	out := make([]string, n)
	for i := range out {
		name := s.Nicknames[perm[i%len(perm)]]
		if round := i / len(perm); round > 0 {
			suffix := " " + strconv.Itoa(round+1)
			name = truncate(name, maxNicknameLen-len(suffix)) + suffix
		}
		out[i] = name
	}
	return out
}

func truncate(s string, runes int) string {
	if utf8.RuneCountInString(s) <= runes {
		return s
	}
	return string([]rune(s)[:runes])
}

// pick returns a random element of pool, "" if it is empty.
func pick(rng *rand.Rand, pool []string) string {
	if len(pool) == 0 {
		return ""
	}
	return pool[rng.IntN(len(pool))]
}

// phone fills a pattern's '#' with random digits.
func phone(rng *rand.Rand, pattern string) string {
	b := []byte(pattern)
	for i, c := range b {
		if c == '#' {
			b[i] = byte('0' + rng.IntN(10))
		}
	}
	return string(b)
}

// quantity picks an order quantity by weight.
func (p *Pace) quantity(rng *rand.Rand) int {
	var total float64
	for _, q := range p.Quantities {
		total += q.Weight
	}
	x := rng.Float64() * total
	for _, q := range p.Quantities {
		if x < q.Weight {
			return q.Qty
		}
		x -= q.Weight
	}
	return p.Quantities[len(p.Quantities)-1].Qty
}

// roll reports whether the viewer acts, and after how many seconds.
func (r Reaction) roll(rng *rand.Rand) (bool, float64) {
	if rng.Float64() >= r.Chance {
		return false, 0
	}
	return true, r.DelayS[0] + rng.Float64()*(r.DelayS[1]-r.DelayS[0])
}
