package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Phone size of the end-to-end test's pages, in CSS pixels (an iPhone 12 to 15), and the pixel
// ratio of its screenshots.
const (
	phoneWidth  = 390
	phoneHeight = 844
	phoneScale  = 2
)

// TestPagesEndToEnd is issue 5 end to end, on two phones in headless Chromium: a merchant's
// studio and a customer's watch page, each in its own browser context (no shared storage),
// at 390x844 with touch. The merchant goes live with the fake camera, shows a product, drops a
// coupon, and takes an order through to ready; the customer watches, chats, claims the coupon
// and orders with it. The REST API confirms the order and the stock. Along the way it checks
// that every control has an accessible name and that the main touch targets are at least
// 48x48 CSS pixels, and takes screenshots (DANGOL_TEST_SCREENSHOTS, else a temp dir).
func TestPagesEndToEnd(t *testing.T) {
	needChromium(t)
	// A bound for a browser that hangs, not a speed target: under -race, with other
	// packages' tests on the same two cores, a run has taken over 75 s.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)

	// 1. The server, a channel, and two products with photos, added with the stream key.
	dir := t.TempDir()
	const slug = "soonis-banchan"
	secrets := addChannel(t, dir, slug, "순이네 반찬")
	addr, logs, _ := startServe(t, loopbackArgs(dir))
	base := "http://" + addr
	studioURL := onServer(t, secrets.studioURL, base)
	watchURL := onServer(t, secrets.channelURL, base)

	type product struct {
		name           string
		price, stock   int
		id             int64
		shade1, shade2 color.RGBA
	}
	products := []*product{
		{name: "배추김치 1kg", price: 5000, stock: 10,
			shade1: color.RGBA{0xd8, 0x3a, 0x1f, 0xff}, shade2: color.RGBA{0xf5, 0xe6, 0xb8, 0xff}},
		{name: "멸치볶음", price: 4000, stock: 6,
			shade1: color.RGBA{0x7a, 0x52, 0x2a, 0xff}, shade2: color.RGBA{0xe9, 0xd8, 0xa6, 0xff}},
	}
	for _, p := range products {
		p.id = createProductWithPhoto(t, base, slug, secrets.key, p.name, p.price, p.stock, testPhoto(t, p.shade1, p.shade2))
	}
	pinnedP := products[0]

	b := startChromium(ctx, t)
	var ok bool
	defer func() {
		if !ok || os.Getenv("DANGOL_TEST_BROWSER_REPORT") != "" {
			t.Logf("server logs:\n%s", logs)
			t.Logf("browser:\n%s", b.report())
		}
	}()
	shoot := screenshots(t)

	// The customer is at the stall before the broadcast: the stall's page, not live yet.
	watch := openPhone(t, b, "watch", watchURL)
	watch.waitFor(t, "the stall view before live", notLiveJS+` && `+stallJS)
	shoot(watch, "watch-stall-before-live")

	// 2. The merchant opens the studio link and presses the big button.
	studio := openPhone(t, b, "studio", studioURL)
	studio.waitFor(t, "the go-live button", `!document.getElementById('go-live').hidden && !document.getElementById('tabs').hidden`)
	checkTargets(t, studio, "#go-live", "#tabs .tab")

	// Before going live, the merchant plans the next broadcasts and, with the tutor, fills in
	// the stall's profile; the customer's stall view shows both.
	const planTitle = "주말 김장 특가"
	planned := planBroadcasts(t, studio, planTitle, shoot)
	const market, location, hours = "망원시장", "정문에서 두 번째 골목", "평일 9시-19시\n일요일 쉼"
	editStall(t, studio, shoot, market, location, hours, testPhoto(t, color.RGBA{0x2a, 0x6f, 0x97, 0xff}, color.RGBA{0xee, 0xee, 0xdd, 0xff}))
	reload(t, watch)
	watch.waitFor(t, "the schedule, the profile and the products on the stall view", notLiveJS+` && `+stallJS+fmt.Sprintf(`
		&& document.getElementById('stall-location').textContent === %q
		&& document.getElementById('stall-market').textContent === %q
		&& document.getElementById('stall-hours').textContent === %q
		&& document.getElementById('stall-photo').complete && document.getElementById('stall-photo').naturalWidth > 0
		&& [...document.querySelectorAll('#schedule li')].some((li) => li.textContent.includes(%q) && li.querySelector('.when')?.textContent === %q)
		&& [...document.querySelectorAll('#stall-products li.stall-product')].map((li) => li.querySelector('.product-name').textContent + ' ' + li.querySelector('.product-price').textContent).join('|') === %q
		&& !document.querySelector('#stall-products button.clip-btn')
		&& [...document.querySelectorAll('#stall-products img.product-thumb')].every((i) => i.loading === 'lazy')
		&& !document.querySelector('#stall-products video')`,
		location, market, hours, planTitle, koreanSlot(planned),
		products[0].name+" "+won(products[0].price)+"|"+products[1].name+" "+won(products[1].price)))
	scrollTo(t, watch, "#products-box")
	shoot(watch, "watch-stall-products")

	tap(t, studio, "the go-live button", chromedp.ID("go-live"))
	studio.waitFor(t, "the studio's live state", `!document.getElementById('live').hidden
		&& document.getElementById('live-label').textContent === '방송 중'
		&& !document.getElementById('end').hidden
		&& document.getElementById('preview').videoWidth > 0`)
	watch.waitPlaying(t)
	t0, err := chromedp.Run(watch.ctx, chromedp.Evaluate[float64](`document.getElementById('video').currentTime`))
	if err != nil {
		t.Fatal(err)
	}
	watch.waitFor(t, "the video's time advancing", fmt.Sprintf(`document.getElementById('video').currentTime > %g
		&& !document.getElementById('live-ui').hidden`, t0+0.5))
	checkTargets(t, studio, "#end")

	// 3. The merchant shows the first product: a tap on it in the products panel.
	tap(t, studio, "the products tab", chromedp.CSS(`#tabs .tab[data-tab="products"]`))
	studio.waitFor(t, "the products with their photos", fmt.Sprintf(`(() => {
		const cards = [...document.querySelectorAll('#product-list button.product')];
		return !document.getElementById('panel-products').hidden && cards.length === %d
			&& cards.every((c) => { const i = c.querySelector('img.thumb'); return i && i.complete && i.naturalWidth > 0; })
			&& cards[0].querySelector('.name').textContent === %q;
	})()`, len(products), pinnedP.name))
	shoot(studio, "studio-products")
	tap(t, studio, "the first product", chromedp.CSS(`#product-list li:first-child button.product`))
	studio.waitFor(t, "the product marked shown", `document.querySelector('#product-list li:first-child button.product').getAttribute('aria-pressed') === 'true'`)
	watch.waitFor(t, "the pinned product card", fmt.Sprintf(`!document.getElementById('pinned').hidden
		&& document.getElementById('pinned-name').textContent === %q
		&& document.getElementById('pinned-price').textContent === %q
		&& document.getElementById('pinned-stock').textContent === %q
		&& document.getElementById('pinned-img').complete && document.getElementById('pinned-img').naturalWidth > 0`,
		pinnedP.name, won(pinnedP.price), fmt.Sprintf("%d개 남음", pinnedP.stock)))

	// 4. The customer chats: the first message asks for a nickname, then goes.
	const nick, chatText = "망원동 김씨", "김치 맛있어 보여요! 몇 시까지 하세요?"
	typeInto(t, watch, "the chat input", "#chat-input", chatText)
	tap(t, watch, "send", chromedp.ID("chat-send"))
	watch.waitFor(t, "the nickname sheet", `document.getElementById('nick-sheet').open`)
	typeInto(t, watch, "the nickname", "#nick-input", nick)
	tap(t, watch, "the nickname's OK", chromedp.CSS(`#nick-form button[type="submit"]`))
	watch.waitFor(t, "the message in the watch page's chat", fmt.Sprintf(`!document.getElementById('nick-sheet').open
		&& [...document.querySelectorAll('#chat li.mine')].some((li) => li.textContent === %q)`, nick+" "+chatText))
	tap(t, studio, "the chat tab", chromedp.CSS(`#tabs .tab[data-tab="chat"]`))
	studio.waitFor(t, "the message in the studio's chat", fmt.Sprintf(`!document.getElementById('panel-chat').hidden
		&& [...document.querySelectorAll('#chat-list .msg')].some((m) => m.querySelector('.who')?.textContent === %q && m.querySelector('.said')?.textContent === %q)`,
		nick, chatText))

	// 5. The merchant drops a 1,000 won coupon for 30 people (the first preset), saying yes.
	tap(t, studio, "the coupons tab", chromedp.CSS(`#tabs .tab[data-tab="coupons"]`))
	tap(t, studio, "the first coupon preset", chromedp.CSS(`#coupon-presets button.preset`))
	studio.waitFor(t, "the coupon question", `document.getElementById('ask').open
		&& document.getElementById('ask-title').textContent === '1,000원 할인 쿠폰 30장을 나눠 줄까요?'`)
	tap(t, studio, "yes in the coupon question", chromedp.ID("ask-yes"))
	studio.waitFor(t, "the open coupon with 30 left", `!document.getElementById('ask').open
		&& document.querySelector('#coupon-list .coupon-left')?.textContent === '남은 쿠폰 30장 / 30장'`)
	watch.waitFor(t, "the coupon banner", `(() => {
		const c = document.querySelector('#coupons .coupon');
		// The preset's title is its discount: said once, not twice.
		return !!c && [...c.querySelectorAll('.coupon-title, .coupon-discount')].map((p) => p.textContent).join('|') === '1,000원 할인'
			&& c.querySelector('.coupon-left')?.textContent === '30장 남음'
			&& !!c.querySelector('button.coupon-claim:not([disabled])');
	})()`)
	checkTargets(t, watch, "#pinned-order", "#coupons button.coupon-claim", "#chat-send", "#like")
	checkNames(t, watch)
	checkReadable(t, watch)
	shoot(watch, "watch-live")

	tap(t, watch, "the coupon's claim button", chromedp.CSS(`#coupons button.coupon-claim`))
	watch.waitFor(t, "the coupon claimed", `document.querySelector('#coupons .coupon.claimed .coupon-state')?.textContent === '받았어요! 주문할 때 써요'`)
	studio.waitFor(t, "the coupon's count down by one", `document.querySelector('#coupon-list .coupon-left')?.textContent === '남은 쿠폰 29장 / 30장'`)

	// 6. The customer orders two of the shown product with the coupon, for pickup.
	const buyer, phone, note = "김민지", "010-2345-6789", "6시쯤 찾으러 갈게요"
	tap(t, watch, "the product's order button", chromedp.ID("pinned-order"))
	watch.waitFor(t, "the order sheet", fmt.Sprintf(`document.getElementById('order-sheet').open
		&& document.getElementById('order-name').textContent === %q
		&& !document.getElementById('coupon-field').hidden && document.getElementById('order-coupon').value !== ''`, pinnedP.name))
	tap(t, watch, "one more", chromedp.ID("qty-plus"))
	typeInto(t, watch, "the buyer's name", "#buyer-name", buyer)
	typeInto(t, watch, "the buyer's phone", "#buyer-phone", phone)
	typeInto(t, watch, "the pickup note", "#order-note", note)
	total := 2*pinnedP.price - 1000
	watch.waitFor(t, "quantity 2 and the total after the coupon", fmt.Sprintf(`document.getElementById('qty').textContent === '2'
		&& document.getElementById('order-total').textContent === %q
		&& document.getElementById('order-img').complete && document.getElementById('order-img').naturalWidth > 0`, "합계 "+won(total)))
	checkNames(t, watch)
	checkReadable(t, watch)
	shoot(watch, "watch-order-sheet")
	tap(t, watch, "send the order", chromedp.ID("order-submit"))
	watch.waitFor(t, "my orders with the new order", fmt.Sprintf(`!document.getElementById('order-sheet').open
		&& document.getElementById('orders-sheet').open
		&& document.querySelectorAll('#orders li.order').length === 1
		&& document.querySelector('#orders li.order .order-items').textContent === %q`, pinnedP.name+" × 2"))

	tap(t, studio, "the orders tab", chromedp.CSS(`#tabs .tab[data-tab="orders"]`))
	studio.waitFor(t, "the order in the studio", fmt.Sprintf(`(() => {
		const o = document.querySelectorAll('#order-list li.order');
		return !document.getElementById('panel-orders').hidden && o.length === 1
			&& o[0].querySelector('.order-buyer').textContent === %q
			&& o[0].querySelector('.order-note')?.textContent === %q
			&& o[0].querySelector('.order-items').textContent === %q
			&& !!o[0].querySelector('button.step-accepted');
	})()`, buyer, "📝 "+note, pinnedP.name+" ×2"))
	checkNames(t, studio)
	checkReadable(t, studio)
	shoot(studio, "studio-live-orders")
	tap(t, studio, "accept", chromedp.CSS(`#order-list button.step-accepted`))
	studio.waitFor(t, "the order accepted", `!!document.querySelector('#order-list .order-status.st-accepted') && !!document.querySelector('#order-list button.step-ready')`)
	tap(t, studio, "ready", chromedp.CSS(`#order-list button.step-ready`))
	studio.waitFor(t, "the order ready", `!!document.querySelector('#order-list .order-status.st-ready')`)
	// watch.orderReady in web/static/texts-watch.js.
	watch.waitFor(t, "the order ready in my orders", `document.querySelector('#orders li.order .order-status')?.textContent === '준비됐어요! 가게에 오셔서 찾아가세요.'`)
	watch.waitFor(t, "the stock down by two on the card", fmt.Sprintf(`document.getElementById('pinned-stock').textContent === %q`,
		fmt.Sprintf("%d개 남음", pinnedP.stock-2)))

	// The API agrees: one order, at the coupon's price, and two fewer in stock.
	var orders struct {
		Orders []struct {
			ID    int64 `json:"id"`
			Buyer struct {
				Name  string `json:"name"`
				Phone string `json:"phone"`
			} `json:"buyer"`
			Note  string `json:"note"`
			Items []struct {
				ProductID int64 `json:"product_id"`
				Qty       int   `json:"qty"`
			} `json:"items"`
			SubtotalWon int    `json:"subtotal_won"`
			DiscountWon int    `json:"discount_won"`
			TotalWon    int    `json:"total_won"`
			CouponID    int64  `json:"coupon_id"`
			Status      string `json:"status"`
			Source      string `json:"source"`
		} `json:"orders"`
	}
	getWithKey(t, base+"/api/channels/"+slug+"/orders", secrets.key, &orders)
	if len(orders.Orders) != 1 {
		t.Fatalf("API lists %d orders, want 1: %+v", len(orders.Orders), orders.Orders)
	}
	o := orders.Orders[0]
	if o.Buyer.Name != buyer || o.Buyer.Phone != phone || o.Note != note || len(o.Items) != 1 ||
		o.Items[0].ProductID != pinnedP.id || o.Items[0].Qty != 2 || o.SubtotalWon != 2*pinnedP.price ||
		o.DiscountWon != 1000 || o.TotalWon != total || o.CouponID == 0 || o.Status != "ready" || o.Source != "live" {
		t.Errorf("API order: %+v, want %s (%s) 2 x product %d, note %q, total %d with a 1000 won coupon, ready, live",
			o, buyer, phone, pinnedP.id, note, total)
	}
	var got struct {
		Stock int `json:"stock"`
	}
	getJSON(t, fmt.Sprintf("%s/api/channels/%s/products/%d", base, slug, pinnedP.id), &got)
	if got.Stock != pinnedP.stock-2 {
		t.Errorf("product stock is %d after the order, want %d", got.Stock, pinnedP.stock-2)
	}

	// 9. The merchant ends the broadcast; the customer's page is the stall again.
	tap(t, watch, "close my orders", chromedp.ID("orders-close"))
	tap(t, studio, "close the panel", chromedp.ID("sheet-close"))
	tap(t, studio, "end", chromedp.ID("end"))
	tap(t, studio, "yes, end", chromedp.CSS("#confirm button.end"))
	studio.waitFor(t, "the ended text", `document.getElementById('status-title').textContent === '방송이 끝났어요. 수고하셨어요!'
		&& !document.getElementById('go-live').hidden`)
	watch.waitWithin(t, "the stall view after the end", notLiveJS+` && `+stallJS+` && document.getElementById('live-ui').hidden
		&& !document.getElementById('orders-open').hidden`, 10*time.Second)
	shoot(watch, "watch-stall-after-live")
	checkNames(t, studio)
	checkReadable(t, studio)
	checkNames(t, watch)
	checkReadable(t, watch)

	// 10. Once the recording has ended the server cuts the products' clips: the shown product
	// has its video on the stall view, which plays under it; the other one has none.
	waitLog(t, logs, `msg="product clips cut"`, 30*time.Second)
	reload(t, watch)
	clipBtn := fmt.Sprintf(`#stall-products li[data-product="%d"] button.clip-btn`, pinnedP.id)
	watch.waitFor(t, "the shown product's video button", notLiveJS+` && `+stallJS+fmt.Sprintf(`
		&& document.querySelector(%q)?.textContent === '▶영상 보기'
		&& document.querySelectorAll('#stall-products button.clip-btn').length === 1
		&& !document.querySelector('#stall-products video')`, clipBtn))
	checkTargets(t, watch, "#stall-products button.clip-btn")
	tap(t, watch, "the product's video button", chromedp.CSS(clipBtn))
	clipVideo := fmt.Sprintf(`document.querySelector('#stall-products li[data-product="%d"] video.clip-video')`, pinnedP.id)
	watch.waitFor(t, "the clip's first frame", fmt.Sprintf(`(() => {
		const v = %s;
		return !!v && v.videoWidth > 0 && v.controls && v.playsInline && document.querySelectorAll('#stall-products video').length === 1
			&& document.querySelector(%q).getAttribute('aria-expanded') === 'true';
	})()`, clipVideo, clipBtn))
	t1, err := chromedp.Run(watch.ctx, chromedp.Evaluate[float64](clipVideo+`.currentTime`))
	if err != nil {
		t.Fatal(err)
	}
	watch.waitFor(t, "the clip playing", fmt.Sprintf(`(() => { const v = %s; return !v.paused && v.currentTime > %g; })()`, clipVideo, t1+0.3))
	scrollTo(t, watch, "#products-box")
	checkNames(t, watch)
	checkReadable(t, watch)
	shoot(watch, "watch-stall-clip")

	// 11. On a small phone (360 px), in English, with the studio's panels: nothing runs off
	// the screen and no button's words are cut.
	for _, tb := range []*tab{watch, studio} {
		if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(360, 740,
			chromedp.EmulateScale(phoneScale), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
			t.Fatalf("%s: small phone: %v", tb.name, err)
		}
		tap(t, tb, "English", chromedp.CSS("[data-lang-switch]"))
		tb.waitFor(t, "English", `document.documentElement.lang === 'en'`)
		checkFits(t, tb)
	}
	for _, panel := range []string{"products", "coupons", "orders", "chat", "schedule"} {
		tap(t, studio, "the "+panel+" tab", chromedp.CSS(fmt.Sprintf(`#tabs .tab[data-tab=%q]`, panel)))
		studio.waitFor(t, "the "+panel+" panel", fmt.Sprintf(`!document.getElementById('panel-%s').hidden`, panel))
		checkFits(t, studio)
		checkReadable(t, studio)
	}
	shoot(studio, "studio-360-en")
	shoot(watch, "watch-360-en")
	ok = !t.Failed()
}

