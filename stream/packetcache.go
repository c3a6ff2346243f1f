package stream

import (
	"sync/atomic"

	"github.com/pion/rtp"
)

// packet is one RTP packet as the publisher sent it. Once the up-track hands it out it is never
// modified, so every viewer's writer reads the same copy and rewrites only its own header copy.
type packet struct {
	header   rtp.Header
	payload  []byte
	keyframe bool  // first packet of a keyframe: where a viewer may start or switch
	at       int64 // unix nanos when the up-track read it, for the forwarding latency
}

// cacheSize is a power of two above the packets of a second of 2.5 Mbps video: a NACK
// arrives within a round trip, and anything older is no use to a live viewer.
const cacheSize = 1024

// packetCache keeps the last packets of one up-track by sequence number for retransmission.
// The up-track's reader is the only writer; viewers' writers read concurrently. Slots are
// atomic pointers to immutable packets, so neither side waits on the other.
type packetCache struct {
	slots [cacheSize]atomic.Pointer[packet]
}

func (c *packetCache) put(p *packet) {
	c.slots[p.header.SequenceNumber%cacheSize].Store(p)
}

// get returns the packet with sequence number seq, or nil when it has been overwritten or
// never arrived.
func (c *packetCache) get(seq uint16) *packet {
	p := c.slots[seq%cacheSize].Load()
	if p == nil || p.header.SequenceNumber != seq {
		return nil
	}
	return p
}

// seqBefore reports whether sequence number a comes before b, modulo 2^16.
func seqBefore(a, b uint16) bool {
	return int16(a-b) < 0
}
