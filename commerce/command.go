package commerce

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Commands are the writes a client asks for with an id of its choosing
// (the room's websocket commands). A command is done at most once per
// actor and id: its reply, success or refusal, is stored in the commands
// table in the same transaction as its effect, and a retry with the same id
// (after a lost reply, a reconnect, a server crash) gets the stored reply
// back without acting again. (A final refusal, such as sold out, is not
// stored: a retry is bound to get it again; see finalRefusal.) An empty id
// opts out, for callers that have none (the REST API).

// maxCmdIDLen is the longest command id, in bytes.
const maxCmdIDLen = 64

// viewerActor and merchantActor name who sent a command; ids are unique
// per actor.
func viewerActor(viewerID int64) string    { return "v" + strconv.FormatInt(viewerID, 10) }
func merchantActor(channelID int64) string { return "m" + strconv.FormatInt(channelID, 10) }

func checkCmdID(id string) error {
	if len(id) > maxCmdIDLen {
		return fmt.Errorf("%w: command id must be at most %d bytes, not %d", ErrInvalid, maxCmdIDLen, len(id))
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: command id is not valid UTF-8", ErrInvalid)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: command id must not contain control characters", ErrInvalid)
		}
	}
	return nil
}

// storedReply is the JSON kept in commands.reply.
type storedReply struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *storedError    `json:"error,omitempty"`
}

type storedError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// replayable is implemented by the results of commands, which carry a
// Replayed flag.
type replayable interface{ markReplayed() }

// effectFunc is the effect of a command: its statements, run in the
// command's transaction at time now. It returns the command's result, or a
// domain error (a refusal, such as ErrSoldOut) or another error.
type effectFunc[T any] func(ctx context.Context, tx *sql.Tx, now time.Time) (T, error)

// runCommand runs effect as the command cmdID of actor, of the given kind,
// and returns its result or its refusal (a domain error). With a non-empty
// cmdID the command is done at most once:
//
//   - the effect runs first, then the reply (the result, or the refusal
//     with the effect undone) is recorded under (actor, cmdID) in the same
//     transaction, with INSERT ... ON CONFLICT DO NOTHING;
//   - if a reply is recorded already, the effect is undone and the
//     recorded reply returned instead (with Replayed set on a result). On
//     PostgreSQL a concurrent run of the same id waits on the unique key
//     for the first to commit, then finds its reply;
//   - a final refusal (see finalRefusal) is not recorded: any later run
//     would be refused the same way. The recorded reply is looked up
//     instead, since an earlier run of the same id may be what made it
//     final (a claim's retry finds the coupon claimed: by itself);
//   - any other error undoes everything, so the command can be retried.
//
// Recording refusals makes a retry get the same answer even if, say, stock
// has come back since. Recording the reply last, rather than claiming the
// id first, saves PostgreSQL round trips (see runCommandPostgres).
//
// The id must not be reused for another kind of command (ErrInvalid).
func runCommand[T any](ctx context.Context, s *Store, actor, cmdID, kind string, effect effectFunc[T]) (T, error) {
	return runCheckedCommand(ctx, s, actor, cmdID, kind, nil, effect, nil)
}

// precheckFunc is a command's first look, outside any transaction, at
// whether it will be refused for good: it returns a final refusal, nil to
// go on with the effect, or another error. It must scan rec's columns
// (the command's recorded reply, if any) in the same statement, so that
// its view of the data and of the recorded replies is one snapshot.
type precheckFunc func(ctx context.Context, q querier, now time.Time, rec *recordLookup) error

// recordLookup is the part of a precheck's SELECT that reads a command's
// recorded reply: Columns go in the select list, Args before the
// statement's own, Dest before its own scan destinations.
type recordLookup struct {
	Columns string
	Args    []any
	Dest    []any

	kind, reply sql.NullString
}

func newRecordLookup(actor, cmdID string) *recordLookup {
	r := &recordLookup{
		Columns: `(SELECT kind FROM commands WHERE actor = ? AND cmd_id = ?), (SELECT reply FROM commands WHERE actor = ? AND cmd_id = ?)`,
		Args:    []any{actor, cmdID, actor, cmdID},
	}
	r.Dest = []any{&r.kind, &r.reply}
	return r
}