// checkFits checks that the page does not run off the screen sideways and that no shown
// button cuts its words (its text wider than the button).
func checkFits(t *testing.T, tb *tab) {
	t.Helper()
	problems, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](`(() => {
  const out = [];
  if (document.documentElement.scrollWidth > innerWidth + 1) {
    out.push('the page is ' + document.documentElement.scrollWidth + ' px wide on a ' + innerWidth + ' px screen');
  }
  for (const el of document.querySelectorAll('button')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || el.closest('[hidden], dialog:not([open])')) continue;
    if (el.scrollWidth > el.clientWidth + 1) out.push('button cut: ' + el.outerHTML.slice(0, 120));
  }
  return out;
})()`))
	if err != nil {
		t.Fatalf("%s: check fit: %v", tb.name, err)
	}
	for _, p := range problems {
		t.Errorf("%s at 360 px: %s", tb.name, p)
	}
}

// planBroadcasts schedules two broadcasts in the studio's schedule panel, the first with the
// quick "6 in the evening" button and a title, the second "tomorrow, same time" without one,
// after the server refused a time in the past (its message shown, in Korean); deletes the
// second after saying yes; and returns the first's time.
func planBroadcasts(t *testing.T, studio *tab, title string, shoot func(*tab, string)) time.Time {
	t.Helper()
	tap(t, studio, "the schedule tab", chromedp.CSS(`#tabs .tab[data-tab="schedule"]`))
	studio.waitFor(t, "the empty schedule", `!document.getElementById('panel-schedule').hidden
		&& !document.getElementById('schedule-empty').hidden
		&& document.querySelectorAll('#schedule-quick button.quick').length === 2
		&& !document.getElementById('stall-open').hidden`)

	// The native pickers cannot be driven from here: the inputs are set as a picker sets them.
	setValues := func(date, tm string) {
		t.Helper()
		if _, err := chromedp.Run(studio.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
			for (const [id, v] of [['schedule-date', %q], ['schedule-time', %q]]) {
				const i = document.getElementById(id);
				i.value = v;
				i.dispatchEvent(new Event('input', { bubbles: true }));
			}
			return true;
		})()`, date, tm))); err != nil {
			t.Fatal(err)
		}
	}
	setValues("2020-01-02", "10:00")
	tap(t, studio, "save the schedule", chromedp.ID("schedule-save"))
	studio.waitFor(t, "the server's message for a time in the past", `!document.getElementById('schedule-error').hidden
		&& document.getElementById('schedule-error').textContent === '방송 시작 시각은 지금보다 뒤여야 합니다.'
		&& document.getElementById('schedule-date').getAttribute('aria-invalid') === 'true'
		&& !document.querySelector('#schedule-list li')`)

	kst := time.FixedZone("KST", 9*3600)
	picked := func() time.Time {
		t.Helper()
		v, err := chromedp.Run(studio.ctx, chromedp.Evaluate[[]string](`[document.getElementById('schedule-date').value, document.getElementById('schedule-time').value]`))
		if err != nil || len(v) != 2 {
			t.Fatalf("read the schedule inputs: %v %v", v, err)
		}
		at, err := time.ParseInLocation("2006-01-02 15:04", v[0]+" "+v[1], kst)
		if err != nil {
			t.Fatalf("the schedule inputs say %q: %v", v, err)
		}
		return at
	}
	tap(t, studio, "the 6 pm button", chromedp.CSS(`#schedule-quick button.quick:nth-child(2)`))
	studio.waitFor(t, "6 pm in the time input", `document.getElementById('schedule-time').value === '18:00'
		&& document.getElementById('schedule-error').hidden`)
	first := picked()
	typeInto(t, studio, "the broadcast's title", "#schedule-title", title)
	tap(t, studio, "save the schedule", chromedp.ID("schedule-save"))
	studio.waitFor(t, "the planned broadcast in the list", fmt.Sprintf(`(() => {
		const li = document.querySelectorAll('#schedule-list li.slot');
		return li.length === 1 && li[0].querySelector('.slot-when').textContent === %q
			&& li[0].querySelector('.slot-title').textContent === %q
			&& document.getElementById('schedule-empty').hidden && document.getElementById('schedule-title').value === '';
	})()`, koreanSlot(first), title))

	tap(t, studio, "the same-time-tomorrow button", chromedp.CSS(`#schedule-quick button.quick:nth-child(1)`))
	studio.waitFor(t, "a date in the date input", `document.getElementById('schedule-date').value !== ''`)
	second := picked()
	tap(t, studio, "save the schedule", chromedp.ID("schedule-save"))
	studio.waitFor(t, "two planned broadcasts", `document.querySelectorAll('#schedule-list li.slot').length === 2`)
	checkTargets(t, studio, "#schedule-list .slot-delete", "#schedule-quick button.quick", "#schedule-date", "#schedule-time", "#schedule-save", "#tabs .tab")
	checkNames(t, studio)
	checkReadable(t, studio)
	scrollTo(t, studio, "#schedule-list")
	shoot(studio, "studio-schedule")

	tap(t, studio, "delete the untitled one", chromedp.CSS(fmt.Sprintf(`#schedule-list .slot-delete[aria-label=%q]`, koreanSlot(second)+" 방송 일정 지우기")))
	studio.waitFor(t, "the delete question", fmt.Sprintf(`document.getElementById('ask').open
		&& document.getElementById('ask-title').textContent === '이 방송 일정을 지울까요?'
		&& document.getElementById('ask-text').textContent === %q`, koreanSlot(second)))
	tap(t, studio, "yes, delete", chromedp.ID("ask-yes"))
	studio.waitFor(t, "one planned broadcast left", fmt.Sprintf(`!document.getElementById('ask').open
		&& [...document.querySelectorAll('#schedule-list .slot-title')].map((e) => e.textContent).join('|') === %q`, title))
	return first
}

