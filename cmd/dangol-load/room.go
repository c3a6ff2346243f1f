package main

// The live-room load modes: `dangol-load room --scenario coupon-rush|chat`.
//
// Both scenarios open many websocket connections to GET /ws/{channel} from
// this one process (raising RLIMIT_NOFILE to the hard limit first), each
// saying hello, with at most --ramp connecting at once. The room needs a live
// broadcast, and a broadcast starts only when the merchant publishes (the
// media server tells the rooms, as cmd/dangol wires it), so by default the
// tool first publishes a small generated WHIP stream (--publish-bitrate,
// 100 kbit/s) with the same publisher as the media mode and keeps it going
// until the end: the room is live the way a merchant makes it live, and no
// setup step or server hook is needed. --publish=false skips it when the
// channel is already live (e.g. a phone publishing).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

const (
	scenarioCoupon = "coupon-rush"
	scenarioChat   = "chat"

	// The server's chat limit per connection: a burst of 5, then one per 2 s.
	serverChatEvery = 2 * time.Second
)

// roomConfig is the configuration of the room modes.
type roomConfig struct {
	Server         string
	Channel        string
	Key            string
	Scenario       string
	Clients        int
	Ramp           int
	ConnectTimeout time.Duration
	Quantity       int
	Spread         time.Duration
	Rate           float64 // chat messages per second, all senders together
	Senders        int
	Duration       time.Duration
	Tail           time.Duration
	Settle         time.Duration
	Publish        bool
	PublishBitrate int64
	JSON           bool
	AllowRemote    bool
	Verbose        bool
}

func roomMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseRoomConfig(args, os.LookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "dangol-load room:", err)
		return 2
	}
	log, ctx, stop := startRun(stderr, cfg.Verbose)
	defer stop()

	rep, err := runRoom(ctx, cfg, log)
	if err != nil {
		log.Error("room run failed", "err", err)
		return 1
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		log.Error("write report", "err", err)
		return 1
	}
	if len(rep.Failures) > 0 {
		for _, f := range rep.Failures {
			log.Error("target not met", "what", f)
		}
		return 1
	}
	return 0
}

