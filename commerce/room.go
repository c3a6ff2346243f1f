package commerce

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RoomOptions tunes the live rooms. The zero value of a field means its
// default.
type RoomOptions struct {
	PingInterval    time.Duration // how often the server pings a connection; 20 s
	PongWait        time.Duration // a connection silent (no message, no pong) this long is dropped; 45 s
	WriteTimeout    time.Duration // longest write to one connection; 10 s
	MaxMessageBytes int           // largest message a client may send; 8 KiB (larger: close 1009)
	SendQueue       int           // droppable events (chat, likes, viewers) queued per connection; 256
	MaxQueued       int           // messages queued per connection before it is dropped as too slow; 1024
	Coalesce        time.Duration // likes and viewers events go out at most once per this; 500 ms
	ChatBatch       time.Duration // chat messages go out at most once per this, together; 40 ms
	ChatBurst       int           // chat messages a viewer (all its connections together) may send at once; 5
	ChatEvery       time.Duration // and then one more per this; 2 s (5 per 10 s)
	LikesPerSecond  int           // likes a viewer may send per second, all its connections together; 20 (more are ignored)
	ViewerSample    time.Duration // a live broadcast's viewers are sampled, and written, once per this, from its start; 30 s
	// BannedWords are refused in chat on every channel; nil means
	// DefaultBannedWords. ChannelBannedWords adds words per channel slug.
	BannedWords        []string
	ChannelBannedWords map[string][]string
	// Logger receives the rooms' logs; slog.Default() if nil.
	Logger *slog.Logger
	// Metrics, if not nil, gets the rooms' Prometheus collectors.
	Metrics prometheus.Registerer
	// Pinned, if set, is told when a merchant pins a product (the recording
	// starts a chapter there). It runs on the room's goroutine: it must not
	// block.
	Pinned func(slug string, productID int64)
}

// DefaultBannedWords are refused in chat unless RoomOptions.BannedWords
// says otherwise. Matching ignores case and spaces.
var DefaultBannedWords = []string{"씨발", "시발", "병신", "fuck", "shit"}

func (o RoomOptions) withDefaults() RoomOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PingInterval, 20*time.Second)
	def(&o.PongWait, 45*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.Coalesce, 500*time.Millisecond)
	def(&o.ChatBatch, 40*time.Millisecond)
	def(&o.ChatEvery, 2*time.Second)
	def(&o.ViewerSample, 30*time.Second)
	defInt(&o.MaxMessageBytes, 8<<10)
	defInt(&o.SendQueue, 256)
	defInt(&o.MaxQueued, 1024)
	defInt(&o.ChatBurst, 5)
	defInt(&o.LikesPerSecond, 20)
	if o.BannedWords == nil {
		o.BannedWords = DefaultBannedWords
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Rooms serves the live rooms of every channel on GET /ws/{slug} (see
// docs/protocol.md). A room exists while it has connections; its state that
// outlives it (pins, coupons, likes, chat) is in the Store.
//
// Create it with NewRooms, mount ServeWS, and Close it once when the server
// stops.
type Rooms struct {
	store   *Store
	opts    RoomOptions
	log     *slog.Logger
	metrics *roomMetrics

	mu     sync.Mutex // guards rooms, conns, closed
	rooms  map[string]*liveRoom
	conns  map[*wsClient]struct{}
	closed bool

	wg sync.WaitGroup // room goroutines and their helpers
}

// NewRooms returns the live rooms of the channels in store.
func NewRooms(store *Store, opts RoomOptions) (*Rooms, error) {
	opts = opts.withDefaults()
	m, err := newRoomMetrics(opts.Metrics)
	if err != nil {
		return nil, err
	}
	return &Rooms{
		store: store, opts: opts, log: opts.Logger, metrics: m,
		rooms: map[string]*liveRoom{}, conns: map[*wsClient]struct{}{},
	}, nil
}

// acquire returns the channel's room, starting it if needed, with one more
// reference; release gives it back. A room stops when its last reference
// goes.
func (rs *Rooms) acquire(ch Channel) (*liveRoom, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return nil, false
	}
	r := rs.rooms[ch.Slug]
	if r == nil {
		r = newLiveRoom(rs, ch)
		rs.rooms[ch.Slug] = r
		rs.wg.Add(1)
		go func() {
			defer rs.wg.Done()
			r.run()
		}()
	}
	r.refs++
	return r, true
}

func (rs *Rooms) release(r *liveRoom) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r.refs--
	if r.refs == 0 {
		delete(rs.rooms, r.channel.Slug)
		close(r.quit)
	}
}

