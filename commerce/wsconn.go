package commerce

import (
	"bufio"
	"net"
	"net/http"
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
type corkConn struct {
	net.Conn

	mu     sync.Mutex // guards corked and buf; held while buf is written out
	corked bool
	buf    []byte
}

// maxCorkBuffer is the most a corkConn keeps between batches; a larger
// buffer (after a burst) is let go.
const maxCorkBuffer = 64 << 10

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
// set last.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

// spill sends what is kept once it reaches maxCorkBuffer, staying corked:
// a long batch goes out in writes of that size.
func (c *corkConn) spill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) < maxCorkBuffer {
		return nil
	}
	return c.flushLocked()
}

func (c *corkConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > maxCorkBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
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
	conn *corkConn // set by Hijack
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc}
	return w.conn, brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *corkingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