func parseRoomConfig(args []string, lookupEnv func(string) (string, bool), out io.Writer) (roomConfig, error) {
	cfg := roomConfig{PublishBitrate: 100_000}
	fs := flag.NewFlagSet("dangol-load room", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: dangol-load room --scenario coupon-rush|chat [flags]   (each flag also as DANGOL_LOAD_<FLAG>)")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Server, "server", "http://127.0.0.1:8080", "server base `URL`")
	fs.StringVar(&cfg.Channel, "channel", "loadtest", "channel whose room to load")
	fs.StringVar(&cfg.Key, "key", "", "the channel's stream key, for the merchant connection and the WHIP publisher (prefer DANGOL_LOAD_KEY)")
	fs.StringVar(&cfg.Scenario, "scenario", scenarioCoupon, "coupon-rush or chat")
	fs.IntVar(&cfg.Clients, "clients", 0, "websocket clients (default 5000 for coupon-rush, 2000 for chat)")
	fs.IntVar(&cfg.Ramp, "ramp", 500, "clients connecting at once")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 15*time.Second, "time for one client to connect and get its hello reply")
	fs.IntVar(&cfg.Quantity, "quantity", 100, "coupon-rush: the coupon's quantity")
	fs.DurationVar(&cfg.Spread, "spread", time.Second, "coupon-rush: each client claims at a random offset in [0, spread) after coupon.dropped")
	fs.Float64Var(&cfg.Rate, "rate", 50, "chat: messages per second, all senders together")
	fs.IntVar(&cfg.Senders, "senders", 0, "chat: sending connections, among the clients (default: enough for the server's 5 per 10 s limit, +25%)")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "chat: sending time")
	fs.DurationVar(&cfg.Tail, "tail", 2*time.Second, "reading time after the last command, for replies and messages in flight")
	fs.DurationVar(&cfg.Settle, "settle", 3*time.Second, "idle time after connecting, before the server's memory is read")
	fs.BoolVar(&cfg.Publish, "publish", true, "publish a small WHIP stream so that the channel is live (false: it already is)")
	fs.Func("publish-bitrate", "`bitrate` of that stream (default 100k)", func(s string) error {
		b, err := parseBitrate(s)
		cfg.PublishBitrate = b
		return err
	})
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a --server that is not on a loopback address")
	fs.BoolVar(&cfg.Verbose, "v", false, "debug logging")

	if err := parseFlags(fs, args, lookupEnv); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func (c *roomConfig) validate() error {
	if c.Clients == 0 {
		c.Clients = 5000
		if c.Scenario == scenarioChat {
			c.Clients = 2000
		}
	}
	if c.Senders == 0 {
		c.Senders = autoSenders(c.Rate)
	}
	switch {
	case c.Scenario != scenarioCoupon && c.Scenario != scenarioChat:
		return fmt.Errorf("--scenario %q: want coupon-rush or chat", c.Scenario)
	case !strings.HasPrefix(c.Server, "http://") && !strings.HasPrefix(c.Server, "https://"):
		return fmt.Errorf("--server %q: want an http(s) URL", c.Server)
	case c.Channel == "":
		return errors.New("--channel is empty")
	case c.Key == "":
		return errors.New("--key is empty: the merchant connection and the publisher need the stream key")
	case c.Clients < 1 || c.Clients > 100_000:
		return fmt.Errorf("--clients %d: want 1..100000", c.Clients)
	case c.Ramp < 1 || c.ConnectTimeout <= 0 || c.Tail < 0 || c.Settle < 0:
		return errors.New("--ramp and --connect-timeout must be > 0, --tail and --settle >= 0")
	case c.Quantity < 1 || c.Quantity > 100_000:
		return fmt.Errorf("--quantity %d: want 1..100000", c.Quantity)
	case c.Spread < 0:
		return fmt.Errorf("--spread %v: want >= 0", c.Spread)
	case c.Rate <= 0 || c.Rate > 10_000:
		return fmt.Errorf("--rate %g: want > 0 and <= 10000", c.Rate)
	case c.Scenario == scenarioChat && c.Senders > c.Clients:
		return fmt.Errorf("--senders %d: more than --clients %d", c.Senders, c.Clients)
	case c.Scenario == scenarioChat && c.Duration <= 0:
		return fmt.Errorf("--duration %v: want > 0", c.Duration)
	case c.PublishBitrate < 10_000 || c.PublishBitrate > 100_000_000:
		return fmt.Errorf("--publish-bitrate %d: want 10k..100M", c.PublishBitrate)
	}
	return nil
}

// autoSenders is how many connections keep rate messages/s under the
// server's per-connection chat limit (one per 2 s sustained), with 25% to
// spare for timer jitter.
func autoSenders(rate float64) int {
	n := int(rate*serverChatEvery.Seconds()*1.25 + 0.999)
	return max(n, 1)
}

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit and returns it.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// roomEnv is what both scenarios share.
type roomEnv struct {
	cfg    roomConfig
	log    *slog.Logger
	sig    *signaler // metrics scrapes
	wsURL  string
	origin string
	dialer *websocket.Dialer
	recv   atomic.Int64 // messages read by the scenario's readers
}