// editStall fills in the stall's profile from the schedule panel, with a photo taken (a file
// given to the camera input), saves it, and goes back, closing the panel.
func editStall(t *testing.T, studio *tab, shoot func(*tab, string), market, location, hours string, photo []byte) {
	t.Helper()
	tap(t, studio, "the stall info button", chromedp.ID("stall-open"))
	studio.waitFor(t, "the stall form", `!document.getElementById('panel-stall').hidden
		&& document.getElementById('sheet-title').textContent === '가게 정보'
		&& document.getElementById('stall-name').textContent === '순이네 반찬'
		&& document.getElementById('stall-location').value === ''`)
	typeInto(t, studio, "the market", "#stall-market", market)
	typeInto(t, studio, "the location", "#stall-location", location)
	typeInto(t, studio, "the hours", "#stall-hours", hours)
	path := filepath.Join(t.TempDir(), "stall.png")
	if err := os.WriteFile(path, photo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(studio.ctx, chromedp.SetUploadFiles(chromedp.CSS("#stall-photo"), []string{path})); err != nil {
		t.Fatalf("studio: take the stall photo: %v", err)
	}
	studio.waitFor(t, "the photo's preview", `document.getElementById('stall-photo-preview').src.startsWith('blob:')
		&& !document.getElementById('stall-photo-preview').hidden`)
	checkTargets(t, studio, "#stall-save", "#stall-back", "#stall-market", "#stall-location")
	checkNames(t, studio)
	checkReadable(t, studio)
	tap(t, studio, "save the stall info", chromedp.ID("stall-save"))
	studio.waitFor(t, "the stall info saved", `document.getElementById('toast').textContent === '가게 정보를 저장했어요.'
		&& document.getElementById('stall-photo-preview').getAttribute('src').startsWith('/photos/')
		&& document.getElementById('stall-error').hidden`)
	scrollTo(t, studio, "#stall-form")
	shoot(studio, "studio-stall")
	tap(t, studio, "back to the schedule", chromedp.ID("stall-back"))
	studio.waitFor(t, "the schedule panel", `!document.getElementById('panel-schedule').hidden`)
	tap(t, studio, "close the panel", chromedp.ID("sheet-close"))
	studio.waitFor(t, "the go-live button", `!document.getElementById('go-live').hidden && document.getElementById('sheet').hidden`)
}

// koreanSlot is a time as the pages write a scheduled broadcast's, in Korean time:
// 11월 24일 (화) 오후 5:00.
func koreanSlot(at time.Time) string {
	k := at.In(time.FixedZone("KST", 9*3600))
	half, h := "오전", k.Hour()%12
	if k.Hour() >= 12 {
		half = "오후"
	}
	if h == 0 {
		h = 12
	}
	return fmt.Sprintf("%d월 %d일 (%s) %s %d:%02d", k.Month(), k.Day(), []string{"일", "월", "화", "수", "목", "금", "토"}[k.Weekday()], half, h, k.Minute())
}

// reload loads the tab's page again and waits for it.
func reload(t *testing.T, tb *tab) {
	t.Helper()
	if err := chromedp.Do(tb.ctx, chromedp.Reload()); err != nil {
		t.Fatalf("%s: reload: %v", tb.name, err)
	}
}

// scrollTo scrolls the element sel selects to the top of its scrolling box, for a screenshot.
func scrollTo(t *testing.T, tb *tab, sel string) {
	t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector(%q).scrollIntoView({ block: 'start' }), true)`, sel))); err != nil {
		t.Fatalf("%s: scroll to %s: %v", tb.name, sel, err)
	}
}

// stallJS is true while a watch page shows the stall (its name), not the live video.
const stallJS = `document.body.classList.contains('offline') && !document.getElementById('stall-info').hidden
	&& document.getElementById('stall-name').textContent !== ''`

// settledJS is true when no finite animation runs and every visible image has loaded.
const settledJS = `document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity)
	&& [...document.images].every((i) => !i.getClientRects().length || (i.complete && (!i.getAttribute('src') || i.naturalWidth > 0)))`

// needChromium skips t when Chromium is missing, and fails it under DANGOL_TEST_STRICT=1.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("DANGOL_TEST_STRICT") == "1" {
			t.Fatalf("chromium is not installed at %s (DANGOL_TEST_STRICT=1): %v", chromiumPath, err)
		}
		t.Skipf("SKIPPED: chromium is not installed at %s; the pages are not tested in a browser", chromiumPath)
	}
}

// screenshots returns a function that saves a settled tab's whole screen as name.png in
// $DANGOL_TEST_SCREENSHOTS (the README's pictures), or in a temporary folder.
func screenshots(t *testing.T) func(tb *tab, name string) {
	shots := os.Getenv("DANGOL_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return func(tb *tab, name string) {
		t.Helper()
		// Nothing half-way through a transition (the live dot's endless blink aside).
		tb.waitWithin(t, "a settled page for the screenshot "+name, settledJS, 5*time.Second)
		img, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("%s: screenshot %s: %v", tb.name, name, err)
		}
		// The whole screen, at the phone's pixel ratio, whatever its size then.
		size, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]int](`[innerWidth * devicePixelRatio, innerHeight * devicePixelRatio]`))
		if err != nil {
			t.Fatalf("%s: screen size: %v", tb.name, err)
		}
		if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != size[0] || cfg.Height != size[1] {
			t.Errorf("screenshot %s is %dx%d (%v), want %dx%d", name, cfg.Width, cfg.Height, err, size[0], size[1])
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
}

// openPhone opens url in a new tab of a browser context of its own (its own storage, as on
// another phone), at phone size with touch, in Korean, recording its console.
func openPhone(t *testing.T, b *browser, name, url string) *tab {
	t.Helper()
	ctx, _ := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext()) // closed with the browser
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: new tab: %v", name, err)
	}
	tb := b.attach(t, ctx, name, url, chromedp.EmulateViewport(phoneWidth, phoneHeight,
		chromedp.EmulateScale(phoneScale), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	size, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[innerWidth, innerHeight, devicePixelRatio, navigator.maxTouchPoints > 0 ? 1 : 0]`))
	if err != nil || len(size) != 4 || size[0] != phoneWidth || size[1] != phoneHeight || size[2] != phoneScale || size[3] != 1 {
		t.Fatalf("%s: window is %v (%v), want %dx%d at %dx with touch", name, size, err, phoneWidth, phoneHeight, phoneScale)
	}
	return tb
}