// room returns the channel's room if it has one.
func (rs *Rooms) room(slug string) *liveRoom {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.rooms[slug]
}

// BroadcastStarted starts a broadcast on the channel (or carries on with
// the one live) and tells its connected clients it is live. The media
// server calls it when the merchant goes live.
func (rs *Rooms) BroadcastStarted(ctx context.Context, slug string) (Broadcast, error) {
	ch, err := rs.store.Channel(ctx, slug)
	if err != nil {
		return Broadcast{}, err
	}
	b, err := rs.store.BeginBroadcast(ctx, ch.ID)
	if err != nil {
		return Broadcast{}, err
	}
	if r := rs.room(slug); r != nil {
		r.do(func() { r.setLive(b) })
	}
	return b, nil
}

// BroadcastEnded ends the channel's live broadcast, if any (its coupons
// close), and tells its connected clients it is off.
func (rs *Rooms) BroadcastEnded(ctx context.Context, slug string) error {
	ch, err := rs.store.Channel(ctx, slug)
	if err != nil {
		return err
	}
	b, err := rs.store.LiveBroadcast(ctx, ch.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ended, err := rs.store.EndBroadcast(ctx, ch.ID, b.ID)
	if err != nil {
		return err
	}
	if r := rs.room(slug); r != nil {
		// Wait for the room's last write of the viewer counts, so that the
		// broadcasts listing has them once the merchant sees the broadcast
		// end. A failed write is the room's to log: the broadcast has ended
		// all the same.
		saved := make(chan struct{})
		if r.do(func() { r.setEnded(ended, func(error) { close(saved) }) }) {
			select {
			case <-saved:
			case <-r.quit: // the room stopped before it got to it
			case <-ctx.Done():
			}
		}
	}
	return nil
}

// OrderPlaced tells the channel's room, if it has one, of an order placed
// elsewhere (from a replay): the merchant gets order.updated, and everyone
// the new stock of its products. Safe from any goroutine.
func (rs *Rooms) OrderPlaced(slug string, o Order) {
	r := rs.room(slug)
	if r == nil {
		return
	}
	ids := make([]int64, len(o.Items))
	for i, it := range o.Items {
		ids[i] = it.ProductID
	}
	r.stockChanged(ids...)
	msg := roomEvent("order.updated", orderEvent{o})
	r.do(func() { r.sendTo(o.ViewerID, msg) })
}

// CoachTip shows a tutor's tip on the merchant's studio: the channel's
// merchant connections get coach.tip, and no one else. Safe from any
// goroutine; a room without connections drops it (the studio is not
// there to show it).
func (rs *Rooms) CoachTip(slug string, n PracticeNote) {
	r := rs.room(slug)
	if r == nil {
		return
	}
	msg := roomEvent("coach.tip", tipEvent{Tip: n})
	r.do(func() { r.sendToMerchant(msg) })
}

// Close closes every connection with a going-away close frame, refuses new
// ones, and waits for the rooms to stop.
func (rs *Rooms) Close() {
	rs.mu.Lock()
	rs.closed = true
	conns := make([]*wsClient, 0, len(rs.conns))
	for c := range rs.conns {
		conns = append(conns, c)
	}
	rs.mu.Unlock()
	for _, c := range conns {
		c.closeWith(1001, "server shutting down")
	}
	rs.wg.Wait()
}

// liveRoom is the room of one channel. Its goroutine, run, owns the
// room's mutable state: the fields below "owned by run" are touched only
// there, by the functions handed to do. Store writes never run on it:
// connections' reader goroutines do them and hand the outcome over with
// do, and background work (saving likes, reading stock) runs on helper
// goroutines that report back with do too. run never blocks on a client:
// it only appends to clients' bounded queues.
type liveRoom struct {
	rs      *Rooms
	channel Channel
	inbox   chan func()
	quit    chan struct{} // closed by Rooms.release when the last reference goes

	refs int // guarded by rs.mu

	// broadcastID is the live broadcast's id, 0 when not live. Written on
	// run, read by readers for the store calls they make.
	broadcastID atomic.Int64
	// soldOut holds the ids of coupons whose last unit this room saw granted. Written by
	// run, read by the connections' readers; a sold-out coupon never reopens.
	soldOut sync.Map

	stockMu    sync.Mutex // guards stockDirty
	stockDirty map[int64]bool
	stockKick  chan struct{} // cap 1: wake the stock reader

	limits *viewerLimits // chat and like allowances per viewer; safe for the readers

	// fanJobs carries the room's events to its fan-out goroutine (see fanOut).
	fanJobs chan fanJob

	// Owned by run.
	clients map[*wsClient]clientInfo
	aud     audience // the live broadcast's viewers, for its counts
	// merchantConns counts the clients that are the merchant's: the viewer
	// count leaves them out.
	merchantConns int
	sampleTimer   *time.Timer // fires at the next sample of aud
	listed        []*wsClient // clients as a slice, nil after a change (see clientList)
	live          bool
	broadcast     Broadcast
	pinned        *Product
	coupons       map[int64]*Coupon // open coupons
	chat          []ChatMessage     // the last DefaultRecentChat, not hidden
	likes         int64             // total shown
	likesUnsaved  int64
	likesSaving   bool
	likesDirty    bool
	viewersDirty  bool
	// remainingDirty holds coupons whose remaining count changed since the last flush: a
	// rush grants a coupon many times a second, and one event per grant to every client
	// would be most of the server's work.
	remainingDirty map[int64]bool
	expiry         *time.Timer
	// pendingChat are chat messages not yet sent, at most ChatBatch old: a busy
	// chat reaches each viewer as a few messages per write instead of a write
	// per message, which is most of a fan-out's cost. The first message after
	// a quiet ChatBatch goes out at once.
	pendingChat  [][]byte // websocket frames
	chatSentAt   time.Time
	chatTimer    *time.Timer
	chatTimerSet bool
	// darkSince is when the merchant's studio said its camera picture went
	// too dark (video.dark), by the store's clock; zero while it is not.
	// Only the studio can tell (the server does not decode the video), so
	// the spell ends when it says so, when the broadcast ends, or when the
	// last of the merchant's connections leaves: no one is left to say.
	darkSince time.Time
}

// clientInfo is what the room knows of a connection.
type clientInfo struct {
	viewerID int64
	merchant bool
	invited  bool // came in with a practice credential (see Store.PracticeAccess)
}

// admits reports whether a client may be in the room as it is now: during a
// practice broadcast only the merchant and the invited.
func (r *liveRoom) admits(info clientInfo) bool {
	return !r.live || !r.broadcast.Practice || info.merchant || info.invited
}

// sendAway takes the customers (never the merchant) for which away is true
// out of the room at once, so that they get nothing more, and closes their
// connections with closePractice.
func (r *liveRoom) sendAway(away func(clientInfo) bool) {
	for c, info := range r.clients {
		if !info.merchant && away(info) {
			r.leave(c)
			// Off the room's goroutine: a close frame may wait on a slow socket.
			go c.closeWith(closePractice, "practice")
		}
	}
}

func newLiveRoom(rs *Rooms, ch Channel) *liveRoom {
	return &liveRoom{
		rs: rs, channel: ch,
		inbox:      make(chan func(), 256),
		fanJobs:    make(chan fanJob, 64),
		quit:       make(chan struct{}),
		stockDirty: map[int64]bool{},
		stockKick:  make(chan struct{}, 1),
		clients:    map[*wsClient]clientInfo{},
		aud:        newAudience(),
		coupons:    map[int64]*Coupon{},
		limits:     newViewerLimits(rs.opts),
	}
}

// do runs f on the room's goroutine, later; it reports false if the room
// has stopped. It blocks while the inbox is full, which slows the caller
// (a reader), never the room.
func (r *liveRoom) do(f func()) bool {
	select {
	case r.inbox <- f:
		return true
	case <-r.quit:
		return false
	}
}

func (r *liveRoom) run() {
	log := r.rs.log.With("channel", r.channel.Slug)
	r.load(log)
	r.rs.wg.Add(2)
	go func() {
		defer r.rs.wg.Done()
		r.readStock(log)
	}()
	go func() {
		defer r.rs.wg.Done()
		r.fanOut()
	}()
	tick := time.NewTicker(r.rs.opts.Coalesce)
	defer tick.Stop()
	r.expiry = time.NewTimer(time.Hour)
	r.expiry.Stop()
	defer r.expiry.Stop()
	r.armExpiry() // load found the open coupons before the timer existed
	r.chatTimer = time.NewTimer(time.Hour)
	r.chatTimer.Stop()
	defer r.chatTimer.Stop()
	r.sampleTimer = time.NewTimer(time.Hour)
	defer r.sampleTimer.Stop()
	r.armSample() // load found the broadcast before the timer existed
	for {
		select {
		case f := <-r.inbox:
			f()
		case <-tick.C:
			r.flush(log)
		case <-r.chatTimer.C:
			r.chatTimerSet = false
			r.flushChat()
		case <-r.expiry.C:
			r.expireCoupons()
		case <-r.sampleTimer.C:
			r.aud.sample(r.rs.store.timestamp())
			r.saveViewers(log, false, nil)
			r.armSample()
		case <-r.quit:
			r.saveLikes(log)
			r.saveDark(log, r.endDark(r.rs.store.timestamp()), nil)
			// The next room for the broadcast starts counting afresh: what
			// this one saw since its last sample is written now.
			r.aud.sample(r.rs.store.timestamp())
			r.saveViewers(log, true, nil)
			return
		}
	}
}

// load reads the room's state from the store: the live broadcast, its
// pinned product, open coupons and recent chat.
func (r *liveRoom) load(log *slog.Logger) {
	ctx := context.Background()
	b, err := r.rs.store.LiveBroadcast(ctx, r.channel.ID)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			log.Error("load room", "err", err)
		}
		return
	}
	r.setBroadcast(b)
	if b.PinnedProductID != 0 {
		if p, err := r.rs.store.Product(ctx, r.channel.ID, b.PinnedProductID); err == nil {
			r.pinned = &p
		}
	}
	if cs, err := r.rs.store.Coupons(ctx, b.ID, true); err == nil {
		for _, c := range cs {
			if c.Remaining > 0 {
				r.coupons[c.ID] = &c
			}
		}
		r.armExpiry()
	} else {
		log.Error("load coupons", "err", err)
	}
	if ms, err := r.rs.store.RecentChat(ctx, b.ID, DefaultRecentChat); err == nil {
		r.chat = ms
	} else {
		log.Error("load chat", "err", err)
	}
}

