package commerce

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the money path on both backends:
//
//	go test -run '^$' -bench . -benchtime 20000x ./commerce/
//
// BenchmarkClaimCoupon: claims that all succeed (distinct viewers), from
// many goroutines at once; ns/op is the inverse of the throughput, p50/p99
// the latency of one claim. BenchmarkCouponRush: the rush, 5,000
// viewers claiming one coupon of 100 at the same instant; wall-ms is the
// time until the last of them has its reply.

// benchStores opens a fresh store of each backend for b.
func benchStores(b *testing.B, run func(b *testing.B, s *Store)) {
	b.Run("sqlite", func(b *testing.B) {
		s, err := OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
		if s.w != nil && s.w.batches.Load() > 0 {
			b.ReportMetric(float64(s.w.writes.Load())/float64(s.w.batches.Load()), "writes/commit")
		}
	})
	b.Run("postgres", func(b *testing.B) {
		s, err := OpenPostgres(b.Context(), testPostgres(b).newDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
		if s.claims.batches.Load() > 0 {
			b.ReportMetric(float64(s.claims.claims.Load())/float64(s.claims.batches.Load()), "claims/commit")
		}
	})
}

// benchRoom creates a live channel with n viewers, inserted in bulk, and
// returns the broadcast and the viewers' ids.
func benchRoom(b *testing.B, s *Store, n int) (Broadcast, []int64) {
	ctx := b.Context()
	ch, _, err := s.CreateChannel(ctx, "kim-fish", "김씨네")
	if err != nil {
		b.Fatal(err)
	}
	br, err := s.StartBroadcast(ctx, ch.ID, "", false)
	if err != nil {
		b.Fatal(err)
	}
	return br, benchViewers(b, s, ch.ID, n)
}

// benchViewers inserts n viewers of the channel in bulk and returns their ids.
func benchViewers(b *testing.B, s *Store, channelID int64, n int) []int64 {
	ctx := b.Context()
	ids := make([]int64, 0, n)
	now := s.timestamp()
	for len(ids) < n {
		rows := min(500, n-len(ids))
		var args []any
		for i := range rows {
			h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(len(ids)+i)))
			args = append(args, channelID, h[:], now)
		}
		q := `INSERT INTO viewers (channel_id, token_hash, created_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", rows), ", ") + ` RETURNING id`
		r, err := s.db.QueryContext(ctx, s.dialect.rebind(q), args...)
		if err != nil {
			b.Fatal(err)
		}
		for r.Next() {
			var id int64
			if err := r.Scan(&id); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
	return ids
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d ...time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

// report adds the 50th and 99th percentiles to b's results.
func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	pct := func(p float64) float64 {
		return float64(l.d[int(float64(len(l.d)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func BenchmarkClaimCoupon(b *testing.B) {
	benchStores(b, func(b *testing.B, s *Store) {
		br, viewers := benchRoom(b, s, b.N)
		var coupons []Coupon
		for left := b.N; left > 0; left -= maxCouponQuantity {
			c, err := s.DropCoupon(b.Context(), "", br.ChannelID, br.ID,
				CouponInput{Title: "bench", DiscountWon: 1000, Quantity: min(left, maxCouponQuantity), ExpiresIn: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			coupons = append(coupons, c)
		}
		var (
			next atomic.Int64
			lat  latencies
		)
		b.SetParallelism(32) // many clients at once, as in a rush
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				i := next.Add(1) - 1
				start := time.Now()
				_, err := s.ClaimCoupon(context.Background(), fmt.Sprintf("claim-%d", i), viewers[i], coupons[i/maxCouponQuantity].ID)
				mine = append(mine, time.Since(start))
				if err != nil {
					b.Error(err)
					return
				}
			}
			lat.add(mine...)
		})
		b.StopTimer()
		lat.report(b)
	})
}

// BenchmarkCouponRush is the coupon rush at the store: 5,000
// viewers claim one coupon of 100, arriving evenly over one second
// (rush-1s) or all at the same instant (burst). Latency counts from each
// claim's arrival.
func BenchmarkCouponRush(b *testing.B) {
	for _, spread := range []time.Duration{time.Second, 0} {
		name := "rush-1s"
		if spread == 0 {
			name = "burst"
		}
		b.Run(name, func(b *testing.B) { benchCouponRush(b, spread) })
	}
}

func benchCouponRush(b *testing.B, spread time.Duration) {
	const (
		clients  = 5000
		quantity = 100
	)
	benchStores(b, func(b *testing.B, s *Store) {
		br, viewers := benchRoom(b, s, clients)
		var (
			lat  latencies
			wall time.Duration
		)
		b.ResetTimer()
		for n := range b.N {
			c, err := s.DropCoupon(b.Context(), "", br.ChannelID, br.ID,
				CouponInput{Title: "rush", DiscountWon: 1000, Quantity: quantity, ExpiresIn: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			var (
				wg, ready sync.WaitGroup
				granted   atomic.Int64
			)
			start := make(chan struct{})
			t0 := time.Now().Add(time.Hour) // set before start closes
			ready.Add(clients)
			for i, v := range viewers {
				wg.Go(func() {
					ready.Done()
					<-start
					at := t0.Add(spread * time.Duration(i) / clients)
					time.Sleep(time.Until(at))
					_, err := s.ClaimCoupon(context.Background(), fmt.Sprintf("rush-%d-%d", n, i), v, c.ID)
					lat.add(time.Since(at))
					switch {
					case err == nil:
						granted.Add(1)
					case Code(err) != ErrSoldOut.Code():
						b.Error(err)
					}
				})
			}
			ready.Wait()
			t0 = time.Now()
			close(start)
			wg.Wait()
			wall += time.Since(t0)
			if granted.Load() != quantity {
				b.Fatalf("%d granted, want %d", granted.Load(), quantity)
			}
		}
		b.StopTimer()
		lat.report(b)
		b.ReportMetric(float64(wall)/float64(b.N)/float64(time.Millisecond), "wall-ms")
	})
}

// BenchmarkLoopbackFanout is the floor under a room's fan-out on this
// machine: one 200-byte write to each of 5,000 loopback TCP sockets, each
// read by a goroutine of its own, with no websocket, queue or JSON. An
// op is one fan-out, from the first write to the last read.
//
//	go test -run '^$' -bench BenchmarkLoopbackFanout -benchtime 20x ./commerce/
func BenchmarkLoopbackFanout(b *testing.B) {
	const sockets = 5000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	servers := make([]net.Conn, 0, sockets)
	var reads sync.WaitGroup
	got := make(chan struct{}, sockets)
	for range sockets {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatalf("dial (is the open files limit over %d?): %v", 2*sockets, err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		defer s.Close()
		servers = append(servers, s)
		reads.Go(func() {
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				got <- struct{}{}
			}
		})
	}
	msg := make([]byte, 200)
	b.ResetTimer()
	for b.Loop() {
		for _, s := range servers {
			if _, err := s.Write(msg); err != nil {
				b.Fatal(err)
			}
		}
		for range sockets {
			<-got
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/sockets, "µs/socket")
	for _, s := range servers {
		s.Close()
	}
	reads.Wait()
}

// BenchmarkPracticeReview scores the review of an hour-long practice: 2,000
// customers' chat messages (a quarter of them questions), 300 from the
// studio, 60 pins, 10 coupons and 300 orders, each accepted. The review
// page asks for it once, the history once per session listed.
func BenchmarkPracticeReview(b *testing.B) {
	benchStores(b, func(b *testing.B, s *Store) {
		ctx := b.Context()
		ch, _, err := s.CreateChannel(ctx, "kim-fish", "김씨네")
		if err != nil {
			b.Fatal(err)
		}
		var products []int64
		for i := range 20 {
			p, err := s.CreateProduct(ctx, ch.ID, ProductInput{Name: fmt.Sprintf("생선 %d", i), PriceWon: 5000, Stock: 1000})
			if err != nil {
				b.Fatal(err)
			}
			products = append(products, p.ID)
		}
		if _, _, err := s.StartPractice(ctx, ch.ID, 0, "한 시간 연습"); err != nil {
			b.Fatal(err)
		}
		br, err := s.BeginBroadcast(ctx, ch.ID)
		if err != nil {
			b.Fatal(err)
		}
		viewers := benchViewers(b, s, ch.ID, 201)
		studio, customers := viewers[0], viewers[1:]
		must := func(err error) {
			if err != nil {
				b.Fatal(err)
			}
		}
		for i := range 2000 {
			text := "오늘 물건 좋네요"
			if i%4 == 0 {
				text = "이거 얼마예요?"
			}
			_, err := s.AddChat(ctx, "", customers[i%len(customers)], br.ID, text)
			must(err)
			if i%7 == 0 {
				_, err := s.AddMerchantChat(ctx, "", studio, br.ID, "네, 말씀드릴게요")
				must(err)
			}
			if i%33 == 0 {
				_, err := s.PinProduct(ctx, ch.ID, br.ID, products[(i/33)%len(products)])
				must(err)
			}
			if i%200 == 0 {
				_, err := s.DropCoupon(ctx, "", ch.ID, br.ID, CouponInput{Title: "천원", DiscountWon: 1000, Quantity: 50, ExpiresIn: time.Hour})
				must(err)
			}
		}
		for i := range 300 {
			o, err := s.PlaceOrder(ctx, "", customers[i%len(customers)], OrderInput{BroadcastID: br.ID,
				Items: []ItemInput{{ProductID: products[i%len(products)], Qty: 1}}, Buyer: Buyer{Name: "김영희", Phone: "010-1234-5678"}})
			must(err)
			_, err = s.SetOrderStatus(ctx, "", ch.ID, o.ID, StatusAccepted)
			must(err)
		}
		if _, err := s.EndBroadcast(ctx, ch.ID, br.ID); err != nil {
			b.Fatal(err)
		}
		p, err := s.PracticeOfBroadcast(ctx, br.ID)
		must(err)
		b.ResetTimer()
		for b.Loop() {
			rev, err := s.PracticeReview(ctx, p)
			if err != nil {
				b.Fatal(err)
			}
			if rev.Stats.Chats != 2000 || rev.Stats.Orders != 300 {
				b.Fatalf("stats %+v, want 2000 chats and 300 orders", rev.Stats)
			}
		}
	})
}
