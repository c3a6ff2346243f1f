package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// OrderStatus is where an order is in its life:
//
//	placed ──> accepted ──> ready ──> picked_up
//	  │ │          │          │
//	  │ └──────────┴──────────┴──> rejected   (merchant)
//	  └──> cancelled                          (buyer, before it is accepted)
//
// Rejecting or cancelling an order returns its stock and frees its coupon
// claim for another order.
type OrderStatus string

// The order statuses.
const (
	StatusPlaced    OrderStatus = "placed"
	StatusAccepted  OrderStatus = "accepted"
	StatusReady     OrderStatus = "ready"
	StatusPickedUp  OrderStatus = "picked_up"
	StatusRejected  OrderStatus = "rejected"
	StatusCancelled OrderStatus = "cancelled"
)

// Who changed an order's status.
const (
	ActorBuyer    = "buyer"
	ActorMerchant = "merchant"
)

// transitions lists, for each status, the statuses it can change to and
// who may change it so.
var transitions = map[OrderStatus]map[OrderStatus]string{
	StatusPlaced:   {StatusAccepted: ActorMerchant, StatusRejected: ActorMerchant, StatusCancelled: ActorBuyer},
	StatusAccepted: {StatusReady: ActorMerchant, StatusRejected: ActorMerchant},
	StatusReady:    {StatusPickedUp: ActorMerchant, StatusRejected: ActorMerchant},
}

// Valid reports whether st is one of the statuses.
func (st OrderStatus) Valid() bool {
	switch st {
	case StatusPlaced, StatusAccepted, StatusReady, StatusPickedUp, StatusRejected, StatusCancelled:
		return true
	}
	return false
}

// CanChange reports whether actor (ActorBuyer or ActorMerchant) may change
// an order from status from to status to.
func CanChange(from, to OrderStatus, actor string) bool {
	return transitions[from][to] == actor && actor != ""
}

// returnsStock reports whether moving to st gives the order's stock and
// coupon back.
func returnsStock(st OrderStatus) bool { return st == StatusRejected || st == StatusCancelled }

// Buyer is who picks an order up.
type Buyer struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// ItemInput is a line of an order being placed.
type ItemInput struct {
	ProductID int64
	Qty       int
}

// OrderSource is where an order was placed.
type OrderSource string

// The order sources.
const (
	SourceLive   OrderSource = "live"   // in the live room
	SourceReplay OrderSource = "replay" // from a broadcast's replay page
)

// OrderInput is an order being placed.
type OrderInput struct {
	BroadcastID int64 // the broadcast it was placed in; 0 for none
	Items       []ItemInput
	CouponID    int64 // a coupon the viewer claimed, to use; 0 for none
	Buyer       Buyer
	Note        string
}

// OrderItem is a line of an order, with the product's name and price as
// they were when the order was placed.
type OrderItem struct {
	ProductID    int64  `json:"product_id"`
	Name         string `json:"name"`
	UnitPriceWon int64  `json:"unit_price_won"`
	Qty          int    `json:"qty"`
}

// LineTotalWon is the line's price.
func (it OrderItem) LineTotalWon() int64 { return it.UnitPriceWon * int64(it.Qty) }