func (r *liveRoom) setBroadcast(b Broadcast) {
	r.live, r.broadcast, r.likes, r.likesUnsaved = true, b, b.Likes, 0
	r.pinned, r.chat, r.darkSince = nil, nil, time.Time{}
	clear(r.coupons)
	r.broadcastID.Store(b.ID)
	r.aud.start(b)
	r.armSample()
}

func (r *liveRoom) setLive(b Broadcast) {
	if r.live && r.broadcast.ID == b.ID {
		return
	}
	if r.live {
		// Another broadcast replaced the one this room had (its end went
		// unannounced): its counts end here.
		now := r.rs.store.timestamp()
		r.aud.sample(now)
		r.saveViewers(r.rs.log, true, nil)
		r.saveDark(r.rs.log, r.endDark(now), nil)
	}
	r.setBroadcast(b)
	if b.Practice {
		// A customer who had the stall's page open before the rehearsal
		// began must not watch it. Connections not joined yet are turned
		// away at their hello (join).
		r.sendAway(func(info clientInfo) bool { return !info.invited })
	}
	r.send(roomEvent("live", liveEvent{Live: true, BroadcastID: b.ID, Practice: b.Practice}), "live", false)
}

// setEnded ends broadcast b, which has ended in the store, in the room.
// saved, if not nil, is called once the room's last write of b's viewer
// counts is done (at once if there is none to do).
func (r *liveRoom) setEnded(b Broadcast, saved func(error)) {
	if !r.live || r.broadcast.ID != b.ID {
		if saved != nil {
			saved(nil)
		}
		return
	}
	r.saveLikes(r.rs.log)
	// The review reads the dark time once the broadcast has ended: saved
	// waits for its write too.
	done := afterAll(2, saved)
	r.saveDark(r.rs.log, r.endDark(b.EndedAt), done)
	r.aud.sample(b.EndedAt)
	r.saveViewers(r.rs.log, true, done)
	r.aud.stop()
	r.sampleTimer.Stop()
	r.live = false
	r.broadcastID.Store(0)
	for id := range r.coupons {
		r.send(roomEvent("coupon.closed", couponClosedEvent{CouponID: id, Reason: "ended"}), "", false)
	}
	clear(r.coupons)
	r.send(roomEvent("live", liveEvent{Live: false, BroadcastID: b.ID}), "live", false)
	if b.Practice {
		// The invitation was for the rehearsal: its simulated customers
		// and guests leave with it, and cannot come back in (ServeWS), so
		// that none stays on into the next, real, broadcast.
		r.sendAway(func(info clientInfo) bool { return info.invited })
	}
}

