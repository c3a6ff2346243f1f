package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openScratchSQLite opens a store with a scratch table t for the writer's
// own tests.
func openScratchSQLite(t *testing.T) *Store {
	t.Helper()
	s := openSQLite(t, filepath.Join(t.TempDir(), "w.db"))
	if _, err := s.db.ExecContext(t.Context(), `CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return s
}

func scratchIDs(t *testing.T, s *Store) map[int]bool {
	t.Helper()
	rows, err := s.rdb.QueryContext(t.Context(), `SELECT id FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[int]bool{}
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	return ids
}

// TestWriterGroupCommit checks that concurrent writes share commits and
// that a failing write undoes only itself.
func TestWriterGroupCommit(t *testing.T) {
	s := openScratchSQLite(t)
	ctx := t.Context()

	// Hold the writer in a first write while the others queue up.
	release := make(chan struct{})
	held := make(chan struct{})
	go func() {
		s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			close(held)
			<-release
			_, err := tx.ExecContext(ctx, `INSERT INTO t (id) VALUES (0)`)
			return err
		})
	}()
	<-held

	const n = 300
	errs := make([]error, n)
	var (
		wg      sync.WaitGroup
		started atomic.Int64
	)
	for i := 1; i <= n-1; i++ {
		wg.Go(func() {
			started.Add(1)
			errs[i] = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO t (id) VALUES (?)`, i); err != nil {
					return err
				}
				if i%3 == 0 {
					return fmt.Errorf("write %d fails after its insert", i)
				}
				if i%7 == 0 {
					// A statement error is undone as well.
					_, err := tx.ExecContext(ctx, `INSERT INTO t (id) VALUES (?)`, i)
					return err
				}
				return nil
			})
		})
	}
	for started.Load() < n-1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let them reach the writer's queue
	close(release)
	wg.Wait()

	ids := scratchIDs(t, s)
	for i := 1; i <= n-1; i++ {
		fails := i%3 == 0 || i%7 == 0
		switch {
		case fails && errs[i] == nil:
			t.Errorf("write %d: no error", i)
		case !fails && errs[i] != nil:
			t.Errorf("write %d: %v", i, errs[i])
		case fails == ids[i]:
			t.Errorf("write %d: failed %v, row there %v", i, fails, ids[i])
		}
	}
	if !ids[0] {
		t.Errorf("the first write is lost")
	}
	writes, batches := s.w.writes.Load(), s.w.batches.Load()
	t.Logf("%d writes in %d commits", writes, batches)
	if batches >= writes {
		t.Errorf("%d writes took %d commits: no grouping", writes, batches)
	}
}

func TestWriterPanic(t *testing.T) {
	s := openScratchSQLite(t)
	func() {
		defer func() {
			v := recover()
			if v == nil || !strings.Contains(fmt.Sprint(v), "boom") {
				t.Errorf("recovered %v, want the write's panic", v)
			}
		}()
		s.write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (id) VALUES (1)`); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	// The writer lives on, and the panicking write left nothing.
	if err := s.write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (id) VALUES (2)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if ids := scratchIDs(t, s); ids[1] || !ids[2] {
		t.Errorf("rows = %v, want only 2", ids)
	}
}

// TestWriterAbandon checks that a write whose caller gives up before it
// starts never runs.
func TestWriterAbandon(t *testing.T) {
	s := openScratchSQLite(t)
	release, held := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	var ran atomic.Bool
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ran.Store(true)
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("abandoned write: err = %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.write(t.Context(), func(ctx context.Context, tx *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran.Load() {
		t.Errorf("the abandoned write ran")
	}
}

func TestWriteAfterClose(t *testing.T) {
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := s.CreateChannel(t.Context(), "kim-fish", "김씨네"); err == nil {
		t.Errorf("CreateChannel after Close: no error")
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("disk on fire"), CodeInternal},
		{ErrSoldOut, "sold_out"},
		{fmt.Errorf("claim coupon: coupon 3: %w", ErrSoldOut), "sold_out"},
		{fmt.Errorf("x: %w", ErrNotFound), "not_found"},
		{&replayedError{msg: "coupon 3: out of stock", sentinel: ErrOutOfStock}, "out_of_stock"},
	}
	for _, tt := range tests {
		if got := Code(tt.err); got != tt.want {
			t.Errorf("Code(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	seen := map[string]bool{}
	for code, e := range sentinels {
		if code == "" || seen[code] || e.Code() != code {
			t.Errorf("sentinel %v: code %q is empty, repeated or wrong", e, code)
		}
		seen[code] = true
	}
	if !errors.Is(&replayedError{msg: "m", sentinel: ErrExpired}, ErrExpired) {
		t.Errorf("a replayed error does not match its sentinel")
	}
}
