package commerce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dangol/dangol/internal/lang"
)

func itoaInt(n int) string { return strconv.Itoa(n) }

// envelope is the part of every client message read first.
type envelope struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id"`
}

// The commands' bodies, one type each. Pointers tell a missing field from
// a zero one.
type (
	helloCmd struct {
		Name        *string `json:"name"`
		ViewerToken string  `json:"viewer_token"`
		Lang        string  `json:"lang"`
	}
	chatSendCmd struct {
		Text *string `json:"text"`
	}
	couponClaimCmd struct {
		CouponID *int64 `json:"coupon_id"`
	}
	orderPlaceCmd struct {
		Items []struct {
			ProductID *int64 `json:"product_id"`
			Qty       *int   `json:"qty"`
		} `json:"items"`
		CouponID int64 `json:"coupon_id"`
		Buyer    *struct {
			Name  *string `json:"name"`
			Phone *string `json:"phone"`
		} `json:"buyer"`
		Note string `json:"note"`
	}
	orderIDCmd struct {
		OrderID *int64 `json:"order_id"`
	}
	productPinCmd struct {
		ProductID *int64 `json:"product_id"`
	}
	couponDropCmd struct {
		Title       *string `json:"title"`
		DiscountWon *int64  `json:"discount_won"`
		Quantity    *int    `json:"quantity"`
		ExpiresInS  *int    `json:"expires_in_s"`
	}
	chatHideCmd struct {
		MessageID *int64 `json:"message_id"`
	}
	viewerMuteCmd struct {
		ViewerID *int64 `json:"viewer_id"`
		Minutes  *int   `json:"minutes"`
	}
	noticeSetCmd struct {
		Text *string `json:"text"`
	}
	orderStatusCmd struct {
		OrderID *int64  `json:"order_id"`
		Status  *string `json:"status"`
	}
	videoDarkCmd struct {
		Dark *bool `json:"dark"`
	}
)

// commandFunc handles a command: it returns the reply's fields, or an
// error, and an effect to run on the room's goroutine after the reply is
// queued (nil for none).
type commandFunc func(c *wsClient, ctx context.Context, cmdID string, body []byte) (any, func(), error)

type commandSpec struct {
	merchant bool // merchant only
	run      commandFunc
}

// commands are the client commands by type.
var commands map[string]commandSpec

func init() {
	commands = map[string]commandSpec{
		"chat.send":    {run: (*wsClient).chatSend},
		"like":         {run: (*wsClient).like},
		"coupon.claim": {run: (*wsClient).couponClaim},
		"order.place":  {run: (*wsClient).orderPlace},
		"order.cancel": {run: (*wsClient).orderCancel},
		"product.pin":  {merchant: true, run: (*wsClient).productPin},
		"coupon.drop":  {merchant: true, run: (*wsClient).couponDrop},
		"chat.hide":    {merchant: true, run: (*wsClient).chatHide},
		"viewer.mute":  {merchant: true, run: (*wsClient).viewerMute},
		"notice.set":   {merchant: true, run: (*wsClient).noticeSet},
		"order.status": {merchant: true, run: (*wsClient).orderStatus},
		"video.dark":   {merchant: true, run: (*wsClient).videoDark},
	}
}

// transient errors are not kept for a retry: trying again may succeed.
func transient(code string) bool {
	switch code {
	case codeRateLimited, CodeInternal, codeHelloRequired:
		return true
	}
	return false
}

// handle answers one client message with exactly one reply.
func (c *wsClient) handle(msg []byte) {
	var env envelope
	defer c.rs.metrics.commandDone(&env.Type, c.readAt)
	if err := json.Unmarshal(msg, &env); err != nil {
		c.reply(nil, errReply(nil, toReplyError(c.lang, &roomError{code: codeBadJSON})))
		return
	}
	cmdID, ok := parseCmdID(env.ID)
	if !ok {
		c.reply(nil, errReply(nil, toReplyError(c.lang, badField("id", "a string or number of at most 64 bytes is required"))))
		return
	}
	if old, ok := c.replies.get(cmdID); ok {
		c.q.pushReply(old, c.readAt)
		return
	}
	fail := func(err error) {
		e := toReplyError(c.lang, err)
		key := []byte(cmdID)
		if transient(e.Code) {
			key = nil
		}
		c.reply(key, errReply(env.ID, e))
	}
	ctx := context.Background()
	if env.Type == "hello" {
		if err := c.hello(ctx, env.ID, cmdID, msg); err != nil {
			fail(err)
		}
		return
	}
	spec, ok := commands[env.Type]
	switch {
	case !ok:
		c.reply(nil, errReply(env.ID, toReplyError(c.lang, &roomError{code: codeUnknownType, detail: quote(env.Type)})))
		return
	case !c.helloed:
		fail(&roomError{code: codeHelloRequired})
		return
	case spec.merchant && !c.merchant:
		fail(&roomError{code: codeForbidden})
		return
	}
	res, effect, err := spec.run(c, ctx, cmdID, msg)
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			err = badField(te.Field, "wrong type")
		}
		if Code(err) == CodeInternal && !isRoomErr(err) {
			c.log.Error("room command", "type", env.Type, "err", err)
		}
		fail(err)
		return
	}
	c.reply([]byte(cmdID), okReply(env.ID, res))
	if effect != nil {
		c.room.do(effect)
	}
}

