package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/internal/pgtest"
)

// childEnv, set in a child's environment, makes the test binary run as the dangol binary
// (main with the child's arguments) instead of running tests: TestKillMidRush runs the real
// server as a process of its own that way, without a separate build.
const childEnv = "DANGOL_TEST_RUN_AS_DANGOL"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	pgtest.Main(m)
}

// child is the server running as a process of its own.
type child struct {
	cmd  *exec.Cmd
	addr string // the HTTP address from its "dangol listening" line
	logs *logLines
	done chan struct{} // closed when the process has exited and its output is read
	err  error         // Wait's result, once done is closed
}

// startChild runs `dangol serve args...` as a child process and waits for its listening line.
// The child dies with the test binary (Pdeathsig), and is killed at the end of the test.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{logs: &logLines{}, done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DANGOL_") { // no settings of the developer's
			c.cmd.Env = append(c.cmd.Env, kv)
		}
	}
	c.cmd.Env = append(c.cmd.Env, childEnv+"=1")
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = c.cmd.Stdout
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start the server: %v", err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			c.logs.add(line)
			if strings.Contains(line, `msg="dangol listening"`) {
				select {
				case addrc <- logField(line, "http"):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.kill(t) })
	select {
	case c.addr = <-addrc:
	case <-c.done:
		t.Fatalf("the server exited before listening: %v\nlogs:\n%s", c.err, c.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("no \"dangol listening\" line within 30s; logs:\n%s", c.logs)
	}
	return c
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill(t *testing.T) {
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Errorf("the server did not exit within 20s of SIGKILL")
	}
}

// stop asks the server to shut down (SIGTERM) and waits for it, failing the test if it does
// not exit cleanly.
func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		if c.err != nil {
			t.Errorf("the server exited with %v after SIGTERM; logs:\n%s", c.err, c.logs)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("the server did not exit within 20s of SIGTERM; logs:\n%s", c.logs)
	}
}

// roomConn is a websocket client that sends one command at a time and reads until its reply.
type roomConn struct {
	conn *websocket.Conn
}

func dialRoom(addr, slug, token string) (*roomConn, error) {
	h := make(map[string][]string)
	if token != "" {
		h["Authorization"] = []string{"Bearer " + token}
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws://"+addr+"/ws/"+slug, h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return &roomConn{conn: conn}, nil
}

// command is what a client sent: enough to send it again.
type command struct {
	ID   string
	Type string
	Body map[string]any
}

// call sends cmd and returns its reply, skipping events; an error means no reply came (the
// connection broke or the deadline passed).
func (r *roomConn) call(cmd command) (map[string]any, error) {
	msg := map[string]any{"type": cmd.Type, "id": cmd.ID}
	for k, v := range cmd.Body {
		msg[k] = v
	}
	deadline := time.Now().Add(15 * time.Second)
	_ = r.conn.SetWriteDeadline(deadline)
	if err := r.conn.WriteJSON(msg); err != nil {
		return nil, err
	}
	_ = r.conn.SetReadDeadline(deadline)
	for {
		_, b, err := r.conn.ReadMessage()
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("reply is not JSON: %v: %s", err, b)
		}
		if m["type"] == "reply" && m["id"] == cmd.ID {
			return m, nil
		}
	}
}

func (r *roomConn) close() { r.conn.Close() }

func replyOK(m map[string]any) bool { ok, _ := m["ok"].(bool); return ok }

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// num returns the number at path (keys of nested objects) in m, or 0.
func num(m map[string]any, path ...string) int64 {
	var v any = m
	for _, k := range path {
		o, _ := v.(map[string]any)
		v = o[k]
	}
	f, _ := v.(float64)
	return int64(f)
}

// acked is an acknowledged command and its reply.
type acked struct {
	cmd   command
	reply map[string]any
}

// rushViewer is one customer of the rush and what the server acknowledged to it.
type rushViewer struct {
	n        int
	viewerID int64
	token    string
	acks     []acked  // claims and orders that got ok:true, in order
	pending  *command // the command in flight when the connection broke, if any
}

