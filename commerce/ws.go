package commerce

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dangol/dangol/internal/lang"
	"github.com/gorilla/websocket"
)

// ServeWS serves GET /ws/{slug}: it upgrades the request to a websocket and
// runs the connection in the channel's room until it ends. A merchant
// authenticates with "Authorization: Bearer <stream key or studio token>"
// or ?token=; anyone else is a viewer.
func (rs *Rooms) ServeWS(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	lang := lang.Pick(r.Header.Get("Accept-Language"))
	ch, err := rs.store.Channel(r.Context(), slug)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			wsHTTPError(w, http.StatusNotFound, "not_found", roomText(lang, "not_found", ""))
			return
		}
		rs.log.Error("websocket: channel", "channel", slug, "err", err)
		wsHTTPError(w, http.StatusInternalServerError, CodeInternal, roomText(lang, CodeInternal, ""))
		return
	}
	merchant, invited := false, false
	if token := bearerToken(r); token != "" {
		_, err := rs.store.CheckStreamKey(r.Context(), slug, token)
		if err != nil {
			_, err = rs.store.CheckStudioToken(r.Context(), slug, token)
		}
		if err != nil {
			wsHTTPError(w, http.StatusUnauthorized, "unauthorized", roomText(lang, "unauthorized", ""))
			return
		}
		merchant = true
	} else {
		token := r.URL.Query().Get("practice")
		private, allowed, err := rs.store.PracticeAccess(r.Context(), ch.ID, token)
		if err != nil {
			rs.log.Error("websocket: practice", "channel", slug, "err", err)
			wsHTTPError(w, http.StatusInternalServerError, CodeInternal, roomText(lang, CodeInternal, ""))
			return
		}
		// Without an invitation, no rehearsal; and an invitation is for the
		// rehearsal only: once it is over, its simulated customers must not
		// come back as real ones.
		if private && !allowed || !private && token != "" {
			wsHTTPError(w, http.StatusForbidden, "practice", roomText(lang, "practice", ""))
			return
		}
		invited = private
	}
	room, ok := rs.acquire(ch)
	if !ok {
		wsHTTPError(w, http.StatusServiceUnavailable, "closed", "server shutting down")
		return
	}
	defer rs.release(room)
	// The default CheckOrigin refuses pages of other sites: a viewer's
	// browser must not be driven into the room by someone else's page.
	// Messages are written as frames of the server's own (see textFrame);
	// the library's write buffer carries only its control frames.
	up := websocket.Upgrader{ReadBufferSize: 4 << 10, WriteBufferSize: 256}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered
	}
	c := newWSClient(rs, room, conn, merchant, lang)
	c.invited = invited
	if !rs.track(c) {
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
		conn.Close()
		return
	}
	defer rs.untrack(c)
	c.serve()
}

// closePractice is the close code of a connection sent away because the
// broadcast it would see is a practice it was not invited to (4000-4999
// are the application's).
const closePractice = 4003

func bearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return h // a malformed header is a wrong key, not no key
	}
	return r.URL.Query().Get("token")
}

func (rs *Rooms) track(c *wsClient) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return false
	}
	rs.conns[c] = struct{}{}
	rs.metrics.connections.Inc()
	return true
}

func (rs *Rooms) untrack(c *wsClient) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.conns, c)
	rs.metrics.connections.Dec()
}

// wsClient is one websocket connection. Its reader goroutine (serve) reads
// and handles commands in order, doing their store calls itself; its writer
// goroutine (write) drains q. The fields below "owned by the reader" are
// touched only by the reader.
type wsClient struct {
	rs       *Rooms
	room     *liveRoom
	conn     *websocket.Conn
	merchant bool
	invited  bool // came in with a practice credential (see liveRoom.admits)
	log      *slog.Logger
	q        sendQueue
	done     chan struct{} // closed when the reader ends
	raw      net.Conn      // the connection under conn
	direct   *directWriter // its socket, for the room's fan-out; nil if it has none

	// writeMu is held while queued messages are written: by the writer, or by
	// the reader for the reply it has just queued (see flushReply).
	writeMu sync.Mutex
	batch   []queued    // guarded by writeMu
	bufs    net.Buffers // guarded by writeMu

	// Owned by the reader.
	readAt  time.Time // when the message being handled was read
	lang    string
	viewer  Viewer // valid once hello is done
	helloed bool
	replies replyCache
	// claimed holds the coupons this viewer has claimed, from hello and grants on this
	// connection, so that a claim of a sold-out coupon can be refused without the store
	// only when the reply cannot be "already claimed" or a recorded grant.
	claimed map[int64]bool
}

