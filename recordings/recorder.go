package recordings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	// SegmentDuration is the length after which a segment is cut, at the
	// next video keyframe. Default 4 s.
	SegmentDuration time.Duration
	// QueueSize bounds the packets waiting for the recorder's goroutine;
	// beyond it packets are dropped and counted. Default 2048.
	QueueSize int
	// MaxPendingSegments bounds the segments waiting for the store; beyond
	// it the oldest pending segment is dropped and counted. Default 32
	// (about two minutes at 4 s).
	MaxPendingSegments int
	// PutTimeout bounds one Store.Put. Default 30 s.
	PutTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between failed Puts.
	// Defaults 250 ms and 10 s.
	RetryMin, RetryMax time.Duration
	// RequestKeyframe, if set, is called (from the recorder's goroutine, at
	// most once a second) when the recording waits for a keyframe: after
	// lost video, when a segment is due (WebRTC encoders send keyframes only
	// when asked), and at a chapter. The SFU wires it to a PLI. It must not
	// block.
	RequestKeyframe func()
	Logger          *slog.Logger
	// Metrics, if set, counts for the operator (NewMetrics).
	Metrics *Metrics
}

func (o *Options) defaults() {
	if o.SegmentDuration <= 0 {
		o.SegmentDuration = 4 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 2048
	}
	if o.MaxPendingSegments <= 0 {
		o.MaxPendingSegments = 32
	}
	if o.PutTimeout <= 0 {
		o.PutTimeout = 30 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 250 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Stats counts what a Recorder did and lost.
type Stats struct {
	DroppedPackets  uint64 // intake queue full, or written after Close
	SkippedFrames   uint64 // video frames skipped while waiting for a keyframe after loss
	Segments        uint64 // media segments stored
	DroppedSegments uint64 // media segments that never reached the store
}

// Recorder records one broadcast (VP8 or H.264 video + Opus audio, as RTP)
// into segments in a Store under prefix: WebM for VP8 (init.webm,
// 000001.webm, ...), fragmented MP4 for H.264 (init.mp4, 000001.m4s, ...),
// and manifest.json.
//
// Lifecycle: NewRecorder starts two goroutines, one that depacketizes and
// muxes, one that uploads. WriteVideo and WriteAudio may be called from any
// goroutine until Close; Close flushes the last segment, rewrites the init
// with the final duration and cues, and writes the final manifest.
type Recorder struct {
	store  Store
	prefix string
	opts   Options
	log    *slog.Logger
	now    func() time.Time // tests may replace it before the first packet

	in        chan packetIn
	closed    atomic.Bool
	closing   chan struct{}
	muxDone   chan struct{}
	videoMime atomic.Pointer[string] // set by SetVideoCodec, read once by the mux goroutine
	chapter   atomic.Bool            // set by Chapter: cut a segment at the next keyframe

	droppedPackets atomic.Uint64
	skippedFrames  atomic.Uint64

	// owned by the mux goroutine
	t0     time.Time
	video  trackState
	audio  trackState
	format *format // from the first video packet; nil before
	// writtenVideo and writtenAudio are the times of the last samples
	// muxed (-1 before any): the next must be later.
	writtenVideo, writtenAudio int64
	resumed                    *format // the stored recording's format, when resuming one (ResumeRecorder)
	initDone                   bool
	videoBroken                bool // lost video: skip to the next keyframe
	lastPLI                    time.Time
	seg                        *openSegment
	segNum                     int

	up *uploader
}

type packetIn struct {
	pkt   *rtp.Packet
	video bool
	at    time.Time
}

// trackState maps one track's RTP timestamps onto the recording's timeline.
type trackState struct {
	sb       *samplebuilder.SampleBuilder
	newSB    func() *samplebuilder.SampleBuilder
	clock    int64
	started  bool
	newRun   bool  // the next popped sample starts a run (a reconnected publisher)
	offsetMs int64 // arrival of the first packet, from the recording's start
	firstTS  uint32
	prevTS   uint32
	ext      int64 // RTP ticks since firstTS, unwrapped
	popped   bool
	lastMs   int64 // timeline of the latest popped sample
	queue    []sample

	// The latest packet pushed, to tell a new run of the track.
	ssrc   uint32
	seq    uint16
	ts     uint32
	lastAt time.Time
}

// openSegment is the media segment being written.
type openSegment struct {
	startMs int64
	endMs   int64 // end of the latest sample, for the segment's duration
	mux     segmentMuxer
}

// maxFrameMs caps a frame's duration when computing where a segment ends.
const maxFrameMs = 250

func (s *openSegment) add(track uint64, ms, durMs int64, keyframe bool, data []byte) {
	s.mux.add(track, ms, durMs, keyframe, data)
	// A sample's duration runs to the next sample of its track, so after a
	// gap it is long; capped, it still covers any real frame.
	s.endMs = max(s.endMs, ms+min(durMs, maxFrameMs))
}

type sample struct {
	ms, durMs int64
	data      []byte
	afterLoss bool
}

// NewRecorder starts recording a broadcast into store under prefix.
func NewRecorder(store Store, prefix string, opts Options) *Recorder {
	r := newRecorder(store, prefix, opts)
	r.start()
	return r
}

// newRecorder builds a Recorder without starting it, so that tests can fill
// its queue deterministically.
func newRecorder(store Store, prefix string, opts Options) *Recorder {
	opts.defaults()
	log := opts.Logger.With("recording", prefix)
	r := &Recorder{
		store:   store,
		prefix:  prefix,
		opts:    opts,
		log:     log,
		now:     time.Now,
		in:      make(chan packetIn, opts.QueueSize),
		closing: make(chan struct{}),
		muxDone: make(chan struct{}),
		// Nothing written yet: a sample at 0 is later than these.
		writtenVideo: -1, writtenAudio: -1,
		// The video's sample builder waits for the codec (SetVideoCodec).
		video: trackState{clock: 90000},
		audio: trackState{newSB: func() *samplebuilder.SampleBuilder { return samplebuilder.New(32, &codecs.OpusPacket{}, 48000) }, clock: 48000},
	}
	r.audio.sb = r.audio.newSB()
	r.up = newUploader(store, prefix, opts, log)
	return r
}

func (r *Recorder) start() {
	r.opts.Metrics.addActive(1)
	go r.run()
	go r.up.run()
}

// ResumeRecorder continues the recording under prefix, which a previous
// process of the server began and which was closed (by Recover after a
// crash, or by a shutdown) while its broadcast went on. New segments follow
// the stored ones on the same timeline, after a gap for the time the server
// was down, so that the broadcast keeps one replay; Close ends it again.
//
// The publisher must come back with the recording's codec (a browser offers
// the same one again): video in another one is dropped and counted, and
// nothing more is recorded.
func ResumeRecorder(ctx context.Context, store Store, prefix string, opts Options) (*Recorder, error) {
	m, _, err := loadManifest(ctx, store, prefix)
	if err != nil {
		return nil, fmt.Errorf("resume recording %s: %w", prefix, err)
	}
	f, err := formatOf(m.Container)
	if err != nil || !m.Ended || m.Init == "" || len(m.Segments) == 0 || m.StartedAt.IsZero() {
		return nil, fmt.Errorf("resume recording %s: not an ended recording with segments (%v)", prefix, err)
	}
	if m.File != "" {
		// Its broadcast ended: its segments are one file now, with clips cut.
		return nil, fmt.Errorf("resume recording %s: already finished as %s", prefix, m.File)
	}
	r := newRecorder(store, prefix, opts)
	r.resumed = f
	r.t0 = m.StartedAt
	for _, s := range m.Segments {
		// Numbered after the highest stored, not the count: a segment the
		// store lost is a gap in the numbers, and a name is never reused.
		if n, err := strconv.Atoi(strings.TrimSuffix(s.Name, f.segExt)); err == nil {
			r.segNum = max(r.segNum, n)
		}
	}
	for _, t := range []*trackState{&r.video, &r.audio} {
		// As a track's new run: placed at arrival, after what is stored.
		t.newRun, t.lastMs = true, m.DurationMs
	}
	r.writtenVideo, r.writtenAudio = m.DurationMs, m.DurationMs
	m.Ended = false
	r.up.format, r.up.init, r.up.initSent, r.up.manifest = f, &m, true, m
	r.up.droppedBefore = m.DroppedSegments
	r.start()
	r.log.Info("recording resumed", "segments", len(m.Segments), "duration_ms", m.DurationMs)
	return r, nil
}

// SetVideoCodec tells the recorder the MIME type of the video to come
// (webrtc.MimeTypeVP8 or webrtc.MimeTypeH264), before the first WriteVideo;
// without it video is taken for VP8. The first call decides: a broadcast
// keeps its codec.
func (r *Recorder) SetVideoCodec(mime string) {
	if !r.videoMime.CompareAndSwap(nil, &mime) && *r.videoMime.Load() != mime {
		r.log.Warn("recording keeps its first video codec", "codec", *r.videoMime.Load(), "ignored", mime)
	}
}

// WriteVideo queues a video RTP packet. It never blocks: when the recorder is
// behind, the packet is dropped and counted. The recorder keeps p, which the
// caller must not change afterwards (the SFU's packets never change once
// read: its viewers hold on to them too), so nothing is copied per packet.
func (r *Recorder) WriteVideo(p *rtp.Packet) { r.write(p, true) }

// WriteAudio queues an Opus RTP packet, like WriteVideo.
func (r *Recorder) WriteAudio(p *rtp.Packet) { r.write(p, false) }

func (r *Recorder) write(p *rtp.Packet, video bool) {
	if r.closed.Load() {
		r.droppedPackets.Add(1)
		r.opts.Metrics.lostPackets()
		return
	}
	// Arrival time is taken here, not on the recorder's goroutine, so a
	// backlog in the queue does not shift the tracks against each other.
	select {
	case r.in <- packetIn{pkt: p, video: video, at: r.now()}:
	default:
		r.opts.Metrics.lostPackets()
		if n := r.droppedPackets.Add(1); bits.OnesCount64(n) == 1 {
			r.log.Warn("recording queue full, dropping packets", "dropped", n)
		}
	}
}

// Chapter starts a new segment at the next video keyframe, which it asks
// for: the moment a merchant shows a product becomes a segment boundary, so
// that a clip of it cuts there without re-encoding. It never blocks.
func (r *Recorder) Chapter() { r.chapter.Store(true) }

// Stats returns the recorder's counters.
func (r *Recorder) Stats() Stats {
	return Stats{
		DroppedPackets:  r.droppedPackets.Load(),
		SkippedFrames:   r.skippedFrames.Load(),
		Segments:        r.up.stored.Load(),
		DroppedSegments: r.up.dropped.Load(),
	}
}

// Close stops intake, flushes the last segment and waits, within ctx, for
// every pending object to reach the store, then writes the final init and
// manifest. When ctx ends first, what is still pending is abandoned and an
// error returned; the stored segments still play.
func (r *Recorder) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return errors.New("recorder already closed")
	}
	close(r.closing)
	select {
	case <-r.muxDone:
	case <-ctx.Done():
		r.up.abort()
		return fmt.Errorf("close recording %s: flush: %w", r.prefix, ctx.Err())
	}
	r.up.finish()
	select {
	case <-r.up.done:
	case <-ctx.Done():
		r.up.abort()
		<-r.up.done
		return fmt.Errorf("close recording %s: upload: %w", r.prefix, ctx.Err())
	}
	if err := r.up.err; err != nil {
		return fmt.Errorf("close recording %s: %w", r.prefix, err)
	}
	return nil
}