// tap taps the element sel selects, waiting (boundedly) for it to be visible.
func tap[S chromedp.Selectable](t *testing.T, tb *tab, what string, sel S) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Tap(sel, chromedp.NodeVisible)); err != nil {
		state, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](pageStateJS))
		t.Fatalf("%s: tap %s: %v\nstate: %s", tb.name, what, err, state)
	}
}

// typeInto types text into the input sel selects, key by key, and checks that it holds it.
func typeInto(t *testing.T, tb *tab, what, sel, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible)); err != nil {
		t.Fatalf("%s: type into %s: %v", tb.name, what, err)
	}
	tb.waitWithin(t, what+" typed", fmt.Sprintf(`document.querySelector(%q).value === %q`, sel, text), 5*time.Second)
}

// checkNames checks that every button, input, select and textarea on the page, shown or not,
// has an accessible name: aria-label, aria-labelledby, a label, or its own text (without the
// parts hidden from assistive technology), or a title.
func checkNames(t *testing.T, tb *tab) {
	t.Helper()
	nameless, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](`(() => {
  const text = (n) => {
    if (n.nodeType === Node.TEXT_NODE) return n.textContent;
    if (n.nodeType !== Node.ELEMENT_NODE || n.getAttribute('aria-hidden') === 'true') return '';
    return [...n.childNodes].map(text).join('');
  };
  const out = [];
  for (const el of document.querySelectorAll('button,input,select,textarea')) {
    if (el.type === 'hidden') continue;
    const by = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)
      .map((id) => { const l = document.getElementById(id); return l ? text(l) : ''; }).join(' ');
    const names = [el.getAttribute('aria-label'), by, ...[...(el.labels || [])].map(text),
      el.tagName === 'BUTTON' ? text(el) : '', el.getAttribute('title'),
      ['submit', 'button', 'reset'].includes(el.type) && el.tagName === 'INPUT' ? el.value : ''];
    if (!names.some((s) => (s || '').trim() !== '')) out.push(el.outerHTML.slice(0, 160));
  }
  return out;
})()`))
	if err != nil {
		t.Fatalf("%s: check names: %v", tb.name, err)
	}
	for _, n := range nameless {
		t.Errorf("%s: a control without an accessible name: %s", tb.name, n)
	}
}