// runCheckedCommand is runCommand with a precheck: the thousands of claims
// that arrive after a coupon ran out are refused by one read, on
// SQLite's read connections or in one PostgreSQL round trip, without
// writing or waiting for a lock.
//
// group, if not nil, does what runCommand's transaction would, in a group
// transaction (see claimBatcher); it is used instead of effect when the
// command has an id.
func runCheckedCommand[T any](ctx context.Context, s *Store, actor, cmdID, kind string, precheck precheckFunc, effect effectFunc[T],
	group func(ctx context.Context) (T, error)) (T, error) {
	var (
		res T
		err error
	)
	switch {
	case checkCmdID(cmdID) != nil:
		err = checkCmdID(cmdID)
	case cmdID == "":
		err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			res, err = effect(ctx, tx, s.timestamp())
			return err
		})
	default:
		done := false
		if precheck != nil {
			rec := newRecordLookup(actor, cmdID)
			perr := precheck(ctx, s.rdb, s.timestamp(), rec)
			switch {
			case rec.reply.Valid:
				res, err = decodeReply[T](kind, cmdID, rec.kind.String, rec.reply.String)
				done = true
			case perr != nil && (!isDomain(perr) || finalRefusal(perr)):
				err, done = perr, true
			}
		}
		switch {
		case done:
		case group != nil:
			res, err = group(ctx)
		case s.w != nil:
			res, err = runCommandBatched(ctx, s, s.w, actor, cmdID, kind, effect)
		default:
			res, err = runCommandPostgres(ctx, s, actor, cmdID, kind, effect)
		}
	}
	if err != nil {
		var zero T
		var re *replayedError
		if errors.As(err, &re) {
			return zero, err // its message is the original's, prefix and all
		}
		return zero, fmt.Errorf("%s: %w", kind, err)
	}
	return res, nil
}

// finalRefusal reports whether err refuses a command for good, so that
// every later run of it gets the very same refusal and it need not be
// recorded: claims are never taken back, and a coupon's remaining count
// only goes down. A claim checks these two first (see claimLook.refusal),
// so nothing else can come to be reported instead later. (Closed and
// expired are recorded: a closed coupon expires later, and a retry would
// say so. Out of stock is recorded: a cancelled order returns its stock.)
func finalRefusal(err error) bool {
	return errors.Is(err, ErrAlreadyClaimed) || errors.Is(err, ErrSoldOut)
}

// encodeReply returns the JSON of a command's reply: its result, or the
// refusal err with the message the caller gets.
func encodeReply(kind string, result any, err error) (string, error) {
	var reply storedReply
	if err != nil {
		reply.Error = &storedError{Code: Code(err), Message: kind + ": " + err.Error()}
	} else {
		b, err := json.Marshal(result)
		if err != nil {
			return "", fmt.Errorf("encode reply: %w", err)
		}
		reply.OK, reply.Result = true, b
	}
	b, err := json.Marshal(reply)
	if err != nil {
		return "", fmt.Errorf("encode reply: %w", err)
	}
	return string(b), nil
}

const insertCommand = `INSERT INTO commands (actor, cmd_id, kind, reply, created_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (actor, cmd_id) DO NOTHING
RETURNING 1`

// recordReply records a command's reply, and reports false if one is
// recorded already.
func (s *Store) recordReply(ctx context.Context, q querier, actor, cmdID, kind, reply string, now time.Time) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, s.dialect.rebind(insertCommand), actor, cmdID, kind, reply, now).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record command: %w", err)
	}
	return true, nil
}

// runCommandBatched runs a command as one write of w's group transaction,
// with a savepoint to undo the effect alone.
func runCommandBatched[T any](ctx context.Context, s *Store, w *writer, actor, cmdID, kind string, effect effectFunc[T]) (T, error) {
	var (
		res     T
		outcome error
	)
	err := w.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var zero T
		res, outcome = zero, nil
		now := s.timestamp()
		if _, err := tx.ExecContext(ctx, `SAVEPOINT cmd_effect`); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		v, err := effect(ctx, tx, now)
		if err != nil && !isDomain(err) {
			return err
		}
		if err != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO cmd_effect`); err != nil {
				return fmt.Errorf("rollback to savepoint: %w", err)
			}
		}
		recorded := false
		if err == nil || !finalRefusal(err) {
			reply, rerr := encodeReply(kind, v, err)
			if rerr != nil {
				return rerr
			}
			if recorded, rerr = s.recordReply(ctx, tx, actor, cmdID, kind, reply, now); rerr != nil {
				return rerr
			}
		}
		if !recorded {
			if err == nil {
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO cmd_effect`); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
			}
			found, v, rerr, ferr := replayIfRecorded[T](ctx, s, tx, actor, cmdID, kind)
			if ferr != nil {
				return ferr
			}
			if found {
				res, outcome = v, rerr
				return nil
			}
			// A final refusal, first of its id.
		}
		res, outcome = v, err
		return nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return res, outcome
}

// errRefused and errRecorded end a PostgreSQL command's transaction
// without committing it: the effect refused, or the command had been done.
var (
	errRefused  = errors.New("command refused")
	errRecorded = errors.New("command done before")
)

