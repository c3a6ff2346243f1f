package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// logLines collects the server's log lines for failure messages.
type logLines struct {
	mu    sync.Mutex // guards lines
	lines []string
}

func (l *logLines) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// logField returns the value of key=value in a text log line, or "".
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// loopbackArgs are the serve flags of a test server on data folder dir: HTTP on a free port
// of 127.0.0.1, media on a free UDP port of 127.0.0.1 offered as a loopback candidate (the
// peers run on this machine, and nothing leaves it), no TCP media; then extra.
func loopbackArgs(dir string, extra ...string) []string {
	return append([]string{"--addr", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "-1",
		"--media-ip", "127.0.0.1", "--loopback", "--data", dir}, extra...)
}

// startServe runs `dangol` (serve) with args in a goroutine. It returns the HTTP address from
// the "dangol listening" log line and a stop function that cancels the context and returns
// run's result, failing the test if run does not return within a few seconds.
func startServe(t *testing.T, args []string) (addr string, logs *logLines, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &logLines{}
	pr, pw := io.Pipe()
	addrc := make(chan string, 1)
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			logs.add(line)
			if strings.Contains(line, `msg="dangol listening"`) {
				select {
				case addrc <- logField(line, "http"):
				default:
				}
			}
		}
		// Keep draining, so a long line never blocks the server's logger.
		_, _ = io.Copy(io.Discard, pr)
	}()

	var runErr error
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		runErr = run(ctx, args, envMap(nil), pw, io.Discard)
		pw.Close()
	}()

	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case <-runDone:
				stopErr = runErr
			case <-time.After(10 * time.Second):
				t.Errorf("run did not return within 10s of cancel; logs:\n%s", logs)
				return
			}
			<-scanDone
		})
		return stopErr
	}
	// Runs before t.TempDir's cleanup, so the database is closed before its folder goes.
	t.Cleanup(func() { _ = stop() })

	select {
	case addr = <-addrc:
	case <-runDone:
		t.Fatalf("run returned before listening: %v\nlogs:\n%s", runErr, logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("no \"dangol listening\" line within 20s; logs:\n%s", logs)
	}
	return addr, logs, stop
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	const slug = "veggie-kim"
	secrets := addChannel(t, dir, slug, "Veggie Kim")

	// The debug listener's address is not logged, so take a port the system just handed out.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := free.Addr().String()
	free.Close()

	addr, logs, stop := startServe(t, loopbackArgs(dir, "--debug-addr", debugAddr))
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("listening line has http=%q, want 127.0.0.1:<port>; logs:\n%s", addr, logs)
	}
	if udp := logField(logs.String(), "udp"); !strings.HasPrefix(udp, "127.0.0.1:") || strings.HasSuffix(udp, ":0") {
		t.Errorf("media listens on udp=%q, want 127.0.0.1:<port> (--media-ip, --udp-port 0)", udp)
	}
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	const sdp = "application/sdp"
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		token       string
		body        string
		wantStatus  int
		wantType    string   // Content-Type prefix
		wantBody    []string // substrings
		wantCode    string   // JSON error code
		wantHeader  map[string]string
	}{
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200, wantType: "text/plain", wantBody: []string{"ok"}},
		{name: "metrics", method: "GET", path: "/metrics", wantStatus: 200, wantType: "text/plain", wantBody: []string{
			"dangol_publishers ", "dangol_viewers ", "dangol_nacks_served_total ",
			"dangol_keyframe_requests_total ", "process_cpu_seconds_total ", "go_goroutines ",
			"dangol_recordings_active ", "dangol_recordings_store_failing ",
		}},
		{name: "watch page", method: "GET", path: "/c/" + slug, wantStatus: 200, wantType: "text/html", wantBody: []string{"<html"}},
		{name: "studio page", method: "GET", path: "/studio?c=" + slug, wantStatus: 200, wantType: "text/html", wantBody: []string{"<html"}},
		{name: "unknown page", method: "GET", path: "/no/such/page", wantStatus: 404},
		{name: "no profiling on the public listener", method: "GET", path: "/debug/pprof/", wantStatus: 404},
		{name: "whip wrong key", method: "POST", path: "/whip/" + slug, contentType: sdp, token: "wrong", body: "v=0\r\n",
			wantStatus: 401, wantType: "application/json", wantCode: "unauthorized",
			wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="dangol"`}},
		{name: "whip no key", method: "POST", path: "/whip/" + slug, contentType: sdp, body: "v=0\r\n",
			wantStatus: 401, wantType: "application/json", wantCode: "unauthorized"},
		{name: "whip unknown channel", method: "POST", path: "/whip/nobody-here", contentType: sdp, token: secrets.key, body: "v=0\r\n",
			wantStatus: 404, wantType: "application/json", wantCode: "unknown_channel"},
		// A right key gets past authorization to the offer, which is rejected: this proves the
		// store behind the running server accepts the printed key and studio token.
		{name: "whip right key bad offer", method: "POST", path: "/whip/" + slug, contentType: sdp, token: secrets.key, body: "not sdp",
			wantStatus: 400, wantType: "application/json", wantCode: "bad_offer"},
		{name: "whip studio token bad offer", method: "POST", path: "/whip/" + slug, contentType: sdp, token: secrets.token, body: "not sdp",
			wantStatus: 400, wantType: "application/json", wantCode: "bad_offer"},
		{name: "whep unknown channel", method: "POST", path: "/whep/nobody-here", contentType: sdp, body: "v=0\r\n",
			wantStatus: 404, wantType: "application/json", wantCode: "unknown_channel"},
		// The merchant API is mounted on the same store: the printed key creates a product.
		{name: "api create product", method: "POST", path: "/api/channels/" + slug + "/products", contentType: "application/json",
			token: secrets.key, body: `{"name":"배추김치 1kg","price_won":12000,"stock":5}`,
			wantStatus: 201, wantType: "application/json", wantBody: []string{"배추김치 1kg", `"price_won":12000`}},
		{name: "api products public", method: "GET", path: "/api/channels/" + slug + "/products",
			wantStatus: 200, wantType: "application/json", wantBody: []string{"배추김치 1kg"}},
		{name: "api orders need the key", method: "GET", path: "/api/channels/" + slug + "/orders",
			wantStatus: 401, wantType: "application/json", wantCode: "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body := string(b)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body:\n%s", resp.StatusCode, tt.wantStatus, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type %q, want %q", ct, tt.wantType)
			}
			for _, s := range tt.wantBody {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%.2000s", s, body)
				}
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tt.wantCode != "" {
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(b, &e); err != nil {
					t.Fatalf("error body is not JSON: %v\n%s", err, body)
				}
				if e.Error.Code != tt.wantCode || e.Error.Message == "" {
					t.Errorf("error = %+v, want code %q with a message", e.Error, tt.wantCode)
				}
			}
		})
	}
	t.Run("healthz body", func(t *testing.T) {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.TrimSpace(string(b)) != "ok" {
			t.Errorf("healthz body %q, want \"ok\"", b)
		}
	})

	t.Run("profiling on debug addr", func(t *testing.T) {
		// The debug server starts in its own goroutine: poll until it answers.
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := client.Get("http://" + debugAddr + "/debug/pprof/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /debug/pprof/ on %s: status %d", debugAddr, resp.StatusCode)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("debug server on %s never answered: %v", debugAddr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	client.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	if !strings.Contains(logs.String(), `msg="shutting down"`) {
		t.Errorf("no shutdown log line; logs:\n%s", logs)
	}
	checkNoServerGoroutines(t)
	// The listeners are closed once run has returned.
	for _, a := range []string{addr, debugAddr} {
		if c, err := net.DialTimeout("tcp", a, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after run returned", a)
		}
	}
}

// checkNoServerGoroutines fails the test if goroutines of the HTTP server, the media server or
// pion outlive run. Exiting goroutines may take a moment to go, so it polls for a bounded time.
func checkNoServerGoroutines(t *testing.T) {
	t.Helper()
	markers := []string{"github.com/pion/", "github.com/dangol/dangol/stream.", "net/http.(*Server)", "net/http.(*conn).serve"}
	var leaked []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked = leaked[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, m := range markers {
				if strings.Contains(g, m) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(leaked) > 0 {
		t.Errorf("%d goroutines outlived run:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

// TestServeStartupErrors checks serve refuses to start, and returns, on settings it cannot use.
func TestServeStartupErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"log format", []string{"--log-format", "xml"}, "--log-format"},
		{"log level", []string{"--log-level", "loud"}, "--log-level"},
		{"http address in use", []string{"--addr", busy.Addr().String()}, "listen"},
		{"web dir missing", []string{"--web-dir", "/nonexistent/dangol-web"}, "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{
				"--addr", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "-1",
				"--media-ip", "127.0.0.1", "--data", t.TempDir(),
			}, tt.args...)
			// The deadline bounds a server that starts when it should not have.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, args, envMap(nil), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run = %v, want an error mentioning %q", err, tt.wantErr)
			}
			checkNoServerGoroutines(t) // what started before the failure was closed
		})
	}
}
