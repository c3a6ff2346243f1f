package commerce

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// corkConn is the network connection under a room websocket. While corked
// it keeps what is written and sends it in one write when uncorked: a
// connection's writer corks around each batch it takes from its queue, so
// the messages queued while it waited go out in one system call instead of
// one each. A chat fan-out is a write per viewer per message; on a busy
// server the queues fill while the writers wait for a core, and then the
// cost per message falls as the load rises instead of the latency.
//
// The writes that leave the cork take a slot of slots, shared by all the
// room connections: an event to five thousand viewers makes five thousand
// writers runnable at once, and the Go scheduler runs them first-come
// first-served, so a connection's reader with a coupon claim to read, or
// the store's writer back from its fsync, waited behind all of them (70 ms
// on one core). Writers waiting for a slot are parked, not runnable, so
// those others get a core within a few writes.
type corkConn struct {
	net.Conn
	slots chan struct{} // nil: no limit

	mu       sync.Mutex // guards corked, buf and deadline; held while buf is written out
	corked   bool
	buf      []byte
	deadline time.Time // the write deadline set last
}

// slotHold is the longest a write holds a slot: one to a peer that reads
// slowly finishes without it.
const slotHold = 5 * time.Millisecond

// maxCorkBuffer is the most a corkConn keeps between batches; a larger
// buffer (after a burst) is let go.
const maxCorkBuffer = 64 << 10

func (c *corkConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork sends what was written while corked, under the write deadline
// set last. With urgent it does not wait for a slot: a reply to a command
// the connection's reader has just handled is what its viewer is waiting
// for, and there is one such write per command, not one per viewer.
func (c *corkConn) uncork(urgent bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked(urgent)
}

// spill sends what is kept once it reaches maxCorkBuffer, staying corked:
// a long batch goes out in writes of that size.
func (c *corkConn) spill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) < maxCorkBuffer {
		return nil
	}
	return c.flushLocked(false)
}

func (c *corkConn) flushLocked(urgent bool) error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.writeOut(c.buf, urgent)
	if cap(c.buf) > maxCorkBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// writeOut writes b, in a slot unless urgent or there are none.
func (c *corkConn) writeOut(b []byte, urgent bool) error {
	if c.slots == nil || urgent {
		_, err := c.Conn.Write(b)
		return err
	}
	c.slots <- struct{}{}
	hold := time.Now().Add(slotHold)
	limited := c.deadline.IsZero() || hold.Before(c.deadline) // the slot's limit comes first
	if limited {
		c.Conn.SetWriteDeadline(hold)
	}
	n, err := c.Conn.Write(b)
	<-c.slots
	if !limited {
		return err
	}
	c.Conn.SetWriteDeadline(c.deadline)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The peer is slow to read: the rest under the caller's deadline, without a slot.
		_, err = c.Conn.Write(b[n:])
	}
	return err
}

// Close sends what is kept, such as a close frame written by another
// goroutine during a batch, then closes. The send is best effort and
// brief: a connection being closed may be a dead one. A write in progress
// is not waited for: closing is what ends a write stuck on a dead peer.
func (c *corkConn) Close() error {
	if c.mu.TryLock() {
		if len(c.buf) > 0 {
			c.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Conn.Write(c.buf)
			c.buf = nil
		}
		c.corked = false
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// corkingWriter hands the websocket upgrader a corkConn in place of the
// hijacked connection.
type corkingWriter struct {
	http.ResponseWriter
	slots chan struct{}
	conn  *corkConn // set by Hijack
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc, slots: w.slots}
	return w.conn, brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *corkingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
