package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Coupon is a coupon drop: the first Quantity viewers to claim it, one
// claim each, get DiscountWon off one order. Claims are possible until
// ExpiresAt, while the merchant has not closed it and the broadcast is
// live; a claim, once had, can be used in an order later.
type Coupon struct {
	ID          int64     `json:"id"`
	BroadcastID int64     `json:"broadcast_id"`
	Title       string    `json:"title"`
	DiscountWon int64     `json:"discount_won"`
	Quantity    int       `json:"quantity"`
	Remaining   int       `json:"remaining"`
	ExpiresAt   time.Time `json:"expires_at"`
	Closed      bool      `json:"closed"`
	CreatedAt   time.Time `json:"created_at"`

	// Replayed is set when DropCoupon returns the stored reply of an
	// earlier command with the same id.
	Replayed bool `json:"-"`
}

func (c *Coupon) markReplayed() { c.Replayed = true }

// Open reports whether the coupon can be claimed at now, stock permitting.
func (c Coupon) Open(now time.Time) bool { return !c.Closed && now.Before(c.ExpiresAt) }

// CouponInput is a coupon to drop.
type CouponInput struct {
	Title       string
	DiscountWon int64         // 1 to 1,000,000
	Quantity    int           // 1 to 100,000
	ExpiresIn   time.Duration // 1 s to 24 h
}

// Claim is a viewer's claim of a coupon.
type Claim struct {
	ID          int64     `json:"id"`
	CouponID    int64     `json:"coupon_id"`
	ViewerID    int64     `json:"viewer_id"`
	ClaimedAt   time.Time `json:"claimed_at"`
	UsedByOrder int64     `json:"used_by_order"` // 0 while unused
}

// ClaimResult is the reply to a claim: the claim and how many of the coupon
// were left right after it.
type ClaimResult struct {
	Claim     Claim `json:"claim"`
	Remaining int   `json:"remaining"`

	// Replayed is set when ClaimCoupon returns the stored reply of an
	// earlier command with the same id.
	Replayed bool `json:"-"`
}

func (r *ClaimResult) markReplayed() { r.Replayed = true }

// Limits on coupons.
const (
	maxDiscountWon    = 1_000_000
	maxCouponQuantity = 100_000
	minCouponDuration = time.Second
	maxCouponDuration = 24 * time.Hour
)

// DropCoupon drops a coupon in the channel's live broadcast, as the
// merchant's command cmdID (see runCommand: a retried drop does not drop a
// second coupon). It returns an error wrapping ErrInvalid for bad input,
// ErrNotFound if the broadcast is not the channel's, and ErrNotLive.
func (s *Store) DropCoupon(ctx context.Context, cmdID string, channelID, broadcastID int64, in CouponInput) (Coupon, error) {
	title, err := cleanText("coupon title", in.Title, maxCouponTitleLen, true, false)
	if err == nil && (in.DiscountWon < 1 || in.DiscountWon > maxDiscountWon) {
		err = fmt.Errorf("%w: discount must be from 1 to %d won, not %d", ErrInvalid, maxDiscountWon, in.DiscountWon)
	}
	if err == nil && (in.Quantity < 1 || in.Quantity > maxCouponQuantity) {
		err = fmt.Errorf("%w: quantity must be from 1 to %d, not %d", ErrInvalid, maxCouponQuantity, in.Quantity)
	}
	if err == nil && (in.ExpiresIn < minCouponDuration || in.ExpiresIn > maxCouponDuration) {
		err = fmt.Errorf("%w: a coupon must last from %v to %v, not %v", ErrInvalid, minCouponDuration, maxCouponDuration, in.ExpiresIn)
	}
	if err != nil {
		return Coupon{}, fmt.Errorf("drop coupon: %w", err)
	}
	return runCommand(ctx, s, merchantActor(channelID), cmdID, "drop coupon",
		func(ctx context.Context, tx *sql.Tx, now time.Time) (Coupon, error) {
			if _, err := s.liveChannelBroadcast(ctx, tx, channelID, broadcastID); err != nil {
				return Coupon{}, err
			}
			c := Coupon{
				BroadcastID: broadcastID, Title: title, DiscountWon: in.DiscountWon,
				Quantity: in.Quantity, Remaining: in.Quantity,
				ExpiresAt: now.Add(in.ExpiresIn).Truncate(time.Microsecond), CreatedAt: now,
			}
			err := tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO coupons
(broadcast_id, title, discount_won, quantity, remaining, expires_at, closed, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
				c.BroadcastID, c.Title, c.DiscountWon, c.Quantity, c.Remaining, c.ExpiresAt, false, c.CreatedAt).Scan(&c.ID)
			return c, err
		})
}

