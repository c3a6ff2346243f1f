package commerce

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// roomMetrics are the live rooms' Prometheus collectors: what an operator
// watches during a coupon rush, and what the load tool reads to tell the
// server's part of a latency from its own.
type roomMetrics struct {
	connections prometheus.Gauge
	commands    *prometheus.HistogramVec // by command type
	delivery    prometheus.Histogram
	replies     prometheus.Histogram
	dropped     prometheus.Counter
	tooSlow     prometheus.Counter

	written atomic.Uint64 // messages written, for sampling delivery across all connections
}

// latencyBuckets are fine below 100 ms, the target for a reply and for a
// chat message's delivery.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5}

func newRoomMetrics(reg prometheus.Registerer) (*roomMetrics, error) {
	m := &roomMetrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "dangol", Name: "room_connections", Help: "Open websocket connections to live rooms.",
		}),
		commands: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dangol", Name: "room_command_seconds",
			Help:    "Time from reading a room command to queueing its reply, by command type.",
			Buckets: latencyBuckets,
		}, []string{"type"}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "dangol", Name: "room_delivery_seconds",
			Help:    "Time from queueing a room event for a connection to writing it to the socket, sampled (one in 16).",
			Buckets: latencyBuckets,
		}),
		replies: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "dangol", Name: "room_reply_seconds",
			Help:    "Time from reading a room command to writing its reply to the socket: the server's whole part of a reply's latency.",
			Buckets: latencyBuckets,
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dangol", Name: "room_events_dropped_total",
			Help: "Droppable events (chat, likes, viewers) a slow connection lost from its full queue.",
		}),
		tooSlow: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dangol", Name: "room_clients_too_slow_total",
			Help: "Connections closed because their queue of undroppable messages overflowed.",
		}),
	}
	// Every command's series from the start, at zero: a rate over a window that begins
	// before the first claim then counts that claim.
	m.commands.WithLabelValues("hello")
	m.commands.WithLabelValues("unknown")
	for typ := range commands {
		m.commands.WithLabelValues(typ)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connections, m.commands, m.delivery, m.replies, m.dropped, m.tooSlow} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register room metric: %w", err)
		}
	}
	return m, nil
}

// commandLabel is the label values of room_command_seconds: the known
// command types, so that a client sending made-up types cannot grow the
// metric without bound.
func commandLabel(typ string) string {
	if _, ok := commands[typ]; ok || typ == "hello" {
		return typ
	}
	return "unknown"
}

// delivered counts a message written to its socket, queued at at, and
// observes one in 16: a clock read per message per viewer would be a
// visible share of a chat fan-out.
func (m *roomMetrics) delivered(at time.Time) {
	if m.written.Add(1)%16 == 0 {
		m.delivery.Observe(time.Since(at).Seconds())
	}
}

// replied observes a reply written to its socket, its command read at
// readAt.
func (m *roomMetrics) replied(readAt time.Time) {
	m.replies.Observe(time.Since(readAt).Seconds())
}

// commandDone observes a command read at start; typ points at its type,
// which is known only once the message is decoded.
func (m *roomMetrics) commandDone(typ *string, start time.Time) {
	m.commands.WithLabelValues(commandLabel(*typ)).Observe(time.Since(start).Seconds())
}
