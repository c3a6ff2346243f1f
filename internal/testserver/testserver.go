// Package testserver holds what the test-support packages that start a
// real server (pgtest, miniotest) share: one server per test binary,
// started on first use and stopped after the tests (Shared), the server's
// process with its output kept for error messages (Process), its temporary
// directory with the sweep of those that killed test binaries left behind
// (TempDir), and free ports (FreePort).
package testserver

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// Shared is a server that all the tests of a process use: the first Get
// starts it, Stop stops it after the tests (see Main).
//
// A start reports a missing server (no binary, say) as a skip reason and
// a broken one as an error: tests skip on the first, unless
// DANGOL_TEST_STRICT=1, and fail on the second.
type Shared[S any] struct {
	name  string // what the server is, in messages: "PostgreSQL"
	start func() (s S, skip string, err error)
	stop  func(S) error

	once    sync.Once
	server  S
	started bool   // server is running and stop is due
	skip    string // why there is no server, if it is missing rather than broken
	err     error
}

// NewShared returns a Shared that starts the server with start and stops
// it with stop. name says what the server is in messages.
func NewShared[S any](name string, start func() (S, string, error), stop func(S) error) *Shared[S] {
	return &Shared[S]{name: name, start: start, stop: stop}
}

// Get returns the server, starting it on first use in this process, or
// skips tb (loudly) when there is none, or fails it when
// DANGOL_TEST_STRICT=1 or the server is there but broken.
func (s *Shared[S]) Get(tb testing.TB) S {
	tb.Helper()
	s.once.Do(func() {
		s.server, s.skip, s.err = s.start()
		s.started = s.err == nil && s.skip == ""
	})
	switch {
	case s.err != nil:
		tb.Fatalf("%s for tests: %v", s.name, s.err)
	case s.skip != "" && os.Getenv("DANGOL_TEST_STRICT") == "1":
		tb.Fatalf("%s for tests: %s (DANGOL_TEST_STRICT=1)", s.name, s.skip)
	case s.skip != "":
		tb.Skipf("SKIPPED: no %s for the tests: %s", s.name, s.skip)
	}
	return s.server
}

// Stop stops the server if this process started it. Call it once, after
// the tests.
func (s *Shared[S]) Stop() error {
	if !s.started {
		return nil
	}
	return s.stop(s.server)
}

// Main runs the tests, then stops the server, and exits: a package's
// TestMain calls it (through pgtest.Main, miniotest.Main). A failed stop
// fails the run, so that a server that outlives its tests is noticed.
func (s *Shared[S]) Main(m *testing.M) {
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop test %s: %v\n", s.name, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
