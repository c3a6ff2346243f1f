package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPracticePages runs a practice session through the pages in headless Chromium, as a
// tutor and a merchant do it: the tutor starts it from the dashboard and lands on the
// coaching page; the studio, opened with the merchant's link, is in practice mode and goes
// live with the fake camera; a customer without the invitation sees the stall as not live;
// the coaching page plays the video, sends a quick tip that shows large on the studio (and is
// dismissed there), a note and a tick, and calls in simulated customers; the studio ends the
// practice; the review page plays the recording, puts the tip and the note on its timeline
// (a tap seeks there) and shows the scored checklist.
func TestPracticePages(t *testing.T) {
	needChromium(t)
	// A bound for a browser that hangs, not a speed target: under -race, with other
	// packages' tests on the same two cores, a run has taken over 75 s.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	shoot := screenshots(t)

	dir := t.TempDir()
	const slug = "park-veggies"
	secrets := addChannel(t, dir, slug, "박씨네 채소")
	out, _, err := runCommand(t, nil, "--data", dir, "--public-url", "http://dangol.test", "tutor", "add", "김지우", "--handle", "jiwoo")
	if err != nil {
		t.Fatalf("tutor add: %v", err)
	}
	tutor := parseTutorAdd(t, out, "http://dangol.test")
	if _, _, err := runCommand(t, nil, "--data", dir, "tutor", "link", tutor.handle, slug); err != nil {
		t.Fatalf("tutor link: %v", err)
	}
	addr, logs, _ := startServe(t, loopbackArgs(dir))
	base := "http://" + addr
	createProduct(t, base, slug, secrets.key, "애호박")

	b := startChromium(ctx, t)
	var ok bool
	defer func() {
		if !ok || t.Failed() {
			t.Logf("server logs:\n%s", logs)
			t.Logf("browser:\n%s", b.report())
		}
	}()

	// 1. The tutor's dashboard, from the login link; one tap starts the practice.
	dash := openPhone(t, b, "tutor", base+"/tutor#t="+tutor.token)
	dash.waitFor(t, "the channel on the dashboard", `!!document.getElementById('ch-0-practice')
		&& document.getElementById('channels').textContent.includes('박씨네 채소')
		&& !location.hash.includes('t=')`)
	checkNames(t, dash)
	checkReadable(t, dash)
	shoot(dash, "tutor-dashboard")
	tap(t, dash, "start practice", chromedp.ID("ch-0-practice"))
	coach := dash // the dashboard goes on to the coaching page
	coach.waitPage(t, "/practice")
	coach.waitFor(t, "the coaching page waiting for the studio", `!document.getElementById('state').hidden && document.getElementById('state-title').textContent !== ''`)
	sessionID, err := chromedp.Run(coach.ctx, chromedp.Evaluate[string](`new URLSearchParams(location.search).get('s')`))
	if err != nil || sessionID == "" {
		t.Fatalf("coaching page URL has no session: %q, %v", sessionID, err)
	}

	// 2. The merchant's studio is in practice mode and goes live with the camera.
	studio := openPhone(t, b, "studio", onServer(t, secrets.studioURL, base))
	studio.waitFor(t, "the practice banner and button", `!document.getElementById('practice-banner').hidden
		&& document.body.classList.contains('practice')
		&& document.getElementById('go-live').textContent.includes('연습 시작')`)
	tap(t, studio, "start practice", chromedp.ID("go-live"))
	studio.waitFor(t, "the studio live in practice", `!document.getElementById('live').hidden
		&& document.getElementById('live').classList.contains('practice')
		&& document.getElementById('live-label').textContent === '연습 중'
		&& document.getElementById('preview').videoWidth > 0`)

	// 3. A customer without the invitation sees the stall, not the rehearsal.
	watch := openPhone(t, b, "watch", onServer(t, secrets.channelURL, base))
	watch.waitFor(t, "the stall view during practice", notLiveJS+` && `+stallJS)

	// 4. The coaching page plays the practice and coaches.
	coach.waitFor(t, "the coaching workspace with the video playing", `!document.getElementById('workspace').hidden
		&& document.getElementById('video').videoWidth > 0 && document.getElementById('video').currentTime > 0.5`)
	tipText, err := chromedp.Run(coach.ctx, chromedp.Evaluate[string](`document.querySelector('#quick-tips button').textContent`))
	if err != nil || tipText == "" {
		t.Fatalf("no quick tip button: %q, %v", tipText, err)
	}
	tap(t, coach, "the first quick tip", chromedp.CSS("#quick-tips button"))
	studio.waitFor(t, "the tip, large, on the studio", fmt.Sprintf(`!document.getElementById('coach-tip').hidden
		&& document.getElementById('coach-tip-text').textContent === %q
		&& parseFloat(getComputedStyle(document.getElementById('coach-tip-text')).fontSize) >= 28`, tipText))
	checkTargets(t, studio, "#coach-tip-ok")
	shoot(studio, "studio-practice-tip")
	tap(t, studio, "got it", chromedp.ID("coach-tip-ok"))
	studio.waitFor(t, "the tip dismissed", `document.getElementById('coach-tip').hidden`)

	const noteText = "상품을 카메라 가까이 보여 주셨어요"
	typeInto(t, coach, "the note", "#note-text", noteText)
	tap(t, coach, "save the note", chromedp.CSS(`#note-form button[type="submit"]`))
	coach.waitFor(t, "the tip and the note in the sent list", fmt.Sprintf(`(() => {
		const s = document.getElementById('sent').textContent;
		return s.includes(%q) && s.includes(%q);
	})()`, tipText, noteText))
	tap(t, coach, "tick: price stated", chromedp.ID("tick-price"))
	tap(t, coach, "calm customers", chromedp.CSS(`button[data-pace="calm"]`))
	coach.waitFor(t, "the crowd running", `document.querySelector('button[data-pace="calm"]').getAttribute('aria-pressed') === 'true'
		&& document.getElementById('crowd-state').textContent.includes('6')`)
	checkNames(t, coach)
	checkReadable(t, coach)
	scrollTo(t, coach, "#workspace")
	shoot(coach, "tutor-coaching")

	// 5. The merchant ends the practice; the studio offers the review, the coach page too.
	tap(t, studio, "end", chromedp.ID("end"))
	tap(t, studio, "yes, end", chromedp.CSS("#confirm button.end"))
	studio.waitFor(t, "the review link on the studio", `!document.getElementById('practice-review').hidden
		&& document.getElementById('practice-review').getAttribute('href').startsWith('/review?')`)
	waitLog(t, logs, `msg="recording stored as one file"`, 30*time.Second)
	coach.waitFor(t, "the review link on the coaching page", `!document.getElementById('to-review').hidden`)
	tap(t, coach, "to the review", chromedp.ID("to-review"))

	// 6. The review: recording, timeline, checklist.
	review := coach
	review.waitPage(t, "/review")
	review.waitFor(t, "the review with its recording and checklist", `document.querySelectorAll('#checklist > li').length === 7
		&& document.getElementById('score').textContent.trim() !== ''
		&& document.querySelectorAll('#notes button').length === 2
		&& document.getElementById('recording').readyState >= 1 && document.getElementById('recording').duration > 1`)
	review.waitFor(t, "price stated ticked, products pinned failed", `(() => {
		const items = [...document.querySelectorAll('#checklist > li')];
		return items.some((li) => li.classList.contains('pass')) && items.some((li) => li.classList.contains('fail'));
	})()`)
	tap(t, review, "the note on the timeline", chromedp.CSS("#notes li:nth-child(2) button"))
	review.waitFor(t, "the recording at the note", `document.getElementById('recording').currentTime > 0.5`)
	checkNames(t, review)
	checkReadable(t, review)
	shoot(review, "tutor-review")

	// On a small phone (360 px), in English: nothing runs off the screen and no button's
	// words are cut, on the review and on the dashboard.
	dash2 := openPhone(t, b, "tutor (English)", base+"/tutor#t="+tutor.token)
	dash2.waitFor(t, "the dashboard", `!!document.getElementById('ch-0-toggle')`)
	for _, tb := range []*tab{review, dash2} {
		if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(360, 740,
			chromedp.EmulateScale(phoneScale), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
			t.Fatalf("%s: small phone: %v", tb.name, err)
		}
		tap(t, tb, "English", chromedp.CSS("[data-lang-switch]"))
		tb.waitFor(t, "English", `document.documentElement.lang === 'en'`)
		checkFits(t, tb)
		checkReadable(t, tb)
	}
	tap(t, dash2, "the shop's details", chromedp.ID("ch-0-toggle"))
	dash2.waitFor(t, "the details with the practice", `document.getElementById('ch-0-toggle').getAttribute('aria-expanded') === 'true'
		&& document.querySelectorAll('#channels a[href^="/review?"]').length === 1`)
	checkFits(t, dash2)
	checkNames(t, dash2)

	// The review answers the same to the API, with the tick.
	var rev struct {
		Checklist []struct{ Key, Status string } `json:"checklist"`
	}
	getWithKey(t, base+"/api/practice/"+url.PathEscape(sessionID)+"/review", tutor.token, &rev)
	var statuses []string
	for _, it := range rev.Checklist {
		statuses = append(statuses, it.Key+"="+it.Status)
	}
	if got := strings.Join(statuses, " "); !strings.Contains(got, "price_stated=pass") || !strings.Contains(got, "products_pinned=fail") {
		t.Errorf("checklist %s, want price_stated ticked and products_pinned failed (nothing was pinned)", got)
	}
	ok = true
}