// Order is an order for pickup at the stall. The amounts are the Store's:
// SubtotalWon is the sum of the lines, DiscountWon the coupon's discount
// (at most the subtotal) and TotalWon what the buyer pays.
type Order struct {
	ID          int64       `json:"id"`
	ChannelID   int64       `json:"channel_id"`
	BroadcastID int64       `json:"broadcast_id"` // 0 if placed outside a broadcast
	ViewerID    int64       `json:"viewer_id"`
	Buyer       Buyer       `json:"buyer"`
	Note        string      `json:"note"`
	Items       []OrderItem `json:"items"`
	SubtotalWon int64       `json:"subtotal_won"`
	DiscountWon int64       `json:"discount_won"`
	TotalWon    int64       `json:"total_won"`
	CouponID    int64       `json:"coupon_id"` // 0 if no coupon was used
	ClaimID     int64       `json:"claim_id"`
	Status      OrderStatus `json:"status"`
	Source      OrderSource `json:"source"`
	// Practice marks an order of a practice broadcast: it reserved no real
	// stock and no report counts it.
	Practice  bool      `json:"practice"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Replayed is set when PlaceOrder, CancelOrder or SetOrderStatus returns
	// the stored reply of an earlier command with the same id.
	Replayed bool `json:"-"`
}

func (o *Order) markReplayed() { o.Replayed = true }

// StatusChange is an entry of an order's history. From is "" for the
// placing of the order.
type StatusChange struct {
	From  OrderStatus `json:"from"`
	To    OrderStatus `json:"to"`
	Actor string      `json:"actor"`
	At    time.Time   `json:"at"`
}

// Limits on orders.
const (
	maxOrderLines = 30
	maxLineQty    = 999
)

// cleanOrder checks an order's input and returns its lines merged by
// product and sorted by product id (the order in which stock rows are
// locked, the same in every transaction, so that two orders cannot
// deadlock), its buyer and its note.
func cleanOrder(in OrderInput) ([]ItemInput, Buyer, string, error) {
	if len(in.Items) == 0 {
		return nil, Buyer{}, "", fmt.Errorf("%w: an order needs at least one item", ErrInvalid)
	}
	if len(in.Items) > maxOrderLines {
		return nil, Buyer{}, "", fmt.Errorf("%w: an order has at most %d items, not %d", ErrInvalid, maxOrderLines, len(in.Items))
	}
	qty := map[int64]int{}
	var ids []int64
	for _, it := range in.Items {
		if it.ProductID <= 0 {
			return nil, Buyer{}, "", fmt.Errorf("%w: product id %d", ErrInvalid, it.ProductID)
		}
		if it.Qty < 1 || it.Qty > maxLineQty {
			return nil, Buyer{}, "", fmt.Errorf("%w: quantity must be from 1 to %d, not %d", ErrInvalid, maxLineQty, it.Qty)
		}
		if _, ok := qty[it.ProductID]; !ok {
			ids = append(ids, it.ProductID)
		}
		qty[it.ProductID] += it.Qty
		if qty[it.ProductID] > maxLineQty {
			return nil, Buyer{}, "", fmt.Errorf("%w: quantity of product %d must be at most %d", ErrInvalid, it.ProductID, maxLineQty)
		}
	}
	slices.Sort(ids)
	items := make([]ItemInput, len(ids))
	for i, id := range ids {
		items[i] = ItemInput{ProductID: id, Qty: qty[id]}
	}
	if in.BroadcastID < 0 || in.CouponID < 0 {
		return nil, Buyer{}, "", fmt.Errorf("%w: negative id", ErrInvalid)
	}
	var (
		b   Buyer
		err error
	)
	if b.Name, err = cleanText("buyer name", in.Buyer.Name, maxBuyerNameLen, true, false); err != nil {
		return nil, Buyer{}, "", err
	}
	if b.Phone, err = cleanPhone(in.Buyer.Phone); err != nil {
		return nil, Buyer{}, "", err
	}
	note, err := cleanText("note", in.Note, maxNoteLen, false, true)
	if err != nil {
		return nil, Buyer{}, "", err
	}
	return items, b, note, nil
}

// PlaceOrder places a viewer's order, as the viewer's command cmdID (see
// runCommand). In one transaction it reserves the stock of every item (all
// or nothing), uses the coupon claim if asked, and computes the amounts
// from the products' current prices. It returns an error wrapping
// ErrInvalid for bad input, ErrNotFound for a product, coupon or broadcast
// not of the viewer's channel, ErrBanned, ErrOutOfStock, ErrNotClaimed or
// ErrCouponUsed; nothing changes then.
func (s *Store) PlaceOrder(ctx context.Context, cmdID string, viewerID int64, in OrderInput) (Order, error) {
	items, buyer, note, err := cleanOrder(in)
	if err != nil {
		return Order{}, fmt.Errorf("place order: %w", err)
	}
	return runCommand(ctx, s, viewerActor(viewerID), cmdID, "place order",
		func(ctx context.Context, tx *sql.Tx, now time.Time) (Order, error) {
			return s.placeOrder(ctx, tx, now, viewerID, in.BroadcastID, in.CouponID, items, buyer, note, SourceLive)
		})
}

// minReplayCmdIDLen is the shortest id of a replay order. Replay orders
// have no viewer to tell one customer's ids from another's: all share the
// broadcast's actor, so an id must be random enough (a UUID) that no one
// comes upon another's order, and its buyer's name and phone, by retrying
// a guessed id.
const minReplayCmdIDLen = 16

// replayActor names who sends replay orders: anyone on the broadcast's
// replay page.
func replayActor(broadcastID int64) string { return "r" + strconv.FormatInt(broadcastID, 10) }

// PlaceReplayOrder places an order from the replay of one of the channel's
// broadcasts (in.BroadcastID), by a customer without a room identity, as
// the command cmdID (empty, or 16 to 64 bytes) of the replay's page. The
// order is marked SourceReplay.
//
// Orders need a viewer (orders.viewer_id, the buyer's identity for
// cancelling and for the room's order events), so each replay order gets
// a new anonymous viewer of the channel, in the order's transaction, whose
// token no one holds: the same stock reservation, amounts and history as a
// live order then apply unchanged, through placeOrder. Coupons are for the
// live room's viewers: a coupon is refused (ErrInvalid). Errors are those
// of PlaceOrder; nothing changes then.
func (s *Store) PlaceReplayOrder(ctx context.Context, cmdID string, channelID int64, in OrderInput) (Order, error) {
	if cmdID != "" && len(cmdID) < minReplayCmdIDLen {
		return Order{}, fmt.Errorf("place replay order: %w: id must be at least %d characters (a random id such as a UUID), not %d",
			ErrInvalid, minReplayCmdIDLen, len(cmdID))
	}
	if in.CouponID != 0 {
		return Order{}, fmt.Errorf("place replay order: %w: coupons cannot be used in orders from a replay", ErrInvalid)
	}
	if in.BroadcastID <= 0 {
		return Order{}, fmt.Errorf("place replay order: %w: a broadcast is required", ErrInvalid)
	}
	items, buyer, note, err := cleanOrder(in)
	if err != nil {
		return Order{}, fmt.Errorf("place replay order: %w", err)
	}
	o, err := runCommand(ctx, s, replayActor(in.BroadcastID), cmdID, "place replay order",
		func(ctx context.Context, tx *sql.Tx, now time.Time) (Order, error) {
			// The broadcast is checked here as well as in placeOrder, so that
			// another channel's broadcast gets no viewer of this channel.
			b, err := s.broadcast(ctx, tx, in.BroadcastID)
			if err != nil {
				return Order{}, err
			}
			if b.ChannelID != channelID || b.Practice {
				// A rehearsal has no public replay to order from.
				return Order{}, fmt.Errorf("broadcast %d: %w", in.BroadcastID, ErrNotFound)
			}
			var viewerID int64
			if err := tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO viewers (channel_id, token_hash, created_at)
VALUES (?, ?, ?) RETURNING id`), channelID, hashSecret(newSecret()), now).Scan(&viewerID); err != nil {
				return Order{}, err
			}
			return s.placeOrder(ctx, tx, now, viewerID, in.BroadcastID, 0, items, buyer, note, SourceReplay)
		})
	if err != nil {
		return Order{}, fmt.Errorf("place replay order: %w", err)
	}
	return o, nil
}

