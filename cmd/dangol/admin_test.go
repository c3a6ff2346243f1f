package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/stream"
	"github.com/dangol/dangol/web"
)

// runCommand runs the binary's run with args and env and returns what it printed.
// Every caller passes a positional command, so run never falls through to serve; the
// timeout only bounds a hang.
func runCommand(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err = run(ctx, args, envMap(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

// addedChannel is what `channel add` printed.
type addedChannel struct {
	key, channelURL, studioURL, token, pin string
}

// wantCommandError runs the command args on data folder dir and checks that it fails with an
// error wrapping is (when not nil) and mentioning wantErr, printing nothing.
func wantCommandError(t *testing.T, dir string, args []string, is error, wantErr string) {
	t.Helper()
	out, _, err := runCommand(t, nil, append([]string{"--data", dir}, args...)...)
	if err == nil {
		t.Fatalf("succeeded, printing %q", out)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("err = %v, want one wrapping %v", err, is)
	}
	if !strings.Contains(err.Error(), wantErr) {
		t.Errorf("err = %v, want one mentioning %q", err, wantErr)
	}
	if out != "" {
		t.Errorf("printed %q on failure", out)
	}
}

// addChannel adds the channel slug named name to the data folder dir with `channel add`, and
// returns what it printed.
func addChannel(t *testing.T, dir, slug, name string) addedChannel {
	t.Helper()
	out, _, err := runCommand(t, nil, "--data", dir, "channel", "add", slug, "--name", name)
	if err != nil {
		t.Fatalf("channel add: %v", err)
	}
	return parseAdd(t, out)
}

// parseAdd checks that out is exactly the four lines of `channel add` and returns them.
func parseAdd(t *testing.T, out string) addedChannel {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), out)
	}
	var a addedChannel
	var ok bool
	if a.key, ok = strings.CutPrefix(lines[0], "stream key: "); !ok {
		t.Fatalf("line 1 = %q, want \"stream key: ...\"", lines[0])
	}
	if a.channelURL, ok = strings.CutPrefix(lines[1], "channel: "); !ok {
		t.Fatalf("line 2 = %q, want \"channel: ...\"", lines[1])
	}
	if a.studioURL, ok = strings.CutPrefix(lines[2], "studio: "); !ok {
		t.Fatalf("line 3 = %q, want \"studio: ...\"", lines[2])
	}
	if a.pin, ok = strings.CutPrefix(lines[3], "PIN: "); !ok || !isPIN(a.pin) {
		t.Fatalf("line 4 = %q, want \"PIN: \" and six digits", lines[3])
	}
	_, a.token, _ = strings.Cut(a.studioURL, "#t=")
	if a.key == "" || a.token == "" {
		t.Fatalf("empty key %q or token %q:\n%s", a.key, a.token, out)
	}
	if a.key == a.token {
		t.Fatalf("stream key and studio token are the same: %q", a.key)
	}
	return a
}

