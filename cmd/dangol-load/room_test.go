package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSummarizeClaims(t *testing.T) {
	rs := []claimResult{
		{sent: true, answered: true, code: "", latency: 2 * time.Millisecond},
		{sent: true, answered: true, code: "", latency: 4 * time.Millisecond},
		{sent: true, answered: true, code: "sold_out", latency: time.Millisecond},
		{sent: true, answered: true, code: "already_claimed", latency: time.Millisecond},
		{sent: true, answered: true, code: "no_reply"},
		{}, // never got coupon.dropped
	}
	ci := summarizeClaims(rs, 2, 7)
	if ci.Claims != 5 || ci.Granted != 2 || ci.SoldOut != 1 || ci.NoReply != 1 || ci.Other["already_claimed"] != 1 {
		t.Fatalf("counts: %+v", ci)
	}
	if ci.ReplyMs.N != 4 || ci.ReplyMs.Max != 4 {
		t.Fatalf("reply stats: %+v", ci.ReplyMs)
	}
	ci.Persisted = 2
	if f := ci.failures(); len(f) != 1 || !strings.Contains(f[0], "no reply") {
		t.Fatalf("failures: %q", f)
	}
	ci.NoReply = 0
	if f := ci.failures(); len(f) != 0 {
		t.Fatalf("failures: %q", f)
	}
	ci.Granted = 3 // one too many: the point of the benchmark
	if f := ci.failures(); len(f) != 2 || !strings.Contains(f[0], "granted 3, want exactly the quantity 2") {
		t.Fatalf("failures: %q", f)
	}
}

func TestSummarizeChat(t *testing.T) {
	states := []int32{chatAccepted, chatAccepted, chatRefused, chatAccepted, chatSent, chatUnsent}
	full := &viewerChat{codes: map[string]int{"": 3, "rate_limited": 1}}
	for _, s := range []uint32{0, 1, 3} {
		full.got.set(s)
		full.latency.record(10 * time.Millisecond)
	}
	full.got.set(2) // refused messages never count, even if seen
	partial := &viewerChat{codes: map[string]int{}, dups: 1}
	partial.got.set(1)
	partial.latency.record(30 * time.Millisecond)

	ci := summarizeChat(states, []*viewerChat{full, partial}, 50, 10, 2*time.Second)
	if ci.Sent != 5 || ci.Accepted != 3 || ci.NoReply != 1 {
		t.Fatalf("counts: %+v", ci)
	}
	if ci.Replies["ok"] != 3 || ci.Replies["rate_limited"] != 1 {
		t.Fatalf("replies: %v", ci.Replies)
	}
	d := ci.Delivery
	if d.Viewers != 2 || d.Expected != 6 || d.Received != 4 || d.MinPct != 33.33 || d.MeanPct != 66.67 {
		t.Fatalf("delivery: %+v", d)
	}
	if ci.ViewersComplete != 1 || ci.Missing != 2 || ci.Duplicates != 1 {
		t.Fatalf("complete %d missing %d dups %d", ci.ViewersComplete, ci.Missing, ci.Duplicates)
	}
	if ci.LatencyMs.N != 4 || ci.LatencyMs.Max != 30 {
		t.Fatalf("latency: %+v", ci.LatencyMs)
	}
	if f := ci.failures(); len(f) != 2 {
		t.Fatalf("failures: %q", f)
	}
}

func TestMemInfo(t *testing.T) {
	m := memInfo(100<<20, 200<<20, 210<<20, 2048)
	if !m.Available || m.PerConnBytes != 51200 {
		t.Fatalf("%+v", m)
	}
	if m := memInfo(0, 200<<20, 0, 10); m.Available {
		t.Fatalf("no before sample: %+v", m)
	}
}

func TestAutoSenders(t *testing.T) {
	for rate, want := range map[float64]int{50: 125, 0.1: 1, 1: 3, 100: 250} {
		if got := autoSenders(rate); got != want {
			t.Errorf("autoSenders(%g) = %d, want %d", rate, got, want)
		}
	}
}

func TestMsgTypeAndChatSeq(t *testing.T) {
	msg := []byte(`{"type":"chat.message","message":{"id":10,"viewer_id":4,"nickname":"n","text":"load ab12 417","hidden":false}}`)
	if got := msgType(msg); got != "chat.message" {
		t.Fatalf("msgType = %q", got)
	}
	if got := msgType([]byte(`{"id":1,"type":"reply"}`)); got != "" {
		t.Fatalf("type not first: %q", got)
	}
	seq, ok := chatSeq(msg, []byte(`"text":"load ab12 `))
	if !ok || seq != 417 {
		t.Fatalf("chatSeq = %d, %v", seq, ok)
	}
	for _, text := range []string{`load zz 417`, `load ab12 41x`, `load ab12 `, `load ab12 1234567890`} {
		b := bytes.Replace(msg, []byte("load ab12 417"), []byte(text), 1)
		if _, ok := chatSeq(b, []byte(`"text":"load ab12 `)); ok {
			t.Errorf("chatSeq accepted %q", text)
		}
	}
}

func TestParseRoomConfigDefaults(t *testing.T) {
	env := map[string]string{"DANGOL_LOAD_KEY": "k", "DANGOL_LOAD_SCENARIO": "chat"}
	cfg, err := parseRoomConfig(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Clients != 2000 || cfg.Senders != 125 || cfg.Key != "k" {
		t.Fatalf("%+v", cfg)
	}
	cfg, err = parseRoomConfig([]string{"--key", "k"}, func(string) (string, bool) { return "", false }, &bytes.Buffer{})
	if err != nil || cfg.Clients != 5000 || cfg.Quantity != 100 || cfg.Spread != time.Second {
		t.Fatalf("%+v %v", cfg, err)
	}
	if _, err := parseRoomConfig([]string{"--scenario", "x", "--key", "k"}, func(string) (string, bool) { return "", false }, &bytes.Buffer{}); err == nil {
		t.Fatal("bad scenario accepted")
	}
}
