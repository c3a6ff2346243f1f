package commerce

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// storeOpener opens a new Store on one database. Calling it again opens the
// same database again, so that a test can close and reopen it. The Store is
// closed when the test ends.
type storeOpener func(t *testing.T) *Store

// testStoreContract runs the behaviour every Store backend must share.
// newDB creates a fresh, empty database for one test and returns its
// opener; a PostgreSQL backend passes one that creates a database or schema
// per test.
func testStoreContract(t *testing.T, newDB func(t *testing.T) storeOpener) {
	t.Run("create and look up", func(t *testing.T) {
		s := newDB(t)(t)
		now := time.Date(2026, 3, 1, 9, 30, 15, 123456789, time.FixedZone("KST", 9*60*60))
		s.now = func() time.Time { return now }

		ch, sec, err := s.CreateChannel(t.Context(), "kim-fish", "  김씨네 생선가게 🐟 ")
		if err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		want := Channel{ID: ch.ID, Slug: "kim-fish", Name: "김씨네 생선가게 🐟", CreatedAt: now.UTC().Truncate(time.Microsecond)}
		assertChannel(t, ch, want)
		if ch.ID <= 0 {
			t.Errorf("ID = %d, want > 0", ch.ID)
		}
		for _, secret := range []string{sec.StreamKey, sec.StudioToken} {
			if len(secret) < 22 { // 128 bits take at least 22 base64 or 26 base32 characters
				t.Errorf("secret %q is too short", secret)
			}
		}
		if sec.StreamKey == sec.StudioToken {
			t.Errorf("stream key and studio token are the same: %q", sec.StreamKey)
		}

		got, err := s.Channel(t.Context(), "kim-fish")
		if err != nil {
			t.Fatalf("Channel: %v", err)
		}
		assertChannel(t, got, want)

		got, err = s.CheckStreamKey(t.Context(), "kim-fish", sec.StreamKey)
		if err != nil {
			t.Fatalf("CheckStreamKey: %v", err)
		}
		assertChannel(t, got, want)

		got, err = s.CheckStudioToken(t.Context(), "kim-fish", sec.StudioToken)
		if err != nil {
			t.Fatalf("CheckStudioToken: %v", err)
		}
		assertChannel(t, got, want)

		other, _, err := s.CreateChannel(t.Context(), "lee-veg", "이씨네 채소")
		if err != nil {
			t.Fatalf("CreateChannel second: %v", err)
		}
		if other.ID == ch.ID {
			t.Errorf("two channels share ID %d", ch.ID)
		}
	})

	t.Run("duplicate slug", func(t *testing.T) {
		s := newDB(t)(t)
		first, sec, err := s.CreateChannel(t.Context(), "kim-fish", "김씨네")
		if err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		_, _, err = s.CreateChannel(t.Context(), "kim-fish", "someone else")
		if !errors.Is(err, ErrExists) {
			t.Fatalf("CreateChannel duplicate: err = %v, want ErrExists", err)
		}
		// The first channel is untouched.
		got, err := s.CheckStreamKey(t.Context(), "kim-fish", sec.StreamKey)
		if err != nil {
			t.Fatalf("CheckStreamKey after duplicate: %v", err)
		}
		assertChannel(t, got, first)
	})

	t.Run("invalid input", func(t *testing.T) {
		s := newDB(t)(t)
		tests := []struct {
			name       string
			slug, text string
		}{
			{"empty slug", "", "가게"},
			{"short slug", "ab", "가게"},
			{"long slug", strings.Repeat("a", 41), "가게"},
			{"uppercase slug", "Kim-Fish", "가게"},
			{"korean slug", "김씨네", "가게"},
			{"space in slug", "kim fish", "가게"},
			{"underscore in slug", "kim_fish", "가게"},
			{"leading dash", "-kim", "가게"},
			{"trailing dash", "kim-", "가게"},
			{"path in slug", "../etc", "가게"},
			{"reserved slug", "studio", "가게"},
			{"empty name", "kim-fish", ""},
			{"blank name", "kim-fish", " \t\u3000 "},
			{"long name", "kim-fish", strings.Repeat("가", 81)},
			{"newline in name", "kim-fish", "김씨네\n생선"},
			{"invalid utf-8 name", "kim-fish", "김씨\xff"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := s.CreateChannel(t.Context(), tt.slug, tt.text)
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("CreateChannel(%q, %q): err = %v, want ErrInvalid", tt.slug, tt.text, err)
				}
				if _, err := s.Channel(t.Context(), tt.slug); !errors.Is(err, ErrNotFound) {
					t.Errorf("Channel(%q) after refused create: err = %v, want ErrNotFound", tt.slug, err)
				}
			})
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		s := newDB(t)(t)
		_, sec, err := s.CreateChannel(t.Context(), "kim-fish", "김씨네")
		if err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		_, otherSec, err := s.CreateChannel(t.Context(), "lee-veg", "이씨네")
		if err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		checks := []struct {
			name  string
			check func(ctx context.Context, slug, secret string) (Channel, error)
			right string
		}{
			{"stream key", s.CheckStreamKey, sec.StreamKey},
			{"studio token", s.CheckStudioToken, sec.StudioToken},
		}
		for _, c := range checks {
			wrong := []struct {
				name   string
				secret string
			}{
				{"empty", ""},
				{"other channel's stream key", otherSec.StreamKey},
				{"other channel's studio token", otherSec.StudioToken},
				{"lowercased", strings.ToLower(c.right)},
				{"truncated", c.right[:len(c.right)-1]},
				{"extended", c.right + "A"},
				{"padded with space", " " + c.right},
			}
			for _, w := range wrong {
				t.Run(c.name+"/"+w.name, func(t *testing.T) {
					if w.secret == c.right {
						t.Skip("not different from the right secret")
					}
					if _, err := c.check(t.Context(), "kim-fish", w.secret); !errors.Is(err, ErrBadKey) {
						t.Errorf("err = %v, want ErrBadKey", err)
					}
				})
			}
		}
		// Each secret opens only its own door.
		if _, err := s.CheckStudioToken(t.Context(), "kim-fish", sec.StreamKey); !errors.Is(err, ErrBadKey) {
			t.Errorf("CheckStudioToken with the stream key: err = %v, want ErrBadKey", err)
		}
		if _, err := s.CheckStreamKey(t.Context(), "kim-fish", sec.StudioToken); !errors.Is(err, ErrBadKey) {
			t.Errorf("CheckStreamKey with the studio token: err = %v, want ErrBadKey", err)
		}
	})

	t.Run("unknown channel", func(t *testing.T) {
		s := newDB(t)(t)
		_, sec, err := s.CreateChannel(t.Context(), "kim-fish", "김씨네")
		if err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		for _, slug := range []string{"nobody", "kim-fish2", "KIM-FISH", "", "kim-fish' OR '1'='1"} {
			t.Run(fmt.Sprintf("%q", slug), func(t *testing.T) {
				if _, err := s.Channel(t.Context(), slug); !errors.Is(err, ErrNotFound) {
					t.Errorf("Channel: err = %v, want ErrNotFound", err)
				}
				if _, err := s.CheckStreamKey(t.Context(), slug, sec.StreamKey); !errors.Is(err, ErrNotFound) {
					t.Errorf("CheckStreamKey: err = %v, want ErrNotFound", err)
				}
				if _, err := s.CheckStudioToken(t.Context(), slug, sec.StudioToken); !errors.Is(err, ErrNotFound) {
					t.Errorf("CheckStudioToken: err = %v, want ErrNotFound", err)
				}
				if _, err := s.ResetStreamKey(t.Context(), slug); !errors.Is(err, ErrNotFound) {
					t.Errorf("ResetStreamKey: err = %v, want ErrNotFound", err)
				}
			})
		}
	})

	t.Run("reset stream key", func(t *testing.T) {
		s := newDB(t)(t)
		_, sec, err := s.CreateChannel(t.Context(), "kim-fish", "김씨네")
		if err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		_, otherSec, err := s.CreateChannel(t.Context(), "lee-veg", "이씨네")
		if err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		key, err := s.ResetStreamKey(t.Context(), "kim-fish")
		if err != nil {
			t.Fatalf("ResetStreamKey: %v", err)
		}
		if key == sec.StreamKey {
			t.Fatalf("ResetStreamKey returned the old key")
		}
		if _, err := s.CheckStreamKey(t.Context(), "kim-fish", sec.StreamKey); !errors.Is(err, ErrBadKey) {
			t.Errorf("old key: err = %v, want ErrBadKey", err)
		}
		if _, err := s.CheckStreamKey(t.Context(), "kim-fish", key); err != nil {
			t.Errorf("new key: %v", err)
		}
		if _, err := s.CheckStudioToken(t.Context(), "kim-fish", sec.StudioToken); err != nil {
			t.Errorf("studio token after reset: %v", err)
		}
		if _, err := s.CheckStreamKey(t.Context(), "lee-veg", otherSec.StreamKey); err != nil {
			t.Errorf("other channel's key after reset: %v", err)
		}
	})

	t.Run("concurrent creates of one slug", func(t *testing.T) {
		s := newDB(t)(t)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, _, errs[i] = s.CreateChannel(t.Context(), "kim-fish", fmt.Sprintf("가게 %d", i))
			})
		}
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, ErrExists):
				t.Errorf("create %d: err = %v, want nil or ErrExists", i, err)
			}
		}
		if created != 1 {
			t.Errorf("%d creates succeeded, want exactly 1", created)
		}
	})

	t.Run("reopen keeps data and migrates nothing", func(t *testing.T) {
		open := newDB(t)
		s := open(t)
		ch, sec, err := s.CreateChannel(t.Context(), "kim-fish", "김씨네")
		if err != nil {
			t.Fatalf("CreateChannel: %v", err)
		}
		key, err := s.ResetStreamKey(t.Context(), "kim-fish")
		if err != nil {
			t.Fatalf("ResetStreamKey: %v", err)
		}
		versions := schemaVersions(t, s)
		if len(versions) == 0 {
			t.Fatalf("no rows in schema_migrations")
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		for i := range 2 {
			s = open(t)
			got, err := s.CheckStreamKey(t.Context(), "kim-fish", key)
			if err != nil {
				t.Fatalf("reopen %d: CheckStreamKey: %v", i, err)
			}
			assertChannel(t, got, ch)
			if _, err := s.CheckStudioToken(t.Context(), "kim-fish", sec.StudioToken); err != nil {
				t.Errorf("reopen %d: CheckStudioToken: %v", i, err)
			}
			if got := schemaVersions(t, s); !slices.Equal(got, versions) {
				t.Errorf("reopen %d: schema versions = %v, want %v", i, got, versions)
			}
			if _, _, err := s.CreateChannel(t.Context(), "kim-fish", "다시"); !errors.Is(err, ErrExists) {
				t.Errorf("reopen %d: duplicate create: err = %v, want ErrExists", i, err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("reopen %d: Close: %v", i, err)
			}
		}
	})

	t.Run("concurrent opens migrate once", func(t *testing.T) {
		open := newDB(t)
		const n = 4
		stores := make([]*Store, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i] = open(t) })
		}
		wg.Wait()
		for i, s := range stores {
			if s == nil {
				t.Fatalf("open %d failed", i)
			}
		}
		want := schemaVersions(t, stores[0])
		if len(want) < 2 || want[0] != 1 || want[len(want)-1] != len(want) {
			t.Fatalf("schema versions = %v, want 1..n", want)
		}
		for i, s := range stores {
			if got := schemaVersions(t, s); !slices.Equal(got, want) {
				t.Errorf("store %d: schema versions = %v, want %v", i, got, want)
			}
		}
	})

	t.Run("live channels", func(t *testing.T) {
		s := newDB(t)(t)
		ctx := t.Context()
		got, err := s.LiveChannels(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("LiveChannels on an empty store = %v, %v; want none", got, err)
		}
		ids := map[string]int64{}
		for _, slug := range []string{"lee-veg", "kim-fish", "park-rice"} {
			ch, _, err := s.CreateChannel(ctx, slug, slug)
			if err != nil {
				t.Fatalf("CreateChannel %s: %v", slug, err)
			}
			ids[slug] = ch.ID
		}
		// kim-fish: live; lee-veg: one ended, one live; park-rice: ended only.
		var ended []Broadcast
		for _, slug := range []string{"lee-veg", "park-rice"} {
			b, err := s.StartBroadcast(ctx, ids[slug], "", false)
			if err != nil {
				t.Fatalf("StartBroadcast %s: %v", slug, err)
			}
			ended = append(ended, b)
		}
		for _, b := range ended {
			if _, err := s.EndBroadcast(ctx, b.ChannelID, b.ID); err != nil {
				t.Fatalf("EndBroadcast: %v", err)
			}
		}
		for _, slug := range []string{"lee-veg", "kim-fish"} {
			if _, err := s.StartBroadcast(ctx, ids[slug], "", slug == "kim-fish"); err != nil {
				t.Fatalf("StartBroadcast %s: %v", slug, err)
			}
		}
		got, err = s.LiveChannels(ctx)
		if err != nil {
			t.Fatalf("LiveChannels: %v", err)
		}
		if want := []string{"kim-fish", "lee-veg"}; !slices.Equal(got, want) {
			t.Errorf("LiveChannels = %v, want %v", got, want)
		}
	})

	testRoomContract(t, newDB)
	testTutorContract(t, newDB)
}

