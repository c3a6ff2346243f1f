package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Chat message states, by sequence number.
const (
	chatUnsent int32 = iota
	chatSent
	chatAccepted
	chatRefused
)

// chatRun is the shared state of one chat run. Times are nanoseconds since
// base on the monotonic clock: senders and receivers are in this process.
type chatRun struct {
	base   time.Time
	marker []byte // `"text":"load <run> `
	runTag string
	sentAt []atomic.Int64
	state  []atomic.Int32
}

// viewerChat is what one connection saw; its reader owns it until it ends.
type viewerChat struct {
	got     bitset
	latency histogram
	dups    int
	codes   map[string]int // replies to its own chat.send, "" for ok
}

// chat: every client records every chat.message; --senders of them send
// --rate messages per second in turn for --duration.
func (e *roomEnv) chat(ctx context.Context, rep *roomReport) error {
	cfg := e.cfg
	_, rss0, _ := e.serverMem(ctx)
	probe, err := e.waitLive(ctx, "")
	if err != nil {
		return err
	}
	probe.close()

	clients, rss1, err := e.connectIdle(ctx, rep)
	defer closeAll(clients, cfg.Ramp)
	if err != nil {
		return err
	}

	total := int(math.Ceil(cfg.Rate * cfg.Duration.Seconds()))
	run := &chatRun{
		base:   time.Now(),
		runTag: strconv.FormatUint(rand.Uint64()%1e9, 36),
		sentAt: make([]atomic.Int64, total),
		state:  make([]atomic.Int32, total),
	}
	run.marker = []byte(`"text":"load ` + run.runTag + ` `)
	views := make([]*viewerChat, len(clients))
	var readers sync.WaitGroup
	var senders []*roomClient
	for i, c := range clients {
		if c.err != nil {
			continue
		}
		views[i] = &viewerChat{codes: map[string]int{}}
		readers.Go(func() { run.read(c, views[i], &e.recv) })
		if len(senders) < cfg.Senders {
			senders = append(senders, c)
		}
	}

	e.log.Info("chatting", "rate", cfg.Rate, "senders", len(senders), "messages", total)
	cpu0 := takeSample(ctx, e.sig)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	var sends sync.WaitGroup
	start := time.Now()
	for seq := range total {
		if d := time.Until(start.Add(time.Duration(seq) * interval)); d > 0 {
			sleepCtx(ctx, d)
		}
		if ctx.Err() != nil {
			break
		}
		s := senders[seq%len(senders)]
		sends.Go(func() { run.send(s, seq) })
	}
	sends.Wait()
	sleepCtx(ctx, cfg.Tail)
	cpu1 := takeSample(context.Background(), e.sig)
	rep.Server, rep.Tool = cpuInfos(cpu0, cpu1, 0)
	rep.Server.RSSBytes = 0
	rep.Memory = memInfo(rss0, rss1, cpu1.serverRSS, rep.Connect.Connected)
	rep.Received = e.recv.Load()

	closeAll(clients, cfg.Ramp)
	readers.Wait()
	states := make([]int32, total)
	for i := range states {
		states[i] = run.state[i].Load()
	}
	var live []*viewerChat
	for _, v := range views {
		if v != nil {
			live = append(live, v)
		}
	}
	rep.Chat = summarizeChat(states, live, cfg.Rate, len(senders), cfg.Duration)
	rep.Chat.ServerQueueMs = latencyBetween(cpu0, cpu1, histDelivery)
	rep.Failures = append(rep.Failures, rep.Chat.failures()...)
	if rep.Connect.Failed > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d of %d clients did not connect", rep.Connect.Failed, rep.Connect.Wanted))
	}
	return nil
}

func (r *chatRun) since() int64 { return int64(time.Since(r.base)) }

func (r *chatRun) send(c *roomClient, seq int) {
	cmd := `{"type":"chat.send","id":"m` + strconv.Itoa(seq) + `","text":"load ` + r.runTag + ` ` + strconv.Itoa(seq) + `"}`
	r.sentAt[seq].Store(r.since())
	r.state[seq].Store(chatSent)
	if err := c.write([]byte(cmd)); err != nil {
		r.state[seq].Store(chatRefused)
	}
}

// read records one connection's chat messages until it closes.
func (r *chatRun) read(c *roomClient, v *viewerChat, recv *atomic.Int64) {
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		recv.Add(1)
		now := r.since()
		switch msgType(b) {
		case "chat.message":
			seq, ok := chatSeq(b, r.marker)
			if !ok || seq >= len(r.sentAt) {
				continue
			}
			if !v.got.set(uint32(seq)) {
				v.dups++
				continue
			}
			v.latency.record(time.Duration(now - r.sentAt[seq].Load()))
		case "reply":
			var f frame
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			id, err := strconv.Unquote(string(f.ID))
			if err != nil || len(id) < 2 || id[0] != 'm' {
				continue
			}
			seq, err := strconv.Atoi(id[1:])
			if err != nil || seq < 0 || seq >= len(r.state) {
				continue
			}
			code := f.errCode()
			v.codes[code]++
			if code == "" {
				r.state[seq].Store(chatAccepted)
			} else {
				r.state[seq].Store(chatRefused)
			}
		}
	}
}

// chatSeq finds the sequence number after marker in a chat.message.
func chatSeq(b, marker []byte) (int, bool) {
	i := bytes.Index(b, marker)
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(marker):]
	n, digits := 0, 0
	for _, ch := range rest {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + int(ch-'0')
		digits++
		if digits > 9 {
			return 0, false
		}
	}
	if digits == 0 || digits >= len(rest) || rest[digits] != '"' {
		return 0, false
	}
	return n, true
}

// summarizeChat computes delivery (of the accepted messages, per viewer)
// and delivery latency.
func summarizeChat(states []int32, views []*viewerChat, rate float64, senders int, dur time.Duration) *chatInfo {
	ci := &chatInfo{RatePerS: rate, Senders: senders, DurationS: round(dur.Seconds()), Replies: map[string]int{}}
	var accepted bitset
	for seq, s := range states {
		switch s {
		case chatSent, chatAccepted, chatRefused:
			ci.Sent++
		}
		switch s {
		case chatAccepted:
			ci.Accepted++
			accepted.set(uint32(seq))
		case chatSent:
			ci.NoReply++
		}
	}
	var d deliveryAcc
	var lat histogram
	for _, v := range views {
		for code, n := range v.codes {
			if code == "" {
				code = "ok"
			}
			ci.Replies[code] += n
		}
		var got uint64
		for w, word := range accepted {
			if w < len(v.got) {
				got += uint64(popcount(word & v.got[w]))
			}
		}
		d.add(got, uint64(ci.Accepted), ci.Accepted > 0)
		if got == uint64(ci.Accepted) {
			ci.ViewersComplete++
		}
		ci.Duplicates += v.dups
		lat.merge(&v.latency)
	}
	ci.Delivery = d.stats()
	ci.Missing = d.want - d.got
	ci.LatencyMs = lat.stats()
	return ci
}

func (ci *chatInfo) failures() []string {
	var f []string
	if ci.Accepted == 0 {
		f = append(f, "no chat message was accepted")
	}
	if ci.Missing > 0 {
		f = append(f, fmt.Sprintf("%d deliveries missing: %d of %d viewers got every message", ci.Missing, ci.ViewersComplete, ci.Delivery.Viewers))
	}
	if ci.Accepted < ci.Sent {
		f = append(f, fmt.Sprintf("%d of %d messages not accepted (replies %v)", ci.Sent-ci.Accepted, ci.Sent, ci.Replies))
	}
	return f
}
