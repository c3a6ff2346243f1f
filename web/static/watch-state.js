// @ts-check
// The watch page's logic without a DOM: formatting, the live room's state
// as events change it, and the mapping of server answers to texts. Pure
// functions, tested in testdata/static.test.js.

/**
 * @typedef {{id: number, name: string, price_won: number, stock: number, thumb_url?: string, photo_url?: string, description?: string}} Product
 * @typedef {{id: number, title: string, discount_won: number, quantity: number, remaining: number, expires_at?: string}} Coupon
 * @typedef {{id: number, viewer_id: number, nickname: string, text: string, hidden?: boolean}} ChatMessage
 * @typedef {{id: number, coupon_id: number, used_by_order?: number}} Claim
 * @typedef {{id: number, status: string, items: Array<{product_id: number, name: string, unit_price_won: number, qty: number}>, total_won: number, discount_won?: number, coupon_id?: number, created_at?: string, source?: string}} Order
 * @typedef {{
 *   live: boolean, broadcastId: number, practice: boolean, pinned: Product | null,
 *   coupons: Coupon[], closed: Record<number, string>,
 *   viewers: number, likes: number, notice: string, chat: ChatMessage[],
 *   claims: Claim[], known: Record<number, Coupon>
 * }} LiveState
 */

/** How many chat messages the page keeps (and shows at most). */
export const chatKeep = 30;

/**
 * Won as Koreans write it: 5,000원 (English: ₩5,000).
 * @param {number} won
 * @param {string} [lang]
 * @returns {string}
 */
