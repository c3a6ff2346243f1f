package main

import (
	"fmt"
	"io"
	"maps"
	"math/bits"
	"slices"
	"strings"
)

// roomReport is the result of a room run.
type roomReport struct {
	Scenario  string      `json:"scenario"`
	Clients   int         `json:"clients"`
	FileLimit uint64      `json:"file_limit"`
	Connect   connectInfo `json:"connect"`
	Coupon    *couponInfo `json:"coupon,omitempty"`
	Chat      *chatInfo   `json:"chat,omitempty"`
	Server    cpuInfo     `json:"server_cpu"` // over the measured window (drop to last reply + tail; first send to last + tail)
	Tool      cpuInfo     `json:"tool_cpu"`
	Memory    memStats    `json:"server_memory"`
	Received  int64       `json:"messages_received"` // by all clients in the measured window, every type`
	Failures  []string    `json:"failures,omitempty"`
}

type connectInfo struct {
	Wanted    int            `json:"wanted"`
	Connected int            `json:"connected"`
	Failed    int            `json:"failed"`
	WallS     float64        `json:"wall_s"`  // the whole ramp
	Time      msStats        `json:"time_ms"` // per client: dial + hello reply
	Errors    map[string]int `json:"errors,omitempty"`
}

type couponInfo struct {
	Quantity          int            `json:"quantity"`
	CouponID          int64          `json:"coupon_id"`
	Claims            int            `json:"claims"` // clients that claimed
	Granted           int            `json:"granted"`
	SoldOut           int            `json:"sold_out"`
	Other             map[string]int `json:"other_errors,omitempty"`
	NoReply           int            `json:"no_reply"`
	Persisted         int            `json:"persisted"`       // granted claims listed by hello after reconnecting
	ReplyMs           msStats        `json:"reply_ms"`        // claim send to its reply
	ServerClaimMs     serverLatency  `json:"server_claim_ms"` // the server's read to reply queued, from its histogram
	ServerReplyMs     serverLatency  `json:"server_reply_ms"` // the server's read to reply written, every reply, from its histogram
	ServerQueueMs     serverLatency  `json:"server_queue_ms"` // events' queued to written (sampled), from its histogram
	DropToLastReplyMs float64        `json:"drop_to_last_reply_ms"`
	BySendTime        []sendSlot     `json:"by_send_time"`
	DropSeenMs        msStats        `json:"drop_seen_ms"` // the drop command's send to each client's coupon.dropped
}

// sendSlot is the reply latency of the claims sent from FromMs after the
// drop to the next slot's FromMs.
type sendSlot struct {
	FromMs  float64 `json:"from_ms"`
	ReplyMs msStats `json:"reply_ms"`
}

type chatInfo struct {
	RatePerS        float64        `json:"rate_per_s"`
	Senders         int            `json:"senders"`
	DurationS       float64        `json:"duration_s"`
	Sent            int            `json:"sent"`
	Accepted        int            `json:"accepted"`
	NoReply         int            `json:"no_reply"`
	Replies         map[string]int `json:"replies"`
	Delivery        deliveryStats  `json:"delivery"` // of the accepted messages, per viewer
	ViewersComplete int            `json:"viewers_complete"`
	Missing         uint64         `json:"missing"`
	Duplicates      int            `json:"duplicates"`
	LatencyMs       msStats        `json:"latency_ms"` // sender's send to each viewer's read
	// ServerQueueMs is the server's part after the room: queued for a connection to written
	// to its socket (sampled), from its histogram.
	ServerQueueMs serverLatency `json:"server_queue_ms"`
}

// memStats is the server's RSS before the clients connect, with them
// connected and idle, and at the end.
type memStats struct {
	Available       bool    `json:"available"`
	BeforeBytes     float64 `json:"before_bytes"`
	IdleBytes       float64 `json:"idle_bytes"`
	EndBytes        float64 `json:"end_bytes"`
	PerConnBytes    float64 `json:"per_idle_connection_bytes"`
	IdleConnections int     `json:"idle_connections"`
}