func (s *Store) placeOrder(ctx context.Context, tx *sql.Tx, now time.Time, viewerID, broadcastID, couponID int64,
	items []ItemInput, buyer Buyer, note string, source OrderSource,
) (Order, error) {
	v, err := s.viewer(ctx, tx, viewerID)
	if err != nil {
		return Order{}, err
	}
	if v.Banned {
		return Order{}, fmt.Errorf("viewer %d: %w", viewerID, ErrBanned)
	}
	o := Order{
		ChannelID: v.ChannelID, BroadcastID: broadcastID, ViewerID: viewerID, Buyer: buyer, Note: note,
		Status: StatusPlaced, Source: source, CreatedAt: now, UpdatedAt: now,
	}
	if broadcastID != 0 {
		b, err := s.broadcast(ctx, tx, broadcastID)
		if err != nil {
			return Order{}, err
		}
		if b.ChannelID != v.ChannelID {
			return Order{}, fmt.Errorf("broadcast %d: %w", broadcastID, ErrNotFound)
		}
		o.Practice = b.Practice
	}

	// Reserve the stock, item by item in product order. The conditional
	// UPDATE takes the row lock and re-checks stock >= qty on the row as
	// the previous holder left it, so stock never goes below zero; one
	// failing item fails the order, and its caller rolls back the others.
	for _, it := range items {
		line := OrderItem{ProductID: it.ProductID, Qty: it.Qty}
		if o.Practice {
			if line, err = s.practiceLine(ctx, tx, v.ChannelID, broadcastID, it); err != nil {
				return Order{}, err
			}
			o.Items = append(o.Items, line)
			o.SubtotalWon += line.LineTotalWon()
			continue
		}
		err := tx.QueryRowContext(ctx, s.dialect.rebind(`UPDATE products SET stock = stock - ?
WHERE id = ? AND channel_id = ? AND deleted_at IS NULL AND stock >= ?
RETURNING name, price_won`), it.Qty, it.ProductID, v.ChannelID, it.Qty).Scan(&line.Name, &line.UnitPriceWon)
		if errors.Is(err, sql.ErrNoRows) {
			p, err := s.product(ctx, tx, v.ChannelID, it.ProductID)
			if err != nil {
				return Order{}, err
			}
			return Order{}, fmt.Errorf("%q: %d left, %d asked: %w", p.Name, p.Stock, it.Qty, ErrOutOfStock)
		}
		if err != nil {
			return Order{}, err
		}
		o.Items = append(o.Items, line)
		o.SubtotalWon += line.LineTotalWon() // at most 30 × 999 × 10^8: no overflow
	}

	var claimID int64
	if couponID != 0 {
		var (
			discount  int64
			channelID int64
			used      sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT cc.id, cc.used_by_order, c.discount_won, b.channel_id
FROM coupon_claims cc
JOIN coupons c ON c.id = cc.coupon_id
JOIN broadcasts b ON b.id = c.broadcast_id
WHERE cc.coupon_id = ? AND cc.viewer_id = ?`), couponID, viewerID).Scan(&claimID, &used, &discount, &channelID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			c, err := s.coupon(ctx, tx, couponID)
			if err != nil {
				return Order{}, err
			}
			b, err := s.broadcast(ctx, tx, c.BroadcastID)
			if err != nil {
				return Order{}, err
			}
			if b.ChannelID != v.ChannelID {
				return Order{}, fmt.Errorf("coupon %d: %w", couponID, ErrNotFound)
			}
			return Order{}, fmt.Errorf("coupon %d: %w", couponID, ErrNotClaimed)
		case err != nil:
			return Order{}, err
		case channelID != v.ChannelID: // cannot be: the viewer claimed it
			return Order{}, fmt.Errorf("coupon %d: %w", couponID, ErrNotFound)
		case used.Valid:
			return Order{}, fmt.Errorf("coupon %d: used by order %d: %w", couponID, used.Int64, ErrCouponUsed)
		}
		o.CouponID, o.ClaimID = couponID, claimID
		o.DiscountWon = min(discount, o.SubtotalWon)
	}
	o.TotalWon = o.SubtotalWon - o.DiscountWon

	err = tx.QueryRowContext(ctx, s.dialect.rebind(`INSERT INTO orders
(channel_id, broadcast_id, viewer_id, buyer_name, buyer_phone, note, subtotal_won, discount_won, total_won,
 coupon_claim_id, status, source, practice, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id`),
		o.ChannelID, sql.NullInt64{Int64: broadcastID, Valid: broadcastID != 0}, o.ViewerID, o.Buyer.Name, o.Buyer.Phone, o.Note,
		o.SubtotalWon, o.DiscountWon, o.TotalWon, sql.NullInt64{Int64: claimID, Valid: claimID != 0},
		string(o.Status), string(o.Source), o.Practice, now, now).Scan(&o.ID)
	if err != nil {
		return Order{}, err
	}
	if claimID != 0 {
		// Conditional too: of two orders using one claim at once, the second
		// waits for the first and then finds the claim used.
		res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE coupon_claims SET used_by_order = ?
WHERE id = ? AND used_by_order IS NULL`), o.ID, claimID)
		if err := oneRow(res, err); errors.Is(err, ErrNotFound) {
			return Order{}, fmt.Errorf("coupon %d: %w", couponID, ErrCouponUsed)
		} else if err != nil {
			return Order{}, err
		}
	}
	for i, it := range o.Items {
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO order_items (order_id, line, product_id, name, unit_price_won, qty)
VALUES (?, ?, ?, ?, ?, ?)`), o.ID, i+1, it.ProductID, it.Name, it.UnitPriceWon, it.Qty); err != nil {
			return Order{}, err
		}
	}
	if err := s.recordStatus(ctx, tx, o.ID, "", StatusPlaced, ActorBuyer, now); err != nil {
		return Order{}, err
	}
	return o, nil
}

func (s *Store) recordStatus(ctx context.Context, tx *sql.Tx, orderID int64, from, to OrderStatus, actor string, at time.Time) error {
	_, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO order_status_history (order_id, from_status, to_status, actor, at)
VALUES (?, ?, ?, ?, ?)`), orderID, string(from), string(to), actor, at)
	return err
}