// send queues msg for every client: droppable events may be lost by a slow
// client, the others are kept (a client too slow for those is dropped).
// Messages with the same non-empty key replace each other in a queue.
func (r *liveRoom) send(msg []byte, key string, droppable bool) {
	r.flushChat() // events keep their order with chat (a hide after its message)
	r.fanTo([][]byte{textFrame(msg)}, key, droppable, nil)
}

// sendTo queues msg, undroppable, for the merchant's connections and those
// of viewerID.
func (r *liveRoom) sendTo(viewerID int64, msg []byte) {
	r.sendWhere(msg, func(info clientInfo) bool { return info.merchant || info.viewerID == viewerID })
}

// sendToMerchant queues msg, undroppable, for the merchant's connections
// alone.
func (r *liveRoom) sendToMerchant(msg []byte) {
	r.sendWhere(msg, func(info clientInfo) bool { return info.merchant })
}

func (r *liveRoom) sendWhere(msg []byte, to func(clientInfo) bool) {
	r.flushChat()
	var cs []*wsClient
	for c, info := range r.clients {
		if to(info) {
			cs = append(cs, c)
		}
	}
	r.fanTo([][]byte{textFrame(msg)}, "", false, cs)
}

// join adds c, a connection that said hello, and queues the hello reply,
// made by reply from the room's state, ahead of any event. It returns the
// reply's frame.
func (r *liveRoom) join(c *wsClient, info clientInfo, reply func(roomState) []byte) []byte {
	if !r.admits(info) {
		// The practice went live between this connection's upgrade, when
		// the channel was public, and its hello.
		r.leave(c)
		go c.closeWith(closePractice, "practice")
		return nil
	}
	r.flushChat() // the state has the pending messages: the new client must not get them twice
	if old, ok := r.clients[c]; !ok {
		r.viewersDirty = true
		r.listed = nil
	} else if old.merchant {
		r.merchantConns--
	} else {
		r.aud.remove(old.viewerID) // a second hello: counted again below
	}
	r.clients[c] = info
	if info.merchant {
		r.merchantConns++
	} else {
		r.aud.add(info.viewerID)
	}
	frame := textFrame(reply(r.state()))
	c.q.push(frame, "", false, time.Now())
	return frame
}

