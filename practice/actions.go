package practice

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The protocol's messages, as much of them as a simulated viewer uses
// (docs/protocol.md has them all).
type (
	productJSON struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		PriceWon int64  `json:"price_won"`
		Stock    int    `json:"stock"`
	}
	couponJSON struct {
		ID        int64 `json:"id"`
		Remaining int   `json:"remaining"`
	}
	claimJSON struct {
		CouponID    int64 `json:"coupon_id"`
		UsedByOrder int64 `json:"used_by_order"`
	}
	buyerJSON struct {
		Name  string `json:"name"`
		Phone string `json:"phone"`
	}
	itemJSON struct {
		ProductID int64 `json:"product_id"`
		Qty       int   `json:"qty"`
	}
	replyJSON struct {
		OK    bool `json:"ok"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	helloReply struct {
		replyJSON
		ViewerToken string      `json:"viewer_token"`
		Role        string      `json:"role"`
		Banned      bool        `json:"banned"`
		Claims      []claimJSON `json:"claims"`
		State       struct {
			Live    bool         `json:"live"`
			Pinned  *productJSON `json:"pinned"`
			Coupons []couponJSON `json:"coupons"`
		} `json:"state"`
	}
	liveEvent struct {
		Live bool `json:"live"`
	}
	pinnedEvent struct {
		Product *productJSON `json:"product"`
	}
	couponEvent struct {
		Coupon couponJSON `json:"coupon"`
	}
	closedEvent struct {
		CouponID int64 `json:"coupon_id"`
	}
	stockEvent struct {
		ProductID int64 `json:"product_id"`
		Stock     int   `json:"stock"`
	}
)

// Commands, each with its type and id first.
type (
	cmdHead struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	helloCmd struct {
		cmdHead
		Name        string `json:"name"`
		ViewerToken string `json:"viewer_token,omitempty"`
		Lang        string `json:"lang"`
	}
	chatCmd struct {
		cmdHead
		Text string `json:"text"`
	}
	claimCmd struct {
		cmdHead
		CouponID int64 `json:"coupon_id"`
	}
	orderCmd struct {
		cmdHead
		Items    []itemJSON `json:"items"`
		CouponID int64      `json:"coupon_id,omitempty"`
		Buyer    buyerJSON  `json:"buyer"`
		Note     string     `json:"note,omitempty"`
	}
)

// pendingCmd is a command awaiting its reply.
type pendingCmd struct {
	typ      string
	couponID int64 // coupon.claim's coupon, or the coupon an order uses
	product  productJSON
	qty      int
}

type actKind int

const (
	actGreet actKind = iota
	actChat          // the periodic chat line
	actLike          // the periodic like
	actSay           // a line of a given kind (reactions, thanks)
	actClaim
	actOrder
)

// action is something a viewer does at a given time.
type action struct {
	at       time.Time
	kind     actKind
	line     Kind
	vars     lineVars
	couponID int64
	product  productJSON
}

// schedule adds an action due after seconds of the pace. Past maxActions
// the action is dropped: a flood of events must not grow a viewer without
// bound.
func (v *viewer) schedule(seconds float64, a action) {
	if len(v.actions) >= maxActions {
		return
	}
	a.at = time.Now().Add(v.c.scale(seconds))
	v.actions = append(v.actions, a)
}

// every returns a random wait (exponential, so that events look like a
// crowd's, not a metronome's) for an event happening perMin times a
// minute, or false for never.
func (v *viewer) every(perMin float64) (float64, bool) {
	if perMin <= 0 {
		return 0, false
	}
	return v.rng.ExpFloat64() * 60 / perMin, true
}

func (v *viewer) send(cmd any, p pendingCmd, id string) error {
	v.pending[id] = p
	v.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := v.conn.WriteJSON(cmd); err != nil {
		return fmt.Errorf("send %s: %w", p.typ, err)
	}
	return nil
}

func (v *viewer) hello() error {
	id := v.newID()
	return v.send(helloCmd{cmdHead{"hello", id}, v.nickname, v.token, "ko"}, pendingCmd{typ: "hello"}, id)
}

// handle acts on one message from the room.
func (v *viewer) handle(m inbound) error {
	var err error
	switch m.typ {
	case "reply":
		p, ok := v.pending[m.id]
		if !ok {
			return nil
		}
		delete(v.pending, m.id)
		return v.replied(p, m.raw)
	case "live":
		var e liveEvent
		if err = json.Unmarshal(m.raw, &e); err == nil {
			v.setLive(e.Live)
		}
	case "product.pinned":
		var e pinnedEvent
		if err = json.Unmarshal(m.raw, &e); err == nil {
			v.pinned = e.Product
			if e.Product != nil {
				v.onPinned(*e.Product)
			}
		}
	case "coupon.dropped":
		var e couponEvent
		if err = json.Unmarshal(m.raw, &e); err == nil {
			v.onCoupon(e.Coupon)
		}
	case "coupon.closed":
		var e closedEvent
		if err = json.Unmarshal(m.raw, &e); err == nil {
			v.closed[e.CouponID] = true
			v.claimed = slices.DeleteFunc(v.claimed, func(id int64) bool { return id == e.CouponID })
		}
	case "stock":
		var e stockEvent
		if err = json.Unmarshal(m.raw, &e); err == nil && v.pinned != nil && v.pinned.ID == e.ProductID {
			v.pinned.Stock = e.Stock
		}
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", m.typ, err)
	}
	return nil
}

func (v *viewer) replied(p pendingCmd, raw []byte) error {
	if p.typ == "hello" {
		return v.helloReplied(raw)
	}
	var r replyJSON
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("read %s reply: %w", p.typ, err)
	}
	code := ""
	if r.Error != nil {
		code = r.Error.Code
	}
	s := &v.c.stats
	switch {
	case code == "rate_limited":
		s.rateLimited.Add(1)
		v.log.Warn("room refused as too fast", "command", p.typ)
	case p.typ == "chat.send" && r.OK:
		s.chats.Add(1)
	case p.typ == "chat.send":
		s.chatsRefused.Add(1)
	case p.typ == "like" && r.OK:
		s.likes.Add(1)
	case p.typ == "coupon.claim" && r.OK:
		s.claimsOK.Add(1)
		v.claimed = append(v.claimed, p.couponID)
		if ok, after := v.c.cfg.Pace.React.roll(v.rng); ok {
			v.schedule(after, action{kind: actSay, line: KindClaimed})
		}
	case p.typ == "coupon.claim":
		s.claimsFailed.Add(1)
	case p.typ == "order.place" && r.OK:
		s.placed.Add(1)
		v.useCoupon(p.couponID)
		if ok, after := v.c.cfg.Pace.Thanks.roll(v.rng); ok {
			v.schedule(after, action{kind: actSay, line: KindThanks, vars: lineVars{product: p.product.Name, price: p.product.PriceWon, qty: p.qty}})
		}
	case p.typ == "order.place":
		s.refused.Add(1)
		if code == "coupon_used" || code == "coupon_not_claimed" {
			v.useCoupon(p.couponID)
		}
	}
	return nil
}

func (v *viewer) useCoupon(id int64) {
	if id != 0 {
		v.claimed = slices.DeleteFunc(v.claimed, func(c int64) bool { return c == id })
	}
}

// helloReplied builds the viewer's view of the room from the hello reply,
// as a customer opening the page would, and schedules what it will do.
func (v *viewer) helloReplied(raw []byte) error {
	var r helloReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("read hello reply: %w", err)
	}
	if !r.OK {
		if r.Error != nil {
			return fmt.Errorf("hello refused: %s (%s)", r.Error.Code, r.Error.Message)
		}
		return fmt.Errorf("hello refused")
	}
	switch {
	case r.Role != "viewer":
		return fmt.Errorf("%w: the room greeted a simulated viewer as %q: the crowd's credential must not be the merchant's", errLeave, r.Role)
	case r.Banned:
		return fmt.Errorf("%w: banned", errLeave)
	}
	if r.ViewerToken != "" {
		v.token = r.ViewerToken
	}
	v.helloed = true
	v.c.stats.connected.Add(1)
	if !v.joined {
		v.joined = true
		v.c.stats.joined.Add(1)
	}
	for _, c := range r.Claims {
		if c.UsedByOrder == 0 {
			v.claimed = append(v.claimed, c.CouponID)
		}
	}
	v.pinned = r.State.Pinned
	v.setLive(r.State.Live)
	if v.pinned != nil {
		v.onPinned(*v.pinned)
	}
	for _, c := range r.State.Coupons {
		if !slices.ContainsFunc(r.Claims, func(cl claimJSON) bool { return cl.CouponID == c.ID }) {
			v.onCoupon(c)
		}
	}
	pace := &v.c.cfg.Pace
	if after, ok := v.every(pace.ChatsPerMin); ok {
		v.schedule(after, action{kind: actChat})
	}
	if after, ok := v.every(pace.LikesPerMin); ok {
		v.schedule(after, action{kind: actLike})
	}
	return nil
}

func (v *viewer) setLive(live bool) {
	v.live = live
	if !live {
		v.pinned = nil
		return
	}
	if !v.greetScheduled {
		v.greetScheduled = true
		v.schedule(0.5+v.rng.Float64()*2.5, action{kind: actGreet})
	}
}

// onPinned decides whether to react to a pinned product and to order it.
func (v *viewer) onPinned(p productJSON) {
	if !v.live {
		return
	}
	pace := &v.c.cfg.Pace
	if ok, after := pace.React.roll(v.rng); ok {
		v.schedule(after, action{kind: actSay, line: KindPinned, vars: lineVars{product: p.Name, price: p.PriceWon}})
	}
	if ok, after := pace.Order.roll(v.rng); ok {
		v.schedule(after, action{kind: actOrder, product: p})
	}
}

// onCoupon decides whether to claim a coupon, and when.
func (v *viewer) onCoupon(c couponJSON) {
	if !v.live || c.Remaining == 0 || slices.Contains(v.claimed, c.ID) {
		return
	}
	if ok, after := v.c.cfg.Pace.Claim.roll(v.rng); ok {
		v.schedule(after, action{kind: actClaim, couponID: c.ID})
	}
}

// fire does the actions that are due.
func (v *viewer) fire(now time.Time) error {
	due := make([]action, 0, 4)
	v.actions = slices.DeleteFunc(v.actions, func(a action) bool {
		if a.at.After(now) {
			return false
		}
		due = append(due, a)
		return true
	})
	for _, a := range due {
		if err := v.do(a, now); err != nil {
			return err
		}
	}
	return nil
}

func (v *viewer) do(a action, now time.Time) error {
	pace := &v.c.cfg.Pace
	switch a.kind {
	case actChat:
		if after, ok := v.every(pace.ChatsPerMin); ok {
			v.schedule(after, action{kind: actChat})
		}
		kind := KindIdle
		vars := lineVars{}
		if p := v.pinned; p != nil && v.rng.Float64() < 0.8 {
			kind = questionKinds[v.rng.IntN(len(questionKinds))]
			vars = lineVars{product: p.Name, price: p.PriceWon}
		}
		return v.say(kind, vars, now)
	case actGreet:
		if !v.live {
			v.greetScheduled = false // greet when the room goes live
			v.c.stats.quiet.Add(1)
			return nil
		}
		vars := lineVars{}
		if p := v.pinned; p != nil {
			vars = lineVars{product: p.Name, price: p.PriceWon}
		}
		return v.say(KindGreeting, vars, now)
	case actSay:
		return v.say(a.line, a.vars, now)
	case actLike:
		if after, ok := v.every(pace.LikesPerMin); ok {
			v.schedule(after, action{kind: actLike})
		}
		if !v.live {
			v.c.stats.quiet.Add(1)
			return nil
		}
		if !v.likes.allow(now) {
			return nil
		}
		id := v.newID()
		return v.send(cmdHead{"like", id}, pendingCmd{typ: "like"}, id)
	case actClaim:
		if !v.live {
			v.c.stats.quiet.Add(1)
			return nil
		}
		if v.closed[a.couponID] || slices.Contains(v.claimed, a.couponID) {
			return nil
		}
		id := v.newID()
		return v.send(claimCmd{cmdHead{"coupon.claim", id}, a.couponID}, pendingCmd{typ: "coupon.claim", couponID: a.couponID}, id)
	case actOrder:
		return v.order(a.product)
	}
	return nil
}

// say sends a chat line of kind, if the room is live and the chat limit
// allows.
func (v *viewer) say(kind Kind, vars lineVars, now time.Time) error {
	if !v.live {
		v.c.stats.quiet.Add(1)
		return nil
	}
	text, ok := v.c.cfg.Script.line(kind, v.rng, vars)
	if !ok {
		return nil
	}
	if !v.chats.allow(now) {
		v.c.stats.held.Add(1)
		return nil
	}
	id := v.newID()
	return v.send(chatCmd{cmdHead{"chat.send", id}, text}, pendingCmd{typ: "chat.send"}, id)
}

// order places an order for the product if it is still pinned and in
// stock, as a customer looking at the page would.
func (v *viewer) order(p productJSON) error {
	if !v.live {
		v.c.stats.quiet.Add(1)
		return nil
	}
	if v.pinned == nil || v.pinned.ID != p.ID || v.pinned.Stock <= 0 {
		return nil
	}
	pace := &v.c.cfg.Pace
	qty := min(pace.quantity(v.rng), v.pinned.Stock)
	var coupon int64
	if len(v.claimed) > 0 && v.rng.Float64() < pace.UseCoupon {
		coupon = v.claimed[0]
	}
	id := v.newID()
	cmd := orderCmd{
		cmdHead:  cmdHead{"order.place", id},
		Items:    []itemJSON{{ProductID: p.ID, Qty: qty}},
		CouponID: coupon,
		Buyer:    v.buyer,
		Note:     v.note,
	}
	return v.send(cmd, pendingCmd{typ: "order.place", couponID: coupon, product: *v.pinned, qty: qty}, id)
}
