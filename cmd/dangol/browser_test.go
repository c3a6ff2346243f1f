package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
)

// chromiumPath is Debian's chromium (apt-get install chromium); .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserLive goes live from the studio page in headless Chromium with its fake camera, as
// a merchant does (open the studio link, press the big button), and watches the channel's page
// /c/{slug} in two more tabs: one opened before the broadcast starts (a customer waiting at the
// stall) and one after. It passes when both pages decode a steady flow of frames, and checks
// that ICE runs over the server's 127.0.0.1 media port.
func TestBrowserLive(t *testing.T) {
	needChromium(t)
	// Bounds the whole test. Cancelled last, after the browser has closed gracefully.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)

	dir := t.TempDir()
	const slug = "park-fish"
	secrets := addChannel(t, dir, slug, "박씨네 생선")

	addr, logs, _ := startServe(t, loopbackArgs(dir))
	mediaAddr := logField(logs.String(), "udp")
	if !strings.HasPrefix(mediaAddr, "127.0.0.1:") {
		t.Fatalf("media listens on udp=%q, want 127.0.0.1:<port>; logs:\n%s", mediaAddr, logs)
	}
	base := "http://" + addr
	// The links `channel add` printed, on the address the server really listens on.
	studioURL := onServer(t, secrets.studioURL, base)
	watchURL := onServer(t, secrets.channelURL, base)
	if !strings.Contains(studioURL, "/studio?c="+slug+"#t=") || !strings.HasSuffix(watchURL, "/c/"+slug) {
		t.Fatalf("unexpected links: studio %s, channel %s", studioURL, watchURL)
	}

	b := startChromium(ctx, t)
	var ok bool
	defer func() {
		if !ok || os.Getenv("DANGOL_TEST_BROWSER_REPORT") != "" {
			t.Logf("server logs:\n%s", logs)
			t.Logf("browser:\n%s", b.report())
		}
	}()

	// A customer already in the live room hears the broadcast start and end from the server.
	room := joinRoom(t, base, slug)
	if room.hello {
		t.Error("room live before the merchant went live")
	}

	studio := b.open(t, "studio", studioURL)
	early := b.open(t, "watch before live", watchURL)

	// Before the broadcast the customer's page says so, and keeps asking.
	early.waitFor(t, "the not-live text", notLiveJS)

	// The merchant presses the big button as soon as it shows, maybe while the page is still
	// opening the camera; the camera is opened once all the same.
	if err := chromedp.Do(studio.ctx, chromedp.Click(chromedp.ID("go-live"), chromedp.NodeVisible)); err != nil {
		t.Fatalf("press go live: %v", err)
	}
	studio.waitFor(t, "the studio's live state", `!document.getElementById('live').hidden
		&& document.getElementById('live-label').textContent === '방송 중'
		&& document.getElementById('status').hidden
		&& !document.getElementById('end').hidden
		&& document.getElementById('preview').videoWidth > 0`)
	if n, err := chromedp.Run(studio.ctx, chromedp.Evaluate[int](`window.__testCameraOpens`)); err != nil || n != 1 {
		t.Errorf("studio opened the camera %d times (%v), want 1", n, err)
	}

	room.waitLive(t, true)

	late := b.open(t, "watch after live", watchURL)
	for _, w := range []*tab{early, late} {
		w.waitPlaying(t)
	}

	// ICE: every connection, the studio's and the viewers', runs over the server's loopback
	// media port.
	for _, tb := range []*tab{studio, early, late} {
		pairs := tb.selectedPairs(t)
		if len(pairs) != 1 {
			t.Errorf("%s: %d connected peer connections, want 1: %+v", tb.name, len(pairs), pairs)
			continue
		}
		p := pairs[0]
		t.Logf("%s: ICE %s %s -> %s %s over %s", tb.name, p.LocalType, p.Local, p.RemoteType, p.Remote, p.Protocol)
		if p.Remote != mediaAddr || p.Protocol != "udp" {
			t.Errorf("%s: ICE pair %+v, want the remote %s over udp", tb.name, p, mediaAddr)
		}
	}
	// The studio is still live after all this.
	studio.waitFor(t, "the studio still live", `!document.getElementById('live').hidden && document.getElementById('elapsed').textContent !== ''`)

	// The merchant ends the broadcast (End, then yes in the dialog). The customers' pages say
	// so within seconds: the server ends the session before the phone's connection closes, and
	// the pages notice the server closing theirs. (The ICE timeout would take some 13 s.)
	if err := chromedp.Do(studio.ctx,
		chromedp.Click(chromedp.ID("end"), chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS("#confirm button.end"), chromedp.NodeVisible),
	); err != nil {
		t.Fatalf("end the broadcast: %v", err)
	}
	studio.waitFor(t, "the ended text", `document.getElementById('status-title').textContent === '방송이 끝났어요. 수고하셨어요!'
		&& !document.getElementById('go-live').hidden`)
	for _, w := range []*tab{early, late} {
		w.waitWithin(t, "the not-live text after the end", notLiveJS, 5*time.Second)
	}
	room.waitLive(t, false)
	ok = !t.Failed()
}

