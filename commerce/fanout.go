package commerce

import (
	"bytes"
	"time"
)

// A room's events reach its connections through its fan-out goroutine, in
// the order the room sent them. For each connection whose queue is empty
// and whose writer is idle, which is nearly all of them, the fan-out
// goroutine writes the event's frame itself with one non-blocking write;
// only a connection that is busy, behind, or whose socket is full gets the
// event queued for its writer. An event to five thousand viewers used to
// wake five thousand writer goroutines at once: the Go scheduler ran them
// first come first served, and a coupon claim arriving meanwhile waited
// for all of them before its connection's reader ran. Now the room's
// fan-out is one runnable goroutine among the few others.

// fanJob is one event (or one batch of chat) for some of a room's
// connections.
type fanJob struct {
	frames    [][]byte // websocket frames, in order
	joined    []byte   // the frames back to back, for one write
	key       string
	droppable bool
	at        time.Time
	targets   []*wsClient // not changed once handed over
}

func newFanJob(frames [][]byte, key string, droppable bool, targets []*wsClient) fanJob {
	j := fanJob{frames: frames, key: key, droppable: droppable, at: time.Now(), targets: targets}
	if len(frames) == 1 {
		j.joined = frames[0]
	} else {
		j.joined = bytes.Join(frames, nil)
	}
	return j
}

// fanOut delivers the room's jobs until the room stops. While jobs wait
// behind the one it is on, it queues for the connections' writers instead
// of writing itself: they write in parallel on every core, and the room's
// events never wait for one goroutine's turn through thousands of sockets.
func (r *liveRoom) fanOut() {
	for {
		select {
		case j := <-r.fanJobs:
			for _, c := range j.targets {
				c.deliver(j, len(r.fanJobs) == 0)
			}
		case <-r.quit:
			return
		}
	}
}

// deliver writes j's frames to the connection at once, if direct and
// nothing is ahead of them, or queues them for its writer.
func (c *wsClient) deliver(j fanJob, direct bool) {
	if direct && c.direct != nil && c.writeMu.TryLock() {
		defer c.writeMu.Unlock()
		if c.q.empty() {
			n, err := c.direct.tryWrite(j.joined)
			switch {
			case err != nil:
				c.log.Debug("websocket write", "err", err)
				c.conn.Close()
			case n == len(j.joined):
				c.rs.metrics.delivered(j.at)
			default:
				// The socket is full: the rest goes first and whole, queued while writeMu
				// keeps anything else from being written in between.
				c.q.push(j.joined[n:], "", false, j.at)
			}
			return
		}
	}
	for _, f := range j.frames {
		c.q.push(f, j.key, j.droppable, j.at)
	}
}

// send hands an event to the fan-out for the clients in targets (all the
// room's when nil).
func (r *liveRoom) fanTo(frames [][]byte, key string, droppable bool, targets []*wsClient) {
	if targets == nil {
		targets = r.clientList()
	}
	if len(targets) == 0 {
		return
	}
	select {
	case r.fanJobs <- newFanJob(frames, key, droppable, targets):
	case <-r.quit:
	}
}

// clientList returns the room's clients as a slice that is never changed
// afterwards, made again only after a join or a leave.
func (r *liveRoom) clientList() []*wsClient {
	if r.listed == nil {
		r.listed = make([]*wsClient, 0, len(r.clients))
		for c := range r.clients {
			r.listed = append(r.listed, c)
		}
	}
	return r.listed
}
