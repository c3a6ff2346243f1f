package commerce

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

func TestCorkConn(t *testing.T) {
	tests := []struct {
		name       string
		corked     bool
		chunks     int
		size       int
		wantWrites int
	}{
		{"uncorked, a write each", false, 10, 100, 10},
		{"corked, one write", true, 10, 100, 1},
		{"corked past the limit, spilled", true, 40, 4 << 10, 3}, // 64 KiB, 64 KiB, then the last 32 KiB
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			counter := &countingConn{Conn: server}
			c := &corkConn{Conn: counter}
			var want bytes.Buffer
			read := make(chan []byte)
			go func() {
				got, _ := io.ReadAll(io.LimitReader(client, int64(tt.chunks*tt.size)))
				read <- got
			}()
			if tt.corked {
				c.cork()
			}
			for i := range tt.chunks {
				p := bytes.Repeat([]byte{byte('a' + i%26)}, tt.size)
				want.Write(p)
				if _, err := c.Write(p); err != nil {
					t.Fatal(err)
				}
				if err := c.spill(); err != nil {
					t.Fatal(err)
				}
			}
			if tt.corked {
				if err := c.uncork(); err != nil {
					t.Fatal(err)
				}
			}
			if got := <-read; !bytes.Equal(got, want.Bytes()) {
				t.Errorf("peer read %d bytes, not the %d written in order", len(got), want.Len())
			}
			if counter.writes != tt.wantWrites {
				t.Errorf("%d writes reached the network, want %d", counter.writes, tt.wantWrites)
			}
		})
	}
}

// TestCorkConnClose checks that Close sends what a batch kept (a close
// frame written during it), and that it does not wait for a write stuck on
// a peer that reads nothing.
func TestCorkConnClose(t *testing.T) {
	t.Run("sends what is kept", func(t *testing.T) {
		client, server := tcpPair(t)
		c := &corkConn{Conn: server}
		c.cork()
		c.Write([]byte("bye"))
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		if got, err := io.ReadAll(client); string(got) != "bye" {
			t.Errorf("peer read %q, %v; want bye", got, err)
		}
	})
	t.Run("does not wait for a stuck write", func(t *testing.T) {
		_, server := tcpPair(t)
		c := &corkConn{Conn: server}
		c.cork()
		// More than the socket buffers hold, with no deadline: only Close can end the write.
		c.buf = make([]byte, 64<<20)
		done := make(chan error, 1)
		go func() { done <- c.uncork() }()
		// Wait for the write to hold the lock (it does for as long as it is stuck).
		for c.mu.TryLock() {
			c.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil {
			t.Errorf("the stuck write succeeded")
		}
	})
}
