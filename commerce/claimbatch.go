package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// claimBatcher is PostgreSQL's group commit for coupon claims.
//
// A claim takes the coupon's row lock to count itself down and holds it
// until its commit has reached the disk, so one claim at a time per coupon
// can be committing: a rush of a hundred grants was a hundred fsyncs in a
// row, and the thousands of claims behind them waited in the pool. The
// batcher takes the claims waiting at a moment, all coupons together, and
// decides them in one transaction of six statements whatever their number:
// lock the coupons, read every claim's viewer, coupon and recorded reply,
// decide in memory in arrival order, then insert the grants, count the
// coupons down and record the replies, each in one statement. The replies
// go out after the commit, so every acknowledged grant is durable, as
// before.
//
// It gives the same answers as claimCoupon and runCommand would one claim
// at a time in arrival order; the contract tests run the same checks on
// both backends.
type claimBatcher struct {
	s       *Store
	reqs    chan *claimReq // unbuffered, as the SQLite writer's queue
	quit    chan struct{}
	stopped chan struct{}

	batches atomic.Int64 // transactions run
	claims  atomic.Int64 // claims decided in them
}

// maxClaimBatch bounds one transaction's claims; the arrays go to the
// server as parameters, so a batch is one round trip per statement.
const maxClaimBatch = 1024

type claimReq struct {
	viewerID, couponID int64
	actor, cmdID       string
	state              atomic.Int32 // opQueued, then opTaken or opAbandoned, as writeOp
	done               chan claimOutcome
}

type claimOutcome struct {
	res ClaimResult
	err error
}

func startClaimBatcher(s *Store) *claimBatcher {
	b := &claimBatcher{s: s, reqs: make(chan *claimReq), quit: make(chan struct{}), stopped: make(chan struct{})}
	go b.run()
	return b
}

func (b *claimBatcher) stop() {
	close(b.quit)
	<-b.stopped
}

// claim decides a claim in the next batch. A refusal is a domain error, or
// a *replayedError for a reply recorded earlier, as runCommand returns.
func (b *claimBatcher) claim(ctx context.Context, actor, cmdID string, viewerID, couponID int64) (ClaimResult, error) {
	req := &claimReq{viewerID: viewerID, couponID: couponID, actor: actor, cmdID: cmdID, done: make(chan claimOutcome, 1)}
	select {
	case b.reqs <- req:
	case <-b.quit:
		return ClaimResult{}, errStoreClosed
	case <-ctx.Done():
		return ClaimResult{}, ctx.Err()
	}
	select {
	case o := <-req.done:
		return o.res, o.err
	case <-ctx.Done():
		if req.state.CompareAndSwap(opQueued, opAbandoned) {
			return ClaimResult{}, ctx.Err()
		}
		o := <-req.done
		return o.res, o.err
	}
}

func (b *claimBatcher) run() {
	defer close(b.stopped)
	batch := make([]*claimReq, 0, maxClaimBatch)
	for {
		select {
		case r := <-b.reqs:
			batch = append(batch[:0], r)
		case <-b.quit:
			return
		}
	collect:
		for len(batch) < maxClaimBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break collect
			}
		}
		taken := batch[:0]
		for _, r := range batch {
			if r.state.CompareAndSwap(opQueued, opTaken) {
				taken = append(taken, r)
			}
		}
		if len(taken) > 0 {
			b.decide(taken)
		}
		clear(batch)
	}
}

// errBatchRace undoes a batch that found a command id recorded by another
// kind of command between its read and its insert; the batch runs again
// and then reads that record.
var errBatchRace = errors.New("a command id was recorded concurrently")

// decide runs one batch and answers each claim.
func (b *claimBatcher) decide(reqs []*claimReq) {
	ctx := context.Background() // the batch is shared: no one caller may cancel it
	var outs []claimOutcome
	var err error
	for attempt := 1; ; attempt++ {
		err = b.s.runTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var err error
			outs, err = b.s.claimBatch(ctx, tx, b.s.timestamp(), reqs)
			return err
		})
		if err == nil || attempt == maxClaimAttempts || !errors.Is(err, errBatchRace) && !pgRetryable(err) {
			break
		}
	}
	b.batches.Add(1)
	b.claims.Add(int64(len(reqs)))
	for i, r := range reqs {
		if err != nil {
			r.done <- claimOutcome{err: fmt.Errorf("claim batch: %w", err)}
			continue
		}
		r.done <- outs[i]
	}
}

// maxClaimAttempts is how many times a batch that lost a deadlock or a
// command-id race runs before its claims get the error.
const maxClaimAttempts = 5

