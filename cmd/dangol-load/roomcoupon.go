package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// claimResult is what one client's claim got.
type claimResult struct {
	sent     bool
	answered bool
	code     string // "" granted, else the error code, "no_reply" when none came
	latency  time.Duration
	sentAt   time.Time
	seenAt   time.Time // when coupon.dropped arrived
}

// couponRush: the merchant drops a coupon of --quantity, every client
// claims it at a random offset in [0, --spread) after its coupon.dropped.
func (e *roomEnv) couponRush(ctx context.Context, rep *roomReport) error {
	cfg := e.cfg
	_, rss0, _ := e.serverMem(ctx)
	merchant, err := e.waitLive(ctx, cfg.Key)
	if err != nil {
		return fmt.Errorf("merchant: %w", err)
	}
	defer merchant.close()

	clients, rss1, err := e.connectIdle(ctx, rep)
	defer closeAll(clients, cfg.Ramp)
	if err != nil {
		return err
	}

	results := make([]claimResult, len(clients))
	var (
		pending sync.WaitGroup // claims scheduled and not answered
		readers sync.WaitGroup
	)
	for i, c := range clients {
		if c.err != nil {
			continue
		}
		readers.Go(func() { e.couponReader(c, cfg.Spread, &results[i], &pending) })
	}

	cpu0 := takeSample(ctx, e.sig)
	dropAt := time.Now()
	couponID, err := dropCoupon(merchant, cfg.Quantity)
	if err != nil {
		return err
	}
	e.log.Info("coupon dropped", "coupon", couponID, "quantity", cfg.Quantity, "reply", time.Since(dropAt).Round(time.Microsecond))
	// Every client schedules its claim when coupon.dropped arrives; wait for
	// them to be scheduled (spread) and answered, within a bound.
	sleepCtx(ctx, cfg.Spread)
	answered := make(chan struct{})
	go func() { pending.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(cfg.Tail + 30*time.Second):
		e.log.Warn("claims still unanswered, giving up on them")
	case <-ctx.Done():
	}
	lastReply := time.Since(dropAt)
	sleepCtx(ctx, cfg.Tail)
	cpu1 := takeSample(context.Background(), e.sig)
	rep.Server, rep.Tool = cpuInfos(cpu0, cpu1, 0)
	rep.Server.RSSBytes = 0
	rep.Memory = memInfo(rss0, rss1, cpu1.serverRSS, rep.Connect.Connected)
	rep.Received = e.recv.Load()

	// Persisted: every granted viewer reconnects with its viewer_token and
	// its hello lists the claim.
	granted := []*roomClient{}
	for i, c := range clients {
		if c.err == nil && results[i].sent && results[i].code == "" {
			granted = append(granted, c)
		}
	}
	persisted := e.checkClaims(ctx, granted, couponID)
	closeAll(clients, cfg.Ramp)
	readers.Wait()

	rep.Coupon = summarizeClaims(results, cfg.Quantity, couponID)
	rep.Coupon.BySendTime = claimsBySendTime(results, dropAt, cfg.Spread)
	var seen histogram
	for _, r := range results {
		if !r.seenAt.IsZero() {
			seen.record(r.seenAt.Sub(dropAt))
		}
	}
	rep.Coupon.DropSeenMs = seen.stats()
	rep.Coupon.Persisted = persisted
	rep.Coupon.ServerClaimMs = latencyBetween(cpu0, cpu1, histClaim)
	rep.Coupon.ServerQueueMs = latencyBetween(cpu0, cpu1, histDelivery)
	rep.Coupon.ServerReplyMs = latencyBetween(cpu0, cpu1, histReply)
	rep.Coupon.DropToLastReplyMs = ms(lastReply)
	rep.Failures = append(rep.Failures, rep.Coupon.failures()...)
	if rep.Connect.Failed > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d of %d clients did not connect", rep.Connect.Failed, rep.Connect.Wanted))
	}
	return nil
}

// dropCoupon sends coupon.drop and reads until its reply.
func dropCoupon(m *roomClient, quantity int) (int64, error) {
	cmd := fmt.Sprintf(`{"type":"coupon.drop","id":"d%d","title":"load %d","discount_won":1000,"quantity":%d,"expires_in_s":600}`,
		time.Now().UnixNano(), quantity, quantity)
	if err := m.write([]byte(cmd)); err != nil {
		return 0, fmt.Errorf("coupon.drop: %w", err)
	}
	_ = m.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	defer m.conn.SetReadDeadline(time.Time{})
	for {
		_, b, err := m.conn.ReadMessage()
		if err != nil {
			return 0, fmt.Errorf("coupon.drop reply: %w", err)
		}
		if msgType(b) != "reply" {
			continue
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			return 0, fmt.Errorf("coupon.drop reply: %w", err)
		}
		if !f.OK || f.Coupon == nil {
			return 0, fmt.Errorf("coupon.drop refused: %s", f.errCode())
		}
		return f.Coupon.ID, nil
	}
}