// TestKillMidRush runs the real server as a child process, kills it with SIGKILL while a
// rush of customers claims a coupon and orders, restarts it on the same data and checks that
// nothing it acknowledged is lost, that retries after the restart get the identical replies,
// and that the coupon and the stock still add up. On SQLite and PostgreSQL.
func TestKillMidRush(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a child process under a rush")
	}
	t.Run("sqlite", func(t *testing.T) { testKillMidRush(t, "") })
	t.Run("postgres", func(t *testing.T) { testKillMidRush(t, pgtest.NewDatabase(t)) })
}

func testKillMidRush(t *testing.T, dbURL string) {
	const (
		slug        = "kill-market"
		clients     = 150
		couponQty   = 60
		initStock   = 400
		maxOrders   = 8   // per client
		killAfter   = 150 // acknowledged claims and orders: all the claims, then orders
		discountWon = 1000
		priceWon    = 3000
	)
	dir := t.TempDir()
	common := []string{"--data", dir}
	if dbURL != "" {
		common = append(common, "--database-url", dbURL)
	}
	out, _, err := runCommand(t, nil, append(common, "channel", "add", slug, "--name", "킬 시장")...)
	if err != nil {
		t.Fatalf("channel add: %v", err)
	}
	secrets := parseAdd(t, out)

	// A product and a live broadcast, straight in the store, before the server starts: the
	// room finds the live broadcast when its first client comes.
	openStore := func() *commerce.Store {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var s *commerce.Store
		var err error
		if dbURL != "" {
			s, err = commerce.OpenPostgres(ctx, dbURL)
		} else {
			s, err = commerce.OpenSQLite(ctx, filepath.Join(dir, "dangol.db"))
		}
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		return s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := openStore()
	ch, err := s.Channel(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := s.CreateProduct(ctx, ch.ID, commerce.ProductInput{Name: "고등어 한 손", PriceWon: priceWon, Stock: initStock})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := s.StartBroadcast(ctx, ch.ID, "마감 세일", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	serveArgs := append([]string{"--addr", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "-1",
		"--media-ip", "127.0.0.1"}, common...)
	srv := startChild(t, serveArgs...)

	// The merchant drops the coupon.
	merchant, err := dialRoom(srv.addr, slug, secrets.key)
	if err != nil {
		t.Fatalf("merchant dial: %v", err)
	}
	if r, err := merchant.call(command{ID: "mh", Type: "hello", Body: map[string]any{"name": "사장님"}}); err != nil || !replyOK(r) {
		t.Fatalf("merchant hello: %v %v", r, err)
	}
	drop, err := merchant.call(command{ID: "drop1", Type: "coupon.drop", Body: map[string]any{
		"title": "선착순 천원", "discount_won": discountWon, "quantity": couponQty, "expires_in_s": 3600}})
	if err != nil || !replyOK(drop) {
		t.Fatalf("coupon.drop: %v %v", drop, err)
	}
	merchant.close()
	couponID := num(drop, "coupon", "id")
	if couponID == 0 {
		t.Fatalf("coupon.drop reply has no coupon id: %v", drop)
	}

	// The rush: every client says hello, claims the coupon, then orders one at a time (the
	// first order with the coupon if it got one), until the server dies under it.
	viewers := make([]*rushViewer, clients)
	var (
		acks     atomic.Int64
		killOnce sync.Once
		killNow  = make(chan struct{})
		start    = make(chan struct{})
		wg       sync.WaitGroup
		hellos   sync.WaitGroup
	)
	for i := range viewers {
		v := &rushViewer{n: i}
		viewers[i] = v
		wg.Add(1)
		hellos.Add(1)
		go func() {
			defer wg.Done()
			conn, err := dialRoom(srv.addr, slug, "")
			if err != nil {
				hellos.Done()
				t.Errorf("viewer %d: dial: %v", v.n, err)
				return
			}
			defer conn.close()
			hello, err := conn.call(command{ID: "h", Type: "hello", Body: map[string]any{"name": fmt.Sprintf("손님%d", v.n)}})
			hellos.Done()
			if err != nil || !replyOK(hello) {
				t.Errorf("viewer %d: hello: %v %v", v.n, hello, err)
				return
			}
			v.viewerID, v.token = num(hello, "viewer_id"), hello["viewer_token"].(string)
			<-start
			send := func(cmd command) (map[string]any, bool) {
				r, err := conn.call(cmd)
				if err != nil {
					v.pending = &cmd
					return nil, false
				}
				if replyOK(r) {
					v.acks = append(v.acks, acked{cmd, r})
					if acks.Add(1) == killAfter {
						killOnce.Do(func() { close(killNow) })
					}
				}
				return r, true
			}
			r, alive := send(command{ID: "claim", Type: "coupon.claim", Body: map[string]any{"coupon_id": couponID}})
			if !alive {
				return
			}
			useCoupon := replyOK(r)
			for k := range maxOrders {
				body := map[string]any{
					"items": []any{map[string]any{"product_id": prod.ID, "qty": 1}},
					"buyer": map[string]any{"name": fmt.Sprintf("손님%d", v.n), "phone": fmt.Sprintf("010-5555-%04d", v.n)},
				}
				if useCoupon && k == 0 {
					body["coupon_id"] = couponID
				}
				r, alive := send(command{ID: fmt.Sprintf("order%d", k), Type: "order.place", Body: body})
				if !alive {
					return
				}
				if !replyOK(r) {
					if c := errCode(r); c != "out_of_stock" {
						t.Errorf("viewer %d order%d: %v", v.n, k, r)
					}
					return
				}
			}
		}()
	}
	// Every client has said hello before the rush starts.
	helloDone := make(chan struct{})
	go func() { hellos.Wait(); close(helloDone) }()
	select {
	case <-helloDone:
	case <-time.After(60 * time.Second):
		t.Fatalf("hellos not done within 60s; logs:\n%s", srv.logs)
	}
	close(start)
	var killedAt int64
	select {
	case <-killNow:
		srv.kill(t)
		killedAt = acks.Load()
	case <-time.After(60 * time.Second):
		t.Fatalf("only %d acknowledgements within 60s; logs:\n%s", acks.Load(), srv.logs)
	}
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(60 * time.Second):
		t.Fatalf("clients still running 60s after the kill")
	}
	if t.Failed() {
		return
	}
	var pending, acked0 int
	for _, v := range viewers {
		if v.pending != nil {
			pending++
		}
		acked0 += len(v.acks)
	}
	t.Logf("killed after %d acknowledgements (%d in all); %d commands in flight", killedAt, acked0, pending)
	if pending == 0 {
		t.Errorf("no command was in flight at the kill: the kill was not mid-rush")
	}

	// Restart on the same data. Every client comes back with its token, retries what was
	// acknowledged (same id: the identical reply, nothing done twice) and what was in flight.
	srv = startChild(t, serveArgs...)
	for _, v := range viewers {
		if v.token == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := dialRoom(srv.addr, slug, "")
			if err != nil {
				t.Errorf("viewer %d: dial after restart: %v", v.n, err)
				return
			}
			defer conn.close()
			hello, err := conn.call(command{ID: "h2", Type: "hello", Body: map[string]any{"viewer_token": v.token}})
			if err != nil || !replyOK(hello) {
				t.Errorf("viewer %d: hello after restart: %v %v", v.n, hello, err)
				return
			}
			if got := num(hello, "viewer_id"); got != v.viewerID {
				t.Errorf("viewer %d: resumed as viewer %d, want %d (acknowledged hello lost)", v.n, got, v.viewerID)
				return
			}
			for _, a := range v.acks {
				r, err := conn.call(a.cmd)
				if err != nil {
					t.Errorf("viewer %d: retry %s: %v", v.n, a.cmd.ID, err)
					return
				}
				if !reflect.DeepEqual(r, a.reply) {
					t.Errorf("viewer %d: retry of acknowledged %s %s after the restart replies\n%v\nwant the original\n%v",
						v.n, a.cmd.Type, a.cmd.ID, r, a.reply)
				}
			}
			if v.pending != nil {
				r, err := conn.call(*v.pending)
				if err != nil {
					t.Errorf("viewer %d: retry of in-flight %s: %v", v.n, v.pending.ID, err)
					return
				}
				if replyOK(r) {
					v.acks = append(v.acks, acked{*v.pending, r})
				} else if c := errCode(r); c != "out_of_stock" && c != "sold_out" {
					t.Errorf("viewer %d: retry of in-flight %s %s: %v", v.n, v.pending.Type, v.pending.ID, r)
				}
			}
		}()
	}
	wg.Wait()
	srv.stop(t)

	// The store has every acknowledged claim and order, as acknowledged.
	s = openStore()
	defer s.Close()
	claimsByViewer := map[int64][]commerce.Claim{}
	var claimed int
	for _, v := range viewers {
		if v.token == "" {
			continue
		}
		cs, err := s.Claims(ctx, v.viewerID, bc.ID)
		if err != nil {
			t.Fatal(err)
		}
		claimsByViewer[v.viewerID] = cs
		claimed += len(cs)
		if len(cs) > 1 {
			t.Errorf("viewer %d has %d claims of one coupon", v.n, len(cs))
		}
	}
	orders, err := s.ListOrders(ctx, ch.ID, commerce.OrderFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) >= 1000 {
		t.Fatalf("%d orders: more than the check reads", len(orders))
	}
	byID := map[int64]commerce.Order{}
	for _, o := range orders {
		byID[o.ID] = o
	}
	var nClaims, nOrders int
	for _, v := range viewers {
		for _, a := range v.acks {
			switch a.cmd.Type {
			case "coupon.claim":
				nClaims++
				id := num(a.reply, "claim", "id")
				found := false
				for _, c := range claimsByViewer[v.viewerID] {
					if c.ID == id && c.CouponID == couponID {
						found = true
					}
				}
				if !found {
					t.Errorf("LOST: viewer %d's acknowledged claim %d (reply %v) is not in the store", v.viewerID, id, a.reply)
				}
			case "order.place":
				nOrders++
				id := num(a.reply, "order", "id")
				o, ok := byID[id]
				if !ok {
					t.Errorf("LOST: viewer %d's acknowledged order %d (reply %v) is not in the store", v.viewerID, id, a.reply)
					continue
				}
				_, withCoupon := a.cmd.Body["coupon_id"]
				wantDiscount := int64(0)
				if withCoupon {
					wantDiscount = discountWon
				}
				if o.ViewerID != v.viewerID || len(o.Items) != 1 || o.Items[0].ProductID != prod.ID || o.Items[0].Qty != 1 ||
					o.TotalWon != num(a.reply, "order", "total_won") || o.DiscountWon != wantDiscount ||
					o.TotalWon != priceWon-wantDiscount || o.Status != commerce.StatusPlaced {
					t.Errorf("order %d in the store is %+v; acknowledged as %v", id, o, a.reply)
				}
			}
		}
	}

	cp, err := s.Coupon(ctx, couponID)
	if err != nil {
		t.Fatal(err)
	}
	if claimed > couponQty || claimed != cp.Quantity-cp.Remaining {
		t.Errorf("%d claims of a coupon of %d, remaining %d", claimed, couponQty, cp.Remaining)
	}
	p, err := s.Product(ctx, ch.ID, prod.ID)
	if err != nil {
		t.Fatal(err)
	}
	reserved := 0
	for _, o := range orders {
		if o.Status != commerce.StatusCancelled && o.Status != commerce.StatusRejected {
			for _, it := range o.Items {
				reserved += it.Qty
			}
		}
	}
	if p.Stock < 0 || p.Stock+reserved != initStock {
		t.Errorf("stock %d + reserved %d = %d, want %d", p.Stock, reserved, p.Stock+reserved, initStock)
	}
	t.Logf("verified %d acknowledged claims and %d orders; %d claims, %d orders in the store, stock %d",
		nClaims, nOrders, claimed, len(orders), p.Stock)
}