func (r *Recorder) run() {
	defer close(r.muxDone)
	for {
		select {
		case p := <-r.in:
			r.handle(p)
		case <-r.closing:
			// Take what was queued before Close, then flush.
			for {
				select {
				case p := <-r.in:
					r.handle(p)
					continue
				default:
				}
				break
			}
			if r.video.sb != nil {
				r.video.sb.Flush()
			}
			r.audio.sb.Flush()
			r.pop(&r.video)
			r.pop(&r.audio)
			r.mux(true)
			r.finishSegment()
			return
		}
	}
}

func (r *Recorder) handle(p packetIn) {
	t := &r.audio
	if p.video {
		t = &r.video
	}
	if p.video && r.format == nil && !r.chooseFormat() {
		r.droppedPackets.Add(1)
		r.opts.Metrics.lostPackets()
		return
	}
	if r.t0.IsZero() {
		r.t0 = p.at
	}
	if t.started && t.isNewRun(p) {
		r.newRun(t, p)
	}
	if !t.started {
		// Without RTCP sender reports the tracks' RTP clocks cannot be
		// related exactly, so each track's first packet is placed at its
		// arrival time. For a single phone publisher both tracks start
		// within a few tens of milliseconds of capture, which is close
		// enough for lip sync; SR-based mapping would be needed for
		// perfect sync across tracks.
		t.started = true
		t.offsetMs = p.at.Sub(r.t0).Milliseconds()
		if t.newRun {
			// Never before what the previous run wrote: timestamps only go forward.
			t.offsetMs = max(t.offsetMs, t.lastMs+1)
		}
		t.firstTS = p.pkt.Timestamp
		t.prevTS = p.pkt.Timestamp
	}
	t.ssrc, t.seq, t.ts, t.lastAt = p.pkt.SSRC, p.pkt.SequenceNumber, p.pkt.Timestamp, p.at
	t.sb.Push(p.pkt)
	r.pop(t)
	r.mux(false)
}