func isPIN(s string) bool {
	if len(s) != commerce.PINLen {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// openTestStore opens the store run used in dir, after run has returned.
func openTestStore(t *testing.T, dir string) *commerce.Store {
	t.Helper()
	store, err := commerce.OpenSQLite(context.Background(), filepath.Join(dir, "dangol.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func TestChannelAdd(t *testing.T) {
	const (
		slug = "veggie-kim"
		name = "순이네 반찬"
	)
	tests := []struct {
		name     string
		args     func(dir string) []string
		env      func(dir string) map[string]string
		wantName string
		base     string
	}{
		{
			name: "flags first",
			args: func(dir string) []string {
				return []string{"--data", dir, "--public-url", "https://market.example", "channel", "add", slug, "--name", name}
			},
			wantName: name, base: "https://market.example",
		},
		{
			name: "flags after positionals",
			args: func(dir string) []string {
				return []string{"channel", "add", slug, "--name", name, "--data", dir, "--public-url", "https://market.example"}
			},
			wantName: name, base: "https://market.example",
		},
		{
			name: "flags between positionals",
			args: func(dir string) []string {
				return []string{"channel", "--data=" + dir, "add", "--public-url=https://market.example", slug, "-name=" + name}
			},
			wantName: name, base: "https://market.example",
		},
		{
			name: "settings from env",
			args: func(string) []string { return []string{"channel", "add", slug, "--name", name} },
			env: func(dir string) map[string]string {
				return map[string]string{"DANGOL_DATA": dir, "DANGOL_PUBLIC_URL": "https://market.example/"}
			},
			wantName: name, base: "https://market.example",
		},
		{
			name: "public url trailing slash trimmed",
			args: func(dir string) []string {
				return []string{"--data", dir, "--public-url", "https://market.example/", "channel", "add", slug, "--name", name}
			},
			wantName: name, base: "https://market.example",
		},
		{
			name: "public url from addr",
			args: func(dir string) []string {
				return []string{"--data", dir, "--addr", "127.0.0.1:9090", "channel", "add", slug, "--name", name}
			},
			wantName: name, base: "http://localhost:9090",
		},
		{
			name: "name defaults to slug",
			args: func(dir string) []string {
				return []string{"--data", dir, "--public-url", "https://market.example", "channel", "add", slug}
			},
			wantName: slug, base: "https://market.example",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var env map[string]string
			if tt.env != nil {
				env = tt.env(dir)
			}
			out, _, err := runCommand(t, env, tt.args(dir)...)
			if err != nil {
				t.Fatalf("channel add: %v", err)
			}
			a := parseAdd(t, out)
			if want := tt.base + "/c/" + slug; a.channelURL != want {
				t.Errorf("channel URL = %q, want %q", a.channelURL, want)
			}
			if want := tt.base + "/studio?c=" + slug + "#t=" + a.token; a.studioURL != want {
				t.Errorf("studio URL = %q, want %q", a.studioURL, want)
			}

			store := openTestStore(t, dir)
			ctx := context.Background()
			ch, err := store.Channel(ctx, slug)
			if err != nil {
				t.Fatalf("channel not stored: %v", err)
			}
			if ch.Name != tt.wantName {
				t.Errorf("stored name = %q, want %q", ch.Name, tt.wantName)
			}
			auth := channelAuth{store}
			for what, secret := range map[string]string{"stream key": a.key, "studio token": a.token} {
				if err := auth.AuthorizePublisher(ctx, slug, secret); err != nil {
					t.Errorf("printed %s does not authorize: %v", what, err)
				}
			}
		})
	}
}

func TestChannelAddTwiceGivesNewSecrets(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data", dir, "--public-url", "https://market.example", "channel", "add"}
	out1, _, err := runCommand(t, nil, append(base, "stall-one")...)
	if err != nil {
		t.Fatal(err)
	}
	out2, _, err := runCommand(t, nil, append(base, "stall-two")...)
	if err != nil {
		t.Fatal(err)
	}
	a, b := parseAdd(t, out1), parseAdd(t, out2)
	if a.key == b.key || a.token == b.token || a.key == b.token || a.token == b.key {
		t.Errorf("two channels share a secret: %+v %+v", a, b)
	}
}

func TestChannelCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   []string // `channel add` arguments run first, when set
		args    []string // after --data <dir>
		is      error    // errors.Is target, when set
		wantErr string   // substring of the error
	}{
		{name: "add existing slug", setup: []string{"channel", "add", "veggie-kim"},
			args: []string{"channel", "add", "veggie-kim", "--name", "Other"}, is: commerce.ErrExists, wantErr: "exists"},
		{name: "add uppercase slug", args: []string{"channel", "add", "Veggie-Kim"}, is: commerce.ErrInvalid, wantErr: "slug"},
		{name: "add slug with underscore", args: []string{"channel", "add", "veggie_kim"}, is: commerce.ErrInvalid, wantErr: "slug"},
		{name: "add short slug", args: []string{"channel", "add", "ab"}, is: commerce.ErrInvalid, wantErr: "slug"},
		{name: "add reserved slug", args: []string{"channel", "add", "studio"}, is: commerce.ErrInvalid, wantErr: "reserved"},
		{name: "add name with newline", args: []string{"channel", "add", "veggie-kim", "--name", "a\nstream key: x"},
			is: commerce.ErrInvalid, wantErr: "name"},
		{name: "add without slug", args: []string{"channel", "add"}, wantErr: "channel add <slug>"},
		{name: "add two slugs", args: []string{"channel", "add", "one-stall", "two-stall"}, wantErr: "channel add <slug>"},
		{name: "bare channel", args: []string{"channel"}, wantErr: "channel add <slug>"},
		{name: "unknown channel command", args: []string{"channel", "remove", "veggie-kim"}, wantErr: `unknown command "remove"`},
		{name: "reset-key unknown channel", args: []string{"channel", "reset-key", "nobody-here"}, is: commerce.ErrNotFound, wantErr: "nobody-here"},
		{name: "unknown command", args: []string{"frobnicate"}, wantErr: `unknown command "frobnicate"`},
		{name: "help", args: []string{"-h"}, is: flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.setup != nil {
				if _, _, err := runCommand(t, nil, append([]string{"--data", dir}, tt.setup...)...); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			wantCommandError(t, dir, tt.args, tt.is, tt.wantErr)
		})
	}
}

func TestUsageOnStderr(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"frobnicate"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, _ := runCommand(t, nil, append([]string{"--data", t.TempDir()}, args...)...)
			if out != "" {
				t.Errorf("usage went to stdout: %q", out)
			}
			if !strings.Contains(errOut, "usage: dangol") || !strings.Contains(errOut, "-udp-port") {
				t.Errorf("stderr lacks usage and flags:\n%s", errOut)
			}
		})
	}
}