func (r *liveRoom) leave(c *wsClient) {
	if info, ok := r.clients[c]; ok {
		if info.merchant {
			r.merchantConns--
			if r.merchantConns == 0 {
				r.saveDark(r.rs.log, r.endDark(r.rs.store.timestamp()), nil)
			}
		} else {
			r.aud.remove(info.viewerID)
		}
		delete(r.clients, c)
		r.viewersDirty = true
		r.listed = nil
	}
}

// viewerConns is the viewer count the room shows: its connections, less the
// merchant's studio (or studios), which is not watching.
func (r *liveRoom) viewerConns() int { return len(r.clients) - r.merchantConns }

// state is the room as a joining client sees it.
func (r *liveRoom) state() roomState {
	st := roomState{
		Live: r.live, Pinned: roomProduct(r.pinned), Coupons: []Coupon{}, Viewers: r.viewerConns(),
		Likes: r.likes, Chat: slices.Clone(r.chat),
	}
	if st.Chat == nil {
		st.Chat = []ChatMessage{}
	}
	if r.live {
		st.BroadcastID, st.Notice, st.Practice = r.broadcast.ID, r.broadcast.Notice, r.broadcast.Practice
	}
	for _, c := range r.coupons {
		st.Coupons = append(st.Coupons, *c)
	}
	slices.SortFunc(st.Coupons, func(a, b Coupon) int { return int(a.ID - b.ID) })
	return st
}