// chooseFormat settles the recording's format from the video codec, at the
// first video packet.
func (r *Recorder) chooseFormat() bool {
	var mime string
	if m := r.videoMime.Load(); m != nil {
		mime = *m
	}
	f, err := formatFor(mime)
	if err == nil && r.resumed != nil && f != r.resumed {
		err = fmt.Errorf("the publisher came back in %s, the recording is %s", mime, r.resumed.container)
	}
	if err != nil {
		if r.droppedPackets.Load() == 0 {
			r.log.Error("video not recorded", "err", err)
		}
		return false
	}
	r.format = f
	r.video.newSB = f.depacketizer
	r.video.sb = f.depacketizer()
	return true
}

// Beyond these a packet of the same SSRC is taken for a new run of the track rather
// than loss or reordering: a publisher that reconnected reusing its SSRC.
const (
	maxSeqJump       = 3000
	maxTimestampSkew = 10 * time.Second
)

// isNewRun reports whether p does not continue the track's packets: another SSRC (the
// SFU switched publisher or layer), or sequence numbers or RTP timestamps that jumped
// far from what arrival time explains.
func (t *trackState) isNewRun(p packetIn) bool {
	if p.pkt.SSRC != t.ssrc {
		return true
	}
	if d := int16(p.pkt.SequenceNumber - t.seq); d > maxSeqJump || d < -maxSeqJump {
		return true
	}
	rtpGap := time.Duration(int64(int32(p.pkt.Timestamp-t.ts)) * int64(time.Second) / t.clock)
	skew := rtpGap - p.at.Sub(t.lastAt)
	return skew > maxTimestampSkew || skew < -maxTimestampSkew
}

