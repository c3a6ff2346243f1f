package practice

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Config is what a Crowd needs. RoomURL is required; the zero value of any
// other field means its default.
type Config struct {
	// RoomURL is the websocket URL of the room: ws://host/ws/{slug}.
	RoomURL string
	// Header is sent with every viewer's websocket upgrade: a practice
	// session's credential when the room asks for one. It must not make
	// the viewers the merchant (a stream key would): a viewer that the
	// room greets as the merchant stops.
	Header http.Header
	// Script is what the viewers say and who they are; nil means the
	// built-in DefaultScript.
	Script *Script
	// Pace is how busy the crowd is; the zero Pace means the built-in
	// PaceBusy.
	Pace Pace
	// Seed makes the crowd repeatable: the same seed gives the same
	// nicknames, buyers and choices (their timing follows the room's).
	Seed uint64
	// Speed divides the pace's times: 1 (the default) is real time, 10
	// runs a rehearsal ten times faster. It does not change the room's
	// rate limits, which the viewers keep to in real time.
	Speed float64
	// Dialer connects the viewers; nil means a Dialer with a 10 s
	// handshake timeout.
	Dialer *websocket.Dialer
	// Logger receives the crowd's logs; slog.Default() if nil.
	Logger *slog.Logger
}

// Stats counts what a crowd did. The room's replies decide ok or failed.
type Stats struct {
	Joined        int // viewers whose hello the room answered (once each)
	Connected     int // viewers connected now
	DialErrors    int // failed connection attempts
	Reconnects    int // connections made again after a drop
	Chats         int // chat messages the room accepted
	ChatsRefused  int // chat messages refused, other than for the rate limit (muted, banned word...)
	RateLimited   int // chat or likes refused as too fast: should stay 0
	ChatsHeld     int // lines not sent to keep under the room's chat limit
	Quiet         int // chats, likes, claims and orders not done because the room was not live
	Likes         int // likes the room accepted
	ClaimsOK      int // coupon claims granted
	ClaimsFailed  int // coupon claims refused (sold out, expired...)
	OrdersPlaced  int // orders the room accepted
	OrdersRefused int // orders refused (out of stock, coupon used...)
}

// counters are the Stats, updated by the viewers' goroutines.
type counters struct {
	joined, connected, dialErrors, reconnects      atomic.Int64
	chats, chatsRefused, rateLimited, held, quiet  atomic.Int64
	likes, claimsOK, claimsFailed, placed, refused atomic.Int64
}

// Crowd is a set of simulated customers in one live room: each is a real
// websocket client of the room (docs/protocol.md) that joins, greets,
// chats, likes, claims coupons and orders at the pace of its Config, so
// that a merchant can practise with a busy room.
//
// Start it with Start; it runs until Stop or until Start's context ends.
// Stop closes every connection and waits for the viewers' goroutines.
type Crowd struct {
	cfg       Config
	nicknames []string
	log       *slog.Logger
	stats     counters

	cancel   context.CancelFunc
	wg       sync.WaitGroup // the viewers' goroutines
	stopOnce sync.Once
}

// Start checks cfg and starts the crowd's viewers, who join over the
// pace's join spread. Connection failures do not fail Start: they are
// counted (Stats.DialErrors) and logged, and the viewer tries again a few
// times, as a customer on a bad network would.
func Start(ctx context.Context, cfg Config) (*Crowd, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Crowd{
		cfg:       cfg,
		nicknames: cfg.Script.nicknames(cfg.Pace.Viewers, cfg.Seed),
		log:       cfg.Logger.With("room", cfg.RoomURL, "pace", cfg.Pace.Name),
		cancel:    cancel,
	}
	// The join times come from the crowd's own stream, so that a viewer's
	// choices do not depend on how many viewers there are before it.
	joinRng := rand.New(rand.NewPCG(cfg.Seed, 0x6a6f696e)) // "join"
	for i, name := range c.nicknames {
		v := newViewer(c, i, name)
		after := c.scale(joinRng.Float64() * cfg.Pace.JoinSpreadS)
		c.wg.Go(func() { v.run(ctx, after) })
	}
	c.log.Info("practice crowd started", "viewers", len(c.nicknames), "speed", cfg.Speed)
	return c, nil
}

func (cfg *Config) withDefaults() error {
	u, err := url.Parse(cfg.RoomURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("%w: room URL %q: want ws://host/ws/{slug}", ErrInvalidConfig, cfg.RoomURL)
	}
	if cfg.Speed < 0 {
		return fmt.Errorf("%w: speed %g: want more than 0", ErrInvalidConfig, cfg.Speed)
	}
	if cfg.Speed == 0 {
		cfg.Speed = 1
	}
	if cfg.Script == nil || cfg.Pace.Name == "" {
		lib, err := DefaultLibrary()
		if err != nil {
			return fmt.Errorf("start crowd: %w", err)
		}
		if cfg.Script == nil {
			if cfg.Script, err = lib.Script(DefaultScript); err != nil {
				return fmt.Errorf("start crowd: %w", err)
			}
		}
		if cfg.Pace.Name == "" {
			if cfg.Pace, err = lib.Pace(PaceBusy); err != nil {
				return fmt.Errorf("start crowd: %w", err)
			}
		}
	}
	// A pace built in code, not loaded, gets the same checks as a file.
	if err := cfg.Pace.check("config", "pace"); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// Stop ends the crowd: every viewer closes its connection, and Stop
// returns once all have. It may be called more than once.
func (c *Crowd) Stop() {
	c.stopOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.log.Info("practice crowd stopped", "stats", c.Stats())
	})
}

// Nicknames returns the viewers' nicknames, in the order they were given.
func (c *Crowd) Nicknames() []string {
	return append([]string(nil), c.nicknames...)
}

// Stats returns the crowd's counts so far.
func (c *Crowd) Stats() Stats {
	s := &c.stats
	n := func(a *atomic.Int64) int { return int(a.Load()) }
	return Stats{
		Joined: n(&s.joined), Connected: n(&s.connected), DialErrors: n(&s.dialErrors), Reconnects: n(&s.reconnects),
		Chats: n(&s.chats), ChatsRefused: n(&s.chatsRefused), RateLimited: n(&s.rateLimited), ChatsHeld: n(&s.held),
		Quiet: n(&s.quiet), Likes: n(&s.likes), ClaimsOK: n(&s.claimsOK), ClaimsFailed: n(&s.claimsFailed),
		OrdersPlaced: n(&s.placed), OrdersRefused: n(&s.refused),
	}
}

// scale turns seconds of the pace into real time at the crowd's speed.
func (c *Crowd) scale(seconds float64) time.Duration {
	return time.Duration(seconds / c.cfg.Speed * float64(time.Second))
}