// onServer returns link with its scheme and host replaced by base's: `channel add` prints the
// public URL, not the test server's random port.
func onServer(t *testing.T, link, base string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("printed link %q: %v", link, err)
	}
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	return u.String()
}

// browser is one headless Chromium with its tabs.
type browser struct {
	ctx       context.Context // the first tab's context, which owns the browser
	userAgent string

	mu     sync.Mutex // guards output and tabs
	output strings.Builder
	tabs   []*tab
}

// Write collects the browser's own output (stdout and stderr), for failure reports.
func (b *browser) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.output.Len() < 64<<10 {
		b.output.Write(p)
	}
	return len(p), nil
}

func (b *browser) report() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, tb := range b.tabs {
		tb.mu.Lock()
		fmt.Fprintf(&sb, "-- console of %s (%s):\n%s", tb.name, tb.url, strings.Join(tb.console, "\n"))
		tb.mu.Unlock()
		if state, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](pageStateJS)); err == nil {
			fmt.Fprintf(&sb, "\n   state: %s", state)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("-- chromium output (without D-Bus complaints):\n")
	for line := range strings.Lines(b.output.String()) {
		if !strings.Contains(line, "dbus/") {
			sb.WriteString(line)
		}
	}
	return sb.String()
}

// startChromium starts the browser with the flags the test is meant to run with, and closes
// it when the test ends. ctx bounds the browser's life.
func startChromium(ctx context.Context, t *testing.T) *browser {
	t.Helper()
	b := &browser{}
	// Removed after the browser is gone: cleanups run last in, first out.
	profile := t.TempDir()
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		// A camera that draws a test pattern, allowed without asking.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.CombinedOutput(b),
	)
	b.ctx, _ = chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// A graceful close lets Chrome end its child processes before the profile goes.
		closeCtx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Cancel(closeCtx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("close chromium: %v", err)
		}
		allocCancel()
		waitProfileUnused(t, profile)
	})
	if err := chromedp.Do(b.ctx); err != nil {
		t.Fatalf("start %s: %v\n%s", chromiumPath, err, b.output.String())
	}
	v, err := chromedp.CallBrowser(b.ctx, cdpbrowser.GetVersion, cdp.Empty{})
	if err != nil {
		t.Fatalf("browser version: %v", err)
	}
	b.userAgent = v.UserAgent
	t.Logf("%s %s", v.Product, v.UserAgent)
	return b
}