func isRoomErr(err error) bool {
	var (
		fe *fieldError
		me *mutedError
		re *roomError
	)
	return errors.As(err, &fe) || errors.As(err, &me) || errors.As(err, &re)
}

// parseCmdID returns a command id as the Store keys it: a JSON string's
// text or a JSON number's digits.
func parseCmdID(raw json.RawMessage) (string, bool) {
	var id string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", false
	case raw[0] == '"':
		if json.Unmarshal(raw, &id) != nil {
			return "", false
		}
	default:
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		id = "#" + n.String()
	}
	if id == "" || checkCmdID(id) != nil {
		return "", false
	}
	return id, true
}

// helloOrders bounds the orders a hello reply carries: more than a
// customer places in one broadcast.
const helloOrders = 20

type helloReply struct {
	ViewerID    int64   `json:"viewer_id"`
	ViewerToken string  `json:"viewer_token"`
	Nickname    string  `json:"nickname"`
	Role        string  `json:"role"` // viewer or merchant
	Banned      bool    `json:"banned"`
	Claims      []Claim `json:"claims"` // the viewer's claims in the live broadcast
	// Orders are the viewer's orders in the live broadcast, newest first (at
	// most helloOrders), so that a page reloaded mid-broadcast still shows
	// them with their status; none for the merchant, who lists them all.
	Orders []Order   `json:"orders"`
	State  roomState `json:"state"`
}

// hello identifies the viewer (new, or resumed with its token), joins the
// room and replies with the room's state. The room queues the reply, so it
// comes before any event.
func (c *wsClient) hello(ctx context.Context, id json.RawMessage, cmdID string, msg []byte) error {
	var h helloCmd
	if err := json.Unmarshal(msg, &h); err != nil {
		return badField("hello", "wrong type")
	}
	if h.Lang != "" {
		c.lang = lang.Pick(h.Lang)
	}
	var name string
	if h.Name != nil {
		n, err := cleanText("name", *h.Name, maxNicknameLen, false, false)
		if err != nil {
			return badField("name", strings.TrimPrefix(err.Error(), "invalid: "))
		}
		name = n
	}
	s := c.rs.store
	ch := c.room.channel
	v, token := c.viewer, h.ViewerToken
	var err error
	switch {
	case c.helloed:
	case token != "":
		v, err = s.ResumeViewer(ctx, ch.ID, token)
		if errors.Is(err, ErrBadKey) {
			token = "" // a stale token: start afresh
		} else if err != nil {
			return err
		}
	}
	if !c.helloed && token == "" {
		if v, token, err = s.CreateViewer(ctx, ch.ID, name); err != nil {
			return err
		}
	} else if h.Name != nil && name != v.Nickname {
		if v, err = s.SetNickname(ctx, ch.ID, v.ID, name); err != nil {
			return err
		}
	}
	if c.helloed {
		token = h.ViewerToken
	}
	claims, orders := []Claim{}, []Order{}
	if bid := c.room.broadcastID.Load(); bid != 0 {
		if claims, err = s.Claims(ctx, v.ID, bid); err != nil {
			return err
		}
		if !c.merchant {
			if orders, err = s.ListOrders(ctx, ch.ID, OrderFilter{BroadcastID: bid, ViewerID: v.ID, Limit: helloOrders}); err != nil {
				return err
			}
		}
	}
	c.viewer = v
	c.claimed = make(map[int64]bool, len(claims))
	for _, cl := range claims {
		c.claimed[cl.CouponID] = true
	}
	role := "viewer"
	if c.merchant {
		role = "merchant"
	}
	out := make(chan []byte, 1)
	info := clientInfo{viewerID: v.ID, merchant: c.merchant, invited: c.invited}
	ok := c.room.do(func() {
		out <- c.room.join(c, info, func(st roomState) []byte {
			return okReply(id, helloReply{
				ViewerID: v.ID, ViewerToken: token, Nickname: v.Nickname, Role: role,
				Banned: v.Banned, Claims: claims, Orders: orders, State: st,
			})
		})
	})
	if !ok {
		return errors.New("room stopped")
	}
	frame := <-out
	if frame == nil {
		return errors.New("hello: not invited to the practice") // and sent away
	}
	c.helloed = true
	c.replies.put(cmdID, frame)
	return nil
}

