// @ts-check
// The studio's logic that needs no page: money, order steps, coupon
// presets, connection quality from WebRTC stats, login input. Tested
// without a browser in testdata/static.test.js.

/**
 * Formats won as people write it: 5,000원 (Korean), 5,000 won (English).
 * @param {number} won
 * @param {'ko' | 'en'} [lang]
 * @returns {string}
 */
export function formatWon(won, lang = 'ko') {
  const n = Math.round(Number(won) || 0);
  const digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const s = (n < 0 ? '-' : '') + digits;
  return lang === 'en' ? `${s} won` : `${s}원`;
}

/**
 * Reads a number a merchant typed: digits, maybe with commas, spaces or 원.
 * @param {string} text
 * @returns {number | null} the whole number, or null when it is not one
 */
export function parseAmount(text) {
  const s = String(text ?? '').replace(/[\s,원]/g, '').replace(/won$/i, '');
  if (!/^\d{1,12}$/.test(s)) {
    return null;
  }
  return Number(s);
}

/**
 * @typedef {'placed' | 'accepted' | 'ready' | 'picked_up' | 'rejected' | 'cancelled'} OrderStatus
 * @typedef {{status: OrderStatus, key: string}} Step the next status and the text key of its button
 */

/** The merchant's next step for each status (commerce/order.go transitions). */
const nextSteps = /** @type {Record<string, Step>} */ ({
  placed: { status: 'accepted', key: 'studio.orderAccept' },
  accepted: { status: 'ready', key: 'studio.orderReady' },
  ready: { status: 'picked_up', key: 'studio.orderPickedUp' },
});

/**
 * The big button of an order: what comes next, or null when it is done.
 * @param {string} status
 * @returns {Step | null}
 */
export function nextStep(status) {
  return nextSteps[status] ?? null;
}

/**
 * Whether the merchant can still refuse the order.
 * @param {string} status
 * @returns {boolean}
 */
export function canReject(status) {
  return status === 'placed' || status === 'accepted' || status === 'ready';
}

/** The text key of each status, as the merchant reads it. */
export const statusKeys = /** @type {Record<string, string>} */ ({
  placed: 'studio.statusPlaced',
  accepted: 'studio.statusAccepted',
  ready: 'studio.statusReady',
  picked_up: 'studio.statusPickedUp',
  rejected: 'studio.statusRejected',
  cancelled: 'studio.statusCancelled',
});

/** Orders still to handle come first: new ones, then accepted, then ready. */
const statusRank = /** @type {Record<string, number>} */ ({ placed: 0, accepted: 1, ready: 2 });

/**
 * @typedef {{id: number, status: string, [k: string]: any}} Order
 */

/**
 * Puts an order into the list (replacing the one with its id), and sorts
 * the list: orders to handle first (new, accepted, ready), newest first
 * within each group.
 * @param {Order[]} list
 * @param {Order} order
 * @returns {{list: Order[], isNew: boolean}} isNew: the order was not in the list
 */
export function upsertOrder(list, order) {
  const i = list.findIndex((o) => o.id === order.id);
  const next = [...list];
  if (i >= 0) {
    next[i] = order;
  } else {
    next.push(order);
  }
  return { list: sortOrders(next), isNew: i < 0 };
}

/**
 * @param {Order[]} list
 * @returns {Order[]}
 */
export function sortOrders(list) {
  const rank = (/** @type {Order} */ o) => statusRank[o.status] ?? 3;
  return [...list].sort((a, b) => rank(a) - rank(b) || b.id - a.id);
}

/**
 * How many orders wait for the merchant to accept them (the tab's badge).
 * @param {Order[]} list
 * @returns {number}
 */
export function waitingOrders(list) {
  return list.filter((o) => o.status === 'placed').length;
}

/**
 * The items of an order in one line: 고등어 ×2, 오징어 ×1.
 * @param {Array<{name: string, qty: number}>} items
 * @returns {string}
 */
export function itemsLine(items) {
  return (items ?? []).map((it) => `${it.name} ×${it.qty}`).join(', ');
}

/**
 * @typedef {{discountWon: number, quantity: number, minutes: number}} CouponPreset
 */