// ClaimCoupon claims a coupon for a viewer, as the viewer's command cmdID
// (see runCommand). A coupon of quantity N is granted to exactly N
// viewers, one claim each, however many claim at once. It returns an error
// wrapping ErrNotFound (no such coupon in the viewer's channel),
// ErrBanned, ErrAlreadyClaimed, ErrClosed, ErrExpired or ErrSoldOut.
func (s *Store) ClaimCoupon(ctx context.Context, cmdID string, viewerID, couponID int64) (ClaimResult, error) {
	actor := viewerActor(viewerID)
	var group func(ctx context.Context) (ClaimResult, error)
	if s.claims != nil {
		group = func(ctx context.Context) (ClaimResult, error) {
			return s.claims.claim(ctx, actor, cmdID, viewerID, couponID)
		}
	}
	return runCheckedCommand(ctx, s, actor, cmdID, "claim coupon",
		func(ctx context.Context, q querier, now time.Time, rec *recordLookup) error {
			l, err := s.lookAtClaim(ctx, q, rec, viewerID, couponID)
			if err != nil {
				return err
			}
			return l.refusal(now)
		},
		func(ctx context.Context, tx *sql.Tx, now time.Time) (ClaimResult, error) {
			return s.claimCoupon(ctx, tx, now, viewerID, couponID)
		}, group)
}

// claimLook is what a claim needs to know about its viewer and coupon.
type claimLook struct {
	viewerID, couponID int64
	viewerChannel      int64
	banned             bool
	channelID          sql.NullInt64 // the coupon's; NULL if there is no such coupon
	closed             sql.NullBool
	ended              bool
	expires            sql.NullTime
	remaining          sql.NullInt64
	claimed            bool
}

// lookAtClaim reads, in one statement and without locks, the viewer, the
// coupon and whether the viewer has claimed it, and with rec (if not nil)
// the claim command's recorded reply.
func (s *Store) lookAtClaim(ctx context.Context, q querier, rec *recordLookup, viewerID, couponID int64) (claimLook, error) {
	l := claimLook{viewerID: viewerID, couponID: couponID}
	var (
		cols string
		args []any
		dest []any
	)
	if rec != nil {
		cols, args, dest = rec.Columns+", ", rec.Args, rec.Dest
	}
	err := q.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+cols+`v.channel_id, v.banned,
    b.channel_id, c.closed, b.ended_at IS NOT NULL, c.expires_at, c.remaining,
    EXISTS (SELECT 1 FROM coupon_claims WHERE coupon_id = c.id AND viewer_id = v.id)
FROM viewers v
LEFT JOIN coupons c ON c.id = ?
LEFT JOIN broadcasts b ON b.id = c.broadcast_id
WHERE v.id = ?`), append(args[:len(args):len(args)], couponID, viewerID)...).
		Scan(append(dest[:len(dest):len(dest)], &l.viewerChannel, &l.banned, &l.channelID, &l.closed, &l.ended, &l.expires, &l.remaining, &l.claimed)...)
	if errors.Is(err, sql.ErrNoRows) {
		return claimLook{}, fmt.Errorf("viewer %d: %w", viewerID, ErrNotFound)
	}
	return l, err
}

// refusal returns why the claim is refused at now, or nil. The final
// refusals (see finalRefusal) come first, so that a retry of a refused
// claim is refused for the same reason.
func (l claimLook) refusal(now time.Time) error {
	switch {
	case !l.channelID.Valid || l.channelID.Int64 != l.viewerChannel:
		return fmt.Errorf("coupon %d: %w", l.couponID, ErrNotFound)
	case l.claimed:
		return fmt.Errorf("coupon %d: %w", l.couponID, ErrAlreadyClaimed)
	case l.remaining.Int64 <= 0:
		return fmt.Errorf("coupon %d: %w", l.couponID, ErrSoldOut)
	case l.banned:
		return fmt.Errorf("viewer %d: %w", l.viewerID, ErrBanned)
	case l.closed.Bool || l.ended:
		return fmt.Errorf("coupon %d: %w", l.couponID, ErrClosed)
	case !now.Before(l.expires.Time):
		return fmt.Errorf("coupon %d: %w", l.couponID, ErrExpired)
	}
	return nil
}