export function formatWon(won, lang = 'ko') {
  const n = Math.round(Number(won) || 0);
  const digits = Math.abs(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const sign = n < 0 ? '-' : '';
  return lang === 'en' ? `${sign}₩${digits}` : `${sign}${digits}원`;
}

/**
 * A big count, short: 1234 -> 1.2k / 1.2천, 12345 -> 1.2만 in Korean.
 * @param {number} n
 * @param {string} [lang]
 * @returns {string}
 */
export function formatCount(n, lang = 'ko') {
  n = Math.max(0, Math.floor(Number(n) || 0));
  if (lang === 'ko') {
    if (n >= 10000) {
      return `${trim1(n / 10000)}만`;
    }
    return n.toLocaleString('en-US');
  }
  if (n >= 1_000_000) {
    return `${trim1(n / 1_000_000)}M`;
  }
  if (n >= 10_000) {
    return `${trim1(n / 1000)}k`;
  }
  return n.toLocaleString('en-US');
}

/** @param {number} x */
function trim1(x) {
  return (Math.floor(x * 10) / 10).toString();
}

/** The statuses of an order, in their usual order. */
export const orderSteps = ['placed', 'accepted', 'ready', 'picked_up'];

/**
 * The text key that says an order's status in words.
 * @param {string} status
 * @returns {string}
 */
export function orderStatusKey(status) {
  switch (status) {
    case 'placed': return 'watch.orderPlaced';
    case 'accepted': return 'watch.orderAccepted';
    case 'ready': return 'watch.orderReady';
    case 'picked_up': return 'watch.orderPickedUp';
    case 'rejected': return 'watch.orderRejected';
    case 'cancelled': return 'watch.orderCancelled';
    default: return 'watch.orderUnknown';
  }
}

/**
 * Whether the buyer may still cancel: only while the merchant has not
 * accepted it (docs/protocol.md, order.cancel).
 * @param {{status: string}} order
 */
export function canCancel(order) {
  return order.status === 'placed';
}

/**
 * Whether an order is over (nothing more will happen to it).
 * @param {{status: string}} order
 */
export function orderDone(order) {
  return ['picked_up', 'rejected', 'cancelled'].includes(order.status);
}

/**
 * The text key for a server error (a RoomError's or an API error's code and
 * field): the viewer's language whatever the server said.
 * @param {string} code
 * @param {string} [field]
 * @returns {string}
 */
export function errorKey(code, field) {
  switch (code) {
    case 'out_of_stock': return 'watch.errOutOfStock';
    case 'sold_out': return 'watch.errSoldOut';
    case 'already_claimed': return 'watch.errAlreadyClaimed';
    case 'expired': return 'watch.errExpired';
    case 'closed': return 'watch.errClosed';
    case 'not_live': return 'watch.errNotLive';
    case 'coupon_not_claimed': return 'watch.errCouponNotClaimed';
    case 'coupon_used': return 'watch.errCouponUsed';
    case 'bad_transition': return 'watch.errBadTransition';
    case 'rate_limited': return 'watch.errRateLimited';
    case 'banned_word': return 'watch.errBannedWord';
    case 'muted': return 'watch.errMuted';
    case 'banned': return 'watch.errBanned';
    case 'not_found': return 'watch.errNotFound';
    case 'network': return 'watch.errNetwork';
    case 'invalid':
      switch (fieldRoot(field)) {
        case 'buyer.name': return 'watch.errName';
        case 'buyer.phone': return 'watch.errPhone';
        case 'note': return 'watch.errNote';
        case 'items': return 'watch.errQty';
        case 'text': return 'watch.errText';
        case 'name': return 'watch.errNickname';
        default: return 'watch.errInvalid';
      }
    default: return 'watch.errGeneric';
  }
}

/**
 * items[0].qty -> items; buyer.phone stays.
 * @param {string | undefined} field
 */
function fieldRoot(field) {
  if (!field) {
    return '';
  }
  if (field.startsWith('items')) {
    return 'items';
  }
  return field;
}

/**
 * Checks the order form before it is sent; the server checks again.
 * @param {{name: string, phone: string, qty: number, note: string}} f
 * @returns {{field: string, key: string} | null}
 */
export function checkOrderForm(f) {
  if (!f.name.trim()) {
    return { field: 'buyer.name', key: 'watch.errName' };
  }
  const digits = f.phone.replace(/[^0-9]/g, '');
  if (digits.length < 9 || digits.length > 15 || /[^0-9+\-\s()]/.test(f.phone.trim())) {
    return { field: 'buyer.phone', key: 'watch.errPhone' };
  }
  if (!Number.isInteger(f.qty) || f.qty < 1 || f.qty > 999) {
    return { field: 'items', key: 'watch.errQty' };
  }
  if (f.note.length > 200) {
    return { field: 'note', key: 'watch.errNote' };
  }
  return null;
}

/**
 * The quantity after a step, kept between 1 and the stock (and 999).
 * @param {number} qty
 * @param {number} step
 * @param {number} stock
 */
export function stepQty(qty, step, stock) {
  const max = Math.max(1, Math.min(999, stock));
  return Math.min(max, Math.max(1, qty + step));
}

/**
 * The room's state from a hello reply.
 * @param {Record<string, any>} hello
 * @param {LiveState} [prev] keeps the coupons seen before
 * @returns {LiveState}
 */
export function fromHello(hello, prev) {
  const st = hello.state ?? {};
  /** @type {Record<number, Coupon>} */
  const known = { ...(prev?.known ?? {}) };
  const coupons = Array.isArray(st.coupons) ? st.coupons : [];
  for (const c of coupons) {
    known[c.id] = c;
  }
  return {
    live: !!st.live,
    broadcastId: st.broadcast_id ?? 0,
    practice: !!st.practice,
    pinned: st.pinned ?? null,
    coupons,
    closed: {},
    viewers: st.viewers ?? 0,
    likes: st.likes ?? 0,
    notice: st.notice ?? '',
    chat: (Array.isArray(st.chat) ? st.chat : []).filter((/** @type {ChatMessage} */ m) => !m.hidden).slice(-chatKeep),
    claims: Array.isArray(hello.claims) ? hello.claims : [],
    known,
  };
}

/** @returns {LiveState} */
export function emptyState() {
  return fromHello({});
}

/**
 * The state after a room event. Returns the same object when nothing
 * changed, a new one otherwise (the old one is not changed).
 * @param {LiveState} s
 * @param {Record<string, any>} ev
 * @returns {LiveState}
 */
export function reduce(s, ev) {
  switch (ev.type) {
    case 'chat.message': {
      const m = ev.message;
      if (!m || m.hidden || s.chat.some((x) => x.id === m.id)) {
        return s;
      }
      return { ...s, chat: [...s.chat, m].slice(-chatKeep) };
    }
    case 'chat.hidden':
      return { ...s, chat: s.chat.filter((m) => m.id !== ev.message_id) };
    case 'product.pinned':
      return { ...s, pinned: ev.product ?? null };
    case 'stock':
      if (s.pinned && s.pinned.id === ev.product_id) {
        return { ...s, pinned: { ...s.pinned, stock: ev.stock } };
      }
      return s;
    case 'coupon.dropped': {
      const c = ev.coupon;
      if (!c) {
        return s;
      }
      return {
        ...s,
        coupons: [...s.coupons.filter((x) => x.id !== c.id), c],
        known: { ...s.known, [c.id]: c },
      };
    }
    case 'coupon.remaining':
      return {
        ...s,
        coupons: s.coupons.map((c) => (c.id === ev.coupon_id ? { ...c, remaining: ev.remaining } : c)),
      };
    case 'coupon.closed':
      return {
        ...s,
        coupons: s.coupons.filter((c) => c.id !== ev.coupon_id),
        closed: { ...s.closed, [ev.coupon_id]: ev.reason },
      };
    case 'likes':
      return { ...s, likes: ev.likes };
    case 'viewers':
      return { ...s, viewers: ev.viewers };
    case 'notice':
      return { ...s, notice: ev.text ?? '' };
    case 'live':
      if (!ev.live) {
        return { ...emptyState(), known: s.known, likes: 0, viewers: s.viewers };
      }
      return { ...s, live: true, broadcastId: ev.broadcast_id ?? s.broadcastId, practice: !!ev.practice };
    default:
      return s;
  }
}

/**
 * Adds a claim (from a coupon.claim reply).
 * @param {LiveState} s
 * @param {Claim} claim
 * @returns {LiveState}
 */
export function addClaim(s, claim) {
  if (s.claims.some((c) => c.coupon_id === claim.coupon_id)) {
    return s;
  }
  return { ...s, claims: [...s.claims, claim] };
}

/**
 * The coupons this viewer claimed and has not used yet, with what is known
 * of them, for the order form.
 * @param {LiveState} s
 * @returns {Array<{coupon_id: number, title: string, discount_won: number}>}
 */
export function usableCoupons(s) {
  return s.claims
    .filter((c) => !c.used_by_order)
    .map((c) => {
      const k = s.known[c.coupon_id];
      return { coupon_id: c.coupon_id, title: k?.title ?? '', discount_won: k?.discount_won ?? 0 };
    });
}

/**
 * Marks the coupon of an order as used, or free again when the order was
 * cancelled or rejected (the server gives the claim back).
 * @param {LiveState} s
 * @param {Order} order
 * @returns {LiveState}
 */
export function applyOrderToClaims(s, order) {
  if (!order.coupon_id) {
    return s;
  }
  const back = order.status === 'cancelled' || order.status === 'rejected';
  return {
    ...s,
    claims: s.claims.map((c) => {
      if (c.coupon_id !== order.coupon_id) {
        return c;
      }
      if (back) {
        return c.used_by_order === order.id ? { ...c, used_by_order: 0 } : c;
      }
      return { ...c, used_by_order: order.id };
    }),
  };
}

/**
 * The buyer's orders after an update: newest first, at most keep of them.
 * @param {Order[]} orders
 * @param {Order} order
 * @param {number} [keep]
 * @returns {Order[]}
 */
export function upsertOrder(orders, order, keep = 10) {
  const rest = orders.filter((o) => o.id !== order.id);
  const old = orders.find((o) => o.id === order.id);
  // Events can cross a reply: never go back from a later status.
  if (old && rank(old.status) > rank(order.status)) {
    return orders;
  }
  return [order, ...rest].sort((a, b) => b.id - a.id).slice(0, keep);
}

/** @param {string} status */
function rank(status) {
  const i = orderSteps.indexOf(status);
  return i >= 0 ? i : 10; // rejected, cancelled: final
}

/**
 * What a coupon banner says about the claim: a text key, or '' for the
 * claim button.
 * @param {{claimed: boolean, closed?: string, remaining: number}} c
 */
export function couponStateKey(c) {
  if (c.claimed) {
    return 'watch.couponClaimed';
  }
  if (c.closed === 'expired' || c.closed === 'ended') {
    return 'watch.couponExpired';
  }
  if (c.closed === 'sold_out' || c.remaining <= 0) {
    return 'watch.couponSoldOut';
  }
  return '';
}

/**
 * Which file a replay plays: HLS where the browser plays it natively
 * (iPhone Safari), else the MP4/WebM file.
 * @param {{replay_url?: string, replay_hls_url?: string}} r
 * @param {boolean} nativeHls
 * @returns {string}
 */
export function replaySource(r, nativeHls) {
  if (nativeHls && r.replay_hls_url) {
    return r.replay_hls_url;
  }
  return r.replay_url ?? r.replay_hls_url ?? '';
}

/**
 * The chapter playing at a time, or -1.
 * @param {Array<{offset_s: number}>} chapters
 * @param {number} t seconds
 */
export function chapterAt(chapters, t) {
  let at = -1;
  for (let i = 0; i < chapters.length; i++) {
    if (chapters[i].offset_s <= t + 0.25) {
      at = i;
    }
  }
  return at;
}

/**
 * Seconds as m:ss or h:mm:ss.
 * @param {number} s
 */
export function formatDuration(s) {
  s = Math.max(0, Math.floor(Number(s) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/**
 * A date and time for the schedule and the replays, in Korea's time zone
 * (the markets are there), e.g. "3월 5일 (수) 오후 2:00".
 * @param {string} iso
 * @param {string} lang
 */
export function formatWhen(iso, lang) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return '';
  }
  try {
    return d.toLocaleString(lang === 'en' ? 'en-US' : 'ko-KR', {
      timeZone: 'Asia/Seoul', month: 'short', day: 'numeric', weekday: 'short', hour: 'numeric', minute: '2-digit',
    });
  } catch {
    return d.toISOString().slice(0, 16).replace('T', ' ');
  }
}

/**
 * The next scheduled broadcasts, soonest first, leaving out those that
 * started more than an hour ago.
 * @param {Array<{id: number, title: string, starts_at: string}> | undefined} schedule
 * @param {number} now ms
 */
export function upcoming(schedule, now) {
  if (!Array.isArray(schedule)) {
    return [];
  }
  return schedule
    .filter((s) => s && typeof s.starts_at === 'string' && Date.parse(s.starts_at) > now - 3600_000)
    .sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
}

/**
 * A nickname as the server takes it: trimmed, one line, at most 20 characters.
 * @param {string} s
 */
export function cleanNickname(s) {
  return [...s.replace(/\s+/g, ' ').trim()].slice(0, 20).join('');
}

/**
 * @typedef {{url: string, duration_s?: number, broadcast_id?: number, pinned_at?: string}} Clip
 * @typedef {Product & {clip?: Clip}} StallProduct
 */

/**
 * The products the stall view lists, from GET .../products: those with a
 * name and a price, in the server's order, each with its clip only when the
 * clip is a path on this server (the page's media policy allows no other).
 * @param {unknown} list
 * @returns {StallProduct[]}
 */
export function stallProducts(list) {
  if (!Array.isArray(list)) {
    return [];
  }
  /** @type {StallProduct[]} */
  const out = [];
  for (const p of list) {
    if (!p || typeof p !== 'object' || typeof p.id !== 'number' || typeof p.name !== 'string' || typeof p.price_won !== 'number') {
      continue;
    }
    const stock = Math.max(0, Math.floor(Number(p.stock) || 0));
    /** @type {StallProduct} */
    const sp = { id: p.id, name: p.name, price_won: p.price_won, stock };
    for (const k of /** @type {const} */ (['thumb_url', 'photo_url'])) {
      if (typeof p[k] === 'string' && p[k].startsWith('/')) {
        sp[k] = p[k];
      }
    }
    const c = p.clip;
    if (c && typeof c.url === 'string' && c.url.startsWith('/') && !c.url.startsWith('//')) {
      sp.clip = { url: c.url, duration_s: Number(c.duration_s) || 0 };
    }
    out.push(sp);
  }
  return out;
}

/**
 * The practice token of an invitation link /c/{slug}?practice=<token>, or ''
 * when there is none or it is not a token (a mangled link must not end up in
 * a header).
 * @param {string} search location.search
 * @returns {string}
 */
export function practiceToken(search) {
  const v = (new URLSearchParams(search).get('practice') ?? '').trim();
  return /^[A-Za-z0-9._~+/=-]{1,512}$/.test(v) ? v : '';
}

/**
 * Whether the room's state is a broadcast this viewer may see as live: a
 * practice broadcast only with a practice token (the server keeps others
 * out, but a page must not show a live view it cannot play).
 * @param {{live: boolean, practice: boolean}} s
 * @param {string} token the viewer's practice token, '' for none
 * @returns {boolean}
 */
export function watchableLive(s, token) {
  return s.live && (!s.practice || token !== '');
}

/**
 * How the watch page takes a refused WHEP offer: 'notLive' while the
 * channel is private for a practice session (401 without a practice
 * credential, 403 with one that is not, or no longer, good), when it is not
 * live (503) or full (429), 'notFound' for an unknown channel, 'error'
 * otherwise. Only 'notFound' stops the retries.
 * @param {number} status
 * @param {string} code
 * @returns {'notLive' | 'full' | 'notFound' | 'error'}
 */
export function whepRefusal(status, code) {
  if (status === 429 || status === 503) {
    return code === 'full' ? 'full' : 'notLive';
  }
  if (status === 401 || status === 403) {
    return 'notLive';
  }
  if (status === 404) {
    return 'notFound';
  }
  return 'error';
}
