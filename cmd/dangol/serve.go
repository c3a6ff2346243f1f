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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dangol/dangol/commerce"
	"github.com/dangol/dangol/recordings"
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())

	// Set below, before the first connection can reach a room.
	var recs *recorders
	rooms, err := commerce.NewRooms(store, commerce.RoomOptions{
		Logger: log.With("component", "room"), Metrics: reg,
		Pinned: func(slug string, product int64) {
			if recs != nil {
				recs.chapter(slug, product)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("live rooms: %w", err)
	}
	// Read before the media server starts, so every channel listed was left live by a previous
	// process (killed mid-broadcast), not started by this one.
	orphans, err := store.LiveChannels(ctx)
	if err != nil {
		return fmt.Errorf("find live broadcasts: %w", err)
	}
	if cfg.Record {
		rstore, closeStore, err := openRecordings(ctx, cfg)
		if err != nil {
			return err
		}
		// Deferred before lifecycle.stop, so it runs after the last recorder closed.
		defer closeStore()
		// Before the media server starts, so every unfinished recording is one a previous
		// process left open when it died, never one being written. A failure only leaves
		// recordings unclosed (they still play, without duration and cues): live goes on.
		n, err := recordings.Recover(ctx, rstore, log.With("component", "recordings"))
		if err != nil {
			log.Error("unfinished recordings not all closed", "closed", n, "err", err)
		} else {
			log.Info("unfinished recordings closed", "closed", n)
		}
		recs = newRecorders(rstore, log.With("component", "recordings"))
		recs.shop = store
		if recs.metrics, err = recordings.NewMetrics(reg); err != nil {
			return err
		}
	}
	lifecycle := newLifecycle(rooms, recs, log)
	lifecycle.store = store
	crowds, err := newCrowds(cfg.PracticeScripts, log.With("component", "practice"))
	if err != nil {
		return err
	}
	lifecycle.crowds = crowds

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
	// Closed in this order: the orphan sweep (a shutdown is no reason to end a broadcast whose
	// phone may reconnect to the next process), the media sessions (their last events still
	// reach the rooms), then the rooms' websockets, then the store.
	defer rooms.Close()
	defer lifecycle.stop()
	defer media.Close()
	if recs != nil {
		recs.media = media
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	defer stopSweep()
	lifecycle.start(sweepCtx, orphans, publisherGrace(cfg), media.Live)

	pages, err := web.Handler(web.Options{Dir: cfg.WebDir, PublicURL: cfg.PublicURL,
		Channel: pageChannel(store), Log: log.With("component", "web")})
	if err != nil {
		return fmt.Errorf("web pages: %w", err)
	}
	photos, err := commerce.OpenDirPhotos(filepath.Join(cfg.Data, "photos"))
	if err != nil {
		return fmt.Errorf("photos: %w", err)
	}
	mux := http.NewServeMux()
	media.Routes(mux)
	api := commerce.NewAPI(store, photos, log.With("component", "api"))
	api.OrderPlaced = rooms.OrderPlaced
	api.CoachTip = rooms.CoachTip
	api.Crowds = crowds
	if recs != nil {
		// Retention deletes from the store recordings go to, so it runs only when
		// that is open (--record); stopped before the store closes.
		retCtx, stopRetention := context.WithCancel(context.Background())
		retDone := make(chan struct{})
		go runRetention(retCtx, store, recs.store, retentionInterval, log.With("component", "retention"), retDone)
		defer func() { stopRetention(); <-retDone }()

		replays := recordings.NewReplays(recs.store, log.With("component", "replays"))
		api.Replays = replayLookup(replays, log)
		// GET matches HEAD too.
		mux.HandleFunc("GET /replays/{slug}/{file}", privatePractice(store, log, replays.ServeHTTP))
		mux.HandleFunc("GET /replays/{slug}/{rec}/clips/{file}", privatePractice(store, log, replays.ServeClip))
	}
	api.Routes(mux)
	admin := commerce.NewAdmin(store, cfg.AdminToken, log)
	admin.PINReset = api.ForgetPINAttempts // a new PIN is not held back by the old one's lockout
	admin.Routes(mux)
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
	crowds.setAddr(ln.Addr())
	// Before the rooms close: the simulated customers leave instead of reconnecting.
	defer crowds.closeAll(5 * time.Second)

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

// AuthorizeViewer lets anyone watch, except during a practice session: then only those
// with a practice credential (the session's token, the tutor's) or the merchant's.
func (a channelAuth) AuthorizeViewer(ctx context.Context, slug, token string) error {
	ch, err := a.store.Channel(ctx, slug)
	if err != nil {
		return mapStoreErr(err)
	}
	private, allowed, err := a.store.PracticeAccess(ctx, ch.ID, token)
	switch {
	case err != nil:
		return err
	case !private || allowed:
		return nil
	case token == "":
		return stream.ErrUnauthorized
	}
	return a.AuthorizePublisher(ctx, slug, token) // the merchant watching their own practice
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
//
// It also ends the orphans: broadcasts a killed process left live in the store. The
// merchant's phone usually reconnects within the publisher grace period, and its
// BroadcastStarted carries on with the same broadcast; if no publisher is there once the grace
// has passed, the orphan is ended as the media server would have (live off, coupons closed).
// Sweeping on the events goroutine orders it with the events: once any event arrived for a
// channel, the media server owns its broadcast and the sweep leaves it alone.
//
// Lifecycle: newLifecycle, pass send to the media server, start once it exists, stop after
// it closed.
type lifecycle struct {
	rooms  *commerce.Rooms
	recs   *recorders      // nil when recording is off
	crowds *crowds         // the practice sessions' simulated customers; nil: none
	store  *commerce.Store // for the channels' record setting and quality; nil: every channel records
	log    *slog.Logger
	events chan stream.Event
	done   chan struct{}
}

func newLifecycle(rooms *commerce.Rooms, recs *recorders, log *slog.Logger) *lifecycle {
	return &lifecycle{rooms: rooms, recs: recs, log: log, events: make(chan stream.Event, 64), done: make(chan struct{})}
}

// start runs the goroutine. orphans are the channels the store had live before the media
// server started; each is ended after grace unless hasPublisher reports a publisher for it or
// an event came for it. Cancelling ctx stops the sweep (the events still flow until stop).
func (l *lifecycle) start(ctx context.Context, orphans []string, grace time.Duration, hasPublisher func(channel string) bool) {
	pending := make(map[string]bool, len(orphans))
	for _, ch := range orphans {
		pending[ch] = true
	}
	var (
		timer   *time.Timer
		expired <-chan time.Time
	)
	if len(pending) > 0 {
		l.log.Info("broadcasts left live, waiting for their publishers", "channels", orphans, "grace", grace)
		timer = time.NewTimer(grace)
		expired = timer.C
	}
	swept := ctx.Done()
	go func() {
		defer close(l.done)
		if timer != nil {
			defer timer.Stop()
		}
		for {
			select {
			case e, ok := <-l.events:
				if !ok {
					return
				}
				l.record(e)
				if pending[e.Channel] {
					l.log.Info("left-over broadcast taken over by the media server", "channel", e.Channel, "event", e.Kind)
					delete(pending, e.Channel)
				}
			case <-expired:
				n := l.sweep(ctx, pending, hasPublisher)
				l.log.Info("left-over broadcasts swept", "ended", n, "waiting", len(pending))
				if len(pending) == 0 || ctx.Err() != nil {
					expired = nil
				} else {
					// A publisher still negotiating: its BroadcastStarted takes the orphan
					// over, or its failure leaves the channel without one at the next look.
					timer.Reset(grace)
				}
			case <-swept:
				swept, expired = nil, nil
			}
		}
	}()
}

func (l *lifecycle) record(e stream.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	switch e.Kind {
	case stream.BroadcastStarted:
		var b commerce.Broadcast
		b, err = l.rooms.BroadcastStarted(ctx, e.Channel)
		// The setting is read at each start, a publisher's reconnect included: a
		// recorder already open for the broadcast carries on either way (the media
		// server keeps it attached), so turning recording off mid-broadcast takes
		// effect with the next broadcast.
		if err == nil && l.recs != nil && (l.store == nil || channelRecords(ctx, l.store, e.Channel, l.log)) {
			l.recs.start(ctx, e.Channel, b.ID)
		}
	case stream.BroadcastEnded:
		if l.recs != nil {
			l.recs.stop(e.Channel, true)
		}
		id := l.liveBroadcast(ctx, e.Channel)
		err = l.rooms.BroadcastEnded(ctx, e.Channel)
		if l.crowds != nil {
			// After the session ended in the store: a crowd asked for meanwhile
			// finds the session over, not a live one to start in.
			l.crowds.endChannel(e.Channel)
		}
		if err == nil && id != 0 && e.Quality != nil && l.store != nil {
			q := commerce.BroadcastQuality{VideoKbps: e.Quality.VideoKbps(), Reconnects: e.Quality.Reconnects, Frozen: e.Quality.Frozen}
			err = l.store.SetBroadcastQuality(ctx, id, q)
		}
	}
	if err != nil {
		l.log.Error("broadcast event not recorded", "channel", e.Channel, "kind", e.Kind, "err", err)
	}
}

// sweep ends the pending orphans that have no publisher, removes them from pending and
// returns how many it ended.
func (l *lifecycle) sweep(ctx context.Context, pending map[string]bool, hasPublisher func(string) bool) (ended int) {
	for ch := range pending {
		if hasPublisher(ch) {
			continue
		}
		// Checked after hasPublisher: the media server closing on shutdown also leaves the
		// channel without a publisher, and that must not end the broadcast.
		if ctx.Err() != nil {
			return ended
		}
		delete(pending, ch)
		ectx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		id := l.liveBroadcast(ectx, ch)
		err := l.rooms.BroadcastEnded(ectx, ch)
		cancel()
		if err != nil {
			l.log.Error("left-over broadcast not ended", "channel", ch, "err", err)
			continue
		}
		ended++
		l.log.Info("left-over broadcast ended: no publisher came back", "channel", ch)
		if l.recs != nil && id != 0 {
			l.recs.finishLeftover(ch, id)
		}
	}
	return ended
}

// liveBroadcast returns the id of the channel's live broadcast in the store, or 0.
func (l *lifecycle) liveBroadcast(ctx context.Context, channel string) int64 {
	if l.store == nil {
		return 0
	}
	ch, err := l.store.Channel(ctx, channel)
	if err != nil {
		return 0
	}
	b, err := l.store.LiveBroadcast(ctx, ch.ID)
	if err != nil {
		return 0
	}
	return b.ID
}

// send is the media server's Events hook. Events are a few per broadcast, so the buffer
// never fills in practice; if it did, waiting is better than losing an end.
func (l *lifecycle) send(e stream.Event) { l.events <- e }

// stop delivers the events already sent and returns; call it after the media server closed.
func (l *lifecycle) stop() {
	close(l.events)
	<-l.done
	if l.recs != nil {
		l.recs.closeAll()
	}
}

// publisherGrace is the media server's publisher grace period for cfg, its default included:
// a left-over broadcast gets as long for its phone to come back as a dropped one does.
func publisherGrace(cfg *config) time.Duration {
	if cfg.Grace == 0 {
		return stream.DefaultGrace
	}
	return cfg.Grace
}

// openRecordings opens the store recordings go to: the S3 bucket when an endpoint is set,
// the recordings folder otherwise. The returned function closes it.
func openRecordings(ctx context.Context, cfg *config) (recordings.Store, func(), error) {
	if cfg.S3.Endpoint != "" {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s3, err := recordings.NewS3Store(sctx, recordings.S3Config{
			Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, UseTLS: cfg.S3.TLS,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("recordings: %w", err)
		}
		return s3, func() {}, nil
	}
	dir, err := recordings.NewDirStore(cfg.RecordingsDir)
	if err != nil {
		return nil, nil, fmt.Errorf("recordings: %w", err)
	}
	return dir, func() { _ = dir.Close() }, nil
}

// clipStore is what the recorders need of the commerce store: a broadcast's pins, and where
// to record the clips cut for them.
type clipStore interface {
	Pins(ctx context.Context, broadcastID int64) ([]commerce.Pin, error)
	SaveClip(ctx context.Context, pinID int64, url string, durationMs int64) error
}

// recordMedia is what the recorders need of the media server.
type recordMedia interface {
	Record(channel string, sink stream.MediaSink) error
	RequestKeyframe(channel string)
}

// recorders records each live broadcast into the store under "<slug>/<broadcast id>", one
// recordings.Recorder per channel, attached to the media server's broadcast. It follows the
// lifecycle's events: a recorder outlives a publisher's reconnect (the media server keeps it
// attached) and is closed when the broadcast ends.
//
// Lifecycle: newRecorders, set media before the first event, then start and stop from the
// lifecycle goroutine only; closeAll once no event comes any more.
type recorders struct {
	store   recordings.Store
	media   recordMedia
	shop    clipStore // nil: no clips are cut
	metrics *recordings.Metrics
	log     *slog.Logger

	// open is written by the lifecycle goroutine only, under mu; the rooms
	// read it (chapter) under mu.
	mu      sync.Mutex
	open    map[string]*openRecording // by channel
	closing sync.WaitGroup            // recorders closing in the background

	// finishing is the context of the finishing work (clips, one file), cancelled by
	// closeAll: a shutdown must not wait minutes for a long recording to be copied, and what
	// is left undone leaves a recording that still plays from its segments.
	finishing     context.Context
	stopFinishing context.CancelFunc
}

type openRecording struct {
	broadcast int64
	prefix    string
	rec       *recordings.Recorder
	started   time.Time
}

// recorderCloseTimeout bounds the final flush and upload of one recording.
const recorderCloseTimeout = 30 * time.Second

// finishTimeout bounds finishing one recording: reading up to a minute of segments per pin
// and storing each clip, then copying the recording into one object (an hour of broadcast is
// about 700 MB).
const finishTimeout = 15 * time.Minute

func newRecorders(store recordings.Store, log *slog.Logger) *recorders {
	ctx, cancel := context.WithCancel(context.Background())
	return &recorders{store: store, log: log, open: map[string]*openRecording{}, finishing: ctx, stopFinishing: cancel}
}

// start records the channel's live broadcast, the commerce broadcast id. A channel already
// recording that broadcast keeps its recorder.
func (rs *recorders) start(ctx context.Context, channel string, id int64) {
	if cur := rs.open[channel]; cur != nil {
		if cur.broadcast == id {
			if err := rs.media.Record(channel, cur.rec); err != nil {
				rs.log.Warn("recording not reattached", "channel", channel, "prefix", cur.prefix, "err", err)
			}
			return
		}
		rs.stop(channel, true)
	}
	opts := recordings.Options{
		RequestKeyframe: func() { rs.media.RequestKeyframe(channel) },
		Logger:          rs.log,
		Metrics:         rs.metrics,
	}
	last, free := rs.prefixes(ctx, fmt.Sprintf("%s/%d", channel, id))
	var rec *recordings.Recorder
	prefix := free
	if last != "" {
		// The broadcast was recorded by a previous process (it crashed, and Recover closed
		// the recording, or it shut down) and goes on: carry on its recording, so that
		// it keeps one replay.
		var err error
		if rec, err = recordings.ResumeRecorder(ctx, rs.store, last, opts); err != nil {
			rs.log.Warn("recording not resumed, recording anew", "channel", channel, "prefix", free, "err", err)
		} else {
			prefix = last
		}
	}
	if rec == nil {
		rec = recordings.NewRecorder(rs.store, prefix, opts)
	}
	o := &openRecording{broadcast: id, prefix: prefix, rec: rec, started: time.Now()}
	rs.mu.Lock()
	rs.open[channel] = o
	rs.mu.Unlock()
	if err := rs.media.Record(channel, rec); err != nil {
		// The broadcast ended before its start got here; its end event follows.
		rs.log.Warn("recording not attached", "channel", channel, "prefix", prefix, "err", err)
	}
	rs.log.Info("recording started", "channel", channel, "prefix", prefix)
}

// prefixes returns, of prefix, prefix.2, prefix.3, ..., the last that holds objects (a
// recording of the broadcast by a previous process; "" if none) and the first that is free:
// a new recording never overwrites another.
func (rs *recorders) prefixes(ctx context.Context, prefix string) (last, free string) {
	for n := 1; ; n++ {
		p := prefix
		if n > 1 {
			p = fmt.Sprintf("%s.%d", prefix, n)
		}
		objs, err := rs.store.List(ctx, p+"/")
		if err != nil {
			rs.log.Warn("cannot list recordings, recording may overwrite", "prefix", p, "err", err)
			return last, p
		}
		if len(objs) == 0 {
			return last, p
		}
		last = p
	}
}

// stop closes the channel's recorder in the background: a slow store must not hold up
// other channels' events. When the broadcast ended, the recording is then finished (see
// finish); when the server is only shutting down, the broadcast goes on and the next process
// resumes its recording.
func (rs *recorders) stop(channel string, ended bool) {
	o := rs.open[channel]
	if o == nil {
		return
	}
	rs.mu.Lock()
	delete(rs.open, channel)
	rs.mu.Unlock()
	rs.closing.Add(1)
	go func() {
		defer rs.closing.Done()
		ctx, cancel := context.WithTimeout(context.Background(), recorderCloseTimeout)
		defer cancel()
		err := o.rec.Close(ctx)
		st := o.rec.Stats()
		attrs := []any{"prefix", o.prefix, "duration", time.Since(o.started).Round(time.Second),
			"segments", st.Segments, "dropped_segments", st.DroppedSegments,
			"dropped_packets", st.DroppedPackets, "skipped_frames", st.SkippedFrames}
		if err != nil {
			rs.log.Error("recording not closed cleanly", append(attrs, "err", err)...)
			return
		}
		rs.log.Info("recording ended", attrs...)
		if ended {
			rs.finish(o.broadcast, o.prefix)
		}
	}()
}

// finish does what follows the end of a broadcast for its closed recording under prefix:
// it cuts the product clips, then stores the recording as one file (recordings.Consolidate),
// which an S3 bucket then serves by signed URL. Either failing leaves the recording playable.
func (rs *recorders) finish(broadcast int64, prefix string) {
	// Its own deadline: a long broadcast with many products has many clips to cut and many
	// segments to copy.
	ctx, cancel := context.WithTimeout(rs.finishing, finishTimeout)
	defer cancel()
	if n, err := rs.cutClips(ctx, broadcast, prefix); err != nil {
		rs.log.Error("product clips not all cut", "prefix", prefix, "clips", n, "err", err)
	} else if n > 0 {
		rs.log.Info("product clips cut", "prefix", prefix, "clips", n)
	}
	if err := recordings.Consolidate(ctx, rs.store, prefix); err != nil {
		rs.log.Error("recording not stored as one file", "prefix", prefix, "err", err)
		return
	}
	rs.log.Info("recording stored as one file", "prefix", prefix)
}

// finishLeftover finishes the recording of a broadcast a previous process left live and that
// ended without its phone coming back: Recover closed its recording at start-up.
func (rs *recorders) finishLeftover(channel string, broadcast int64) {
	ctx, cancel := context.WithTimeout(context.Background(), recorderCloseTimeout)
	last, _ := rs.prefixes(ctx, fmt.Sprintf("%s/%d", channel, broadcast))
	cancel()
	if last == "" {
		return
	}
	rs.closing.Add(1)
	go func() {
		defer rs.closing.Done()
		rs.finish(broadcast, last)
	}()
}

// cutClips cuts a clip for every product pinned during the broadcast's ended recording under
// prefix, from its pin to the next (recordings.MakeClips), and records them with their pins.
// It returns how many it recorded.
func (rs *recorders) cutClips(ctx context.Context, broadcast int64, prefix string) (int, error) {
	if rs.shop == nil {
		return 0, nil
	}
	pins, err := rs.shop.Pins(ctx, broadcast)
	if err != nil {
		return 0, err
	}
	var specs []recordings.ClipSpec
	pinOf := map[string]int64{}
	for i, p := range pins {
		if p.ProductID == 0 {
			continue // an unpin
		}
		to := time.Now() // the last pin runs to the recording's end
		if i+1 < len(pins) {
			to = pins[i+1].PinnedAt
		}
		name := fmt.Sprintf("pin-%d", p.ID)
		pinOf[name] = p.ID
		specs = append(specs, recordings.ClipSpec{Name: name, From: p.PinnedAt, To: to})
	}
	if len(specs) == 0 {
		return 0, nil
	}
	clips, err := recordings.MakeClips(ctx, rs.store, prefix, specs)
	n := 0
	for _, c := range clips {
		if err := rs.shop.SaveClip(ctx, pinOf[c.Name], recordings.ClipURL(c), c.DurationMs); err != nil {
			return n, err
		}
		n++
	}
	return n, err
}

// chapter marks a product pinned on the channel's recording, if any, so that
// a segment starts there (the product's clip). Called from the rooms.
func (rs *recorders) chapter(channel string, _ int64) {
	rs.mu.Lock()
	o := rs.open[channel]
	rs.mu.Unlock()
	if o != nil {
		o.rec.Chapter()
	}
}

// closeAll closes every open recorder and waits for all closing ones (shutdown).
func (rs *recorders) closeAll() {
	for ch := range rs.open {
		rs.stop(ch, false)
	}
	rs.stopFinishing()
	rs.closing.Wait()
}