// checkReadable checks the rest of the accessibility basics on what the page shows now: text
// contrast (WCAG AA: 4.5:1, or 3:1 for large text) against the solid background behind it, and
// a focus order that follows the page (no positive tabindex). Text over the video, or over a
// gradient or picture, has no single background to measure and is left out, as are disabled
// controls, which WCAG exempts.
func checkReadable(t *testing.T, tb *tab) {
	t.Helper()
	type problem struct {
		What  string  `json:"what"`
		Text  string  `json:"text"`
		Ratio float64 `json:"ratio"`
		Want  float64 `json:"want"`
	}
	problems, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]problem](`(() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage !== 'none' || e.tagName === 'VIDEO') return null;
      const c = parse(cs.backgroundColor);
      if (c && c.a >= 0.95) return c;
      if (c && c.a > 0.05) return null; // see-through: what is behind varies
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('').trim();
    if (!own || el.closest('[hidden], dialog:not([open]), [aria-hidden="true"]') || el.closest(':disabled')) continue;
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || cs.visibility !== 'visible' || Number(cs.opacity) < 0.1) continue;
    if (r.bottom < 0 || r.top > innerHeight) continue; // what the screen shows now
    const bg = background(el);
    const fg = parse(cs.color);
    if (!bg || !fg) continue;
    const mix = { r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a) };
    const [hi, lo] = [lum(mix), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    const want = large ? 3 : 4.5;
    if (ratio < want) out.push({ what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + String(el.className).split(' ').join('.') : ''), text: own.slice(0, 40), ratio: Math.round(ratio * 100) / 100, want });
  }
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (el.tabIndex > 0) out.push({ what: 'tabindex ' + el.tabIndex + ': ' + el.outerHTML.slice(0, 80), text: '', ratio: 0, want: 0 });
  }
  return out;
})()`))
	if err != nil {
		t.Fatalf("%s: check contrast: %v", tb.name, err)
	}
	for _, p := range problems {
		if p.Want == 0 {
			t.Errorf("%s: a positive tabindex breaks the focus order: %s", tb.name, p.What)
			continue
		}
		t.Errorf("%s: text %q (%s) has contrast %.2f:1, want at least %.1f:1", tb.name, p.Text, p.What, p.Ratio, p.Want)
	}
}