func (s *Store) claimCoupon(ctx context.Context, tx *sql.Tx, now time.Time, viewerID, couponID int64) (ClaimResult, error) {
	// The look again, inside the transaction: the precheck's may be stale.
	l, err := s.lookAtClaim(ctx, tx, nil, viewerID, couponID)
	if err != nil {
		return ClaimResult{}, err
	}
	if err := l.refusal(now); err != nil {
		return ClaimResult{}, err
	}

	// The claim first: the unique key (coupon, viewer) makes a concurrent
	// claim by the same viewer wait for this transaction and then find it.
	r := ClaimResult{Claim: Claim{CouponID: couponID, ViewerID: viewerID, ClaimedAt: now}}
	err = tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO coupon_claims (coupon_id, viewer_id, claimed_at)
VALUES (?, ?, ?)
ON CONFLICT (coupon_id, viewer_id) DO NOTHING
RETURNING id`), couponID, viewerID, now).Scan(&r.Claim.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return ClaimResult{}, fmt.Errorf("coupon %d: %w", couponID, ErrAlreadyClaimed)
	}
	if err != nil {
		return ClaimResult{}, err
	}
	// Then the count, last, so that the coupon's row lock is held only
	// until the commit: the UPDATE waits for a concurrent claim's lock and
	// re-checks remaining > 0 on the row that claim left, so remaining can
	// never go below zero or grant more than Quantity.
	var closed bool
	err = tx.QueryRowContext(ctx, s.dialect.rebind(`UPDATE coupons SET remaining = remaining - 1
WHERE id = ? AND remaining > 0
RETURNING remaining, closed`), couponID).Scan(&r.Remaining, &closed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Sold out since the first look. The caller rolls back the claim.
		return ClaimResult{}, fmt.Errorf("coupon %d: %w", couponID, ErrSoldOut)
	case err != nil:
		return ClaimResult{}, err
	case closed:
		// Closed since the first look; the caller rolls back the count.
		return ClaimResult{}, fmt.Errorf("coupon %d: %w", couponID, ErrClosed)
	}
	return r, nil
}

// CloseCoupon closes one of the channel's coupons: no more claims. Claims
// already made stay valid. Closing a closed coupon changes nothing.
func (s *Store) CloseCoupon(ctx context.Context, channelID, couponID int64) (Coupon, error) {
	var c Coupon
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE coupons SET closed = ?
WHERE id = ? AND broadcast_id IN (SELECT id FROM broadcasts WHERE channel_id = ?)`), true, couponID, channelID)
		if err := oneRow(res, err); err != nil {
			return fmt.Errorf("coupon %d: %w", couponID, err)
		}
		c, err = s.coupon(ctx, tx, couponID)
		return err
	})
	if err != nil {
		return Coupon{}, fmt.Errorf("close coupon: %w", err)
	}
	return c, nil
}

const couponColumns = `id, broadcast_id, title, discount_won, quantity, remaining, expires_at, closed, created_at`

func scanCoupon(sc interface{ Scan(...any) error }) (Coupon, error) {
	var c Coupon
	err := sc.Scan(&c.ID, &c.BroadcastID, &c.Title, &c.DiscountWon, &c.Quantity, &c.Remaining, &c.ExpiresAt, &c.Closed, &c.CreatedAt)
	c.ExpiresAt, c.CreatedAt = c.ExpiresAt.UTC(), c.CreatedAt.UTC()
	return c, err
}

// Coupon returns the coupon with the id, or an error wrapping ErrNotFound.
func (s *Store) Coupon(ctx context.Context, couponID int64) (Coupon, error) {
	c, err := s.coupon(ctx, s.rdb, couponID)
	if err != nil {
		return Coupon{}, fmt.Errorf("get coupon: %w", err)
	}
	return c, nil
}

func (s *Store) coupon(ctx context.Context, q querier, couponID int64) (Coupon, error) {
	c, err := scanCoupon(q.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+couponColumns+` FROM coupons WHERE id = ?`), couponID))
	if errors.Is(err, sql.ErrNoRows) {
		return Coupon{}, fmt.Errorf("coupon %d: %w", couponID, ErrNotFound)
	}
	return c, err
}

// Coupons returns a broadcast's coupons, oldest first: all of them, or with
// openOnly those still open (Coupon.Open), sold out or not, which is what
// the room shows a viewer who joins.
func (s *Store) Coupons(ctx context.Context, broadcastID int64, openOnly bool) ([]Coupon, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+couponColumns+` FROM coupons
WHERE broadcast_id = ? ORDER BY id`), broadcastID)
	if err != nil {
		return nil, fmt.Errorf("list coupons: %w", err)
	}
	defer rows.Close()
	now := s.timestamp()
	cs := []Coupon{}
	for rows.Next() {
		c, err := scanCoupon(rows)
		if err != nil {
			return nil, fmt.Errorf("list coupons: %w", err)
		}
		if !openOnly || c.Open(now) {
			cs = append(cs, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list coupons: %w", err)
	}
	return cs, nil
}

// Claims returns a viewer's claims of a broadcast's coupons, oldest first:
// what the room shows a viewer who comes back.
func (s *Store) Claims(ctx context.Context, viewerID, broadcastID int64) ([]Claim, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT cc.id, cc.coupon_id, cc.viewer_id, cc.claimed_at, cc.used_by_order
FROM coupon_claims cc JOIN coupons c ON c.id = cc.coupon_id
WHERE cc.viewer_id = ? AND c.broadcast_id = ? ORDER BY cc.id`), viewerID, broadcastID)
	if err != nil {
		return nil, fmt.Errorf("list claims: %w", err)
	}
	defer rows.Close()
	cs := []Claim{}
	for rows.Next() {
		var (
			c    Claim
			used sql.NullInt64
		)
		if err := rows.Scan(&c.ID, &c.CouponID, &c.ViewerID, &c.ClaimedAt, &used); err != nil {
			return nil, fmt.Errorf("list claims: %w", err)
		}
		c.ClaimedAt, c.UsedByOrder = c.ClaimedAt.UTC(), used.Int64
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list claims: %w", err)
	}
	return cs, nil
}