func (r *liveRoom) chatAdded(m ChatMessage) {
	if !r.live || m.BroadcastID != r.broadcast.ID {
		return
	}
	r.chat = append(r.chat, m)
	if len(r.chat) > DefaultRecentChat {
		r.chat = slices.Delete(r.chat, 0, len(r.chat)-DefaultRecentChat)
	}
	r.pendingChat = append(r.pendingChat, textFrame(roomEvent("chat.message", chatEvent{Message: m})))
	if len(r.pendingChat) >= r.maxChatBatch() {
		r.flushChat() // a batch never crowds older chat out of a keeping-up client's queue
		return
	}
	if r.chatTimerSet {
		return
	}
	if wait := r.rs.opts.ChatBatch - time.Since(r.chatSentAt); wait > 0 {
		r.chatTimer.Reset(wait)
		r.chatTimerSet = true
		return
	}
	r.flushChat()
}

// maxChatBatch is the most chat messages sent as one batch: a quarter of a
// client's droppable queue, and 16.
func (r *liveRoom) maxChatBatch() int { return max(1, min(16, r.rs.opts.SendQueue/4)) }

// flushChat queues the pending chat messages for every client, a batch per
// client.
func (r *liveRoom) flushChat() {
	if len(r.pendingChat) == 0 {
		return
	}
	r.fanTo(slices.Clone(r.pendingChat), "", true, nil)
	clear(r.pendingChat)
	r.pendingChat = r.pendingChat[:0]
	r.chatSentAt = time.Now()
}

func (r *liveRoom) chatHidden(id int64) {
	r.chat = slices.DeleteFunc(r.chat, func(m ChatMessage) bool { return m.ID == id })
	r.send(roomEvent("chat.hidden", chatHiddenEvent{MessageID: id}), "", false)
}

func (r *liveRoom) pin(p *Product) {
	r.pinned = p
	if f := r.rs.opts.Pinned; f != nil && p != nil {
		f(r.channel.Slug, p.ID)
	}
	r.send(roomEvent("product.pinned", pinnedEvent{Product: roomProduct(p)}), "pin", false)
}