func newWSClient(rs *Rooms, room *liveRoom, conn *websocket.Conn, merchant bool, lang string) *wsClient {
	o := rs.opts
	c := &wsClient{
		rs: rs, room: room, conn: conn, merchant: merchant, lang: lang,
		log:     rs.log.With("channel", room.channel.Slug, "remote", conn.RemoteAddr().String()),
		done:    make(chan struct{}),
		replies: replyCache{max: 256},
	}
	c.q.init(o.SendQueue, o.MaxQueued, rs.metrics)
	c.raw = conn.NetConn()
	c.direct = newDirectWriter(c.raw)
	return c
}

// serve runs the connection: the writer on its own goroutine, the reader
// here, until either ends.
func (c *wsClient) serve() {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.write()
	}()
	c.read()
	close(c.done)
	if c.helloed {
		c.room.do(func() { c.room.leave(c) })
	}
	c.conn.Close()
	wg.Wait()
}

// read reads and handles messages until the connection fails, goes quiet
// for PongWait, or sends a message over MaxMessageBytes (closed with 1009).
func (c *wsClient) read() {
	o := c.rs.opts
	c.conn.SetReadDeadline(time.Now().Add(o.PongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(o.PongWait))
	})
	buf := make([]byte, 0, 1024)
	for {
		typ, r, err := c.conn.NextReader()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) &&
				!errors.Is(err, io.EOF) {
				c.log.Debug("websocket read", "err", err)
			}
			return
		}
		c.readAt = time.Now()
		c.conn.SetReadDeadline(c.readAt.Add(o.PongWait))
		// Read at most one byte over the limit, so that a huge frame is
		// never read whole (the library's own limit would close with no
		// reason).
		buf = buf[:0]
		buf, err = readAppend(buf, io.LimitReader(r, int64(o.MaxMessageBytes)+1))
		if err != nil {
			return
		}
		if len(buf) > o.MaxMessageBytes {
			c.log.Info("websocket message too big", "limit", o.MaxMessageBytes)
			c.closeWith(websocket.CloseMessageTooBig, "message over "+itoaInt(o.MaxMessageBytes)+" bytes")
			return
		}
		if typ != websocket.TextMessage {
			c.reply(nil, errReply(nil, toReplyError(c.lang, &roomError{code: codeBadJSON})))
			continue
		}
		c.handle(buf)
		c.flushReply()
	}
}

func readAppend(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// write sends what is queued, and pings, until the reader ends or a write
// fails (a write taking over WriteTimeout fails).
func (c *wsClient) write() {
	o := c.rs.opts
	ping := time.NewTicker(o.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-ping.C:
			// Under writeMu, after what is queued: a control frame must not land inside a
			// message frame that is half written.
			c.writeMu.Lock()
			ok := c.flushLocked()
			if ok {
				if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(o.WriteTimeout)); err != nil {
					c.conn.Close()
					ok = false
				}
			}
			c.writeMu.Unlock()
			if !ok {
				return
			}
		case <-c.q.ready:
			c.writeMu.Lock()
			ok := c.flushLocked()
			c.writeMu.Unlock()
			if !ok {
				return
			}
		}
	}
}

// flushReply is the reader's shortcut for the reply it has just queued:
// unless the writer is busy writing, the reader writes the queue itself.
// After a broadcast, thousands of writers wait for a core with the event
// in their queues; a reply queued behind the event would wait its turn with
// them, and a coupon claim's reply is the one a viewer is waiting for.
func (c *wsClient) flushReply() {
	if c.writeMu.TryLock() {
		c.flushLocked() // on failure the connection is closed, which ends the reader
		c.writeMu.Unlock()
	}
}

// flushLocked writes what is queued, in one system call (writev), and
// reports false if the connection failed or was too slow and is closed.
func (c *wsClient) flushLocked() bool {
	o := c.rs.opts
	var tooSlow bool
	c.batch, tooSlow = c.q.take(c.batch[:0])
	defer clear(c.batch)
	if len(c.batch) > 0 {
		bufs := c.bufs[:0]
		for _, m := range c.batch {
			bufs = append(bufs, m.msg)
		}
		c.bufs = bufs
		// One deadline for the batch: a clock read and timer reset per message was a
		// visible share of a chat fan-out's CPU.
		c.raw.SetWriteDeadline(time.Now().Add(o.WriteTimeout))
		_, err := bufs.WriteTo(c.raw) // consumes bufs, not c.bufs
		// No deadline once written: the room's fan-out writes to the socket directly,
		// and a deadline left in the past would fail its writes.
		c.raw.SetWriteDeadline(time.Time{})
		clear(c.bufs)
		if err != nil {
			c.log.Debug("websocket write", "err", err)
			c.conn.Close()
			return false
		}
		for _, m := range c.batch {
			if m.reply {
				c.rs.metrics.replied(m.at)
			} else {
				c.rs.metrics.delivered(m.at)
			}
		}
	}
	if tooSlow {
		c.rs.metrics.tooSlow.Inc()
		c.log.Warn("websocket client too slow, dropped", "queued", o.MaxQueued)
		c.closeWith(websocket.ClosePolicyViolation, "too slow")
		c.conn.Close()
		return false
	}
	return true
}