// checkTargets checks that every shown element each selector selects is at least 48x48 CSS
// pixels, and that each selects at least one shown element.
func checkTargets(t *testing.T, tb *tab, selectors ...string) {
	t.Helper()
	type box struct {
		HTML   string  `json:"html"`
		Width  float64 `json:"width"`
		Height float64 `json:"height"`
	}
	for _, sel := range selectors {
		boxes, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]box](fmt.Sprintf(`[...document.querySelectorAll(%q)]
			.map((el) => ({ el, r: el.getBoundingClientRect() })).filter(({ r }) => r.width > 0 && r.height > 0)
			.map(({ el, r }) => ({ html: el.outerHTML.slice(0, 100), width: r.width, height: r.height }))`, sel)))
		if err != nil {
			t.Fatalf("%s: measure %s: %v", tb.name, sel, err)
		}
		if len(boxes) == 0 {
			t.Errorf("%s: no shown %s to measure", tb.name, sel)
		}
		for _, b := range boxes {
			if b.Width < 48 || b.Height < 48 {
				t.Errorf("%s: touch target %s is %.0fx%.0f CSS px, want at least 48x48: %s", tb.name, sel, b.Width, b.Height, b.HTML)
			}
		}
	}
}

// won is a price as the Korean pages write it: 12,000원.
func won(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s + "원"
}

