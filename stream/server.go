// Package stream is Dangol's media server: an SFU that takes one publisher per channel over
// WHIP and fans its tracks out to viewers over WHEP, with a packet cache for NACKs, throttled
// keyframe requests, simulcast layer selection per viewer and publisher reconnects.
package stream

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is the media server. Create it with New, mount Routes on an HTTP mux, and Close it
// to end every session.
type Server struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	channels Channels
	events   func(Event)
	se       webrtc.SettingEngine
	pubAPI   *webrtc.API
	closers  []io.Closer
	wg       goroutines // every goroutine the server starts

	mu         sync.Mutex // guards the fields below
	broadcasts map[string]*broadcast
	sessions   map[string]session
	// lost holds publishers whose connection dropped, until their broadcast ends: a phone
	// that lost its network and then taps End sends DELETE for a session the server has
	// already closed, and that DELETE must still end the broadcast, not leave viewers on a
	// frozen picture for the grace period.
	lost        map[string]*publisher
	nViewers    int
	nPublishers int
	closed      bool
}

// session is what a WHIP or WHEP resource URL points at.
type session interface {
	resource() *resource
	channel() string
	// delete ends the session the way DELETE on its URL should.
	delete()
}

// New opens the media ports and returns a server ready to take sessions.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.setDefaults()
	if deps.Channels == nil {
		return nil, fmt.Errorf("stream: no channel store")
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, m: m, channels: deps.Channels, events: deps.Events,
		broadcasts: map[string]*broadcast{}, sessions: map[string]session{},
		lost: map[string]*publisher{},
	}
	if err := s.openNetwork(); err != nil {
		s.closeNetwork()
		return nil, err
	}
	if s.pubAPI, err = newPublisherAPI(s.se, nil, nil); err != nil {
		s.closeNetwork()
		return nil, err
	}
	return s, nil
}

// openNetwork sets up the one UDP port (and the optional TCP port) every session shares.
func (s *Server) openNetwork() error {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(s.cfg.Loopback)
	// A phone that lost its network is noticed in seconds, not the default 25 s.
	se.SetICETimeouts(4*time.Second, 10*time.Second, time.Second)
	// mDNS candidates are for browsers hiding their address; a server has nothing to hide.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}

	host, portStr, err := net.SplitHostPort(s.cfg.UDPAddr)
	if err != nil {
		return fmt.Errorf("udp address %q: %w", s.cfg.UDPAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("udp port %q: %w", portStr, err)
	}
	var udpMux ice.UDPMux
	if host == "" {
		opts := []ice.UDPMuxFromPortOption{
			ice.UDPMuxFromPortWithReadBufferSize(s.cfg.SocketBuffer),
			ice.UDPMuxFromPortWithWriteBufferSize(s.cfg.SocketBuffer),
		}
		if s.cfg.Loopback {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		mm, err := ice.NewMultiUDPMuxFromPort(port, opts...)
		if err != nil {
			return fmt.Errorf("open udp port %d: %w", port, err)
		}
		udpMux = mm
	} else {
		conn, err := net.ListenPacket("udp", s.cfg.UDPAddr)
		if err != nil {
			return fmt.Errorf("open udp %s: %w", s.cfg.UDPAddr, err)
		}
		if uc, ok := conn.(*net.UDPConn); ok {
			// Errors only mean the kernel kept its default; media still flows.
			_ = uc.SetReadBuffer(s.cfg.SocketBuffer)
			_ = uc.SetWriteBuffer(s.cfg.SocketBuffer)
		}
		udpMux = webrtc.NewICEUDPMux(nil, conn)
	}
	s.closers = append(s.closers, udpMux)
	se.SetICEUDPMux(udpMux)

	if s.cfg.TCPAddr != "" {
		l, err := net.Listen("tcp", s.cfg.TCPAddr)
		if err != nil {
			return fmt.Errorf("open ice-tcp %s: %w", s.cfg.TCPAddr, err)
		}
		tcpMux := webrtc.NewICETCPMux(nil, l, 8)
		s.closers = append(s.closers, tcpMux)
		se.SetICETCPMux(tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	if len(s.cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        s.cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return fmt.Errorf("public ip: %w", err)
		}
	}
	s.se = se
	return nil
}

func (s *Server) closeNetwork() {
	for _, c := range s.closers {
		_ = c.Close()
	}
}

// UDPAddr returns the media UDP address the server listens on (useful with port 0).
func (s *Server) UDPAddr() net.Addr {
	for _, c := range s.closers {
		if m, ok := c.(interface{ GetListenAddresses() []net.Addr }); ok {
			if as := m.GetListenAddresses(); len(as) > 0 {
				return as[0]
			}
		}
	}
	return nil
}

// Close ends every broadcast and session and waits for the server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	bs := make([]*broadcast, 0, len(s.broadcasts))
	for _, b := range s.broadcasts {
		bs = append(bs, b)
	}
	s.mu.Unlock()
	for _, b := range bs {
		b.end("server shutting down")
	}
	s.wg.wait()
	s.closeNetwork()
	return nil
}

// Stats is a snapshot of what the server is carrying.
type Stats struct {
	Broadcasts, Publishers, Viewers, Sessions int
}

// Stats returns the current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Broadcasts: len(s.broadcasts), Publishers: s.nPublishers, Viewers: s.nViewers, Sessions: len(s.sessions)}
}

// Live reports whether a channel has a broadcast (live, or waiting for its publisher).
func (s *Server) Live(channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.broadcasts[channel]
	return ok
}

func (s *Server) emit(k EventKind, channel string) { s.emitQuality(k, channel, nil) }

// emitQuality is emit with how the video came through (BroadcastEnded).
func (s *Server) emitQuality(k EventKind, channel string, q *Quality) {
	if s.events != nil {
		s.events(Event{Kind: k, Channel: channel, At: time.Now(), Quality: q})
	}
}

// goClose closes a peer connection off the caller's goroutine: pion's Close waits for its
// own callbacks, which may be the caller.
func (s *Server) goClose(pc *webrtc.PeerConnection) {
	s.wg.Go(func() {
		if err := pc.Close(); err != nil {
			s.log.Debug("close peer connection", "err", err)
		}
	})
}

func (s *Server) removeBroadcast(b *broadcast) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broadcasts[b.channel] == b {
		delete(s.broadcasts, b.channel)
	}
	for id, p := range s.lost {
		if p.b == b {
			delete(s.lost, id)
		}
	}
}