// waitProfileUnused waits, for a bounded time, until no process runs with profile as its user
// data directory, so that removing it does not race a child process that is still writing.
func waitProfileUnused(t *testing.T, profile string) {
	t.Helper()
	want := []byte("--user-data-dir=" + profile + "\x00")
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		busy := 0
		for _, p := range procs {
			if cmd, err := os.ReadFile(p); err == nil && strings.Contains(string(cmd), string(want)) {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("%d chromium processes still use %s", busy, profile)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tab is one page in the browser.
type tab struct {
	name, url string
	ctx       context.Context

	mu      sync.Mutex // guards console
	console []string
}

// instrument keeps every RTCPeerConnection a page makes in window.__testPeers, for the ICE
// check, and counts getUserMedia calls in window.__testCameraOpens. It runs before the page's
// own scripts and changes nothing else.
const instrument = `(() => {
  const Native = window.RTCPeerConnection;
  if (typeof Native !== 'function') return;
  const peers = [];
  Object.defineProperty(window, '__testPeers', { value: peers });
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); peers.push(this); }
  };
  window.__testCameraOpens = 0;
  const md = navigator.mediaDevices;
  if (md) {
    const getUserMedia = md.getUserMedia.bind(md);
    md.getUserMedia = (...args) => { window.__testCameraOpens++; return getUserMedia(...args); };
  }
})();`

// pageStateJS describes a page for failure messages.
const pageStateJS = `JSON.stringify({
  url: location.href,
  status: document.getElementById('status')?.hidden ? '(hidden)' : document.getElementById('status')?.innerText,
  videos: [...document.querySelectorAll('video')].map((v) => ({
    id: v.id, width: v.videoWidth, height: v.videoHeight, paused: v.paused, readyState: v.readyState,
    frames: v.getVideoPlaybackQuality().totalVideoFrames, time: v.currentTime,
  })),
  peers: (window.__testPeers || []).map((pc) => pc.connectionState + '/' + pc.iceConnectionState),
})`

// open opens url in a new tab, recording its console.
func (b *browser) open(t *testing.T, name, url string) *tab {
	t.Helper()
	ctx := b.ctx
	b.mu.Lock()
	first := len(b.tabs) == 0
	b.mu.Unlock()
	if !first {
		ctx, _ = chromedp.NewContext(b.ctx) // a new tab, closed with the browser
	}
	return b.attach(t, ctx, name, url)
}

// attach makes ctx, a tab of b, a test tab: it records the tab's console, sets it to a phone
// in Korean (the pages' first language) with the test instrumentation, runs setup, and opens
// url.
func (b *browser) attach(t *testing.T, ctx context.Context, name, url string, setup ...chromedp.Action[chromedp.Void]) *tab {
	t.Helper()
	tb := &tab{name: name, url: url, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, fmt.Sprintf("%s %s", m.Type, m.Text))
			tb.mu.Unlock()
		}
	}()
	b.mu.Lock()
	b.tabs = append(b.tabs, tb)
	b.mu.Unlock()
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: b.userAgent, AcceptLanguage: "ko-KR,ko",
	}); err != nil {
		t.Fatalf("%s: set language: %v", name, err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: instrument}); err != nil {
		t.Fatalf("%s: add script: %v", name, err)
	}
	if err := chromedp.Do(ctx, append(setup, chromedp.Navigate(url))...); err != nil {
		t.Fatalf("%s: open %s: %v", name, url, err)
	}
	return tb
}

// notLiveJS is true while a watch page says the channel is not live.
const notLiveJS = `!document.getElementById('status').hidden
	&& document.getElementById('status-title').textContent === '방송 준비 중'`

// waitFor polls the JavaScript expression cond in the tab until it is true, for at most 20 s
// (and never past the test's deadline).
func (tb *tab) waitFor(t *testing.T, what, cond string) {
	t.Helper()
	tb.waitWithin(t, what, cond, 20*time.Second)
}

// waitWithin is waitFor with another bound.
func (tb *tab) waitWithin(t *testing.T, what, cond string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](cond,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(timeout))); err != nil {
		state, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](pageStateJS))
		t.Fatalf("%s: waiting for %s: %v\nstate: %s", tb.name, what, err, state)
	}
}

// waitPage waits, at most 20 s, for the tab to have gone to the page at path and loaded it.
// A link or a script moves the tab on: a poll the navigation cuts short is tried again on
// the new page.
func (tb *tab) waitPage(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	cond := fmt.Sprintf(`location.pathname === %q && document.readyState === 'complete'`, path)
	for {
		_, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](cond,
			chromedp.WithPollingInterval(50*time.Millisecond),
			chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if time.Now().After(deadline) || tb.ctx.Err() != nil {
			t.Fatalf("%s: waiting for the page %s: %v", tb.name, path, err)
		}
	}
}

