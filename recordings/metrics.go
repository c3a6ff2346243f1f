package recordings

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the recorders' Prometheus collectors, shared by every
// Recorder of a server (Options.Metrics): what an operator alerts on when
// the disk fills or the object store goes down while merchants are live.
// A nil *Metrics records nothing.
type Metrics struct {
	active          prometheus.Gauge
	failing         prometheus.Gauge
	pending         prometheus.Gauge
	segments        prometheus.Counter
	bytes           prometheus.Counter
	putErrors       prometheus.Counter
	droppedSegments prometheus.Counter
	droppedPackets  prometheus.Counter
}

// NewMetrics makes the recorders' collectors and registers them with reg
// (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "dangol", Name: "recordings_active", Help: "Broadcasts being recorded.",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "dangol", Name: "recordings_store_failing",
			Help: "Recordings whose store is failing right now: an upload is being retried (full disk, object store down). Alert when above 0 for a while.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "dangol", Name: "recording_segments_pending",
			Help: "Media segments muxed and waiting for the store; they pile up while it fails, up to a bound per recording.",
		}),
		segments: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dangol", Name: "recording_segments_total", Help: "Media segments stored.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dangol", Name: "recording_bytes_total", Help: "Bytes of media segments stored.",
		}),
		putErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dangol", Name: "recording_store_errors_total", Help: "Failed puts to the recordings store (each retry counts).",
		}),
		droppedSegments: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dangol", Name: "recording_segments_dropped_total",
			Help: "Media segments lost because the store kept failing and a recording's pending segments overflowed.",
		}),
		droppedPackets: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dangol", Name: "recording_packets_dropped_total",
			Help: "RTP packets a recorder dropped because it was behind (never the viewers').",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.active, m.failing, m.pending, m.segments, m.bytes, m.putErrors, m.droppedSegments, m.droppedPackets} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register recording metric: %w", err)
		}
	}
	return m, nil
}

// The methods below are nil-safe, so that recorders without metrics (tests,
// tools) need no checks.

func (m *Metrics) addActive(d float64) {
	if m != nil {
		m.active.Add(d)
	}
}

func (m *Metrics) addFailing(d float64) {
	if m != nil {
		m.failing.Add(d)
	}
}

func (m *Metrics) addPending(d float64) {
	if m != nil {
		m.pending.Add(d)
	}
}

func (m *Metrics) stored(size int) {
	if m != nil {
		m.segments.Inc()
		m.bytes.Add(float64(size))
	}
}

func (m *Metrics) putFailed() {
	if m != nil {
		m.putErrors.Inc()
	}
}

func (m *Metrics) lostSegments(n int) {
	if m != nil {
		m.droppedSegments.Add(float64(n))
	}
}

func (m *Metrics) lostPackets() {
	if m != nil {
		m.droppedPackets.Inc()
	}
}
