package commerce

import (
	"fmt"
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
	dropped     prometheus.Counter
	tooSlow     prometheus.Counter
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
			Help:    "Time from queueing a room event or reply for a connection to writing it to the socket, sampled (one in 16).",
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
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connections, m.commands, m.delivery, m.dropped, m.tooSlow} {
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

// commandDone observes a command read at start; typ points at its type,
// which is known only once the message is decoded.
func (m *roomMetrics) commandDone(typ *string, start time.Time) {
	m.commands.WithLabelValues(commandLabel(*typ)).Observe(time.Since(start).Seconds())
}
