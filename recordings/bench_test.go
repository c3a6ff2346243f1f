package recordings

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRecorder measures what recording one broadcast costs the server:
// the test media's packets (10 s of 320x240 video at 30 fps and Opus),
// depacketized, muxed into segments and handed to a store that keeps them in
// memory, on the recorder's own goroutines as in production. One op is the
// whole broadcast; ns/packet and media-s/s say how many broadcasts a core
// keeps up with.
func BenchmarkRecorder(b *testing.B) {
	for _, c := range testCodecs {
		b.Run(c.codec, func(b *testing.B) {
			pkts := phonePacketsOf(b, c.mime)
			var bytes int64
			for _, p := range pkts {
				bytes += int64(len(p.pkt.Payload))
			}
			b.SetBytes(bytes)
			b.ResetTimer()
			for range b.N {
				store := newMemStore()
				rec := NewRecorder(store, "bench/1", Options{QueueSize: len(pkts) + 1})
				rec.SetVideoCodec(c.mime)
				for _, p := range pkts {
					if p.video {
						rec.WriteVideo(p.pkt)
					} else {
						rec.WriteAudio(p.pkt)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := rec.Close(ctx)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				if st := rec.Stats(); st.DroppedPackets != 0 || st.Segments < 2 {
					b.Fatalf("stats %+v", st)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/packet")
			b.ReportMetric(float64(testMediaSeconds*b.N)/b.Elapsed().Seconds(), "media-s/s")
		})
	}
}
