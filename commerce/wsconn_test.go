package commerce

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestTextFrame checks that the server's own frames, written back to back
// in one writev, read back whole through a websocket client, at the edges
// of each length encoding.
func TestTextFrame(t *testing.T) {
	lengths := []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000, 200_000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var bufs net.Buffers
		for _, n := range lengths {
			bufs = append(bufs, textFrame([]byte(strings.Repeat("가", n/3)+strings.Repeat("a", n%3))))
		}
		if _, err := bufs.WriteTo(conn.NetConn()); err != nil {
			t.Error(err)
		}
		conn.ReadMessage() // until the client closes
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, n := range lengths {
		typ, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message of %d bytes: %v", n, err)
		}
		want := strings.Repeat("가", n/3) + strings.Repeat("a", n%3)
		if typ != websocket.TextMessage || string(msg) != want {
			t.Fatalf("message of %d bytes: type %d, %d bytes back", n, typ, len(msg))
		}
	}
}