// newRun ends the track's current run and starts another at p. The new RTP clock cannot
// be related to the old one, so the run is placed on the timeline at its arrival time,
// as a track's first packet is; the gap becomes a jump in timestamps, which WebM allows.
// Video resumes at the run's first keyframe.
func (r *Recorder) newRun(t *trackState, p packetIn) {
	t.sb.Flush()
	r.pop(t)
	r.mux(false)
	t.sb = t.newSB()
	t.started, t.popped, t.newRun = false, false, true
	r.log.Info("recording track restarted", "video", p.video, "ssrc", p.pkt.SSRC)
}

// pop moves the samplebuilder's complete samples onto the track's timeline.
func (r *Recorder) pop(t *trackState) {
	if t.sb == nil {
		return
	}
	for {
		s := t.sb.Pop()
		if s == nil {
			return
		}
		if !t.popped {
			t.ext = int64(int32(s.PacketTimestamp - t.firstTS))
			t.popped = true
		} else {
			t.ext += int64(int32(s.PacketTimestamp - t.prevTS))
		}
		t.prevTS = s.PacketTimestamp
		ms := t.offsetMs + t.ext*1000/t.clock
		t.lastMs = ms
		t.queue = append(t.queue, sample{
			ms:    ms,
			durMs: s.Duration.Milliseconds(),
			data:  s.Data,
			// A new run's first frame follows a gap: video waits for a keyframe, as
			// after loss.
			afterLoss: s.PrevDroppedPackets > 0 || t.newRun,
		})
		t.newRun = false
	}
}