// testPhoto is a small PNG: a round dish of one color on another.
func testPhoto(t *testing.T, dish, ground color.RGBA) []byte {
	t.Helper()
	const n = 240
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			dx, dy := x-n/2, y-n/2
			c := ground
			if dx*dx+dy*dy < (n/3)*(n/3) {
				c = dish
				if (x/12+y/12)%2 == 0 { // some texture, so the thumbnail is not a flat disc
					c.R, c.G, c.B = c.R/8*7, c.G/8*7, c.B/8*7
				}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// createProductWithPhoto adds a product with its photo in one multipart POST, as docs/api.md
// shows with curl, and returns its id.
func createProductWithPhoto(t *testing.T, base, slug, key, name string, price, stock int, photo []byte) int64 {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range map[string]string{"name": name, "price_won": fmt.Sprint(price), "stock": fmt.Sprint(stock)} {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("photo", "photo.png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(photo); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", base+"/api/channels/"+slug+"/products", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		ThumbURL string `json:"thumb_url"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || resp.StatusCode != http.StatusCreated || p.ID == 0 || p.Name != name || !strings.HasPrefix(p.ThumbURL, "/photos/") {
		t.Fatalf("create product %q: status %d: %s (%v)", name, resp.StatusCode, raw, err)
	}
	return p.ID
}

// getWithKey gets url with the merchant's key ("": none, as a customer) and decodes its JSON
// body into v; anything but 200 fails t.
func getWithKey(t *testing.T, url, key string, v any) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, raw)
	}
}