func runRoom(ctx context.Context, cfg roomConfig, log *slog.Logger) (*roomReport, error) {
	base, policy, err := serverPolicy(ctx, cfg.Server, cfg.AllowRemote)
	if err != nil {
		return nil, err
	}
	limit, err := raiseFileLimit()
	if err != nil {
		return nil, fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if need := uint64(cfg.Clients) + 100; limit < need {
		return nil, fmt.Errorf("open files limit %d < %d needed for %d clients: raise `ulimit -Hn`", limit, need, cfg.Clients)
	}
	ws := *base
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[base.Scheme]
	ws.Path = strings.TrimSuffix(ws.Path, "/") + "/ws/" + url.PathEscape(cfg.Channel)
	env := &roomEnv{
		cfg: cfg, log: log,
		sig:    newSignaler(base, 4, 0, log),
		wsURL:  ws.String(),
		origin: base.Scheme + "://" + base.Host,
		dialer: &websocket.Dialer{
			Proxy:            nil, // only ever --server
			HandshakeTimeout: cfg.ConnectTimeout,
			ReadBufferSize:   2048,
			WriteBufferSize:  1024,
		},
	}
	rep := &roomReport{Scenario: cfg.Scenario, Clients: cfg.Clients, FileLimit: limit}

	if cfg.Publish {
		stopPub, err := env.publish(ctx, policy, base)
		if err != nil {
			return nil, fmt.Errorf("publish to make the channel live: %w", err)
		}
		defer stopPub()
	}
	switch cfg.Scenario {
	case scenarioCoupon:
		err = env.couponRush(ctx, rep)
	case scenarioChat:
		err = env.chat(ctx, rep)
	}
	return rep, err
}

// publish starts the generated WHIP stream and returns its stop.
func (e *roomEnv) publish(ctx context.Context, policy netPolicy, base *url.URL) (func(), error) {
	pcfg := config{
		Server: e.cfg.Server, Channel: e.cfg.Channel, Key: e.cfg.Key,
		ConnectTimeout: e.cfg.ConnectTimeout, Codec: codecVP8,
		Bitrate: e.cfg.PublishBitrate, FPS: 15, GOP: 2 * time.Second, Pace: 2.5,
	}
	api, err := newPublisherAPI(policy, pcfg.Codec)
	if err != nil {
		return nil, err
	}
	sig := newSignaler(base, 2, 3, e.log)
	pub, err := newPublisher(ctx, pcfg, api, sig, e.log.With("role", "publisher"))
	if err != nil {
		return nil, err
	}
	media, stopMedia := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pub.send(media)
	}()
	e.log.Info("publishing to make the channel live", "channel", e.cfg.Channel, "bitrate", pcfg.Bitrate)
	return func() {
		stopMedia()
		<-done
		pub.close(sig)
	}, nil
}

// serverMem scrapes the server's CPU seconds and RSS.
func (e *roomEnv) serverMem(ctx context.Context) (cpu, rss float64, ok bool) {
	m, err := e.sig.scrapeMetrics(ctx, metricCPU, metricRSS)
	if err != nil {
		e.log.Warn("scrape metrics", "err", err)
		return 0, 0, false
	}
	_, okc := m[metricCPU]
	return m[metricCPU], m[metricRSS], okc
}

// roomClient is one room connection of the tool.
type roomClient struct {
	id       int
	conn     *websocket.Conn
	wmu      sync.Mutex // writes
	viewerID int64
	token    string
	connect  time.Duration // dial + hello reply
	err      error
	closed   atomic.Bool
}