func (r *liveRoom) setNotice(text string) {
	r.broadcast.Notice = text
	r.send(roomEvent("notice", noticeEvent{Text: text}), "notice", false)
}

func (r *liveRoom) like() {
	if !r.live {
		return
	}
	r.likes++
	r.likesUnsaved++
	r.likesDirty = true
}

func (r *liveRoom) couponDropped(c Coupon) {
	if !r.live || c.BroadcastID != r.broadcast.ID {
		return
	}
	r.coupons[c.ID] = &c
	r.armExpiry()
	r.send(roomEvent("coupon.dropped", couponEvent{Coupon: c}), "", false)
}

// couponClaimed records what a claim said was left. Claims commit in any
// order, so the smallest count seen is the truth.
func (r *liveRoom) couponClaimed(couponID int64, remaining int) {
	c := r.coupons[couponID]
	if c == nil || remaining >= c.Remaining {
		return
	}
	c.Remaining = remaining
	if remaining > 0 {
		if r.remainingDirty == nil {
			r.remainingDirty = map[int64]bool{}
		}
		r.remainingDirty[couponID] = true
	}
	if remaining == 0 {
		r.soldOut.Store(couponID, true)
		delete(r.remainingDirty, couponID)
		r.send(roomEvent("coupon.remaining", couponRemainingEvent{CouponID: couponID, Remaining: 0}),
			"coupon.remaining:"+strconv.FormatInt(couponID, 10), true)
		delete(r.coupons, couponID)
		r.send(roomEvent("coupon.closed", couponClosedEvent{CouponID: couponID, Reason: "sold_out"}), "", false)
		r.armExpiry()
	}
}

// isSoldOut reports whether the room saw coupon id's last unit granted. Safe from any
// goroutine.
func (r *liveRoom) isSoldOut(id int64) bool {
	_, ok := r.soldOut.Load(id)
	return ok
}

// armExpiry sets the timer for the first open coupon to expire.
func (r *liveRoom) armExpiry() {
	if r.expiry == nil {
		return // load runs before the timer exists and run arms it
	}
	r.expiry.Stop()
	var first time.Time
	for _, c := range r.coupons {
		if first.IsZero() || c.ExpiresAt.Before(first) {
			first = c.ExpiresAt
		}
	}
	if !first.IsZero() {
		r.expiry.Reset(max(time.Until(first), 0))
	}
}

func (r *liveRoom) expireCoupons() {
	now := time.Now()
	for id, c := range r.coupons {
		if !now.Before(c.ExpiresAt) {
			delete(r.coupons, id)
			r.send(roomEvent("coupon.closed", couponClosedEvent{CouponID: id, Reason: "expired"}), "", false)
		}
	}
	r.armExpiry()
}

// flush sends the coalesced likes and viewers events and saves likes.
func (r *liveRoom) flush(log *slog.Logger) {
	if r.likesDirty {
		r.likesDirty = false
		r.send(roomEvent("likes", likesEvent{Likes: r.likes}), "likes", true)
	}
	for id := range r.remainingDirty {
		if c := r.coupons[id]; c != nil {
			r.send(roomEvent("coupon.remaining", couponRemainingEvent{CouponID: id, Remaining: c.Remaining}),
				"coupon.remaining:"+strconv.FormatInt(id, 10), true)
		}
		delete(r.remainingDirty, id)
	}
	if r.viewersDirty {
		r.viewersDirty = false
		r.send(roomEvent("viewers", viewersEvent{Viewers: r.viewerConns()}), "viewers", true)
	}
	r.saveLikes(log)
}