func TestChannelResetKey(t *testing.T) {
	dir := t.TempDir()
	const slug, other = "veggie-kim", "fish-park"
	data := []string{"--data", dir, "--public-url", "https://market.example"}
	out, _, err := runCommand(t, nil, append(data, "channel", "add", slug, "--name", "Veggie Kim")...)
	if err != nil {
		t.Fatalf("channel add: %v", err)
	}
	first := parseAdd(t, out)
	out, _, err = runCommand(t, nil, append(data, "channel", "add", other)...)
	if err != nil {
		t.Fatalf("channel add %s: %v", other, err)
	}
	otherCh := parseAdd(t, out)

	// Flags after the positionals, as people type them.
	out, _, err = runCommand(t, nil, "channel", "reset-key", slug, "--data", dir)
	if err != nil {
		t.Fatalf("channel reset-key: %v", err)
	}
	newKey, ok := strings.CutPrefix(out, "stream key: ")
	if !ok || !strings.HasSuffix(newKey, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("reset-key printed %q, want one \"stream key: ...\" line", out)
	}
	newKey = strings.TrimSuffix(newKey, "\n")
	if newKey == "" || newKey == first.key || newKey == first.token {
		t.Fatalf("new key %q is empty or reuses a secret (old key %q, token %q)", newKey, first.key, first.token)
	}

	store := openTestStore(t, dir)
	auth := channelAuth{store}
	ctx := context.Background()
	tests := []struct {
		name        string
		slug, token string
		want        error // nil: authorized
	}{
		{"new key", slug, newKey, nil},
		{"studio token survives reset", slug, first.token, nil},
		{"old key refused", slug, first.key, stream.ErrUnauthorized},
		{"no token", slug, "", stream.ErrUnauthorized},
		{"garbage token", slug, "not-a-key", stream.ErrUnauthorized},
		{"key is per channel", other, newKey, stream.ErrUnauthorized},
		{"token is per channel", other, first.token, stream.ErrUnauthorized},
		{"other channel untouched", other, otherCh.key, nil},
		{"unknown channel with key", "nobody-here", newKey, stream.ErrUnknownChannel},
		{"unknown channel without key", "nobody-here", "", stream.ErrUnknownChannel},
		{"invalid slug", "Not A Slug", newKey, stream.ErrUnknownChannel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.AuthorizePublisher(ctx, tt.slug, tt.token)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("AuthorizePublisher(%q) = %v, want nil", tt.slug, err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("AuthorizePublisher(%q) = %v, want %v", tt.slug, err, tt.want)
			}
		})
	}

	t.Run("channel exists", func(t *testing.T) {
		if err := auth.ChannelExists(ctx, slug); err != nil {
			t.Errorf("ChannelExists(%q) = %v", slug, err)
		}
		if err := auth.ChannelExists(ctx, "nobody-here"); !errors.Is(err, stream.ErrUnknownChannel) {
			t.Errorf("ChannelExists(unknown) = %v, want %v", err, stream.ErrUnknownChannel)
		}
	})
}

