package stream

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Config holds the media server's settings. The zero value of a field means its default.
type Config struct {
	// UDPAddr is the one UDP address all ICE/media traffic uses ("host:port"; with no host the
	// port is opened on every interface address).
	UDPAddr string
	// TCPAddr is the ICE-TCP fallback address; empty disables ICE-TCP.
	TCPAddr string
	// PublicIPs replace the host candidates' addresses (NAT 1:1 on a cloud machine).
	PublicIPs []string
	// ICEServers are STUN/TURN servers handed to clients in WHIP/WHEP Link headers.
	ICEServers []webrtc.ICEServer
	// Loopback offers 127.0.0.1 candidates; for tests and a server used on the same machine.
	Loopback bool

	// Grace is how long a broadcast stays live after its publisher's connection is lost.
	Grace time.Duration
	// ConnectTimeout bounds how long a session may take to connect before it is dropped.
	ConnectTimeout time.Duration
	// KeyframeInterval is the least time between two keyframe requests to a publisher's track.
	KeyframeInterval time.Duration
	// StaleMedia is how long a publisher may send nothing before a new WHIP session with the
	// same key may take its place (a phone that switched networks has gone quiet).
	StaleMedia time.Duration

	MaxViewersPerChannel int // 0: no limit
	MaxViewers           int // 0: no limit
	MaxPublishers        int // 0: no limit

	// QueueLen is each viewer's send queue, in packets.
	QueueLen int

	// SocketBuffer is the receive and send buffer of the media UDP socket, in bytes. The
	// kernel caps it at net.core.rmem_max / wmem_max.
	SocketBuffer int
}

// DefaultGrace is Config.Grace when left 0.
const DefaultGrace = 30 * time.Second

func (c *Config) setDefaults() {
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 20 * time.Second
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = 500 * time.Millisecond
	}
	if c.StaleMedia == 0 {
		c.StaleMedia = 2 * time.Second
	}
	if c.QueueLen == 0 {
		// About a second of a 1.5 Mbps stream with its audio: room for a burst (a keyframe is
		// 30-60 packets) without ever holding a slow viewer's backlog for long.
		c.QueueLen = 256
	}
	if c.SocketBuffer == 0 {
		// All media shares one socket. While a keyframe fans out to hundreds of viewers the
		// reader waits for a core, and the kernel's default 208 KiB fills with publishers'
		// packets and viewers' RTCP in tens of milliseconds; what overflows is lost.
		c.SocketBuffer = 4 << 20
	}
}

// Channels is what the media server needs to know about channels. The store implements it.
type Channels interface {
	// AuthorizePublisher returns nil when token may publish on the channel, ErrUnknownChannel
	// or ErrUnauthorized otherwise.
	AuthorizePublisher(ctx context.Context, slug, token string) error
	// AuthorizeViewer returns nil when token (often "": viewers are anonymous) may watch
	// the channel, ErrUnknownChannel or ErrUnauthorized otherwise: a channel in a private
	// practice session shows its video only to those invited.
	AuthorizeViewer(ctx context.Context, slug, token string) error
}

// Deps are the server's collaborators.
type Deps struct {
	Channels Channels
	Log      *slog.Logger
	// Metrics receives the server's collectors; nil means a private registry.
	Metrics prometheus.Registerer
	// Events, when set, is told when broadcasts start and end (the room and the recorder
	// follow them). It is called from the server's goroutines and must not block.
	Events func(Event)
}

// EventKind tells what happened to a broadcast.
type EventKind int

const (
	// BroadcastStarted is sent when a channel goes live.
	BroadcastStarted EventKind = iota + 1
	// PublisherLost is sent when the publisher's connection drops; the broadcast waits Grace.
	PublisherLost
	// PublisherResumed is sent when a publisher reconnects within the grace period.
	PublisherResumed
	// BroadcastEnded is sent when the broadcast is over.
	BroadcastEnded
)

// String names the kind for logs.
func (k EventKind) String() string {
	switch k {
	case BroadcastStarted:
		return "broadcast-started"
	case PublisherLost:
		return "publisher-lost"
	case PublisherResumed:
		return "publisher-resumed"
	case BroadcastEnded:
		return "broadcast-ended"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change in a channel's broadcast.
type Event struct {
	Kind    EventKind
	Channel string
	At      time.Time
	// Quality is how the broadcast's video came through, on BroadcastEnded only.
	Quality *Quality
}

// Quality is how a broadcast's video came through from the phone.
type Quality struct {
	Live       time.Duration // from the first publisher's connection to the end
	VideoBytes int64         // RTP bytes of video received, every simulcast layer together
	Reconnects int           // times the publisher came back within the grace period
	// Frozen is the time the video stood still: the sum of the gaps of at least
	// FrozenGap with no video packet, a publisher's absence included.
	Frozen time.Duration
}

// FrozenGap is the shortest gap between video packets counted as frozen video: a camera
// sends a frame at least every few hundred milliseconds, even of a still picture.
const FrozenGap = 2 * time.Second

// VideoKbps is the video's average bitrate over the live time, in kbit/s.
func (q Quality) VideoKbps() int64 {
	ms := q.Live.Milliseconds()
	if ms <= 0 {
		return 0
	}
	return q.VideoBytes * 8 / ms // bits per millisecond are kbit/s; no overflow for years of video
}