// maxInterleaveMs is how long one track's samples wait for the other track
// before being written anyway (the other track paused or never started).
const maxInterleaveMs = 1000

// mux writes the queued samples of both tracks in timeline order. A sample
// waits until the other track has caught up with it, since each
// samplebuilder releases frames with its own delay.
func (r *Recorder) mux(final bool) {
	v, a := &r.video, &r.audio
	for {
		var t *trackState
		switch {
		case len(v.queue) > 0 && len(a.queue) > 0:
			t = v
			if a.queue[0].ms < v.queue[0].ms {
				t = a
			}
		case len(v.queue) > 0:
			if final || v.queue[0].ms <= a.lastMs || v.lastMs-v.queue[0].ms > maxInterleaveMs {
				t = v
			}
		case len(a.queue) > 0:
			if final || a.queue[0].ms <= v.lastMs || a.lastMs-a.queue[0].ms > maxInterleaveMs {
				t = a
			}
		}
		if t == nil {
			return
		}
		s := t.queue[0]
		t.queue[0] = sample{}
		t.queue = t.queue[1:]
		r.writeSample(t == v, s)
	}
}

func (r *Recorder) writeSample(video bool, s sample) {
	if s.ms < 0 {
		return // reordered ahead of the first packet seen; before the recording's start
	}
	// A track's timestamps only go forward in the file: players refuse a
	// repeated one. A second sample at a time already written is what is left
	// of a frame the sample builder cut in two after loss; it cannot decode.
	written := &r.writtenAudio
	if video {
		written = &r.writtenVideo
	}
	if s.ms <= *written {
		if video {
			r.skippedFrames.Add(1)
			r.videoBroken = true
		}
		return
	}
	if !video {
		if r.seg != nil {
			r.seg.add(audioTrack, s.ms, s.durMs, true, s.data)
			r.writtenAudio = s.ms
		}
		// Audio before the first video keyframe is dropped: every segment,
		// the first included, starts with a keyframe.
		return
	}

	if r.format == nil {
		return
	}
	data, key, params, hasParams := r.format.frame(s.data)
	if s.afterLoss {
		r.videoBroken = true
	}
	if r.videoBroken && !key {
		// Inter frames after a loss would decode with corruption until the
		// next keyframe; a short freeze reads better in a replay.
		r.skippedFrames.Add(1)
		r.requestKeyframe()
		return
	}
	if key {
		r.videoBroken = false
	}
	if !r.initDone {
		if !hasParams {
			// Not a keyframe, or one that does not say what the video is.
			r.skippedFrames.Add(1)
			return
		}
		r.initDone = true
		if r.resumed == nil {
			m := r.format.manifest(params)
			m.StartedAt = r.t0
			r.up.setInit(r.format, m)
		}
		// A resumed recording keeps its init: an H.264 keyframe carries its
		// parameter sets in band, so a size that changed still decodes.
	}
	// A keyframe a hair early (RTP clocks drift against milliseconds) still
	// cuts: a publisher sending one every 4 s should give 4 s segments.
	const slackMs = 50
	due := r.seg == nil || s.ms-r.seg.startMs >= r.opts.SegmentDuration.Milliseconds()-slackMs || r.chapter.Load()
	if due && !key {
		r.requestKeyframe()
	}
	if key && due {
		r.chapter.Store(false)
		if r.seg != nil {
			// A segment ends where the next begins, whatever the duration
			// of its last frame (which spans any gap of skipped frames).
			r.seg.endMs = s.ms
		}
		r.finishSegment()
		r.seg = &openSegment{startMs: s.ms, endMs: s.ms, mux: r.format.newSegment(r.segNum+1, s.ms)}
	}
	r.seg.add(videoTrack, s.ms, s.durMs, key, data)
	r.writtenVideo = s.ms
}

