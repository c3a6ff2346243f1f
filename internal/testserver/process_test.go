package testserver

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcess checks that a server's output is kept, that WaitReady
// reports a server that exits at start, and that Stop stops one that runs.
func TestProcess(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  string
		wantErr string // from WaitReady
	}{
		{"exits at start", "echo bad config >&2; exit 1", "sh exited at start: bad config"},
		{"runs", "echo listening; exec sleep 60", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := Start(exec.Command("sh", "-c", tc.script), dir, syscall.SIGKILL)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, pidFile))
			if err != nil || strings.TrimSpace(string(b)) == "" {
				t.Fatalf("pid file: %q, %v", b, err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			errNotYet := errors.New("not yet")
			err = p.WaitReady(ctx, func(context.Context) error {
				if strings.Contains(p.Output(), "listening") {
					return nil
				}
				return errNotYet
			})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("WaitReady: %v, want error %q", err, tc.wantErr)
			}
			if err := p.Stop(syscall.SIGTERM); err != nil {
				t.Fatalf("Stop: %v", err)
			}
		})
	}
}

// TestTempDirSweep checks that TempDir removes old directories whose
// server is not running, and keeps young ones and those of running servers.
func TestTempDirSweep(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	old := time.Now().Add(-2 * sweepAge)
	tests := []struct {
		name string
		pid  string // in the pid file; "" for none
		mod  time.Time
		kept bool
	}{
		{"old, no pid file", "", old, false},
		{"old, server gone", "999999999", old, false},
		{"old, server running", strconv.Itoa(os.Getpid()), old, true},
		{"young, no pid file", "", time.Now(), true},
		{"young, server gone", "999999999", time.Now(), true},
	}
	dirs := make([]string, len(tests))
	for i, tc := range tests {
		dir := filepath.Join(os.TempDir(), "dangol-sweeptest-"+strings.ReplaceAll(tc.name, " ", ""))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if tc.pid != "" {
			if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(tc.pid), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(dir, tc.mod, tc.mod); err != nil {
			t.Fatal(err)
		}
		dirs[i] = dir
	}
	dir, err := TempDir("dangol-sweeptest-")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(dir), "dangol-sweeptest-") {
		t.Errorf("TempDir made %s", dir)
	}
	for i, tc := range tests {
		_, err := os.Stat(dirs[i])
		if kept := err == nil; kept != tc.kept {
			t.Errorf("%s: kept %v, want %v", tc.name, kept, tc.kept)
		}
	}
}