func TestMapStoreErr(t *testing.T) {
	other := errors.New("disk on fire")
	tests := []struct {
		name string
		in   error
		want error
	}{
		{"nil", nil, nil},
		{"not found", commerce.ErrNotFound, stream.ErrUnknownChannel},
		{"wrapped not found", errors.Join(errors.New("get channel"), commerce.ErrNotFound), stream.ErrUnknownChannel},
		{"invalid", commerce.ErrInvalid, stream.ErrUnknownChannel},
		{"bad key", commerce.ErrBadKey, stream.ErrUnauthorized},
		{"other passes through", other, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapStoreErr(tt.in)
			if tt.want == nil {
				if got != nil {
					t.Errorf("mapStoreErr(nil) = %v", got)
				}
				return
			}
			if !errors.Is(got, tt.want) {
				t.Errorf("mapStoreErr(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestChannelPIN(t *testing.T) {
	dir := t.TempDir()
	data := []string{"--data", dir, "--public-url", "https://market.example"}
	out, _, err := runCommand(t, nil, append(data, "channel", "add", "veggie-kim")...)
	if err != nil {
		t.Fatalf("channel add: %v", err)
	}
	first := parseAdd(t, out)
	out, _, err = runCommand(t, nil, append(data, "channel", "add", "fish-park")...)
	if err != nil {
		t.Fatalf("channel add: %v", err)
	}
	other := parseAdd(t, out)

	out, _, err = runCommand(t, nil, "channel", "pin", "veggie-kim", "--data", dir)
	if err != nil {
		t.Fatalf("channel pin: %v", err)
	}
	newPIN, ok := strings.CutPrefix(strings.TrimSuffix(out, "\n"), "PIN: ")
	if !ok || !isPIN(newPIN) || strings.Count(out, "\n") != 1 {
		t.Fatalf("channel pin printed %q, want one \"PIN: ......\" line", out)
	}
	if _, _, err := runCommand(t, nil, "--data", dir, "channel", "pin", "nobody-here"); !errors.Is(err, commerce.ErrNotFound) {
		t.Errorf("pin for unknown channel: %v", err)
	}

	store := openTestStore(t, dir)
	ctx := context.Background()
	tests := []struct {
		name, slug, pin string
		ok              bool
	}{
		{"new PIN", "veggie-kim", newPIN, true},
		{"old PIN", "veggie-kim", first.pin, first.pin == newPIN},
		{"other channel's PIN untouched", "fish-park", other.pin, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.CheckPIN(ctx, tt.slug, tt.pin)
			if tt.ok != (err == nil) {
				t.Errorf("CheckPIN(%q, %q) = %v, want ok %v", tt.slug, tt.pin, err, tt.ok)
			}
		})
	}
	// The studio link printed at creation still works.
	if err := (channelAuth{store}).AuthorizePublisher(ctx, "veggie-kim", first.token); err != nil {
		t.Errorf("studio token after pin: %v", err)
	}
}

func TestChannelPageLookup(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCommand(t, nil, "--data", dir, "channel", "add", "veggie-kim", "--name", "순이네 반찬"); err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t, dir)
	market := "망원시장"
	if _, err := store.UpdateChannel(context.Background(), "veggie-kim", commerce.ChannelPatch{Market: &market}); err != nil {
		t.Fatal(err)
	}
	lookup := pageChannel(store)
	ch, err := lookup(context.Background(), "veggie-kim")
	if err != nil || ch.Name != "순이네 반찬" || ch.Market != market || ch.Slug != "veggie-kim" {
		t.Errorf("lookup = %+v, %v", ch, err)
	}
	if _, err := lookup(context.Background(), "nobody-here"); !errors.Is(err, web.ErrNotFound) {
		t.Errorf("unknown channel: %v, want web.ErrNotFound", err)
	}
}

// addedTutor is what `tutor add` printed.
type addedTutor struct {
	handle, link, token string
}

// parseTutorAdd checks that out is exactly the two lines of `tutor add` under base and
// returns them.
func parseTutorAdd(t *testing.T, out, base string) addedTutor {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !strings.HasSuffix(out, "\n") || len(lines) != 2 {
		t.Fatalf("want two lines ending in a newline:\n%q", out)
	}
	var a addedTutor
	rest, ok := strings.CutPrefix(lines[0], "tutor: ")
	if !ok {
		t.Fatalf("line 1 = %q, want \"tutor: ...\"", lines[0])
	}
	a.handle, _, _ = strings.Cut(rest, " ")
	if a.link, ok = strings.CutPrefix(lines[1], "login: "); !ok {
		t.Fatalf("line 2 = %q, want \"login: ...\"", lines[1])
	}
	if a.token, ok = strings.CutPrefix(a.link, base+"/tutor#t="); !ok || a.token == "" {
		t.Fatalf("login link %q, want %s/tutor#t=<token>", a.link, base)
	}
	return a
}

func TestTutorAdd(t *testing.T) {
	const base = "https://market.example"
	tests := []struct {
		name       string
		args       []string // after `tutor add`
		wantHandle string
		wantName   string
		wantPhone  string
	}{
		{name: "derived handle", args: []string{"Jiwoo Park", "--phone", "010-1234-5678"},
			wantHandle: "jiwoo-park", wantName: "Jiwoo Park", wantPhone: "010-1234-5678"},
		{name: "handle flag", args: []string{"--handle", "minji", "김민지"}, wantHandle: "minji", wantName: "김민지"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out, _, err := runCommand(t, nil, append([]string{"--data", dir, "--public-url", base, "tutor", "add"}, tt.args...)...)
			if err != nil {
				t.Fatalf("tutor add: %v", err)
			}
			a := parseTutorAdd(t, out, base)
			if a.handle != tt.wantHandle {
				t.Errorf("handle %q, want %q", a.handle, tt.wantHandle)
			}
			store := openTestStore(t, dir)
			tu, err := store.CheckTutorToken(context.Background(), a.token)
			if err != nil {
				t.Fatalf("the printed token does not log in: %v", err)
			}
			if tu.Handle != tt.wantHandle || tu.Name != tt.wantName || tu.Phone != tt.wantPhone {
				t.Errorf("stored tutor %+v", tu)
			}
		})
	}
}

func TestTutorCommandErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   [][]string // commands run first, after --data <dir>
		args    []string   // after --data <dir>
		is      error      // errors.Is target, when set
		wantErr string     // substring of the error
	}{
		{name: "hangul name without handle", args: []string{"tutor", "add", "박지우"}, is: commerce.ErrInvalid, wantErr: "handle"},
		{name: "bad handle", args: []string{"tutor", "add", "박지우", "--handle", "Ji_Woo"}, is: commerce.ErrInvalid, wantErr: "handle"},
		{name: "bad phone", args: []string{"tutor", "add", "Jiwoo", "--phone", "none"}, is: commerce.ErrInvalid, wantErr: "phone"},
		{name: "taken derived handle", setup: [][]string{{"tutor", "add", "Jiwoo"}},
			args: []string{"tutor", "add", "jiwoo"}, is: commerce.ErrExists, wantErr: "--handle"},
		{name: "add without name", args: []string{"tutor", "add"}, wantErr: "tutor add <name>"},
		{name: "bare tutor", args: []string{"tutor"}, wantErr: "tutor add <name>"},
		{name: "unknown tutor command", args: []string{"tutor", "remove", "jiwoo"}, wantErr: `unknown command "remove"`},
		{name: "link without channel", args: []string{"tutor", "link", "jiwoo"}, wantErr: "tutor link <tutor> <slug>"},
		{name: "link unknown tutor", setup: [][]string{{"channel", "add", "kim-fish"}},
			args: []string{"tutor", "link", "nobody", "kim-fish"}, is: commerce.ErrNotFound, wantErr: "nobody"},
		{name: "link unknown channel", setup: [][]string{{"tutor", "add", "Jiwoo"}},
			args: []string{"tutor", "link", "jiwoo", "nobody-here"}, is: commerce.ErrNotFound, wantErr: "nobody-here"},
		{name: "link twice", setup: [][]string{{"tutor", "add", "Jiwoo"}, {"channel", "add", "kim-fish", "--tutor", "jiwoo"}},
			args: []string{"tutor", "link", "jiwoo", "kim-fish"}, is: commerce.ErrExists, wantErr: "exists"},
		{name: "unlink not linked", setup: [][]string{{"tutor", "add", "Jiwoo"}, {"channel", "add", "kim-fish"}},
			args: []string{"tutor", "unlink", "jiwoo", "kim-fish"}, is: commerce.ErrNotFound, wantErr: "kim-fish"},
		{name: "channel add for unknown tutor", args: []string{"channel", "add", "kim-fish", "--tutor", "nobody"},
			is: commerce.ErrNotFound, wantErr: "nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, s := range tt.setup {
				if _, _, err := runCommand(t, nil, append([]string{"--data", dir}, s...)...); err != nil {
					t.Fatalf("setup %v: %v", s, err)
				}
			}
			wantCommandError(t, dir, tt.args, tt.is, tt.wantErr)
		})
	}
	t.Run("channel add for unknown tutor creates nothing", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := runCommand(t, nil, "--data", dir, "channel", "add", "kim-fish", "--tutor", "nobody"); err == nil {
			t.Fatal("succeeded")
		}
		if _, err := openTestStore(t, dir).Channel(context.Background(), "kim-fish"); !errors.Is(err, commerce.ErrNotFound) {
			t.Errorf("channel: %v, want not found", err)
		}
	})
}