/** The coupon buttons: fixed won discounts, 10 minutes each. */
export const couponPresets = /** @type {readonly CouponPreset[]} */ (Object.freeze([
  { discountWon: 1000, quantity: 30, minutes: 10 },
  { discountWon: 2000, quantity: 20, minutes: 10 },
  { discountWon: 3000, quantity: 10, minutes: 10 },
  { discountWon: 5000, quantity: 5, minutes: 10 },
]));

/**
 * The coupon.drop command's fields for a coupon, checked against the
 * protocol's limits.
 * @param {{title?: string, discountWon: number | null, quantity: number | null, minutes: number | null}} c
 * @param {'ko' | 'en'} [lang] for the default title
 * @returns {{ok: true, fields: {title: string, discount_won: number, quantity: number, expires_in_s: number}} | {ok: false, field: string, key: string}}
 */
export function couponDrop(c, lang = 'ko') {
  const d = c.discountWon;
  if (d === null || !Number.isInteger(d) || d < 1 || d > 1_000_000) {
    return { ok: false, field: 'discount', key: 'studio.couponBadDiscount' };
  }
  const q = c.quantity;
  if (q === null || !Number.isInteger(q) || q < 1 || q > 100_000) {
    return { ok: false, field: 'quantity', key: 'studio.couponBadQuantity' };
  }
  const m = c.minutes;
  if (m === null || !Number.isInteger(m) || m < 1 || m > 1440) {
    return { ok: false, field: 'minutes', key: 'studio.couponBadMinutes' };
  }
  let title = (c.title ?? '').trim();
  if (!title) {
    title = lang === 'en' ? `${formatWon(d, 'en')} off` : `${formatWon(d)} 할인`;
  }
  if ([...title].length > 40) {
    return { ok: false, field: 'title', key: 'studio.couponBadTitle' };
  }
  return { ok: true, fields: { title, discount_won: d, quantity: q, expires_in_s: m * 60 } };
}

/**
 * Seconds left until an RFC 3339 time, never below 0.
 * @param {string} at
 * @param {number} now milliseconds since the epoch
 * @returns {number}
 */
