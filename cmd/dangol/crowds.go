package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/practice"
)

// crowds runs the simulated customers of practice sessions
// (commerce.PracticeCrowds): one practice.Crowd per session, connected to
// this server's own room over loopback with the session's practice token,
// as invited customers connect.
//
// Lifecycle: newCrowds, setAddr once the server listens, endChannel when a
// broadcast ends, closeAll at shutdown (before the rooms close, so the
// crowds leave rather than reconnect).
type crowds struct {
	lib      *practice.Library
	log      *slog.Logger
	stopping sync.WaitGroup // crowds leaving, off their callers' goroutines (Stop waits for every viewer)

	mu      sync.Mutex // guards the fields below
	base    string     // ws://127.0.0.1:port, "" until setAddr
	running map[int64]*crowdRun
	closed  bool
}

type crowdRun struct {
	slug  string
	crowd *practice.Crowd
	info  commerce.CrowdInfo
}

// newCrowds loads the built-in scripts and paces and, if dir is set, the
// operator's from it.
func newCrowds(dir string, log *slog.Logger) (*crowds, error) {
	lib, err := practice.DefaultLibrary()
	if err != nil {
		return nil, err
	}
	if dir != "" {
		if err := lib.Load(os.DirFS(dir), dir); err != nil {
			return nil, fmt.Errorf("--practice-scripts: %w", err)
		}
	}
	return &crowds{lib: lib, log: log, running: map[int64]*crowdRun{}}, nil
}

// setAddr tells where the server listens. An unspecified address (":8080")
// is reached on loopback.
func (cs *crowds) setAddr(addr net.Addr) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	cs.mu.Lock()
	cs.base = "ws://" + net.JoinHostPort(host, port)
	cs.mu.Unlock()
}

// Start implements commerce.PracticeCrowds.
func (cs *crowds) Start(p commerce.PracticeSession, pace, script string) (commerce.CrowdInfo, error) {
	if pace == "" {
		pace = practice.PaceBusy
	}
	if script == "" {
		script = practice.DefaultScript
	}
	pc, err := cs.lib.Pace(pace)
	if err != nil {
		return commerce.CrowdInfo{}, fmt.Errorf("%w: pace %q: one of %v", commerce.ErrInvalid, pace, cs.lib.PaceNames())
	}
	sc, err := cs.lib.Script(script)
	if err != nil {
		return commerce.CrowdInfo{}, fmt.Errorf("%w: script %q: one of %v", commerce.ErrInvalid, script, cs.lib.ScriptNames())
	}
	info := commerce.CrowdInfo{Pace: pc.Name, Viewers: pc.Viewers, Script: script}

	cs.mu.Lock()
	if cs.closed || cs.base == "" {
		cs.mu.Unlock()
		return commerce.CrowdInfo{}, fmt.Errorf("practice crowd: server not serving")
	}
	old := cs.running[p.ID]
	if old != nil && old.info == info {
		cs.mu.Unlock()
		return info, nil
	}
	room := cs.base + "/ws/" + url.PathEscape(p.Channel) + "?" + url.Values{"practice": {p.Token}}.Encode()
	crowd, err := practice.Start(context.Background(), practice.Config{
		RoomURL: room, Script: sc, Pace: pc,
		// Each session gets its own customers; a restart of the same pace
		// meets the same ones, as regulars would come back.
		Seed:   uint64(p.ID),
		Logger: cs.log.With("session", p.ID, "channel", p.Channel),
	})
	if err != nil {
		cs.mu.Unlock()
		return commerce.CrowdInfo{}, fmt.Errorf("practice crowd: %w", err)
	}
	cs.running[p.ID] = &crowdRun{slug: p.Channel, crowd: crowd, info: info}
	cs.mu.Unlock()
	if old != nil {
		// A new pace is a new crowd: the old one leaves.
		cs.stopping.Go(old.crowd.Stop)
	}
	return info, nil
}

// Stop implements commerce.PracticeCrowds.
func (cs *crowds) Stop(sessionID int64) {
	cs.mu.Lock()
	run := cs.running[sessionID]
	delete(cs.running, sessionID)
	cs.mu.Unlock()
	if run != nil {
		cs.stopping.Go(run.crowd.Stop)
	}
}

// Info implements commerce.PracticeCrowds.
func (cs *crowds) Info(sessionID int64) (commerce.CrowdInfo, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	run, ok := cs.running[sessionID]
	if !ok {
		return commerce.CrowdInfo{}, false
	}
	return run.info, true
}

// endChannel sends away the crowds of the channel, whose broadcast ended.
func (cs *crowds) endChannel(slug string) {
	cs.mu.Lock()
	var stop []*crowdRun
	for id, run := range cs.running {
		if run.slug == slug {
			stop = append(stop, run)
			delete(cs.running, id)
		}
	}
	cs.mu.Unlock()
	for _, run := range stop {
		cs.stopping.Go(run.crowd.Stop)
	}
}

// closeAll stops every crowd and waits, at most timeout, for them to leave.
func (cs *crowds) closeAll(timeout time.Duration) {
	cs.mu.Lock()
	cs.closed = true
	runs := cs.running
	cs.running = map[int64]*crowdRun{}
	cs.mu.Unlock()
	for _, run := range runs {
		cs.stopping.Go(run.crowd.Stop)
	}
	done := make(chan struct{})
	go func() { cs.stopping.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		cs.log.Warn("practice crowds still leaving at shutdown", "timeout", timeout)
	}
}
