package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/stream"
	"github.com/dangol/dangol/web"
)

func newLogger(cfg *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", cfg.LogFormat)
}

// serve runs the server until ctx is cancelled (SIGINT/SIGTERM), then shuts down cleanly:
// HTTP first, so no new session starts, then every media session, then the store.
func serve(ctx context.Context, cfg *config, stdout io.Writer) error {
	log, err := newLogger(cfg, stdout)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	rooms := commerce.NewRooms(store, commerce.RoomOptions{Logger: log.With("component", "room")})
	lifecycle := startLifecycle(rooms, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())

	tcpAddr := ""
	if cfg.TCPPort >= 0 {
		tcpAddr = net.JoinHostPort(cfg.MediaIP, strconv.Itoa(cfg.TCPPort))
	}
	media, err := stream.New(stream.Config{
		UDPAddr:              net.JoinHostPort(cfg.MediaIP, strconv.Itoa(cfg.UDPPort)),
		TCPAddr:              tcpAddr,
		PublicIPs:            cfg.PublicIPs,
		ICEServers:           cfg.ICEServers,
		Loopback:             cfg.Loopback,
		Grace:                cfg.Grace,
		ConnectTimeout:       cfg.ConnectTimout,
		MaxViewers:           cfg.MaxViewers,
		MaxViewersPerChannel: cfg.MaxPerChannel,
		MaxPublishers:        cfg.MaxPublishers,
	}, stream.Deps{Channels: channelAuth{store}, Log: log.With("component", "stream"), Metrics: reg, Events: lifecycle.send})
	if err != nil {
		return fmt.Errorf("start media server: %w", err)
	}
	// Closed in this order: the media sessions (their last events still reach the rooms),
	// then the rooms' websockets, then the store.
	defer rooms.Close()
	defer lifecycle.stop()
	defer media.Close()

	pages, err := web.Handler(web.Options{Dir: cfg.WebDir})
	if err != nil {
		return fmt.Errorf("web pages: %w", err)
	}
	photos, err := commerce.OpenDirPhotos(filepath.Join(cfg.Data, "photos"))
	if err != nil {
		return fmt.Errorf("photos: %w", err)
	}
	mux := http.NewServeMux()
	media.Routes(mux)
	commerce.NewAPI(store, photos, log.With("component", "api")).Routes(mux)
	mux.HandleFunc("GET /ws/{slug}", rooms.ServeWS)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("/", pages)

	if cfg.DebugAddr != "" {
		// Profiling on its own listener, never on the public one.
		dbg := http.NewServeMux()
		dbg.HandleFunc("/debug/pprof/", pprof.Index)
		dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)
		dsrv := &http.Server{Addr: cfg.DebugAddr, Handler: dbg, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dsrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("debug server", "err", err)
			}
		}()
		defer dsrv.Close()
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("dangol listening", "http", ln.Addr().String(), "udp", media.UDPAddr(), "url", cfg.PublicURL)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	return nil
}

// channelAuth lets the media server check keys against the store. The studio token may
// publish too: it is what the merchant's phone holds.
type channelAuth struct{ store *commerce.Store }

func (a channelAuth) AuthorizePublisher(ctx context.Context, slug, token string) error {
	if token == "" {
		if err := a.ChannelExists(ctx, slug); err != nil {
			return err
		}
		return stream.ErrUnauthorized
	}
	_, err := a.store.CheckStreamKey(ctx, slug, token)
	if errors.Is(err, commerce.ErrBadKey) {
		_, err = a.store.CheckStudioToken(ctx, slug, token)
	}
	return mapStoreErr(err)
}

func (a channelAuth) ChannelExists(ctx context.Context, slug string) error {
	_, err := a.store.Channel(ctx, slug)
	return mapStoreErr(err)
}

func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, commerce.ErrNotFound), errors.Is(err, commerce.ErrInvalid):
		return fmt.Errorf("%w: %v", stream.ErrUnknownChannel, err)
	case errors.Is(err, commerce.ErrBadKey):
		return stream.ErrUnauthorized
	}
	return err
}

// lifecycle carries the media server's broadcast events to the live rooms, in order, on a
// goroutine of its own: starting or ending a broadcast writes to the store, which the media
// path must not wait for.
type lifecycle struct {
	events chan stream.Event
	done   chan struct{}
}

func startLifecycle(rooms *commerce.Rooms, log *slog.Logger) *lifecycle {
	l := &lifecycle{events: make(chan stream.Event, 64), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for e := range l.events {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var err error
			switch e.Kind {
			case stream.BroadcastStarted:
				_, err = rooms.BroadcastStarted(ctx, e.Channel)
			case stream.BroadcastEnded:
				err = rooms.BroadcastEnded(ctx, e.Channel)
			}
			cancel()
			if err != nil {
				log.Error("broadcast event not recorded", "channel", e.Channel, "kind", e.Kind, "err", err)
			}
		}
	}()
	return l
}

// send is the media server's Events hook. Events are a few per broadcast, so the buffer
// never fills in practice; if it did, waiting is better than losing an end.
func (l *lifecycle) send(e stream.Event) { l.events <- e }

// stop delivers the events already sent and returns; call it after the media server closed.
func (l *lifecycle) stop() {
	close(l.events)
	<-l.done
}