func TestTutorLinkAndList(t *testing.T) {
	dir := t.TempDir()
	data := []string{"--data", dir, "--public-url", "https://market.example"}
	cmd := func(args ...string) string {
		t.Helper()
		out, _, err := runCommand(t, nil, append(data, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	parseTutorAdd(t, cmd("tutor", "add", "Jiwoo Park", "--phone", "010-1234-5678"), "https://market.example")
	cmd("tutor", "add", "김민지", "--handle", "minji")
	// channel add --tutor prints what it always does, and assigns the channel.
	parseAdd(t, cmd("channel", "add", "kim-fish", "--name", "김씨네 생선", "--tutor", "jiwoo-park"))
	parseAdd(t, cmd("channel", "add", "lee-veg", "--name", "이씨네 채소"))

	steps := []struct {
		args     []string
		wantOut  string            // substring of the output
		channels map[string]string // per handle, the CHANNELS column of `tutor list`
	}{
		{args: []string{"tutor", "list"}, channels: map[string]string{"jiwoo-park": "kim-fish", "minji": ""}},
		{args: []string{"tutor", "link", "jiwoo-park", "lee-veg"}, wantOut: "jiwoo-park now looks after lee-veg"},
		{args: []string{"tutor", "link", "2", "lee-veg"}, wantOut: "minji now looks after lee-veg"}, // by id
		{args: []string{"tutor", "list"}, channels: map[string]string{"jiwoo-park": "kim-fish,lee-veg", "minji": "lee-veg"}},
		{args: []string{"tutor", "unlink", "jiwoo-park", "kim-fish"}, wantOut: "jiwoo-park no longer looks after kim-fish"},
		{args: []string{"tutor", "list"}, channels: map[string]string{"jiwoo-park": "lee-veg", "minji": "lee-veg"}},
	}
	for _, st := range steps {
		out := cmd(st.args...)
		if !strings.Contains(out, st.wantOut) {
			t.Errorf("%v printed %q, want %q", st.args, out, st.wantOut)
		}
		if st.channels == nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("tutor list:\n%s", out)
		}
		for _, l := range lines[1:] {
			l = strings.TrimRight(l, " ")
			want := st.channels[strings.Fields(l)[1]]
			bad := want != "" && !strings.HasSuffix(l, " "+want) ||
				want == "" && (strings.Contains(l, "kim-fish") || strings.Contains(l, "lee-veg"))
			if bad {
				t.Errorf("%v: line %q, want channels %q", st.args, l, want)
			}
		}
	}
	if !strings.Contains(cmd("tutor", "list"), "010-1234-5678") {
		t.Errorf("tutor list lacks the phone")
	}
}