// pgRetryable reports whether err is a PostgreSQL deadlock or serialization
// failure, after which the same transaction may well succeed.
func pgRetryable(err error) bool {
	code := pgErrorCode(err)
	return code == "40001" || code == "40P01"
}

// claimBatch decides reqs in tx at now: the same outcome for each as
// ClaimCoupon's command would give one at a time in this order.
func (s *Store) claimBatch(ctx context.Context, tx *sql.Tx, now time.Time, reqs []*claimReq) ([]claimOutcome, error) {
	n := len(reqs)
	viewers, coupons := make([]int64, n), make([]int64, n)
	actors, cmds := make([]string, n), make([]string, n)
	for i, r := range reqs {
		viewers[i], coupons[i], actors[i], cmds[i] = r.viewerID, r.couponID, r.actor, r.cmdID
	}
	// The coupons' row locks first, in id order: the counts read next stay
	// true until the commit, and a concurrent close waits for it.
	if _, err := tx.ExecContext(ctx, `SELECT id FROM coupons WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE`, coupons); err != nil {
		return nil, fmt.Errorf("lock coupons: %w", err)
	}
	looks, recs, err := s.lookAtClaims(ctx, tx, viewers, coupons, actors, cmds)
	if err != nil {
		return nil, err
	}

	type pair struct{ coupon, viewer int64 }
	var (
		outs      = make([]claimOutcome, n)
		remaining = map[int64]int64{} // by coupon, as this batch leaves it
		claimedBy = map[pair]bool{}   // granted in this batch
		first     = map[string]int{}  // index of each command id's first run in the batch
		dups      = map[int]int{}     // a command sent again within the batch: its first run
		grants    []int               // indexes of reqs granted
		toRecord  []int               // indexes of reqs whose reply is recorded
		replies   = make([]string, n)
	)
	for i, r := range reqs {
		key := r.actor + "\x00" + r.cmdID
		rec := recs[i]
		if j, ok := first[key]; ok && !rec.reply.Valid {
			dups[i] = j // answered below, once the first's reply is known
			continue
		}
		first[key] = i
		if rec.reply.Valid {
			outs[i].res, outs[i].err = decodeReply[ClaimResult]("claim coupon", r.cmdID, rec.kind.String, rec.reply.String)
			continue
		}
		l := looks[i]
		if l.remaining.Valid {
			if left, ok := remaining[r.couponID]; ok {
				l.remaining.Int64 = left
			}
		}
		l.claimed = l.claimed || claimedBy[pair{r.couponID, r.viewerID}]
		if l.viewerChannel == 0 {
			outs[i].err = fmt.Errorf("viewer %d: %w", r.viewerID, ErrNotFound)
		} else {
			outs[i].err = l.refusal(now)
		}
		if outs[i].err == nil {
			left := l.remaining.Int64 - 1
			remaining[r.couponID] = left
			claimedBy[pair{r.couponID, r.viewerID}] = true
			grants = append(grants, i)
			outs[i].res = ClaimResult{Claim: Claim{CouponID: r.couponID, ViewerID: r.viewerID, ClaimedAt: now}, Remaining: int(left)}
		}
		if outs[i].err != nil && finalRefusal(outs[i].err) {
			continue // not recorded, as in runCommand
		}
		toRecord = append(toRecord, i)
	}

	if err := s.insertClaims(ctx, tx, now, reqs, grants, outs); err != nil {
		return nil, err
	}
	if len(remaining) > 0 {
		ids, lefts := make([]int64, 0, len(remaining)), make([]int64, 0, len(remaining))
		for id, left := range remaining {
			ids, lefts = append(ids, id), append(lefts, left)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE coupons SET remaining = u.remaining
FROM unnest($1::bigint[], $2::bigint[]) AS u(id, remaining) WHERE coupons.id = u.id`, ids, lefts); err != nil {
			return nil, fmt.Errorf("count coupons down: %w", err)
		}
	}
	if err := s.recordClaims(ctx, tx, now, reqs, toRecord, outs, replies); err != nil {
		return nil, err
	}
	// A command sent twice in one batch gets what a retry after the first
	// would: its recorded reply, or the same final refusal.
	for i, j := range dups {
		if replies[j] != "" {
			outs[i].res, outs[i].err = decodeReply[ClaimResult]("claim coupon", reqs[i].cmdID, "claim coupon", replies[j])
		} else {
			outs[i] = outs[j]
		}
	}
	return outs, nil
}

// recordClaims records the replies of reqs[toRecord], setting replies.
func (s *Store) recordClaims(ctx context.Context, tx *sql.Tx, now time.Time, reqs []*claimReq, toRecord []int, outs []claimOutcome, replies []string) error {
	if len(toRecord) == 0 {
		return nil
	}
	recActors, recCmds, recReplies := make([]string, len(toRecord)), make([]string, len(toRecord)), make([]string, len(toRecord))
	for j, i := range toRecord {
		var err error
		if replies[i], err = encodeReply("claim coupon", outs[i].res, outs[i].err); err != nil {
			return err
		}
		recActors[j], recCmds[j], recReplies[j] = reqs[i].actor, reqs[i].cmdID, replies[i]
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO commands (actor, cmd_id, kind, reply, created_at)
SELECT u.actor, u.cmd_id, 'claim coupon', u.reply, $4
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(actor, cmd_id, reply)
ON CONFLICT (actor, cmd_id) DO NOTHING`, recActors, recCmds, recReplies, now)
	if err != nil {
		return fmt.Errorf("record commands: %w", err)
	}
	if got, err := res.RowsAffected(); err != nil || got != int64(len(toRecord)) {
		return errors.Join(errBatchRace, err)
	}
	return nil
}

// lookAtClaims is lookAtClaim for many claims in one statement, with their
// recorded replies.
func (s *Store) lookAtClaims(ctx context.Context, tx *sql.Tx, viewers, coupons []int64, actors, cmds []string) ([]claimLook, []recordLookup, error) {
	rows, err := tx.QueryContext(ctx, `SELECT r.i, cm.kind, cm.reply, v.channel_id, v.banned,
    b.channel_id, c.closed, b.ended_at IS NOT NULL, c.expires_at, c.remaining,
    EXISTS (SELECT 1 FROM coupon_claims WHERE coupon_id = r.coupon AND viewer_id = r.viewer)
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS r(viewer, coupon, actor, cmd_id, i)
LEFT JOIN commands cm ON cm.actor = r.actor AND cm.cmd_id = r.cmd_id
LEFT JOIN viewers v ON v.id = r.viewer
LEFT JOIN coupons c ON c.id = r.coupon
LEFT JOIN broadcasts b ON b.id = c.broadcast_id`, viewers, coupons, actors, cmds)
	if err != nil {
		return nil, nil, fmt.Errorf("look at claims: %w", err)
	}
	defer rows.Close()
	looks, recs := make([]claimLook, len(viewers)), make([]recordLookup, len(viewers))
	for rows.Next() {
		var (
			i             int
			viewerChannel sql.NullInt64
			banned        sql.NullBool
			ended         sql.NullBool
			l             claimLook
			rec           recordLookup
		)
		if err := rows.Scan(&i, &rec.kind, &rec.reply, &viewerChannel, &banned,
			&l.channelID, &l.closed, &ended, &l.expires, &l.remaining, &l.claimed); err != nil {
			return nil, nil, fmt.Errorf("look at claims: %w", err)
		}
		i-- // ORDINALITY counts from 1
		l.viewerID, l.couponID = viewers[i], coupons[i]
		l.viewerChannel, l.banned, l.ended = viewerChannel.Int64, banned.Bool, ended.Bool
		looks[i], recs[i] = l, rec
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("look at claims: %w", err)
	}
	return looks, recs, nil
}

// insertClaims inserts the granted claims and sets their ids in outs.
func (s *Store) insertClaims(ctx context.Context, tx *sql.Tx, now time.Time, reqs []*claimReq, grants []int, outs []claimOutcome) error {
	if len(grants) == 0 {
		return nil
	}
	cs, vs := make([]int64, len(grants)), make([]int64, len(grants))
	at := map[[2]int64]int{}
	for j, i := range grants {
		cs[j], vs[j] = reqs[i].couponID, reqs[i].viewerID
		at[[2]int64{cs[j], vs[j]}] = i
	}
	rows, err := tx.QueryContext(ctx, `INSERT INTO coupon_claims (coupon_id, viewer_id, claimed_at)
SELECT u.coupon, u.viewer, $3 FROM unnest($1::bigint[], $2::bigint[]) AS u(coupon, viewer)
ON CONFLICT (coupon_id, viewer_id) DO NOTHING
RETURNING id, coupon_id, viewer_id`, cs, vs, now)
	if err != nil {
		return fmt.Errorf("insert claims: %w", err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var id, c, v int64
		if err := rows.Scan(&id, &c, &v); err != nil {
			return fmt.Errorf("insert claims: %w", err)
		}
		outs[at[[2]int64{c, v}]].res.Claim.ID = id
		got++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("insert claims: %w", err)
	}
	if got != len(grants) {
		// A claim committed outside the batcher since the look; decide again.
		return errBatchRace
	}
	return nil
}