// memInfo computes the memory per idle connection.
func memInfo(before, idle, end float64, conns int) memStats {
	m := memStats{BeforeBytes: before, IdleBytes: idle, EndBytes: end, IdleConnections: conns}
	if before <= 0 || idle <= 0 || conns <= 0 {
		return m
	}
	m.Available = true
	m.PerConnBytes = round((idle - before) / float64(conns))
	return m
}

func (l serverLatency) text(what string) string {
	if !l.Available {
		return "n/a (not in the server's metrics)"
	}
	return fmt.Sprintf("p50 %.2fms  p99 %.2fms  (n=%d; %s)", l.P50, l.P99, l.N, what)
}

func popcount(w uint64) int { return bits.OnesCount64(w) }

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func (r *roomReport) writeText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("scenario          %s, %d clients (open files limit %d)", r.Scenario, r.Clients, r.FileLimit)
	c := r.Connect
	p("connected         %d of %d in %.2f s; per client %s", c.Connected, c.Wanted, c.WallS, c.Time.text("ms"))
	for _, k := range slices.Sorted(maps.Keys(c.Errors)) {
		p("  connect error   %d x %s", c.Errors[k], k)
	}
	if k := r.Coupon; k != nil {
		p("coupon            id %d, quantity %d, claims %d", k.CouponID, k.Quantity, k.Claims)
		p("granted           %d (persisted %d)", k.Granted, k.Persisted)
		p("sold_out          %d", k.SoldOut)
		other := "none"
		if len(k.Other) > 0 {
			other = fmt.Sprint(k.Other)
		}
		p("other errors      %s; no reply %d", other, k.NoReply)
		p("reply latency     %s", k.ReplyMs.text("ms"))
		p("server claim      %s", k.ServerClaimMs.text("its read to reply queued"))
		p("server reply      %s", k.ServerReplyMs.text("its read to reply written, all replies"))
		p("server events     %s", k.ServerQueueMs.text("queued to written, sampled"))
		p("drop to last reply %.0f ms", k.DropToLastReplyMs)
		p("coupon.dropped    %s", k.DropSeenMs.text("ms after the drop was sent"))
		for _, sl := range k.BySendTime {
			p("  sent from %4.0f ms  %s", sl.FromMs, sl.ReplyMs.text("ms"))
		}
	}
	if ch := r.Chat; ch != nil {
		p("chat              %.0f msg/s for %.0f s from %d senders: sent %d, accepted %d, no reply %d, replies %v",
			ch.RatePerS, ch.DurationS, ch.Senders, ch.Sent, ch.Accepted, ch.NoReply, ch.Replies)
		d := ch.Delivery
		p("delivery          min %.2f%%  mean %.2f%%  (%d of %d viewers got every message; %d of %d deliveries missing; %d duplicates)",
			d.MinPct, d.MeanPct, ch.ViewersComplete, d.Viewers, ch.Missing, d.Expected, ch.Duplicates)
		p("delivery latency  %s", ch.LatencyMs.text("ms"))
		p("server queue      %s", ch.ServerQueueMs.text("queued to written, sampled"))
	}
	p("messages received %d (all clients, all types)", r.Received)
	if r.Server.Available {
		p("server CPU        %.1f%% of a core over %.1f s", r.Server.CPUPct, r.Server.WindowS)
	} else {
		p("server CPU        n/a (%s)", r.Server.Error)
	}
	if r.Tool.Available {
		p("tool CPU          %.1f%% of a core", r.Tool.CPUPct)
	}
	if m := r.Memory; m.Available {
		p("server RSS        before %s, %d idle connections %s, end %s: %.1f KiB per idle connection",
			mib(m.BeforeBytes), m.IdleConnections, mib(m.IdleBytes), mib(m.EndBytes), m.PerConnBytes/1024)
	} else {
		p("server RSS        n/a")
	}
	for _, f := range r.Failures {
		p("FAILED            %s", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
