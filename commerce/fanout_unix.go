//go:build unix

package commerce

import (
	"errors"
	"net"
	"syscall"
)

// directWriter writes to a connection's socket without blocking.
type directWriter struct {
	rc syscall.RawConn
}

// newDirectWriter returns a directWriter for conn, or nil if conn has no
// socket of its own (a test's wrapped connection).
func newDirectWriter(conn net.Conn) *directWriter {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &directWriter{rc: rc}
}

// tryWrite writes what the socket takes now, and returns how much.
func (d *directWriter) tryWrite(b []byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := d.rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if !errors.Is(werr, syscall.EINTR) {
				return true // never wait for the socket: the caller queues the rest
			}
		}
	})
	if errors.Is(werr, syscall.EAGAIN) {
		return 0, nil
	}
	return max(n, 0), errors.Join(err, werr)
}
