package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// txFunc is one write: the statements of one method, run inside a
// transaction. It returns an error to undo everything it did. It may run
// more than once (PostgreSQL retries a transaction that lost a deadlock), so
// it must set its results afresh each time.
type txFunc func(ctx context.Context, tx *sql.Tx) error

// errStoreClosed is returned by writes after Close.
var errStoreClosed = errors.New("store is closed")

// write runs fn in a transaction and returns once the transaction has
// committed (nil) or been undone (fn's error, or the commit's).
//
// A nil return means the effect is durable. A non-nil one from the
// machinery (not a domain error) may, rarely, hide a commit that happened
// anyway (a connection lost during COMMIT); a command retried with the same
// id then finds its stored reply, which is what command ids are for.
func (s *Store) write(ctx context.Context, fn txFunc) error {
	if s.w != nil {
		return s.w.do(ctx, fn)
	}
	return s.writePostgres(ctx, fn)
}

// writePostgres runs fn in its own READ COMMITTED transaction. Correctness
// under concurrency comes from the statements themselves: conditional
// UPDATEs take the row lock and re-check their condition, inserts go
// through ON CONFLICT on UNIQUE constraints. A transaction that loses a
// deadlock or a serialization check is retried a few times.
func (s *Store) writePostgres(ctx context.Context, fn txFunc) error {
	const attempts = 5
	for i := 1; ; i++ {
		err := s.runTx(ctx, fn)
		code := pgErrorCode(err)
		if err == nil || i == attempts || code != "40001" && code != "40P01" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i) * time.Millisecond):
		}
	}
}

func (s *Store) runTx(ctx context.Context, fn txFunc) (err error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		if rerr := ignoreDone(tx.Rollback()); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// writer commits SQLite writes in groups. SQLite with synchronous=FULL
// syncs the WAL at every commit (about half a millisecond here), which
// would cap a one-commit-per-write store at some two thousand writes a
// second. The writer takes whatever writes are waiting, runs each inside its
// own SAVEPOINT of one transaction (a failing write rolls back to its
// savepoint and undoes only itself), commits once and then answers every
// caller. Nothing is answered before the commit, so an acknowledged write is
// durable; and nothing waits on purpose: a batch is whatever arrived while
// the previous one was committing, so a lone write costs one commit as
// before.
type writer struct {
	db       *sql.DB
	ops      chan *writeOp // unbuffered: a send succeeds only into a batch
	quit     chan struct{}
	stopped  chan struct{}
	maxBatch int

	batches atomic.Int64 // transactions committed or failed
	writes  atomic.Int64 // writes run in them
}

// maxWriteBatch bounds a group so that one commit does not hold its
// earliest callers for long.
const maxWriteBatch = 256

type writeOp struct {
	fn    txFunc
	state atomic.Int32 // opQueued, then opTaken by the writer or opAbandoned by the caller
	done  chan error   // buffered; receives the outcome once
}

const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// writePanic carries a panic in a txFunc from the writer goroutine back to
// the caller's, where it is raised again.
type writePanic struct {
	value any
	stack []byte
}

func (p *writePanic) Error() string { return fmt.Sprintf("panic in store write: %v", p.value) }

func startWriter(db *sql.DB) *writer {
	w := &writer{
		db:       db,
		ops:      make(chan *writeOp),
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
		maxBatch: maxWriteBatch,
	}
	go w.run()
	return w
}

// stop makes the writer finish the batch it is running and exit; writes
// after that fail with errStoreClosed.
func (w *writer) stop() {
	close(w.quit)
	<-w.stopped
}

// do hands fn to the writer and waits for its outcome. If ctx ends before
// the writer has started fn, fn is dropped and ctx's error returned; once fn
// has started, do waits for the commit and reports it truthfully.
func (w *writer) do(ctx context.Context, fn txFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{fn: fn, done: make(chan error, 1)}
	select {
	case w.ops <- op:
	case <-w.quit:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	var err error
	select {
	case err = <-op.done:
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		err = <-op.done
	}
	if p, ok := err.(*writePanic); ok {
		panic(fmt.Sprintf("%v\n\nwriter goroutine stack:\n%s", p.value, p.stack))
	}
	return err
}

func (w *writer) run() {
	defer close(w.stopped)
	batch := make([]*writeOp, 0, w.maxBatch)
	for {
		select {
		case op := <-w.ops:
			batch = append(batch[:0], op)
		case <-w.quit:
			return
		}
	collect:
		for len(batch) < w.maxBatch {
			select {
			case op := <-w.ops:
				batch = append(batch, op)
			default:
				break collect
			}
		}
		w.commit(batch)
		clear(batch)
	}
}

// commit runs batch in one transaction and answers each write.
func (w *writer) commit(batch []*writeOp) {
	// Statements run with a context of their own: a caller that gives up
	// must not break the transaction the others share.
	ctx := context.Background()
	errs := make([]error, len(batch))
	taken := make([]bool, len(batch))
	fatal := func() error {
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		for i, op := range batch {
			if !op.state.CompareAndSwap(opQueued, opTaken) {
				continue // its caller gave up before it started
			}
			taken[i] = true
			if _, err := tx.ExecContext(ctx, `SAVEPOINT batch_op`); err != nil {
				return errors.Join(fmt.Errorf("savepoint: %w", err), tx.Rollback())
			}
			if errs[i] = runOp(ctx, tx, op.fn); errs[i] != nil {
				// An error that SQLite answers by rolling back the whole
				// transaction (a full disk) makes this fail, and the batch
				// with it.
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO batch_op`); err != nil {
					return errors.Join(fmt.Errorf("rollback to savepoint: %w", err), tx.Rollback())
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE batch_op`); err != nil {
				return errors.Join(fmt.Errorf("release savepoint: %w", err), tx.Rollback())
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}()
	w.batches.Add(1)
	for i, op := range batch {
		if !taken[i] && !op.state.CompareAndSwap(opQueued, opTaken) {
			continue
		}
		w.writes.Add(1)
		switch {
		case errs[i] != nil:
			// Its own outcome; it was undone whatever became of the batch.
			op.done <- errs[i]
		case fatal != nil:
			op.done <- fatal
		default:
			op.done <- nil
		}
	}
}

// runOp runs fn, turning a panic into a *writePanic error so that the
// writer survives it and the caller can raise it.
func runOp(ctx context.Context, tx *sql.Tx, fn txFunc) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &writePanic{value: v, stack: debug.Stack()}
		}
	}()
	return fn(ctx, tx)
}