// saveLikes writes the likes not yet saved, on a helper goroutine, one
// write at a time.
func (r *liveRoom) saveLikes(log *slog.Logger) {
	if r.likesUnsaved == 0 || r.likesSaving || !r.live {
		return
	}
	n, bid := r.likesUnsaved, r.broadcast.ID
	r.likesUnsaved, r.likesSaving = 0, true
	r.rs.wg.Add(1)
	go func() {
		defer r.rs.wg.Done()
		_, err := r.rs.store.AddLikes(context.Background(), bid, n)
		if err != nil {
			log.Warn("save likes", "n", n, "err", err)
		}
		r.do(func() {
			r.likesSaving = false
			if err != nil && r.live && r.broadcast.ID == bid {
				r.likesUnsaved += n
			}
		})
	}()
}

// armSample sets the timer for the live broadcast's next sample: on a grid
// of ViewerSample from its start, so that a restarted room's samples fall
// where the previous room's would have.
func (r *liveRoom) armSample() {
	if r.sampleTimer == nil {
		return // load runs before the timer exists and run arms it
	}
	r.sampleTimer.Stop()
	if !r.live {
		return
	}
	every := r.rs.opts.ViewerSample
	since := max(r.rs.store.timestamp().Sub(r.broadcast.StartedAt), 0)
	r.sampleTimer.Reset(every - since%every)
}

// saveViewers writes what the room has not written of the live broadcast's
// viewer counts, on a helper goroutine. Periodic writes go one at a time:
// while one is in flight the next sample waits for the next tick. A final
// write (the broadcast ends, the room stops) goes at once: writes commute
// (see AddViewerStats), so overlapping is safe. done, if not nil, gets the
// write's outcome, or nil at once when there is nothing to write.
func (r *liveRoom) saveViewers(log *slog.Logger, final bool, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	if r.aud.saving && !final {
		done(nil)
		return
	}
	bid, st, ok := r.aud.take()
	if !ok {
		done(nil)
		return
	}
	r.aud.saving = true
	r.rs.wg.Add(1)
	go func() {
		defer r.rs.wg.Done()
		err := r.rs.store.AddViewerStats(context.Background(), bid, st)
		done(err)
		r.do(func() {
			r.aud.saving = false
			if err != nil && !r.aud.putBack(bid, st) {
				log.Warn("viewer counts lost", "broadcast", bid, "viewers", len(st.Seen), "samples", len(st.Samples))
			}
		})
		if err != nil {
			log.Warn("save viewer counts", "broadcast", bid, "err", err)
		}
	}()
}

// stockChanged asks for stock events for the products; safe from any
// goroutine. One helper goroutine reads the stock after the change and
// reads in order, so the last event for a product is never older than the
// last change.
func (r *liveRoom) stockChanged(productIDs ...int64) {
	r.stockMu.Lock()
	for _, id := range productIDs {
		r.stockDirty[id] = true
	}
	r.stockMu.Unlock()
	select {
	case r.stockKick <- struct{}{}:
	default:
	}
}

func (r *liveRoom) readStock(log *slog.Logger) {
	for {
		select {
		case <-r.stockKick:
		case <-r.quit:
			return
		}
		r.stockMu.Lock()
		ids := make([]int64, 0, len(r.stockDirty))
		for id := range r.stockDirty {
			ids = append(ids, id)
		}
		clear(r.stockDirty)
		r.stockMu.Unlock()
		slices.Sort(ids)
		for _, id := range ids {
			p, err := r.rs.store.Product(context.Background(), r.channel.ID, id)
			if err != nil {
				log.Warn("read stock", "product", id, "err", err)
				continue
			}
			if !r.do(func() { r.stock(p) }) {
				return
			}
		}
	}
}

func (r *liveRoom) stock(p Product) {
	if r.pinned != nil && r.pinned.ID == p.ID {
		q := p
		r.pinned = &q
	}
	r.send(roomEvent("stock", stockEvent{ProductID: p.ID, Stock: p.Stock}), "stock:"+strconv.FormatInt(p.ID, 10), false)
}

// wsHTTPError answers a plain HTTP request (before the upgrade) with a
// JSON error, in the REST API's form.
func wsHTTPError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	_, _ = w.Write(b)
}