// runCommandPostgres runs a command in a transaction of its own. A success
// records its reply in that transaction. A refusal rolls the transaction
// back, so there is nothing to keep atomic with its reply, and records the
// reply with one INSERT of its own: a refused claim in a rush costs BEGIN,
// one SELECT, ROLLBACK and the INSERT, and holds no lock.
func runCommandPostgres[T any](ctx context.Context, s *Store, actor, cmdID, kind string, effect effectFunc[T]) (T, error) {
	var (
		zero    T
		res     T
		refusal error
		now     time.Time
	)
	err := s.writePostgres(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, refusal = zero, nil
		now = s.timestamp()
		v, err := effect(ctx, tx, now)
		if err != nil {
			if isDomain(err) {
				refusal = err
				return errRefused
			}
			return err
		}
		reply, err := encodeReply(kind, v, nil)
		if err != nil {
			return err
		}
		recorded, err := s.recordReply(ctx, tx, actor, cmdID, kind, reply, now)
		if err != nil {
			return err
		}
		if !recorded {
			return errRecorded
		}
		res = v
		return nil
	})
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, errRefused) && !finalRefusal(refusal):
		reply, err := encodeReply(kind, zero, refusal)
		if err != nil {
			return zero, err
		}
		recorded, err := s.recordReply(ctx, s.db, actor, cmdID, kind, reply, now)
		if err != nil {
			return zero, err
		}
		if recorded {
			return zero, refusal
		}
	case !errors.Is(err, errRefused) && !errors.Is(err, errRecorded):
		return zero, err
	}
	// A reply may be recorded by an earlier (or concurrent, now committed)
	// run; a final refusal stands otherwise.
	found, v, rerr, err := replayIfRecorded[T](ctx, s, s.db, actor, cmdID, kind)
	switch {
	case err != nil:
		return zero, err
	case found:
		return v, rerr
	case refusal != nil:
		return zero, refusal
	}
	return zero, fmt.Errorf("command %q: reply vanished", cmdID)
}

// replayIfRecorded returns the recorded reply of a command, if it has
// one: its result, or its refusal as an error with the original message
// that wraps the same sentinel.
func replayIfRecorded[T any](ctx context.Context, s *Store, q querier, actor, cmdID, kind string) (found bool, res T, refusal, err error) {
	var storedKind, raw string
	err = q.QueryRowContext(ctx, s.dialect.rebind(`SELECT kind, reply FROM commands WHERE actor = ? AND cmd_id = ?`),
		actor, cmdID).Scan(&storedKind, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		return false, res, nil, nil
	}
	if err != nil {
		return false, res, nil, fmt.Errorf("read command: %w", err)
	}
	res, refusal = decodeReply[T](kind, cmdID, storedKind, raw)
	var re *replayedError
	if refusal != nil && !errors.As(refusal, &re) {
		return false, res, nil, refusal // undecodable: an internal error
	}
	return true, res, refusal, nil
}

// decodeReply decodes a recorded reply. A refusal comes back as a
// *replayedError; any other error means the record is unreadable.
func decodeReply[T any](kind, cmdID, storedKind, raw string) (T, error) {
	var (
		zero  T
		reply storedReply
	)
	if storedKind != kind {
		return zero, &replayedError{
			msg:      fmt.Sprintf("%s: %v: command id %q was already used for %s", kind, ErrInvalid, cmdID, storedKind),
			sentinel: ErrInvalid,
		}
	}
	if err := json.Unmarshal([]byte(raw), &reply); err != nil {
		return zero, fmt.Errorf("read command %q: stored reply: %w", cmdID, err)
	}
	if !reply.OK {
		if reply.Error == nil {
			return zero, fmt.Errorf("read command %q: stored reply has neither result nor error", cmdID)
		}
		sentinel := sentinels[reply.Error.Code]
		if sentinel == nil {
			sentinel = &Error{code: reply.Error.Code, text: reply.Error.Code}
		}
		return zero, &replayedError{msg: reply.Error.Message, sentinel: sentinel}
	}
	var res T
	if err := json.Unmarshal(reply.Result, &res); err != nil {
		return zero, fmt.Errorf("read command %q: stored result: %w", cmdID, err)
	}
	if r, ok := any(&res).(replayable); ok {
		r.markReplayed()
	}
	return res, nil
}

// PruneCommands deletes the stored replies of commands done before before
// and returns how many it deleted. A client retries a command within
// seconds or minutes; a day's worth is plenty.
func (s *Store) PruneCommands(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`DELETE FROM commands WHERE created_at < ?`), before.UTC())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune commands: %w", err)
	}
	return n, nil
}