// requestKeyframe asks the publisher for a keyframe, at most once a second.
func (r *Recorder) requestKeyframe() {
	if f := r.opts.RequestKeyframe; f != nil && r.now().Sub(r.lastPLI) > time.Second {
		r.lastPLI = r.now()
		f()
	}
}

func (r *Recorder) finishSegment() {
	if r.seg == nil {
		return
	}
	seg := r.seg
	r.seg = nil
	data, err := seg.mux.bytes()
	if err != nil {
		r.log.Error("cannot mux segment, dropped", "err", err)
		r.up.dropped.Add(1)
		return
	}
	r.segNum++
	r.up.enqueue(pendingSegment{
		Segment: Segment{
			Name:       fmt.Sprintf("%06d%s", r.segNum, r.format.segExt),
			StartMs:    seg.startMs,
			DurationMs: seg.endMs - seg.startMs,
			Size:       int64(len(data)),
		},
		data: data,
	})
}

type pendingSegment struct {
	Segment
	data []byte
}

// uploader puts objects into the store in order on its own goroutine,
// retrying with backoff, so that a slow or failing store never holds up
// muxing, let alone the SFU.
type uploader struct {
	store  Store
	prefix string
	opts   Options
	log    *slog.Logger

	ctx    context.Context // canceled by abort
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}
	err    error // set before done is closed

	stored        atomic.Uint64
	dropped       atomic.Uint64
	droppedBefore int // by the process that began a resumed recording

	mu        sync.Mutex // guards the fields below
	format    *format
	init      *Manifest // the manifest's head, from the first keyframe
	initSent  bool
	pending   []pendingSegment
	inflight  string // name of the segment being Put, never dropped
	finishing bool
	reported  int  // len(pending) as last added to the pending gauge
	exited    bool // run returned: pending is no longer reported

	// owned by the upload goroutine
	manifest Manifest
}

func newUploader(store Store, prefix string, opts Options, log *slog.Logger) *uploader {
	ctx, cancel := context.WithCancel(context.Background())
	return &uploader{
		store: store, prefix: prefix, opts: opts, log: log,
		ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
}

func (u *uploader) key(name string) string {
	if u.prefix == "" {
		return name
	}
	return u.prefix + "/" + name
}

func (u *uploader) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *uploader) setInit(f *format, m Manifest) {
	u.mu.Lock()
	u.format, u.init = f, &m
	u.mu.Unlock()
	u.poke()
}

func (u *uploader) enqueue(s pendingSegment) {
	u.mu.Lock()
	u.pending = append(u.pending, s)
	var lost []string
	for len(u.pending) > u.opts.MaxPendingSegments {
		i := 0
		if u.pending[0].Name == u.inflight {
			i = 1
		}
		lost = append(lost, u.pending[i].Name)
		u.pending = append(u.pending[:i], u.pending[i+1:]...)
	}
	u.reportPendingLocked()
	u.mu.Unlock()
	if len(lost) > 0 {
		u.opts.Metrics.lostSegments(len(lost))
		n := u.dropped.Add(uint64(len(lost)))
		u.log.Error("recording store is failing, dropped pending segments", "segments", lost, "dropped_total", n)
	}
	u.poke()
}

// reportPendingLocked brings the pending gauge to this uploader's share.
func (u *uploader) reportPendingLocked() {
	n := len(u.pending)
	if u.exited {
		n = 0
	}
	u.opts.Metrics.addPending(float64(n - u.reported))
	u.reported = n
}

