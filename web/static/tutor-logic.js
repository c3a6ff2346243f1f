// @ts-check
// Pure logic of the tutor's pages (dashboard, coaching, review): reading
// the page address, words for the practice checklist, places on the
// review's timeline, the score bars. Nothing here touches the page, so
// node tests it (testdata/tutor.test.js).

import { textIn, texts } from './i18n.js';
import { formatSlot } from './studio-logic.js';

/**
 * @typedef {'ko' | 'en'} Lang
 * @typedef {{key: string, status: string, seconds?: number | null, limit_s?: number | null,
 *   done?: number | null, total?: number | null, tick?: boolean, kbps?: number | null,
 *   reconnects?: number | null, frozen_s?: number | null, dark_s?: number | null}} ChecklistItem
 * @typedef {{id: number, kind: string, text: string, at: string, offset_s: number | null}} Note
 * @typedef {{id: number, title?: string, state: string, started_at?: string | null,
 *   ended_at?: string | null, duration_s?: number | null, score: number | null}} HistorySession
 */

// ---- The page address ----

/** Channel addresses as the API takes them (docs/api.md, Tutors). */
const slugRE = /^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;

/**
 * Whether s is a channel address the API could take. The server also
 * refuses reserved words; it says so itself.
 * @param {string} s
 */
export function validSlug(s) {
  return slugRE.test(s) && !s.includes('--');
}

/**
 * The token of a tutor's link: /tutor#t=<token>.
 * @param {string} hash location.hash, with or without the #
 * @returns {string} '' when there is none
 */