export function secondsLeft(at, now) {
  const t = Date.parse(at);
  if (Number.isNaN(t)) {
    return 0;
  }
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/**
 * A channel name and PIN as typed on the login form.
 * @param {string} channel
 * @param {string} pin
 * @returns {{ok: true, channel: string, pin: string} | {ok: false, field: 'channel' | 'pin', key: string}}
 */
export function loginInput(channel, pin) {
  const c = String(channel ?? '').trim().toLowerCase();
  // Digits typed on a full-width keyboard count too.
  const p = String(pin ?? '').replace(/[０-９]/g, (d) => String(d.charCodeAt(0) - 0xff10)).replace(/\s/g, '');
  if (!c) {
    return { ok: false, field: 'channel', key: 'studio.loginNeedChannel' };
  }
  if (!/^\d{6}$/.test(p)) {
    return { ok: false, field: 'pin', key: 'studio.loginNeedPin' };
  }
  return { ok: true, channel: c, pin: p };
}

/**
 * @typedef {object} StatsSample what one getStats() says about sending
 * @property {number} at milliseconds
 * @property {number} bytesSent all outgoing RTP bytes (audio and video)
 * @property {number | null} loss fraction of packets lost (0..1) the server reports, the worst stream
 * @property {number | null} rtt round-trip time in seconds, the worst stream
 */

/**
 * Reads the numbers that matter from a publisher's stats report (the
 * values of RTCPeerConnection.getStats()).
 * @param {Iterable<any>} stats
 * @param {number} at
 * @returns {StatsSample}
 */
export function statsSample(stats, at) {
  let bytesSent = 0;
  /** @type {number | null} */
  let loss = null;
  /** @type {number | null} */
  let rtt = null;
  for (const s of stats) {
    if (s.type === 'outbound-rtp' && typeof s.bytesSent === 'number') {
      bytesSent += s.bytesSent;
    } else if (s.type === 'remote-inbound-rtp') {
      if (typeof s.fractionLost === 'number') {
        loss = Math.max(loss ?? 0, s.fractionLost);
      }
      if (typeof s.roundTripTime === 'number') {
        rtt = Math.max(rtt ?? 0, s.roundTripTime);
      }
    } else if (s.type === 'candidate-pair' && s.nominated && typeof s.currentRoundTripTime === 'number' && rtt === null) {
      rtt = s.currentRoundTripTime;
    }
  }
  return { at, bytesSent, loss, rtt };
}

/**
 * Outgoing bits per second between two samples, or null without both.
 * @param {StatsSample | null} prev
 * @param {StatsSample} cur
 * @returns {number | null}
 */
export function bitrate(prev, cur) {
  if (!prev || cur.at <= prev.at || cur.bytesSent < prev.bytesSent) {
    return null;
  }
  return ((cur.bytesSent - prev.bytesSent) * 8 * 1000) / (cur.at - prev.at);
}

/** Below these, or above, the connection is weak. */
export const qualityLimits = Object.freeze({
  minBitrate: 120_000, // bits/s: below the smallest simulcast layer and the sound
  maxLoss: 0.05, // 5 % of packets lost
  maxRtt: 0.6, // seconds
});

/**
 * @typedef {'good' | 'weak' | 'reconnecting' | 'unknown'} Quality
 */

/**
 * The connection quality in a word.
 * @param {{state: string, bitrate: number | null, loss: number | null, rtt: number | null}} q
 *   state: the studio's ('live', 'reconnecting', ...)
 * @returns {Quality}
 */
export function classifyQuality(q) {
  if (q.state === 'reconnecting' || q.state === 'starting') {
    return 'reconnecting';
  }
  if (q.state !== 'live') {
    return 'unknown';
  }
  if ((q.loss !== null && q.loss > qualityLimits.maxLoss) || (q.rtt !== null && q.rtt > qualityLimits.maxRtt)) {
    return 'weak';
  }
  if (q.bitrate !== null && q.bitrate < qualityLimits.minBitrate) {
    return 'weak';
  }
  if (q.bitrate === null && q.loss === null && q.rtt === null) {
    return 'unknown';
  }
  return 'good';
}

/** The text key of each quality; unknown shows nothing. */
export const qualityKeys = /** @type {Record<Quality, string>} */ ({
  good: 'studio.qualityGood',
  weak: 'studio.qualityWeak',
  reconnecting: 'studio.qualityReconnecting',
  unknown: '',
});

/** The text key for an error code of the room or the API, when the studio has its own words. */
const errorKeys = /** @type {Record<string, string>} */ ({
  not_live: 'studio.errNotLive',
  forbidden: 'studio.errForbidden',
  unauthorized: 'error.unauthorized',
  not_found: 'studio.errNotFound',
  bad_transition: 'studio.errBadTransition',
  network: 'error.network',
  closed: 'error.network',
  internal: 'error.server',
  rate_limited: 'studio.errTooFast',
  too_many_requests: 'studio.errTooFast',
});

/**
 * What to show for an error of the room or the API: the studio's own text
 * for the codes it knows (key), else the server's message (already in the
 * merchant's language), else a general text. Another page gives its own
 * words: its codes in place of the studio's, the text of a 401 without a
 * code it knows, and whether a failure of the server (5xx) with no message
 * says so rather than the general text.
 * @param {{code?: string, message?: string, status?: number} | null | undefined} err
 * @param {{codes?: Record<string, string>, unauthorized?: string, server?: boolean}} [own]
 * @returns {{key: string} | {text: string}}
 */
export function errorText(err, own) {
  const code = err?.code ?? '';
  const keys = own?.codes ?? errorKeys;
  if (keys[code]) {
    return { key: keys[code] };
  }
  if (own?.unauthorized && err?.status === 401) {
    return { key: own.unauthorized };
  }
  if (err?.message && code) {
    return { text: err.message };
  }
  if (own?.server && typeof err?.status === 'number' && err.status >= 500) {
    return { key: 'error.server' };
  }
  return { key: 'error.generic' };
}

// ---- Schedule ----

/** Korea's offset from UTC (no summer time): the markets' clock, whatever the phone's. */
const kstOffsetMs = 9 * 3600_000;
const weekdaysKo = ['일', '월', '화', '수', '목', '금', '토'];
const weekdaysEn = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const monthsEn = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A moment in Korean time, as the date and time inputs hold it.
 * @param {number} ms
 * @returns {{date: string, time: string}} 2026-11-24 and 17:00
 */
export function kstParts(ms) {
  const d = new Date(ms + kstOffsetMs);
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return {
    date: `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}`,
    time: `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`,
  };
}

/**
 * A scheduled broadcast's time as the merchant reads it, in Korean time:
 * "11월 24일 (화) 오후 5:00", in English "Tue, Nov 24, 5:00 PM".
 * The tutor's pages use it for every moment they show.
 * @param {string | null | undefined} iso
 * @param {'ko' | 'en'} [lang]
 * @returns {string} '' for a time that is not one (or none)
 */
export function formatSlot(iso, lang = 'ko') {
  const ms = Date.parse(String(iso ?? ''));
  if (Number.isNaN(ms)) {
    return '';
  }
  const d = new Date(ms + kstOffsetMs);
  const h = d.getUTCHours();
  const clock = `${h % 12 || 12}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  if (lang === 'en') {
    return `${weekdaysEn[d.getUTCDay()]}, ${monthsEn[d.getUTCMonth()]} ${d.getUTCDate()}, ${clock} ${h < 12 ? 'AM' : 'PM'}`;
  }
  return `${d.getUTCMonth() + 1}월 ${d.getUTCDate()}일 (${weekdaysKo[d.getUTCDay()]}) ${h < 12 ? '오전' : '오후'} ${clock}`;
}

/**
 * The time the date and time inputs say, in Korean time, as the API takes
 * it (2026-11-24T17:00:00+09:00), or null when one is empty or wrong.
 * @param {string} date yyyy-mm-dd
 * @param {string} time hh:mm
 * @returns {string | null}
 */
export function slotStart(date, time) {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(date ?? '').trim());
  const tm = /^(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$/.exec(String(time ?? '').trim());
  if (!d || !tm) {
    return null;
  }
  const [y, mo, da, h, mi] = [+d[1], +d[2], +d[3], +tm[1], +tm[2]];
  const check = new Date(Date.UTC(y, mo - 1, da, h, mi));
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== da || h > 23 || mi > 59) {
    return null;
  }
  return `${d[1]}-${d[2]}-${d[3]}T${String(h).padStart(2, '0')}:${tm[2]}:00+09:00`;
}

/** The minutes the quick buttons round to. */
const quickStepMin = 10;

/**
 * The quick buttons of the schedule form, in Korean time: tomorrow at this
 * time (to the next 10 minutes), and 6 in the evening, today's while it is
 * more than half an hour away, else tomorrow's.
 * @param {number} now ms
 * @returns {Array<{key: string, date: string, time: string}>}
 */
export function quickSlots(now) {
  const step = quickStepMin * 60_000;
  const tomorrow = kstParts(Math.ceil(now / step) * step + 24 * 3600_000);
  const today = kstParts(now);
  const sixToday = Date.parse(`${today.date}T18:00:00+09:00`);
  const tonight = now < sixToday - 30 * 60_000;
  return [
    { key: 'studio.scheduleSameTime', ...tomorrow },
    tonight
      ? { key: 'studio.scheduleTonight', date: today.date, time: '18:00' }
      : { key: 'studio.scheduleTomorrowEvening', date: kstParts(sixToday + 24 * 3600_000).date, time: '18:00' },
  ];
}

/**
 * Checks the schedule form before it is sent: a date and a time are
 * needed. Whether the time is too early or too far is the server's to say
 * (its message, in the merchant's language, see scheduleError).
 * @param {{title: string, date: string, time: string}} f
 * @returns {{ok: true, body: {title: string, starts_at: string}} | {ok: false, field: 'title' | 'date' | 'time', key: string}}
 */
export function scheduleInput(f) {
  const title = String(f.title ?? '').replace(/\s+/g, ' ').trim();
  if ([...title].length > 80) {
    return { ok: false, field: 'title', key: 'studio.scheduleBadTitle' };
  }
  if (!String(f.date ?? '').trim()) {
    return { ok: false, field: 'date', key: 'studio.scheduleNeedDate' };
  }
  if (!String(f.time ?? '').trim()) {
    return { ok: false, field: 'time', key: 'studio.scheduleNeedTime' };
  }
  const start = slotStart(f.date, f.time);
  if (!start) {
    return { ok: false, field: 'date', key: 'studio.scheduleNeedDate' };
  }
  return { ok: true, body: { title, starts_at: start } };
}

/**
 * Which input a refused form's error belongs to, and what to say: the
 * server's message (asked for in the merchant's language) for what it
 * refused, the studio's words for the rest.
 * @param {{status?: number, code?: string, message?: string, field?: string} | null | undefined} err
 * @param {Record<string, string>} inputs the API's field names to the form's
 * @returns {{input: string, key: string} | {input: string, text: string}}
 */
export function formError(err, inputs) {
  const field = typeof err?.field === 'string' ? err.field : '';
  const input = inputs[field] ?? '';
  if (err?.code === 'invalid' && err.message) {
    return { input, text: err.message };
  }
  const r = errorText(err);
  return { input, ...r };
}

// ---- Practice ----

/**
 * @typedef {{id: number, state: string, review_url?: string, [k: string]: any}} PracticeSession
 * @typedef {{id: number | string, text: string, at?: string}} Tip
 */

/**
 * Whether a practice session (docs/api.md, Practice sessions) is still open:
 * created and not yet gone live, or live.
 * @param {PracticeSession | null | undefined} session
 * @returns {boolean}
 */
export function practiceOpen(session) {
  return !!session && (session.state === 'waiting' || session.state === 'live');
}

/**
 * Whether the studio is in practice mode. While the channel is live, the
 * room's word on the broadcast wins: the screen must never say "practice"
 * over a broadcast customers see, nor miss it over a practice one (the
 * session may have been opened or cancelled from the tutor's page). Off
 * the air, an open session decides.
 * @param {{session: PracticeSession | null, roomLive: boolean | null, roomPractice: boolean}} s
 * @returns {boolean}
 */
export function practiceOn(s) {
  if (s.roomLive === true) {
    return s.roomPractice;
  }
  return practiceOpen(s.session);
}

/**
 * A link of this site from the server (the session's review_url): a path,
 * never another site nor a script.
 * @param {unknown} url
 * @returns {string} the path, or '' when it is not one
 */
export function sitePath(url) {
  return typeof url === 'string' && /^\/(?![/\\])/.test(url) ? url : '';
}

/** The longest tip shown: the server allows 120 characters. */
const tipMaxChars = 200;

/**
 * The tutor's coaching tips waiting for the merchant: the newest is shown,
 * the others counted. A tip comes once however often the room sends it
 * (after a reconnect).
 */
export class TipQueue {
  /** @param {number} [keep] the most tips kept; the oldest go first */
  constructor(keep = 20) {
    this.keep = keep;
    /** @type {Tip[]} oldest first */
    this.tips = [];
    /** @type {Set<string>} ids of the tips already taken */
    this.seen = new Set();
  }

  /**
   * Takes a tip of a coach.tip event.
   * @param {unknown} tip
   * @returns {boolean} whether it is new (and to be shown)
   */
  add(tip) {
    if (!tip || typeof tip !== 'object') {
      return false;
    }
    const t = /** @type {Record<string, unknown>} */ (tip);
    const text = typeof t.text === 'string' ? t.text.trim().slice(0, tipMaxChars) : '';
    if (!text) {
      return false;
    }
    const id = typeof t.id === 'number' || typeof t.id === 'string' ? t.id : `${text}@${t.at ?? ''}`;
    if (this.seen.has(String(id))) {
      return false;
    }
    this.seen.add(String(id));
    this.tips.push({ id, text, at: typeof t.at === 'string' ? t.at : undefined });
    if (this.tips.length > this.keep) {
      this.tips.splice(0, this.tips.length - this.keep);
    }
    return true;
  }

  /** @returns {Tip | null} the tip to show: the newest */
  get current() {
    return this.tips.at(-1) ?? null;
  }

  /** @returns {number} the tips waiting behind the one shown */
  get others() {
    return Math.max(0, this.tips.length - 1);
  }

  /** @returns {number} */
  get size() {
    return this.tips.length;
  }

  /** Puts the shown tip away: the next newest comes up. */
  dismiss() {
    this.tips.pop();
  }

  /** Forgets the waiting tips (the practice is over); ids stay seen. */
  clear() {
    this.tips = [];
  }
}