// liveID returns the live broadcast's id or a not_live error.
func (c *wsClient) liveID() (int64, error) {
	if bid := c.room.broadcastID.Load(); bid != 0 {
		return bid, nil
	}
	return 0, ErrNotLive
}

func (c *wsClient) bannedWord(text string) bool {
	t := strings.ToLower(strings.Join(strings.Fields(text), ""))
	words := c.rs.opts.BannedWords
	for _, list := range [][]string{words, c.rs.opts.ChannelBannedWords[c.room.channel.Slug]} {
		for _, w := range list {
			w = strings.ToLower(strings.Join(strings.Fields(w), ""))
			if w != "" && strings.Contains(t, w) {
				return true
			}
		}
	}
	return false
}

func (c *wsClient) chatSend(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd chatSendCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.Text == nil {
		return nil, nil, badField("text", "required")
	}
	text, err := cleanText("text", *cmd.Text, maxChatLen, true, false)
	if err != nil {
		why := "empty, too long (max " + itoaInt(maxChatLen) + ") or has control characters"
		if utf8.RuneCountInString(*cmd.Text) > maxChatLen {
			why = "at most " + itoaInt(maxChatLen) + " characters"
		}
		return nil, nil, badField("text", why)
	}
	if c.bannedWord(text) {
		return nil, nil, &roomError{code: codeBannedWord}
	}
	bid, err := c.liveID()
	if err != nil {
		return nil, nil, err
	}
	// Per viewer, not per connection: more tabs or reconnecting must not
	// buy more chat.
	if !c.room.limits.allowChat(c.viewer.ID, time.Now()) {
		return nil, nil, &roomError{code: codeRateLimited}
	}
	m, err := c.rs.store.addChat(ctx, cmdID, c.viewer.ID, bid, text, c.merchant)
	if errors.Is(err, ErrMuted) {
		if v, verr := c.rs.store.Viewer(ctx, c.room.channel.ID, c.viewer.ID); verr == nil {
			return nil, nil, &mutedError{until: v.MutedUntil}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	var effect func()
	if !m.Replayed {
		effect = func() { c.room.chatAdded(m) }
	}
	return struct {
		Message ChatMessage `json:"message"`
	}{m}, effect, nil
}

func (c *wsClient) like(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	if _, err := c.liveID(); err != nil {
		return nil, nil, err
	}
	if !c.room.limits.allowLike(c.viewer.ID, time.Now()) {
		return nil, nil, &roomError{code: codeRateLimited}
	}
	return struct{}{}, c.room.like, nil
}

func (c *wsClient) couponClaim(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd couponClaimCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.CouponID == nil || *cmd.CouponID <= 0 {
		return nil, nil, badField("coupon_id", "a coupon id is required")
	}
	id := *cmd.CouponID
	if !c.claimed[id] && c.room.isSoldOut(id) {
		// The rush's thousands of late claims: refused here, they never wait for the store.
		// The store records no reply for sold_out either, so a retry gets the same answer.
		return nil, nil, fmt.Errorf("coupon %d: %w", id, ErrSoldOut)
	}
	r, err := c.rs.store.ClaimCoupon(ctx, cmdID, c.viewer.ID, id)
	if err != nil {
		return nil, nil, err
	}
	c.claimed[r.Claim.CouponID] = true
	return r, func() { c.room.couponClaimed(r.Claim.CouponID, r.Remaining) }, nil
}

func (c *wsClient) orderPlace(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd orderPlaceCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if len(cmd.Items) == 0 {
		return nil, nil, badField("items", "at least one item is required")
	}
	in := OrderInput{CouponID: cmd.CouponID, Note: cmd.Note, BroadcastID: c.room.broadcastID.Load()}
	for i, it := range cmd.Items {
		if it.ProductID == nil || *it.ProductID <= 0 {
			return nil, nil, badField("items["+itoaInt(i)+"].product_id", "required")
		}
		if it.Qty == nil || *it.Qty < 1 || *it.Qty > maxLineQty {
			return nil, nil, badField("items["+itoaInt(i)+"].qty", "from 1 to "+itoaInt(maxLineQty))
		}
		in.Items = append(in.Items, ItemInput{ProductID: *it.ProductID, Qty: *it.Qty})
	}
	switch {
	case cmd.Buyer == nil:
		return nil, nil, badField("buyer", "required")
	case cmd.Buyer.Name == nil || strings.TrimSpace(*cmd.Buyer.Name) == "":
		return nil, nil, badField("buyer.name", "required")
	case cmd.Buyer.Phone == nil:
		return nil, nil, badField("buyer.phone", "required")
	}
	if _, err := cleanPhone(*cmd.Buyer.Phone); err != nil {
		return nil, nil, badField("buyer.phone", "8 to 15 digits")
	}
	in.Buyer = Buyer{Name: *cmd.Buyer.Name, Phone: *cmd.Buyer.Phone}
	o, err := c.rs.store.PlaceOrder(ctx, cmdID, c.viewer.ID, in)
	if err != nil {
		return nil, nil, err
	}
	return orderEvent{o}, c.orderChanged(o, true), nil
}

// orderChanged returns the effect of an order's change: order.updated to
// its buyer and the merchant, and stock events if stock moved.
func (c *wsClient) orderChanged(o Order, stockMoved bool) func() {
	if o.Replayed {
		return nil
	}
	if stockMoved && !o.Practice { // a practice order moves no real stock
		ids := make([]int64, len(o.Items))
		for i, it := range o.Items {
			ids[i] = it.ProductID
		}
		c.room.stockChanged(ids...)
	}
	msg := roomEvent("order.updated", orderEvent{o})
	return func() { c.room.sendTo(o.ViewerID, msg) }
}

func (c *wsClient) orderCancel(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd orderIDCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.OrderID == nil || *cmd.OrderID <= 0 {
		return nil, nil, badField("order_id", "required")
	}
	o, err := c.rs.store.CancelOrder(ctx, cmdID, c.viewer.ID, *cmd.OrderID)
	if err != nil {
		return nil, nil, err
	}
	return orderEvent{o}, c.orderChanged(o, true), nil
}

func (c *wsClient) productPin(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd productPinCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.ProductID == nil || *cmd.ProductID < 0 {
		return nil, nil, badField("product_id", "a product id, or 0 to unpin, is required")
	}
	bid, err := c.liveID()
	if err != nil {
		return nil, nil, err
	}
	ch := c.room.channel
	if _, err := c.rs.store.PinProduct(ctx, ch.ID, bid, *cmd.ProductID); err != nil {
		return nil, nil, err
	}
	var p *Product
	if *cmd.ProductID != 0 {
		got, err := c.rs.store.Product(ctx, ch.ID, *cmd.ProductID)
		if err != nil {
			return nil, nil, err
		}
		p = &got
	}
	return pinnedEvent{roomProduct(p)}, func() { c.room.pin(p) }, nil
}

func (c *wsClient) couponDrop(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd couponDropCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	switch {
	case cmd.Title == nil || strings.TrimSpace(*cmd.Title) == "":
		return nil, nil, badField("title", "required")
	case cmd.DiscountWon == nil || *cmd.DiscountWon < 1 || *cmd.DiscountWon > maxDiscountWon:
		return nil, nil, badField("discount_won", "from 1 to "+itoaInt(maxDiscountWon))
	case cmd.Quantity == nil || *cmd.Quantity < 1 || *cmd.Quantity > maxCouponQuantity:
		return nil, nil, badField("quantity", "from 1 to "+itoaInt(maxCouponQuantity))
	case cmd.ExpiresInS == nil || *cmd.ExpiresInS < 1 || *cmd.ExpiresInS > int(maxCouponDuration/time.Second):
		return nil, nil, badField("expires_in_s", "from 1 to "+itoaInt(int(maxCouponDuration/time.Second)))
	}
	bid, err := c.liveID()
	if err != nil {
		return nil, nil, err
	}
	cp, err := c.rs.store.DropCoupon(ctx, cmdID, c.room.channel.ID, bid, CouponInput{
		Title: *cmd.Title, DiscountWon: *cmd.DiscountWon, Quantity: *cmd.Quantity,
		ExpiresIn: time.Duration(*cmd.ExpiresInS) * time.Second,
	})
	if err != nil {
		return nil, nil, err
	}
	var effect func()
	if !cp.Replayed {
		effect = func() { c.room.couponDropped(cp) }
	}
	return couponEvent{cp}, effect, nil
}

func (c *wsClient) chatHide(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd chatHideCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.MessageID == nil || *cmd.MessageID <= 0 {
		return nil, nil, badField("message_id", "required")
	}
	m, err := c.rs.store.HideChat(ctx, c.room.channel.ID, *cmd.MessageID)
	if err != nil {
		return nil, nil, err
	}
	return chatHiddenEvent{m.ID}, func() { c.room.chatHidden(m.ID) }, nil
}

func (c *wsClient) viewerMute(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd viewerMuteCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.ViewerID == nil || *cmd.ViewerID <= 0 {
		return nil, nil, badField("viewer_id", "required")
	}
	if cmd.Minutes == nil || *cmd.Minutes < 0 || *cmd.Minutes > 7*24*60 {
		return nil, nil, badField("minutes", "from 0 (unmute) to 10080")
	}
	var until time.Time
	if *cmd.Minutes > 0 {
		until = time.Now().Add(time.Duration(*cmd.Minutes) * time.Minute)
	}
	v, err := c.rs.store.MuteViewer(ctx, c.room.channel.ID, *cmd.ViewerID, until)
	if err != nil {
		return nil, nil, err
	}
	// The viewer hears of it at once, not at its next refused chat.send,
	// so that its page can grey out the chat box (and the merchant's other
	// connections see the change).
	ev := viewerMutedEvent{ViewerID: v.ID}
	if !v.MutedUntil.IsZero() {
		t := v.MutedUntil.UTC()
		ev.MutedUntil = &t
	}
	msg := roomEvent("viewer.muted", ev)
	return struct {
		ViewerID   int64     `json:"viewer_id"`
		MutedUntil time.Time `json:"muted_until"`
	}{v.ID, v.MutedUntil}, func() { c.room.sendTo(v.ID, msg) }, nil
}

func (c *wsClient) noticeSet(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd noticeSetCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.Text == nil {
		return nil, nil, badField("text", "required (\"\" clears the notice)")
	}
	if _, err := cleanText("text", *cmd.Text, maxNoticeLen, false, false); err != nil {
		return nil, nil, badField("text", "at most "+itoaInt(maxNoticeLen)+" characters, no control characters")
	}
	bid, err := c.liveID()
	if err != nil {
		return nil, nil, err
	}
	b, err := c.rs.store.SetNotice(ctx, c.room.channel.ID, bid, *cmd.Text)
	if err != nil {
		return nil, nil, err
	}
	return noticeEvent{b.Notice}, func() { c.room.setNotice(b.Notice) }, nil
}

func (c *wsClient) orderStatus(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd orderStatusCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.OrderID == nil || *cmd.OrderID <= 0 {
		return nil, nil, badField("order_id", "required")
	}
	st := OrderStatus("")
	if cmd.Status != nil {
		st = OrderStatus(*cmd.Status)
	}
	switch st {
	case StatusAccepted, StatusReady, StatusPickedUp, StatusRejected:
	default:
		return nil, nil, badField("status", "accepted, ready, picked_up or rejected")
	}
	o, err := c.rs.store.SetOrderStatus(ctx, cmdID, c.room.channel.ID, *cmd.OrderID, st)
	if err != nil {
		return nil, nil, err
	}
	return orderEvent{o}, c.orderChanged(o, returnsStock(st)), nil
}

// videoDark takes the studio's word on its camera picture: too dark (the
// server cannot see it: it does not decode the video) or bright again.
// The room keeps when the spell began; the spell a bright again closes is
// written here, before the reply, so that an ok means it is stored, and
// a failed write reopens it for the studio's retry.
func (c *wsClient) videoDark(ctx context.Context, cmdID string, body []byte) (any, func(), error) {
	var cmd videoDarkCmd
	if err := json.Unmarshal(body, &cmd); err != nil {
		return nil, nil, err
	}
	if cmd.Dark == nil {
		return nil, nil, badField("dark", "true or false is required")
	}
	if _, err := c.liveID(); err != nil {
		return nil, nil, err
	}
	type outcome struct {
		spell darkSpell
		live  bool
	}
	out := make(chan outcome, 1)
	// The room cannot stop meanwhile: this connection holds a reference.
	if !c.room.do(func() {
		sp, live := c.room.setDark(*cmd.Dark)
		out <- outcome{sp, live}
	}) {
		return nil, nil, errors.New("video.dark: room stopped")
	}
	o := <-out
	if !o.live {
		return nil, nil, ErrNotLive // ended between liveID and the room
	}
	if o.spell.length > 0 {
		if err := c.rs.store.AddDarkTime(ctx, o.spell.broadcastID, o.spell.length); err != nil {
			c.room.do(func() { c.room.reopenDark(o.spell) })
			return nil, nil, fmt.Errorf("video.dark: %w", err)
		}
	}
	return struct {
		Dark bool `json:"dark"`
	}{*cmd.Dark}, nil, nil
}
