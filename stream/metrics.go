package stream

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors. Counters are updated on the media path, so
// they are plain atomic adds; nothing here takes a lock per packet.
type metrics struct {
	publishers       prometheus.Gauge
	viewers          prometheus.Gauge
	bytesIn          prometheus.Counter
	bytesOut         prometheus.Counter
	packetsIn        prometheus.Counter
	packetsOut       prometheus.Counter
	lostIn           prometheus.Counter
	lostOut          prometheus.Counter
	nacksServed      prometheus.Counter
	nacksMissed      prometheus.Counter
	keyframeRequests prometheus.Counter
	queueDrops       prometheus.Counter
	timedOut         prometheus.Counter
	forwardLatency   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "dangol", Name: name, Help: help})
	}
	lost := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dangol", Name: "packets_lost_total",
		Help: "RTP packets lost: 'in' from publishers (sequence gaps), 'out' as reported by viewers.",
	}, []string{"direction"})
	m := &metrics{
		publishers: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "dangol", Name: "publishers", Help: "Live publishers."}),
		viewers:    prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "dangol", Name: "viewers", Help: "Connected viewers."}),
		bytesIn:    counter("media_in_bytes_total", "RTP payload and header bytes received from publishers."),
		bytesOut:   counter("media_out_bytes_total", "RTP bytes sent to viewers, retransmissions included."),
		packetsIn:  counter("media_in_packets_total", "RTP packets received from publishers."),
		packetsOut: counter("media_out_packets_total", "RTP packets sent to viewers."),
		lostIn:     lost.WithLabelValues("in"),
		lostOut:    lost.WithLabelValues("out"),
		nacksServed: counter("nacks_served_total",
			"Packets viewers asked for again and the server resent from its cache."),
		nacksMissed: counter("nacks_missed_total",
			"Packets viewers asked for again that were no longer in the cache."),
		keyframeRequests: counter("keyframe_requests_total", "PLIs sent to publishers."),
		queueDrops: counter("viewer_queue_drops_total",
			"Packets not sent because a viewer's send queue was full (a slow viewer)."),
		timedOut: counter("sessions_timed_out_total", "Sessions closed because ICE never connected."),
		forwardLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "dangol", Name: "forward_latency_seconds",
			Help: "Time from reading a publisher's packet to handing it to a viewer's socket, sampled (one packet in 16 per viewer).",
			// Fine below 20 ms, the target for the server's part of the delay.
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1},
		}),
	}
	for _, c := range []prometheus.Collector{
		m.publishers, m.viewers, m.bytesIn, m.bytesOut, m.packetsIn, m.packetsOut, lost,
		m.nacksServed, m.nacksMissed, m.keyframeRequests, m.queueDrops, m.timedOut, m.forwardLatency,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metric: %w", err)
		}
	}
	return m, nil
}
