package stream

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// job is one unit of work for a viewer's writer: a packet to forward, or NACKed sequence
// numbers to send again.
type job struct {
	dt    *downTrack
	src   *upTrack
	pkt   *packet
	nacks []uint16
}

// defaultBudget is the bandwidth assumed for a viewer until its browser reports an estimate:
// enough for a phone's middle simulcast layer, which starts quickly and looks decent.
const defaultBudget = 1_000_000

// viewer is one WHEP session. Its writer goroutine (run) is the only one that writes media to
// its connection, from a bounded queue: when the queue is full the packet is dropped and
// counted, so a slow or dead viewer never holds up the up-track's reader or other viewers.
//
// Lifecycle: created by the WHEP handler; subscribes to layers once ICE connects; closed by
// DELETE, a failed connection, the connect timeout, or the end of the broadcast.
type viewer struct {
	id     string
	b      *broadcast
	pc     *webrtc.PeerConnection
	log    *slog.Logger
	tracks []*downTrack
	res    resource

	queue chan job
	wake  chan struct{} // capacity 1: "layers or estimate changed, look again"
	done  chan struct{}
	once  sync.Once

	// bwe is the server's own estimate of the path, for a viewer that negotiated transport-cc
	// instead of REMB (see newTWCCViewerAPI); nil for the others. Set before run starts.
	bwe cc.BandwidthEstimator

	connected atomic.Bool
	estimate  atomic.Uint64 // bits/s: the browser's REMB (0 until one arrives), or bwe's target
	drops     atomic.Uint64
	lastDrops uint64 // owned by the writer goroutine
}

func (v *viewer) enqueue(j job) {
	select {
	case v.queue <- j:
	default:
		v.drops.Add(1)
		v.b.s.m.queueDrops.Inc()
	}
}

// useEstimator makes e the source of v's budget. It is called during NewPeerConnection,
// before v is shared with any other goroutine.
func (v *viewer) useEstimator(e cc.BandwidthEstimator) {
	v.bwe = e
	// Called on a goroutine of its own at each change (often, while the estimate ramps):
	// reconcile reads the latest target itself, so late or reordered calls do no harm.
	e.OnTargetBitrateChange(func(int) { v.signal() })
}

func (v *viewer) signal() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// run is the viewer's writer goroutine.
func (v *viewer) run() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	defer v.unsubscribeAll()
	for {
		select {
		case j := <-v.queue:
			now := time.Now()
			if j.nacks != nil {
				for _, seq := range j.nacks {
					j.dt.resend(seq, now)
				}
				continue
			}
			j.dt.forward(j.src, j.pkt, now)
		case <-v.wake:
			v.reconcile(time.Now())
		case <-tick.C:
			v.reconcile(time.Now())
		case <-v.done:
			return
		}
	}
}

// reconcile points each down-track at the source it should follow now.
func (v *viewer) reconcile(now time.Time) {
	if !v.connected.Load() {
		return
	}
	ls := v.b.layers.Load()
	if v.bwe != nil {
		v.estimate.Store(uint64(max(v.bwe.GetTargetBitrate(), 0)))
	}
	budget := v.estimate.Load()
	if budget == 0 {
		budget = defaultBudget
	}
	if d := v.drops.Load(); d != v.lastDrops {
		// The queue overflowed since we last looked: this viewer cannot take what it gets.
		v.lastDrops = d
		for _, dt := range v.tracks {
			if dt.kind == webrtc.RTPCodecTypeVideo && dt.current != nil {
				budget = min(budget, dt.current.bitrate.Load()/2)
			}
		}
	}
	for _, dt := range v.tracks {
		layers := ls.audio
		if dt.kind == webrtc.RTPCodecTypeVideo {
			layers = ls.video
		}
		dt.setTarget(chooseLayer(layers, dt.current, budget, now), now)
	}
}

// chooseLayer picks the best layer that fits the budget, from layers ordered low to high.
// Moving up needs 15% headroom so that an estimate hovering at a layer's bitrate does not
// make the viewer switch back and forth.
func chooseLayer(layers []*upTrack, current *upTrack, budget uint64, now time.Time) *upTrack {
	var lowest *upTrack
	for _, l := range layers {
		if l.active(now) {
			lowest = l
			break
		}
	}
	if lowest == nil {
		// Nothing is sending: stay where we are if that layer still exists, else wait on the
		// lowest layer, which will be the first to come back.
		for _, l := range layers {
			if l == current {
				return current
			}
		}
		if len(layers) > 0 {
			return layers[0]
		}
		return nil
	}
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		if l == lowest {
			break
		}
		if !l.active(now) {
			continue
		}
		need := l.bitrate.Load()
		if l != current {
			need += need * 15 / 100
		}
		if need > 0 && need <= budget {
			return l
		}
	}
	return lowest
}

func (v *viewer) unsubscribeAll() {
	for _, dt := range v.tracks {
		if dt.current != nil {
			dt.current.unsubscribe(dt)
		}
		if dt.pending != nil {
			dt.pending.unsubscribe(dt)
		}
	}
}

// readRTCP handles what the viewer's browser says about one track: NACKs are answered from
// the cache by the writer, PLIs go to the publisher (throttled there), REMB sets the budget.
func (v *viewer) readRTCP(s *webrtc.RTPSender, dt *downTrack) {
	var lastLost uint32
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				var seqs []uint16
				for _, n := range p.Nacks {
					seqs = append(seqs, n.PacketList()...)
				}
				v.enqueue(job{dt: dt, nacks: seqs})
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if u := dt.cur.Load(); u != nil {
					u.requestKeyframe()
				}
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				v.estimate.Store(uint64(p.Bitrate))
				v.signal()
			case *rtcp.ReceiverReport:
				for _, r := range p.Reports {
					if b := dt.bind.Load(); b != nil && r.SSRC == b.ssrc && r.TotalLost > lastLost {
						v.b.s.m.lostOut.Add(float64(r.TotalLost - lastLost))
						lastLost = r.TotalLost
					}
				}
			}
		}
	}
}

// close ends the session; safe to call more than once and from any goroutine.
func (v *viewer) close() {
	v.once.Do(func() {
		close(v.done)
		v.b.removeViewer(v)
		v.b.s.goClose(v.pc)
	})
}