// couponReader reads one client's messages until its connection closes:
// on coupon.dropped it schedules the claim, on the claim's reply it records
// the result.
func (e *roomEnv) couponReader(c *roomClient, spread time.Duration, res *claimResult, pending *sync.WaitGroup) {
	var (
		mu      sync.Mutex // res, sentAt: the timer goroutine writes
		sentAt  time.Time
		claimed bool
	)
	finish := func(code string, lat time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if !res.sent || res.answered {
			return
		}
		res.answered, res.code, res.latency = true, code, lat
		pending.Done()
	}
	defer finish("no_reply", 0) // a claim sent and unanswered when the connection ends
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		e.recv.Add(1)
		switch msgType(b) {
		case "coupon.dropped":
			if claimed {
				continue
			}
			// Only the id: five thousand of these arrive at once, and the tool's own
			// time on them delays the replies it measures.
			var f struct {
				Coupon struct {
					ID int64 `json:"id"`
				} `json:"coupon"`
			}
			if json.Unmarshal(b, &f) != nil || f.Coupon.ID == 0 {
				continue
			}
			claimed = true
			mu.Lock()
			res.seenAt = now
			mu.Unlock()
			id := f.Coupon.ID
			pending.Add(1)
			mu.Lock()
			res.sent = true // counted now so a close before the timer is seen
			mu.Unlock()
			time.AfterFunc(jitter(spread), func() {
				cmd := `{"type":"coupon.claim","id":"k","coupon_id":` + strconv.FormatInt(id, 10) + `}`
				mu.Lock()
				sentAt = time.Now()
				mu.Unlock()
				if err := c.write([]byte(cmd)); err != nil {
					finish("write_failed", 0)
				}
			})
		case "reply":
			var f frame
			if json.Unmarshal(b, &f) != nil || string(f.ID) != `"k"` {
				continue
			}
			mu.Lock()
			lat := now.Sub(sentAt)
			res.sentAt = sentAt
			mu.Unlock()
			finish(f.errCode(), lat)
		}
	}
}

// checkClaims reconnects each granted viewer with its token and counts
// those whose hello lists a claim of the coupon.
func (e *roomEnv) checkClaims(ctx context.Context, granted []*roomClient, couponID int64) int {
	var (
		mu sync.Mutex
		n  int
		wg sync.WaitGroup
	)
	sem := make(chan struct{}, 20)
	for _, g := range granted {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, f, err := e.dial(ctx, "", "check", g.token)
			if err != nil {
				e.log.Warn("reconnect to check a claim", "err", err)
				return
			}
			defer c.close()
			if f.ViewerID != g.viewerID {
				e.log.Warn("reconnect came back as another viewer", "want", g.viewerID, "got", f.ViewerID)
				return
			}
			for _, cl := range f.Claims {
				if cl.CouponID == couponID {
					mu.Lock()
					n++
					mu.Unlock()
					return
				}
			}
			e.log.Warn("granted claim missing after reconnect", "viewer", g.viewerID)
		})
	}
	wg.Wait()
	return n
}

// summarizeClaims counts the clients' results.
func summarizeClaims(results []claimResult, quantity int, couponID int64) *couponInfo {
	ci := &couponInfo{Quantity: quantity, CouponID: couponID, Other: map[string]int{}}
	var h histogram
	for _, r := range results {
		if !r.sent {
			continue
		}
		ci.Claims++
		switch r.code {
		case "":
			ci.Granted++
		case "sold_out":
			ci.SoldOut++
		case "no_reply", "write_failed":
			ci.NoReply++
		default:
			ci.Other[r.code]++
		}
		if r.code != "no_reply" && r.code != "write_failed" {
			h.record(r.latency)
		}
	}
	if len(ci.Other) == 0 {
		ci.Other = nil
	}
	ci.ReplyMs = h.stats()
	return ci
}

// claimsBySendTime is the reply latency of the claims sent in each tenth of
// the spread after the drop: a slow tail's cause shows in when it was sent
// (during the drop's fan-out, at the sell-out, ...).
func claimsBySendTime(results []claimResult, dropAt time.Time, spread time.Duration) []sendSlot {
	const slots = 10
	width := max(spread/slots, time.Millisecond)
	hs := make([]histogram, slots+1) // the last: sent after the spread
	for _, r := range results {
		if !r.answered || r.sentAt.IsZero() || r.code == "no_reply" || r.code == "write_failed" {
			continue
		}
		i := min(int(r.sentAt.Sub(dropAt)/width), slots)
		hs[max(i, 0)].record(r.latency)
	}
	var out []sendSlot
	for i, h := range hs {
		st := h.stats()
		if st.N == 0 {
			continue
		}
		out = append(out, sendSlot{FromMs: ms(time.Duration(i) * width), ReplyMs: st})
	}
	return out
}

func (ci *couponInfo) failures() []string {
	var f []string
	if ci.Granted != ci.Quantity {
		f = append(f, fmt.Sprintf("granted %d, want exactly the quantity %d", ci.Granted, ci.Quantity))
	}
	if ci.Persisted != ci.Granted {
		f = append(f, fmt.Sprintf("%d of %d granted claims found after reconnecting", ci.Persisted, ci.Granted))
	}
	if ci.NoReply > 0 {
		f = append(f, fmt.Sprintf("%d claims got no reply", ci.NoReply))
	}
	return f
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