export function hashToken(hash) {
  const token = new URLSearchParams(String(hash ?? '').replace(/^#/, '')).get('t') ?? '';
  // A token is a base32 word; anything else is a broken or hand-edited link.
  return /^[A-Za-z0-9_-]{8,200}$/.test(token.trim()) ? token.trim() : '';
}

/**
 * The channel and session of /practice?c=<slug>&s=<id> and /review?...
 * @param {string} search location.search
 * @returns {{slug: string, session: number} | null} null when either is missing or wrong
 */
export function sessionParams(search) {
  const q = new URLSearchParams(String(search ?? ''));
  const slug = (q.get('c') ?? '').trim();
  const s = (q.get('s') ?? '').trim();
  if (!slug || slug.length > 80 || !/^[1-9][0-9]{0,15}$/.test(s)) {
    return null;
  }
  return { slug, session: Number(s) };
}

/**
 * Which credential the coaching and review pages use: the merchant's studio
 * credentials when they are for this channel (studio.js keeps them as
 * {slug, token}), else the tutor's token when this device has one. The
 * studio's come first: a tutor token left on a merchant's phone (the tutor
 * logged in there once) must not act for the tutor on this shop, nor open
 * the tutor's other shops, while the owner is the one using the phone.
 * @param {string | null} tutorToken
 * @param {unknown} studio the studio's saved credentials, or null
 * @param {string} slug
 * @returns {{token: string, role: 'tutor' | 'merchant'} | null}
 */
export function pickCredential(tutorToken, studio, slug) {
  const s = /** @type {any} */ (studio);
  if (s && typeof s.slug === 'string' && typeof s.token === 'string' && s.token && s.slug === slug) {
    return { token: s.token, role: 'merchant' };
  }
  if (tutorToken) {
    return { token: tutorToken, role: 'tutor' };
  }
  return null;
}

/**
 * The credential the coaching page watches the practice with (the live
 * room's ?practice= and WHEP's Authorization): the session's own token,
 * which opens only this session and only while it is open, so that the
 * long-lived tutor or studio token never goes into a URL a proxy may log.
 * The page's credential only when the session has none.
 * @param {{token?: unknown} | null | undefined} session
 * @param {string} fallback the page's credential
 * @returns {string}
 */
export function watchToken(session, fallback) {
  const t = session?.token;
  return typeof t === 'string' && t ? t : fallback;
}

/**
 * An address of this server (a path the API answers) as a full link to
 * share or copy. Links to other sites are refused: the API never gives one.
 * @param {string} path e.g. /studio?c=kim-fish#t=...
 * @param {string} origin location.origin
 * @returns {string} '' when path is not a path of this server
 */
export function absoluteURL(path, origin) {
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//')) {
    return '';
  }
  return origin.replace(/\/+$/, '') + path;
}

// ---- Times and numbers ----

/**
 * A duration in words: "14초", "1분 35초", "2분"; English "14 s", ...
 * Under 10 s keeps one decimal when there is one ("8.2초").
 * @param {number | null | undefined} seconds
 * @param {Lang} lang
 * @returns {string}
 */
export function formatSeconds(seconds, lang) {
  const v = typeof seconds === 'number' ? seconds : NaN;
  if (!Number.isFinite(v) || v < 0) {
    return '';
  }
  if (v < 10) {
    const s = Math.round(v * 10) / 10;
    return textIn(lang, 'time.seconds', { s: Number.isInteger(s) ? s : s.toFixed(1) });
  }
  const total = Math.round(v);
  if (total < 60) {
    return textIn(lang, 'time.seconds', { s: total });
  }
  const m = Math.floor(total / 60);
  const s = total % 60;
  return s === 0 ? textIn(lang, 'time.minutes', { m }) : textIn(lang, 'time.minutesSeconds', { m, s });
}

// ---- Channels and sessions ----

/**
 * What a channel of GET /api/tutor is doing now.
 * @param {{live?: boolean, live_practice?: boolean}} ch
 * @returns {'practice' | 'live' | 'off'}
 */
export function channelState(ch) {
  if (ch?.live && ch.live_practice) {
    return 'practice';
  }
  return ch?.live ? 'live' : 'off';
}

/** @type {Record<string, string>} */
const sessionStateKeys = {
  waiting: 'tutor.stateWaiting',
  live: 'tutor.stateLiveSession',
  ended: 'tutor.stateEnded',
  cancelled: 'tutor.stateCancelled',
};

/**
 * The text key of a session's state.
 * @param {string} state
 */
export function sessionStateKey(state) {
  return sessionStateKeys[state] ?? 'tutor.stateWaiting';
}

/**
 * Whether a session has a review worth opening: it went live.
 * @param {{state?: string, started_at?: string | null}} s
 */
export function hasReview(s) {
  return s?.state === 'ended' || (s?.state === 'live' && !!s.started_at);
}

/**
 * The scores of GET .../practice/history (newest first) as bars, oldest
 * first so that progress reads left to right and the newest is last.
 * Sessions without a score (never went live) are left out.
 * @param {HistorySession[]} sessions
 * @param {Lang} lang
 * @param {number} [keep] the most bars shown
 * @returns {Array<{id: number, score: number, height: number, label: string}>}
 *   height in percent of the row, at least 4 so a 0 still shows
 */
export function scoreBars(sessions, lang, keep = 12) {
  const scored = (Array.isArray(sessions) ? sessions : [])
    .filter((s) => typeof s?.score === 'number' && Number.isFinite(s.score))
    .slice(0, keep)
    .reverse();
  return scored.map((s) => {
    const score = Math.max(0, Math.min(100, Math.round(/** @type {number} */ (s.score))));
    const when = formatSlot(s.started_at ?? s.ended_at, lang) || `#${s.id}`;
    return { id: s.id, score, height: Math.max(4, score), label: textIn(lang, 'tutor.scoreBar', { when, score }) };
  });
}

// ---- Review ----

/** @type {Record<string, {icon: string, key: string}>} */
const statuses = {
  pass: { icon: '✔', key: 'review.statusPass' },
  fail: { icon: '✖', key: 'review.statusFail' },
  todo: { icon: '?', key: 'review.statusTodo' },
  na: { icon: '–', key: 'review.statusNa' },
};

/**
 * The icon and words of a checklist status; an unknown one reads as todo.
 * @param {string} status
 * @returns {{status: string, icon: string, key: string}}
 */
export function statusInfo(status) {
  const s = statuses[status] ? status : 'todo';
  return { status: s, ...statuses[s] };
}

/** Checklist keys the tutor ticks (PUT /api/practice/{id}/ticks). */
export const tickKeys = /** @type {readonly string[]} */ (Object.freeze(['greeted', 'price_stated']));

/**
 * A checklist item in plain words: its title, its status in words and the
 * numbers as a sentence ("질문 5개 중 4개에 1분 안에 답했어요 (보통 14초)").
 * The item's `tick` only says that a tick can decide it; whether the tutor
 * ticked it is in the session's ticks.
 * @param {ChecklistItem} item
 * @param {Lang} lang
 * @param {Record<string, boolean>} [ticks] the session's ticks
 * @returns {{title: string, status: string, icon: string, statusText: string, detail: string, tickable: boolean}}
 */
export function describeItem(item, lang, ticks = {}) {
  const info = statusInfo(item?.status);
  const key = String(item?.key ?? '');
  const title = texts.ko[`check.${key}`] ? textIn(lang, `check.${key}`) : key;
  const num = (/** @type {unknown} */ v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const done = num(item.done);
  const total = num(item.total);
  const secs = num(item.seconds);
  const limit = num(item.limit_s);
  const limitText = limit !== null ? formatSeconds(limit, lang) : '';
  let detail = '';
  switch (key) {
    case 'greeted':
      if (secs !== null) {
        detail = textIn(lang, 'check.greetedSeconds', { seconds: formatSeconds(secs, lang), limit: limitText });
      } else if (ticks.greeted && info.status === 'pass') {
        detail = textIn(lang, 'check.greetedTick');
      } else if (limit !== null && info.status === 'fail') {
        detail = textIn(lang, 'check.greetedNone', { limit: limitText });
      }
      break;
    case 'products_pinned':
      if (total === 0 || info.status === 'na') {
        detail = textIn(lang, 'check.pinnedNone');
      } else if (total !== null) {
        detail = textIn(lang, 'check.pinned', { done: done ?? 0, total });
      }
      break;
    case 'price_stated':
      detail = info.status === 'pass' ? textIn(lang, 'check.priceTick') : info.status === 'todo' ? textIn(lang, 'check.priceTodo') : '';
      break;
    case 'coupon_dropped':
      detail = done ? textIn(lang, 'check.coupons', { done }) : textIn(lang, 'check.couponsNone');
      break;
    case 'questions_answered':
    case 'orders_handled': {
      const words = key === 'questions_answered' ? 'questions' : 'orders';
      if (!total || info.status === 'na') {
        detail = textIn(lang, `check.${words}None`);
      } else {
        detail = textIn(lang, `check.${words}`, {
          done: done ?? 0, total, limit: limitText, seconds: secs !== null ? formatSeconds(secs, lang) : '–',
        });
      }
      break;
    }
    case 'stream_quality':
      if (num(item.kbps) === null) {
        detail = textIn(lang, 'check.qualityNone');
      } else {
        detail = textIn(lang, 'check.quality', {
          kbps: Math.round(/** @type {number} */ (item.kbps)), reconnects: num(item.reconnects) ?? 0,
          frozen: formatSeconds(num(item.frozen_s) ?? 0, lang), dark: formatSeconds(num(item.dark_s) ?? 0, lang),
        });
      }
      break;
  }
  return {
    title,
    status: info.status,
    icon: info.icon,
    statusText: textIn(lang, info.key),
    detail,
    tickable: tickKeys.includes(key),
  };
}

/**
 * The tutor's ticks as the session holds them, for the checkboxes.
 * @param {{ticks?: Record<string, boolean> | null} | null | undefined} session
 * @returns {Record<string, boolean>}
 */
export function ticksOf(session) {
  /** @type {Record<string, boolean>} */
  const out = {};
  for (const k of tickKeys) {
    out[k] = !!session?.ticks?.[k];
  }
  return out;
}

/**
 * Where the tips and notes sit on the review's timeline, in percent of the
 * recording's length (0 to 100). Notes from before the start (offset null)
 * sit at 0; a recording of unknown length puts them all at 0 as well.
 * @param {Note[]} notes
 * @param {number | null | undefined} duration seconds
 * @returns {Array<{note: Note, at: number, left: number}>} at: the second to seek to
 */
export function timelineMarks(notes, duration) {
  const d = Number(duration);
  return (Array.isArray(notes) ? notes : []).map((note) => {
    const off = typeof note?.offset_s === 'number' && Number.isFinite(note.offset_s) ? Math.max(0, note.offset_s) : 0;
    const at = d > 0 ? Math.min(off, d) : off;
    const left = d > 0 ? Math.round((at / d) * 1000) / 10 : 0;
    return { note, at, left };
  });
}

/**
 * The notes, oldest first, with a new one in its place (by id: a note
 * answered again replaces its copy).
 * @param {Note[]} list
 * @param {Note} note
 * @returns {Note[]}
 */
export function addNote(list, note) {
  const out = list.filter((n) => n.id !== note.id);
  out.push(note);
  out.sort((a, b) => (Date.parse(a.at) || 0) - (Date.parse(b.at) || 0) || a.id - b.id);
  return out;
}

// ---- Coaching ----

/** The quick tips, as text keys: what the tutor says most. */
export const quickTips = /** @type {readonly string[]} */ (Object.freeze([
  'coach.tipGreet', 'coach.tipPrice', 'coach.tipShow', 'coach.tipCoupon', 'coach.tipAnswer', 'coach.tipOrders',
]));

/** Paces of the simulated customers (PUT .../crowd). */
export const paces = /** @type {readonly string[]} */ (Object.freeze(['calm', 'busy', 'rush']));

/**
 * The crowd of a session in words.
 * @param {{pace?: string, viewers?: number} | null | undefined} crowd
 * @param {Lang} lang
 */
export function crowdText(crowd, lang) {
  if (!crowd || !crowd.pace) {
    return textIn(lang, 'coach.crowdOff');
  }
  const paceKey = `coach.pace${crowd.pace.charAt(0).toUpperCase()}${crowd.pace.slice(1)}`;
  const pace = texts.ko[paceKey] ? textIn(lang, paceKey) : crowd.pace;
  return textIn(lang, 'coach.crowdOn', { n: crowd.viewers ?? 0, pace });
}

/**
 * Checks a tip or note before sending: trimmed, not empty, within max
 * characters (counted as people count them, not UTF-16 units).
 * @param {string} text
 * @param {number} max
 * @returns {string | null} the text to send, or null
 */
export function cleanText(text, max) {
  const s = String(text ?? '').trim();
  const n = [...s].length;
  return n >= 1 && n <= max ? s : null;
}


/**
 * How long to wait before asking for the session again: often while it
 * waits for the studio, rarely once it is live (the room says more).
 * @param {string} state
 * @returns {number} ms; 0 for no more polling
 */
export function pollDelay(state) {
  switch (state) {
    case 'waiting':
      return 3000;
    case 'live':
      return 10000;
    default:
      return 0;
  }
}