// playback is what a watch page's video has shown so far.
type playback struct {
	Width  int `json:"width"`
	Height int `json:"height"`
	Frames int `json:"frames"`
}

const playbackJS = `(() => {
  const v = document.getElementById('video');
  return { width: v.videoWidth, height: v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames };
})()`

// waitPlaying waits until the watch page has decoded more than 30 frames, with its status box
// gone (the page's live state), and then until it has decoded 30 more: the video keeps coming.
func (tb *tab) waitPlaying(t *testing.T) {
	t.Helper()
	tb.waitFor(t, "30 decoded frames", fmt.Sprintf(`(%s).frames > 30`, playbackJS))
	first, err := chromedp.Run(tb.ctx, chromedp.Evaluate[playback](playbackJS))
	if err != nil {
		t.Fatalf("%s: read playback: %v", tb.name, err)
	}
	if first.Width <= 0 || first.Height <= 0 {
		t.Errorf("%s: video is %dx%d after %d frames", tb.name, first.Width, first.Height, first.Frames)
	}
	tb.waitFor(t, "30 more decoded frames", fmt.Sprintf(`(%s).frames > %d`, playbackJS, first.Frames+30))
	tb.waitFor(t, "the live state (no status box over the video)", `document.getElementById('status').hidden
		&& document.getElementById('status-title').textContent === ''`)
	t.Logf("%s: %dx%d, %d frames decoded", tb.name, first.Width, first.Height, first.Frames)
}

// icePair is the selected ICE candidate pair of one connected peer connection.
type icePair struct {
	Local      string `json:"local"`
	LocalType  string `json:"localType"`
	Remote     string `json:"remote"`
	RemoteType string `json:"remoteType"`
	Protocol   string `json:"protocol"`
}

const selectedPairsJS = `(async () => {
  const out = [];
  for (const pc of window.__testPeers || []) {
    if (pc.connectionState !== 'connected') continue;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) { out.push({}); continue; }
    const l = stats.get(pair.localCandidateId) || {}, r = stats.get(pair.remoteCandidateId) || {};
    out.push({ local: l.address + ':' + l.port, localType: l.candidateType,
      remote: r.address + ':' + r.port, remoteType: r.candidateType, protocol: r.protocol });
  }
  return out;
})()`

func (tb *tab) selectedPairs(t *testing.T) []icePair {
	t.Helper()
	pairs, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]icePair](selectedPairsJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: read ICE stats: %v", tb.name, err)
	}
	return pairs
}

// roomClient is a customer's websocket in the channel's live room, reduced to its live events.
type roomClient struct {
	hello bool // live, as the hello reply said
	live  chan bool
}

// joinRoom says hello in the channel's room.
func joinRoom(t *testing.T, base, slug string) *roomClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws/"+slug, nil)
	if err != nil {
		t.Fatalf("join the room: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.WriteJSON(map[string]any{"type": "hello", "id": "h1", "name": "손님"}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello struct {
		Type, ID string
		OK       bool
		State    struct{ Live bool }
	}
	if err := ws.ReadJSON(&hello); err != nil || hello.Type != "reply" || !hello.OK {
		t.Fatalf("hello: %+v, %v", hello, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	rc := &roomClient{hello: hello.State.Live, live: make(chan bool, 8)}
	go func() {
		defer close(rc.live)
		for {
			var m struct {
				Type string
				Live bool
			}
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			if m.Type == "live" {
				rc.live <- m.Live
			}
		}
	}()
	return rc
}

func (rc *roomClient) waitLive(t *testing.T, want bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case live, ok := <-rc.live:
			if !ok {
				t.Fatalf("room connection closed waiting for live=%v", want)
			}
			if live == want {
				return
			}
		case <-timeout:
			t.Fatalf("no live=%v event in the room", want)
		}
	}
}