// closeWith sends a close frame (best effort) and closes the connection.
// It takes writeMu when free, so that the close frame does not land inside
// a message frame being written; a writer that holds it is the caller, or
// is stuck on a dead peer, and the close goes out regardless.
func (c *wsClient) closeWith(code int, reason string) {
	if c.writeMu.TryLock() {
		defer c.writeMu.Unlock()
	}
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(time.Second))
	c.conn.Close()
}

// reply queues a reply, which is never dropped, and keeps it for a retry
// of the same command id.
func (c *wsClient) reply(key []byte, msg []byte) {
	frame := textFrame(msg)
	if key != nil {
		c.replies.put(string(key), frame)
	}
	c.q.pushReply(frame, c.readAt)
}

// sendQueue is a connection's bounded queue of outgoing messages. Events
// marked droppable (chat, likes, viewers) are bounded by soft: past it the
// oldest droppable one goes. The others (replies, order updates, pins,
// coupons) are kept; past hard messages in all, the connection is too slow
// and is closed. Messages with a key replace a queued one with the same
// key (a newer like count replaces an older one). push never blocks.
type sendQueue struct {
	mu        sync.Mutex // guards msgs, droppable, dropped, tooSlow
	msgs      []queued
	droppable int
	dropped   int64 // droppable events lost, for tests and logs
	tooSlow   bool
	soft      int
	hard      int
	ready     chan struct{} // cap 1: something to take
	metrics   *roomMetrics
}

type queued struct {
	msg       []byte // a websocket frame (see textFrame)
	key       string
	droppable bool
	reply     bool      // a reply to the client's command
	at        time.Time // when it was queued (a replacement keeps the first time); for a reply, when its command was read
}

func (q *sendQueue) init(soft, hard int, m *roomMetrics) {
	q.soft, q.hard, q.ready, q.metrics = soft, hard, make(chan struct{}, 1), m
}

// push queues msg, queued at at (the caller's clock read, one for all the
// connections an event goes to).
func (q *sendQueue) push(msg []byte, key string, droppable bool, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tooSlow {
		return
	}
	q.pushLocked(msg, key, droppable, at)
	q.signal()
}

func (q *sendQueue) pushLocked(msg []byte, key string, droppable bool, at time.Time) {
	if key != "" {
		for i := range q.msgs {
			if q.msgs[i].key == key {
				q.msgs[i].msg = msg
				return
			}
		}
	}
	if droppable && q.droppable >= q.soft {
		for i := range q.msgs {
			if q.msgs[i].droppable {
				q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
				q.droppable--
				q.dropped++
				q.metrics.dropped.Inc()
				break
			}
		}
	}
	q.msgs = append(q.msgs, queued{msg: msg, key: key, droppable: droppable, at: at})
	if droppable {
		q.droppable++
	}
	if len(q.msgs) > q.hard {
		q.tooSlow = true
	}
}

// signal wakes the writer.
func (q *sendQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pushReply queues a reply to a command read at readAt.
func (q *sendQueue) pushReply(msg []byte, readAt time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tooSlow {
		return
	}
	q.msgs = append(q.msgs, queued{msg: msg, reply: true, at: readAt})
	if len(q.msgs) > q.hard {
		q.tooSlow = true
	}
	q.signal()
}

// take appends the queued messages to batch and empties the queue; tooSlow
// reports the connection must be closed after they are sent.
func (q *sendQueue) take(batch []queued) (_ []queued, tooSlow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch = append(batch, q.msgs...)
	clear(q.msgs)
	q.msgs, q.droppable = q.msgs[:0], 0
	return batch, q.tooSlow
}

// empty reports whether nothing is queued.
func (q *sendQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs) == 0
}

func (q *sendQueue) droppedCount() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// replyCache keeps a connection's last replies by command id, for the
// commands the Store does not keep (likes, pins, notices, ...).
type replyCache struct {
	max   int
	byID  map[string][]byte
	order []string
}

func (rc *replyCache) get(id string) ([]byte, bool) {
	b, ok := rc.byID[id]
	return b, ok
}

func (rc *replyCache) put(id string, msg []byte) {
	if rc.byID == nil {
		rc.byID = map[string][]byte{}
	}
	if _, ok := rc.byID[id]; ok {
		return
	}
	if len(rc.order) >= rc.max {
		delete(rc.byID, rc.order[0])
		rc.order = rc.order[1:]
	}
	rc.byID[id] = msg
	rc.order = append(rc.order, id)
}
