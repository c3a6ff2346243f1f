package commerce

import (
	"encoding/binary"
)

// textFrame returns msg as one unmasked, final websocket text frame
// (RFC 6455 section 5.2), as a server sends it. The room frames an event
// once and writes the same bytes to every connection; a connection's
// writer sends all it has queued with one writev. (The library would frame
// each message again for each connection, and write each on its own.)
func textFrame(msg []byte) []byte {
	n := len(msg)
	var f []byte
	switch {
	case n < 126:
		f = make([]byte, 2, 2+n)
		f[1] = byte(n)
	case n <= 0xFFFF:
		f = make([]byte, 4, 4+n)
		f[1] = 126
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f = make([]byte, 10, 10+n)
		f[1] = 127
		binary.BigEndian.PutUint64(f[2:], uint64(n))
	}
	f[0] = 0x81 // FIN, text
	return append(f, msg...)
}