// CancelOrder cancels a viewer's own order, as the viewer's command cmdID,
// which is possible until the merchant accepts it (ErrBadTransition after
// that). The stock comes back and the coupon claim is free again.
func (s *Store) CancelOrder(ctx context.Context, cmdID string, viewerID, orderID int64) (Order, error) {
	return runCommand(ctx, s, viewerActor(viewerID), cmdID, "cancel order",
		func(ctx context.Context, tx *sql.Tx, now time.Time) (Order, error) {
			return s.changeStatus(ctx, tx, now, orderID, StatusCancelled, ActorBuyer, func(o Order) bool { return o.ViewerID == viewerID })
		})
}

// SetOrderStatus moves one of the channel's orders to status to
// (accepted, ready, picked_up or rejected), as the merchant's command
// cmdID. A move the transition table does not allow returns an error
// wrapping ErrBadTransition; rejecting returns the stock and frees the
// coupon claim.
func (s *Store) SetOrderStatus(ctx context.Context, cmdID string, channelID, orderID int64, to OrderStatus) (Order, error) {
	switch to {
	case StatusAccepted, StatusReady, StatusPickedUp, StatusRejected:
	default:
		return Order{}, fmt.Errorf("set order status: %w: status must be accepted, ready, picked_up or rejected, not %q", ErrInvalid, to)
	}
	return runCommand(ctx, s, merchantActor(channelID), cmdID, "set order status",
		func(ctx context.Context, tx *sql.Tx, now time.Time) (Order, error) {
			return s.changeStatus(ctx, tx, now, orderID, to, ActorMerchant, func(o Order) bool { return o.ChannelID == channelID })
		})
}