func (s *Server) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.sessions[id]; ok {
		delete(s.sessions, id)
		if p, ok := sess.(*publisher); ok {
			if !s.closed && s.broadcasts[p.b.channel] == p.b {
				s.lost[id] = p // removeBroadcast drops it
			}
			s.nPublishers--
			s.m.publishers.Dec()
		}
	}
}

func (s *Server) viewerGone(v *viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[v.id]; ok {
		delete(s.sessions, v.id)
		s.nViewers--
		s.m.viewers.Dec()
	}
}

func (s *Server) session(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	return sess, ok
}

// lostPublisher returns the dropped publisher with session id while its broadcast waits for it.
func (s *Server) lostPublisher(id string) (*publisher, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.lost[id]
	return p, ok
}

// closeIfNotConnected closes a session whose ICE has not connected in ConnectTimeout: a
// client that went away mid-handshake must not hold a viewer slot or a channel.
func (s *Server) closeIfNotConnected(pc *webrtc.PeerConnection, closeFn func()) {
	time.AfterFunc(s.cfg.ConnectTimeout, func() {
		switch pc.ConnectionState() {
		case webrtc.PeerConnectionStateNew, webrtc.PeerConnectionStateConnecting:
			s.m.timedOut.Inc()
			s.log.Info("session did not connect in time", "timeout", s.cfg.ConnectTimeout)
			closeFn()
		}
	})
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// goroutines counts running goroutines like a sync.WaitGroup, but may start new ones while
// another goroutine waits: during shutdown a viewer that leaves still closes its connection
// on a goroutine of its own, which a WaitGroup forbids once Wait has begun at zero.
type goroutines struct {
	mu   sync.Mutex
	n    int
	zero *sync.Cond // signalled when n drops to 0; created on first use
}

// Go runs f on a new goroutine, counted until f returns.
func (g *goroutines) Go(f func()) {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	go func() {
		defer g.done()
		f()
	}()
}

func (g *goroutines) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n--; g.n == 0 && g.zero != nil {
		g.zero.Broadcast()
	}
}

// wait returns when no counted goroutine is running.
func (g *goroutines) wait() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.zero == nil {
		g.zero = sync.NewCond(&g.mu)
	}
	for g.n > 0 {
		g.zero.Wait()
	}
}