func assertChannel(t *testing.T, got, want Channel) {
	t.Helper()
	if got.ID != want.ID || got.Slug != want.Slug || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("channel = %+v, want %+v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt %v is not in UTC", got.CreatedAt)
	}
}

// schemaVersions returns the versions recorded in schema_migrations, in order.
func schemaVersions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("scan schema_migrations: %v", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return vs
}

// TestStore runs the contract on every backend.
func TestStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testStoreContract(t, newSQLiteDB)
	})
	t.Run("postgres", func(t *testing.T) {
		testPostgres(t) // skips (or fails, strict) once for the lot
		testStoreContract(t, newPostgresDB)
	})
}

// newSQLiteDB returns an opener for a fresh SQLite file in a directory that
// OpenSQLite has to create.
func newSQLiteDB(t *testing.T) storeOpener {
	path := filepath.Join(t.TempDir(), "data", "dangol.db")
	return func(t *testing.T) *Store {
		return openSQLite(t, path)
	}
}

func openSQLite(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("OpenSQLite(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestOpenSQLitePaths(t *testing.T) {
	tests := []struct {
		name string
		file string
	}{
		{"plain", "dangol.db"},
		{"space", "my data/dangol.db"},
		{"uri characters", "a?b#c%20d/dangol&x=1.db"},
		{"korean", "시장/단골.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			s := openSQLite(t, path)
			if _, _, err := s.CreateChannel(t.Context(), "kim-fish", "김씨네"); err != nil {
				t.Fatalf("CreateChannel: %v", err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("database not at the given path: %v", err)
			}
		})
	}
}

func TestOpenSQLiteEmptyPath(t *testing.T) {
	if _, err := OpenSQLite(t.Context(), ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("OpenSQLite(\"\"): err = %v, want ErrInvalid", err)
	}
}

// TestSQLiteAcknowledgedWritesSurviveKill kills a process right after the
// store acknowledged its writes and checks they are there on reopen. It
// proves that an acknowledgement comes after the commit; surviving power
// loss as well rests on synchronous=FULL, which a test cannot pull the plug
// on.
func TestSQLiteAcknowledgedWritesSurviveKill(t *testing.T) {
	const env = "DANGOL_COMMERCE_TEST_KILL_DB"
	if path := os.Getenv(env); path != "" {
		writeThenDie(path)
		return
	}

	path := filepath.Join(t.TempDir(), "dangol.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSQLiteAcknowledgedWritesSurviveKill$")
	cmd.Env = append(os.Environ(), env+"="+path)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || runtime.GOOS != "windows" && exit.ExitCode() != -1 {
		t.Fatalf("helper process: err = %v, want it killed by a signal; output:\n%s", err, out)
	}

	acked := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			acked[k] = v
		}
	}
	if acked["reset"] == "" {
		t.Fatalf("helper process acknowledged nothing; output:\n%s", out)
	}

	s := openSQLite(t, path)
	if _, err := s.CheckStreamKey(t.Context(), "kim-fish", acked["reset"]); err != nil {
		t.Errorf("reset stream key lost: %v", err)
	}
	if _, err := s.CheckStreamKey(t.Context(), "kim-fish", acked["created"]); !errors.Is(err, ErrBadKey) {
		t.Errorf("old stream key: err = %v, want ErrBadKey", err)
	}
}

// writeThenDie runs in the helper process: it creates a channel, resets its
// key, reports each acknowledged write on stdout and kills itself.
func writeThenDie(path string) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_, sec, err := s.CreateChannel(ctx, "kim-fish", "김씨네")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stdout, "created", sec.StreamKey)
	key, err := s.ResetStreamKey(ctx, "kim-fish")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stdout, "reset", key)
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Kill()
	}
	if err == nil {
		// The signal may land a moment after Kill returns.
		time.Sleep(time.Minute)
	}
	fmt.Fprintln(os.Stderr, "could not kill myself:", err)
	os.Exit(2)
}