// changeStatus moves an order that mine accepts from its status to to.
func (s *Store) changeStatus(ctx context.Context, tx *sql.Tx, now time.Time, orderID int64, to OrderStatus, actor string, mine func(Order) bool) (Order, error) {
	o, err := s.order(ctx, tx, orderID)
	if err == nil && !mine(o) {
		err = fmt.Errorf("order %d: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return Order{}, err
	}
	from := o.Status
	if !CanChange(from, to, actor) {
		return Order{}, fmt.Errorf("order %d is %s, it cannot become %s: %w", orderID, from, to, ErrBadTransition)
	}
	// Compare and set: of two changes at once (the buyer cancels while the
	// merchant accepts), the second waits for the first and then finds the
	// status changed.
	res, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?`),
		string(to), now, orderID, string(from))
	if err := oneRow(res, err); errors.Is(err, ErrNotFound) {
		cur, err := s.order(ctx, tx, orderID)
		if err != nil {
			return Order{}, err
		}
		return Order{}, fmt.Errorf("order %d is %s, it cannot become %s: %w", orderID, cur.Status, to, ErrBadTransition)
	} else if err != nil {
		return Order{}, err
	}
	if returnsStock(to) && !o.Practice {
		// Lines are in product order (cleanOrder), the lock order of
		// placeOrder. A practice order reserved nothing (see
		// practiceLine): its status alone stops it holding units.
		for _, it := range o.Items {
			if _, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE products SET stock = stock + ? WHERE id = ?`),
				it.Qty, it.ProductID); err != nil {
				return Order{}, err
			}
		}
	}
	if returnsStock(to) {
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE coupon_claims SET used_by_order = NULL WHERE used_by_order = ?`),
			orderID); err != nil {
			return Order{}, err
		}
	}
	if err := s.recordStatus(ctx, tx, orderID, from, to, actor, now); err != nil {
		return Order{}, err
	}
	o.Status, o.UpdatedAt = to, now
	return o, nil
}

const orderColumns = `o.id, o.channel_id, o.broadcast_id, o.viewer_id, o.buyer_name, o.buyer_phone, o.note,
o.subtotal_won, o.discount_won, o.total_won, o.coupon_claim_id, cc.coupon_id, o.status, o.source, o.practice, o.created_at, o.updated_at`

const orderFrom = ` FROM orders o LEFT JOIN coupon_claims cc ON cc.id = o.coupon_claim_id`

func scanOrder(sc interface{ Scan(...any) error }) (Order, error) {
	var (
		o                      Order
		broadcast, claim, coup sql.NullInt64
		status, source         string
	)
	err := sc.Scan(&o.ID, &o.ChannelID, &broadcast, &o.ViewerID, &o.Buyer.Name, &o.Buyer.Phone, &o.Note,
		&o.SubtotalWon, &o.DiscountWon, &o.TotalWon, &claim, &coup, &status, &source, &o.Practice, &o.CreatedAt, &o.UpdatedAt)
	o.Source = OrderSource(source)
	o.BroadcastID, o.ClaimID, o.CouponID = broadcast.Int64, claim.Int64, coup.Int64
	o.Status = OrderStatus(status)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// Order returns one of the channel's orders, or an error wrapping
// ErrNotFound.
func (s *Store) Order(ctx context.Context, channelID, orderID int64) (Order, error) {
	o, err := s.order(ctx, s.rdb, orderID)
	if err == nil && o.ChannelID != channelID {
		err = fmt.Errorf("order %d: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return Order{}, fmt.Errorf("get order: %w", err)
	}
	return o, nil
}

func (s *Store) order(ctx context.Context, q querier, orderID int64) (Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, s.dialect.rebind(`SELECT `+orderColumns+orderFrom+` WHERE o.id = ?`), orderID))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, fmt.Errorf("order %d: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return Order{}, err
	}
	os := []Order{o}
	if err := s.loadItems(ctx, q, os); err != nil {
		return Order{}, err
	}
	return os[0], nil
}

// loadItems reads the items of orders.
func (s *Store) loadItems(ctx context.Context, q querier, orders []Order) error {
	if len(orders) == 0 {
		return nil
	}
	byID := make(map[int64]*Order, len(orders))
	args := make([]any, len(orders))
	for i := range orders {
		byID[orders[i].ID] = &orders[i]
		orders[i].Items = []OrderItem{}
		args[i] = orders[i].ID
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(orders)), ", ")
	rows, err := q.QueryContext(ctx, s.dialect.rebind(`SELECT order_id, product_id, name, unit_price_won, qty
FROM order_items WHERE order_id IN (`+marks+`) ORDER BY order_id, line`), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id int64
			it OrderItem
		)
		if err := rows.Scan(&id, &it.ProductID, &it.Name, &it.UnitPriceWon, &it.Qty); err != nil {
			return err
		}
		if o := byID[id]; o != nil {
			o.Items = append(o.Items, it)
		}
	}
	return rows.Err()
}

// OrderFilter selects orders in ListOrders. Zero fields select all.
type OrderFilter struct {
	Status      OrderStatus
	BroadcastID int64
	ViewerID    int64
	// Before selects the orders with a smaller id: set to the last id of a
	// page, it gives the next page. Paging by id (keyset), not by offset,
	// neither skips nor repeats an order when new ones are placed meanwhile.
	Before int64
	Limit  int // newest first; 100 if not positive, at most MaxOrderPage
}

// MaxOrderPage is the most orders ListOrders returns at once.
const MaxOrderPage = 1000

// ListOrders returns the channel's orders that f selects, newest first,
// with their items.
func (s *Store) ListOrders(ctx context.Context, channelID int64, f OrderFilter) ([]Order, error) {
	where, args := []string{"o.channel_id = ?"}, []any{channelID}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, fmt.Errorf("list orders: %w: unknown status %q", ErrInvalid, f.Status)
		}
		where, args = append(where, "o.status = ?"), append(args, string(f.Status))
	}
	if f.BroadcastID != 0 {
		where, args = append(where, "o.broadcast_id = ?"), append(args, f.BroadcastID)
	} else {
		// Practice orders are the rehearsal's, shown with their broadcast
		// only: never among the stall's orders.
		where, args = append(where, "o.practice = ?"), append(args, false)
	}
	if f.ViewerID != 0 {
		where, args = append(where, "o.viewer_id = ?"), append(args, f.ViewerID)
	}
	if f.Before != 0 {
		where, args = append(where, "o.id < ?"), append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, min(limit, MaxOrderPage))
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT `+orderColumns+orderFrom+`
WHERE `+strings.Join(where, " AND ")+` ORDER BY o.id DESC LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	orders := []Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list orders: %w", err)
		}
		orders = append(orders, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	if err := s.loadItems(ctx, s.rdb, orders); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return orders, nil
}

// OrderHistory returns the status changes of one of the channel's orders,
// oldest first.
func (s *Store) OrderHistory(ctx context.Context, channelID, orderID int64) ([]StatusChange, error) {
	rows, err := s.rdb.QueryContext(ctx, s.dialect.rebind(`SELECT h.from_status, h.to_status, h.actor, h.at
FROM order_status_history h JOIN orders o ON o.id = h.order_id
WHERE h.order_id = ? AND o.channel_id = ? ORDER BY h.id`), orderID, channelID)
	if err != nil {
		return nil, fmt.Errorf("order history: %w", err)
	}
	defer rows.Close()
	hs := []StatusChange{}
	for rows.Next() {
		var (
			h        StatusChange
			from, to string
		)
		if err := rows.Scan(&from, &to, &h.Actor, &h.At); err != nil {
			return nil, fmt.Errorf("order history: %w", err)
		}
		h.From, h.To, h.At = OrderStatus(from), OrderStatus(to), h.At.UTC()
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("order history: %w", err)
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("order history: order %d: %w", orderID, ErrNotFound)
	}
	return hs, nil
}