func (u *uploader) finish() {
	u.mu.Lock()
	u.finishing = true
	u.mu.Unlock()
	u.poke()
}

func (u *uploader) abort() { u.cancel() }

func (u *uploader) run() {
	defer close(u.done)
	defer u.opts.Metrics.addActive(-1)
	defer func() {
		u.mu.Lock()
		u.exited = true
		u.reportPendingLocked()
		u.mu.Unlock()
	}()
	for {
		u.mu.Lock()
		f, initM, initSent := u.format, u.init, u.initSent
		var seg *pendingSegment
		if initSent && len(u.pending) > 0 {
			s := u.pending[0]
			seg = &s
			u.inflight = s.Name
		}
		finishing := u.finishing && (initM == nil || initSent) && len(u.pending) == 0
		u.mu.Unlock()

		switch {
		case initM != nil && !initSent:
			data, err := f.buildInit(*initM)
			if err == nil {
				err = u.put(f.initName, data)
			}
			if err != nil {
				u.err = err
				return
			}
			u.mu.Lock()
			u.initSent = true
			u.manifest = *initM
			u.manifest.Segments = []Segment{}
			u.mu.Unlock()
		case seg != nil:
			if err := u.put(seg.Name, seg.data); err != nil {
				u.err = err
				return
			}
			u.mu.Lock()
			u.pending[0] = pendingSegment{}
			u.pending = u.pending[1:]
			u.inflight = ""
			u.manifest.DroppedSegments = u.droppedBefore + int(u.dropped.Load())
			u.reportPendingLocked()
			u.mu.Unlock()
			u.stored.Add(1)
			u.opts.Metrics.stored(len(seg.data))
			u.manifest.Segments = append(u.manifest.Segments, seg.Segment)
			u.manifest.DurationMs = seg.StartMs + seg.DurationMs
			if err := u.putManifest(); err != nil {
				u.err = err
				return
			}
		case finishing:
			u.err = u.finalize(f)
			return
		default:
			select {
			case <-u.wake:
			case <-u.ctx.Done():
				u.err = u.ctx.Err()
				return
			}
		}
	}
}

// finalize rewrites the init with the duration and an index of the
// segments, so players show the length and can seek, then marks the
// manifest ended.
func (u *uploader) finalize(f *format) error {
	u.manifest.Ended = true
	u.manifest.DroppedSegments = u.droppedBefore + int(u.dropped.Load())
	if f != nil && len(u.manifest.Segments) > 0 {
		data, err := f.buildInit(u.manifest)
		if err == nil {
			err = u.put(f.initName, data)
		}
		if err != nil {
			return fmt.Errorf("final init: %w", err)
		}
	}
	if u.manifest.Version == 0 {
		// Nothing was recorded (no video keyframe ever arrived).
		u.manifest = Manifest{Version: 1, Container: "webm", Ended: true, Segments: []Segment{}}
	}
	return u.putManifest()
}

func (u *uploader) putManifest() error {
	data, err := json.MarshalIndent(u.manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal manifest: %w", err)
	}
	return u.put("manifest.json", data)
}

// put stores one object, retrying with backoff until it succeeds or the
// uploader is aborted.
func (u *uploader) put(name string, data []byte) error {
	key := u.key(name)
	wait := u.opts.RetryMin
	failing := false
	defer func() {
		if failing {
			u.opts.Metrics.addFailing(-1)
		}
	}()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(u.ctx, u.opts.PutTimeout)
		err := u.store.Put(ctx, key, data)
		cancel()
		if err == nil {
			if attempt > 1 {
				u.log.Info("recording store recovered", "key", key, "attempts", attempt)
			}
			return nil
		}
		if u.ctx.Err() != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		u.opts.Metrics.putFailed()
		if !failing {
			failing = true
			u.opts.Metrics.addFailing(1)
		}
		u.log.Error("recording store put failed, retrying", "key", key, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-u.ctx.Done():
			t.Stop()
			return fmt.Errorf("put %s: %w", key, u.ctx.Err())
		}
		wait = min(wait*2, u.opts.RetryMax)
	}
}
