package practice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// The room allows 5 chat messages per 10 s per viewer (a burst of 5,
	// then one per 2 s). Keeping to 5 in any 10 s window conforms to that
	// bucket; the margin absorbs network jitter between our clock and the
	// room's.
	chatBurst  = 5
	chatWindow = 10*time.Second + 750*time.Millisecond
	// The room allows 20 likes per second; half leaves ample room.
	likeBurst  = 10
	likeWindow = time.Second + 100*time.Millisecond

	maxReconnects = 5                // per viewer, over its life: a room that keeps dropping it is left
	helloTimeout  = 15 * time.Second // real time, whatever the speed
	writeTimeout  = 10 * time.Second
	maxRead       = 1 << 20 // a hello reply carries 50 chat messages and the coupons
	maxActions    = 64      // scheduled actions per viewer; more are dropped
	inboundQueue  = 64
)

// errLeave ends a viewer for good: the room made it the merchant, or
// banned it.
var errLeave = errors.New("leave the room")

// viewer is one simulated customer. Its goroutine (run) owns all its
// fields; its connection's reader goroutine only passes messages on.
type viewer struct {
	c        *Crowd
	nickname string
	rng      *rand.Rand
	log      *slog.Logger
	buyer    buyerJSON
	note     string

	// Kept across reconnects.
	token           string
	joined          bool
	greetScheduled  bool
	nextID          int
	chats, likes    window
	reconnectsSoFar int

	// Per connection, rebuilt from the hello reply.
	conn    *websocket.Conn
	helloed bool
	live    bool
	pinned  *productJSON
	claimed []int64 // claimed coupons not yet used by an order
	closed  map[int64]bool
	pending map[string]pendingCmd
	actions []action
}

func newViewer(c *Crowd, i int, nickname string) *viewer {
	// One PCG stream per viewer: its choices do not depend on the others'.
	rng := rand.New(rand.NewPCG(c.cfg.Seed, uint64(i)+1))
	s := c.cfg.Script
	return &viewer{
		c:        c,
		nickname: nickname,
		rng:      rng,
		log:      c.log.With("viewer", nickname),
		buyer:    buyerJSON{Name: pick(rng, s.Buyers.Names), Phone: phone(rng, pick(rng, s.Buyers.Phones))},
		note:     pick(rng, s.Buyers.Notes),
		chats:    window{n: chatBurst, per: chatWindow},
		likes:    window{n: likeBurst, per: likeWindow},
	}
}

// run joins after the given delay and stays until ctx ends, connecting
// again (a few times) if the connection drops.
func (v *viewer) run(ctx context.Context, after time.Duration) {
	if !sleep(ctx, after) {
		return
	}
	for {
		err := v.session(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errLeave):
			v.log.Warn("simulated viewer left", "err", err)
			return
		case v.reconnectsSoFar >= maxReconnects:
			v.log.Warn("simulated viewer gave up", "err", err)
			return
		}
		v.reconnectsSoFar++
		v.log.Info("simulated viewer reconnecting", "err", err)
		if !sleep(ctx, time.Duration(v.reconnectsSoFar)*time.Second) {
			return
		}
		v.c.stats.reconnects.Add(1)
	}
}

// inbound is a message from the room that the viewer acts on.
type inbound struct {
	typ string
	id  string // a reply's id
	raw []byte
}

// wanted are the events a viewer acts on; the reader drops the rest
// (chat, likes and viewers counts) before they reach the viewer.
var wanted = map[string]bool{
	"reply": true, "live": true, "product.pinned": true, "coupon.dropped": true,
	"coupon.closed": true, "stock": true,
}

// session runs one connection until it drops or ctx ends.
func (v *viewer) session(ctx context.Context) error {
	cfg := &v.c.cfg
	conn, resp, err := cfg.Dialer.DialContext(ctx, cfg.RoomURL, cfg.Header)
	if err != nil {
		v.c.stats.dialErrors.Add(1)
		if resp != nil {
			return fmt.Errorf("dial room: %w (HTTP %s)", err, resp.Status)
		}
		return fmt.Errorf("dial room: %w", err)
	}
	conn.SetReadLimit(maxRead)
	v.conn = conn
	v.helloed, v.live, v.pinned, v.claimed, v.actions = false, false, nil, nil, nil
	v.closed, v.pending = map[int64]bool{}, map[string]pendingCmd{}

	in := make(chan inbound, inboundQueue)
	done := make(chan struct{})
	var readErr error // set before in is closed
	go func() {
		readErr = read(conn, in, done)
		close(in)
	}()
	defer func() {
		close(done)
		conn.Close()
		for range in { // until the reader has stopped
		}
		if v.helloed {
			v.c.stats.connected.Add(-1)
		}
	}()

	if err := v.hello(); err != nil {
		return err
	}
	timer := time.NewTimer(helloTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			// A clean close, so that the room counts the viewer gone at
			// once rather than when its connection times out.
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "practice over")
			_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return nil
		case m, ok := <-in:
			if !ok {
				return fmt.Errorf("read from room: %w", readErr)
			}
			if err := v.handle(m); err != nil {
				return err
			}
		case now := <-timer.C:
			if !v.helloed {
				return fmt.Errorf("no hello reply within %v", helloTimeout)
			}
			if err := v.fire(now); err != nil {
				return err
			}
		}
		if v.helloed {
			timer.Reset(v.nextDue())
		}
	}
}

// read passes the room's messages the viewer wants to in, until the
// connection fails or done is closed.
func read(conn *websocket.Conn, in chan<- inbound, done <-chan struct{}) error {
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		var env struct {
			Type string          `json:"type"`
			ID   json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return fmt.Errorf("bad message from room: %w", err)
		}
		if !wanted[env.Type] {
			continue
		}
		var id string
		_ = json.Unmarshal(env.ID, &id) // our ids are strings; a null id is not ours
		select {
		case in <- inbound{typ: env.Type, id: id, raw: b}:
		case <-done:
			return nil
		}
	}
}

// nextDue is how long until the earliest scheduled action.
func (v *viewer) nextDue() time.Duration {
	if len(v.actions) == 0 {
		return time.Hour // nothing to do until an event schedules something
	}
	next := v.actions[0].at
	for _, a := range v.actions[1:] {
		if a.at.Before(next) {
			next = a.at
		}
	}
	return max(time.Until(next), 0)
}

// sleep waits d, or until ctx ends: it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// window allows n events in any span of per, the strictest reading of a
// "n per span" limit.
type window struct {
	n    int
	per  time.Duration
	sent []time.Time // the last n sends, oldest first
}

func (w *window) allow(now time.Time) bool {
	cut := now.Add(-w.per)
	i := 0
	for i < len(w.sent) && !w.sent[i].After(cut) {
		i++
	}
	w.sent = slices.Delete(w.sent, 0, i)
	if len(w.sent) >= w.n {
		return false
	}
	w.sent = append(w.sent, now)
	return true
}

// newID returns a fresh command id: the room does a command once per
// viewer and id, and a viewer's ids carry on across reconnects.
func (v *viewer) newID() string {
	v.nextID++
	return "p" + strconv.Itoa(v.nextID)
}