// frame is the part of a server message the tool reads fully.
type frame struct {
	Type  string          `json:"type"`
	ID    json.RawMessage `json:"id"`
	OK    bool            `json:"ok"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
	// hello reply
	ViewerID    int64  `json:"viewer_id"`
	ViewerToken string `json:"viewer_token"`
	Role        string `json:"role"`
	State       *struct {
		Live    bool `json:"live"`
		Coupons []struct {
			ID        int64 `json:"id"`
			Quantity  int   `json:"quantity"`
			Remaining int   `json:"remaining"`
		} `json:"coupons"`
	} `json:"state"`
	Claims []struct {
		CouponID int64 `json:"coupon_id"`
	} `json:"claims"`
	// events and other replies
	Live   bool `json:"live"`
	Coupon *struct {
		ID        int64 `json:"id"`
		Remaining int   `json:"remaining"`
	} `json:"coupon"`
}

func (f *frame) errCode() string {
	if f.OK {
		return ""
	}
	if f.Error == nil {
		return "no_error_code"
	}
	return f.Error.Code
}

var typePrefix = []byte(`{"type":"`)

// msgType returns the type of a server message without decoding it: the
// server writes "type" first. Anything else answers "".
func msgType(b []byte) string {
	rest, ok := bytes.CutPrefix(b, typePrefix)
	if !ok {
		return ""
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return ""
	}
	return string(rest[:i])
}

// dial connects one client and says hello; it reads until the hello reply
// (events may not come before it, but tolerate them).
func (e *roomEnv) dial(ctx context.Context, bearer, name, viewerToken string) (*roomClient, *frame, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	defer cancel()
	h := http.Header{"Origin": {e.origin}, "Accept-Language": {"en"}}
	if bearer != "" {
		h.Set("Authorization", "Bearer "+bearer)
	}
	conn, resp, err := e.dialer.DialContext(ctx, e.wsURL, h)
	if err != nil {
		if resp != nil {
			return nil, nil, fmt.Errorf("dial: http %d: %w", resp.StatusCode, err)
		}
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	c := &roomClient{conn: conn}
	hello := fmt.Sprintf(`{"type":"hello","id":"h","name":%q,"lang":"en"}`, name)
	if viewerToken != "" {
		hello = fmt.Sprintf(`{"type":"hello","id":"h","name":%q,"lang":"en","viewer_token":%q}`, name, viewerToken)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("hello: %w", err)
	}
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("hello reply: %w", err)
		}
		if msgType(b) != "reply" {
			continue
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("hello reply: %w", err)
		}
		if !f.OK {
			conn.Close()
			return nil, nil, fmt.Errorf("hello refused: %s", f.errCode())
		}
		_ = conn.SetReadDeadline(time.Time{})
		c.viewerID, c.token, c.connect = f.ViewerID, f.ViewerToken, time.Since(start)
		return c, &f, nil
	}
}

func (c *roomClient) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

func (c *roomClient) close() {
	if c == nil || c.conn == nil || !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.wmu.Lock()
	_ = c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.conn.Close()
}

// connectIdle connects the scenario's clients, records how that went, lets them sit idle for
// --settle and returns them with the server's RSS then (for memory per idle connection).
func (e *roomEnv) connectIdle(ctx context.Context, rep *roomReport) ([]*roomClient, float64, error) {
	e.log.Info("connecting", "clients", e.cfg.Clients, "ramp", e.cfg.Ramp)
	clients, wall := e.connectAll(ctx, e.cfg.Clients)
	rep.Connect = connectStats(clients, wall)
	e.log.Info("connected", "ok", rep.Connect.Connected, "failed", rep.Connect.Failed, "wall", wall.Round(time.Millisecond))
	if rep.Connect.Connected == 0 {
		return clients, 0, errNoViewers
	}
	sleepCtx(ctx, e.cfg.Settle)
	_, rss, _ := e.serverMem(ctx)
	return clients, rss, nil
}

// connectAll dials n viewers, ramp at a time, and returns them (failed ones
// with err set) and the ramp's wall time.
func (e *roomEnv) connectAll(ctx context.Context, n int) ([]*roomClient, time.Duration) {
	start := time.Now()
	clients := make([]*roomClient, n)
	sem := make(chan struct{}, e.cfg.Ramp)
	var wg sync.WaitGroup
	for i := range clients {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			clients[i] = &roomClient{id: i, err: ctx.Err()}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c, _, err := e.dial(ctx, "", "load"+strconv.Itoa(i), "")
			if err != nil {
				c = &roomClient{err: err}
			}
			c.id = i
			clients[i] = c
		})
	}
	wg.Wait()
	return clients, time.Since(start)
}

func closeAll(clients []*roomClient, parallel int) {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, c := range clients {
		if c.err != nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.close()
		})
	}
	wg.Wait()
}

// connectStats summarizes the clients' connect times and errors.
func connectStats(clients []*roomClient, wall time.Duration) connectInfo {
	var h histogram
	ci := connectInfo{Wanted: len(clients), WallS: round(wall.Seconds())}
	errs := map[string]int{}
	for _, c := range clients {
		if c.err != nil {
			errs[shortErr(c.err)]++
			continue
		}
		ci.Connected++
		h.record(c.connect)
	}
	ci.Failed = len(clients) - ci.Connected
	ci.Time = h.stats()
	if len(errs) > 0 {
		ci.Errors = errs
	}
	return ci
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// waitLive connects (as the merchant with the stream key, or as a viewer
// when bearer is empty) until the room says it is live: the lifecycle event
// of the WHIP publish reaches the room asynchronously. It returns the
// connection.
func (e *roomEnv) waitLive(ctx context.Context, bearer string) (*roomClient, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, f, err := e.dial(ctx, bearer, "merchant", "")
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		if want := map[bool]string{true: "merchant", false: "viewer"}[bearer != ""]; f.Role != want {
			m.close()
			return nil, fmt.Errorf("hello says role %q, want %q", f.Role, want)
		}
		if f.State != nil && f.State.Live {
			return m, nil
		}
		m.close()
		if time.Now().After(deadline) {
			return nil, errors.New("the channel is not live (with --publish=false, go live first)")
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}
