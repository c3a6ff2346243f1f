// @ts-check
// Watch page /c/{slug}: plays the channel over WHEP (muted at first, a tap
// for sound), reconnects by itself, and around the video the live room:
// chat, likes, the pinned product with its order sheet, coupon drops, the
// notice and the viewer's own orders. While the channel is not live it shows
// the stall, its next broadcasts, its products (with their clips) and its
// replays, which play on this page.
// The logic without a DOM is in watch-state.js.

import { lang, onLangChange, setupLang, t } from './i18n.js';
import { Room, RoomError } from './room.js';
import {
  addClaim, applyOrderToClaims, canCancel, chapterAt, checkOrderForm, cleanNickname, couponStateKey,
  emptyState, errorKey, formatCount, formatDuration, formatWhen, formatWon, fromHello, orderDone,
  orderStatusKey, practiceToken, reduce, replaySource, stallProducts, stepQty, upcoming, upsertOrder, usableCoupons,
  watchableLive, whepRefusal,
} from './watch-state.js';
import { Keeper, SignalError, backoff } from './whip.js';

/** Bounds of the wait between failed attempts. */
const retryBaseMs = 1000;
const retryMaxMs = 15000;

/**
 * What the page shows above the video: keys into the i18n table, so that a
 * language switch can show it again. title '' hides the box.
 * @typedef {{title: string, hint?: string, vars?: Record<string, string | number>}} Status
 * @typedef {import('./watch-state.js').LiveState} LiveState
 * @typedef {import('./watch-state.js').Product} Product
 * @typedef {import('./watch-state.js').Order} Order
 */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) {
    throw new Error(`missing #${id}`);
  }
  return el;
}

/** @param {string} id */
const el = (id) => byId(id, HTMLElement);

/**
 * The channel slug from a path like /c/{slug}.
 * @param {string} pathname
 * @returns {string}
 */
function slugFromPath(pathname) {
  const m = /^\/c\/([^/]+)$/.exec(pathname);
  return m ? decodeURIComponent(m[1]) : '';
}

/** localStorage that may be off (private mode): then nothing is kept. */
const store = {
  /** @param {string} k */
  get(k) {
    try {
      return localStorage.getItem(k);
    } catch {
      return null;
    }
  },
  /** @param {string} k @param {string} v */
  set(k, v) {
    try {
      localStorage.setItem(k, v);
    } catch {
      // Not kept.
    }
  },
  /** @param {string} k */
  json(k) {
    try {
      return JSON.parse(store.get(k) ?? 'null');
    } catch {
      return null;
    }
  },
};

/**
 * A fetch of JSON that answers null for anything but a 200 with JSON (the
 * section that needs it is then left out).
 * @param {string} url
 */
async function getJSON(url) {
  try {
    const res = await fetch(url, { headers: { Accept: 'application/json' } });
    if (!res.ok) {
      return null;
    }
    return await res.json();
  } catch {
    return null;
  }
}

/** A random id of 32 hex digits (crypto.randomUUID needs https). */
function randomID() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Sets an image's source, hiding it when there is none.
 * @param {HTMLImageElement} img
 * @param {string | undefined} url
 */
function setImg(img, url) {
  if (url && url.startsWith('/')) {
    if (img.getAttribute('src') !== url) {
      img.src = url;
    }
    img.hidden = false;
  } else {
    img.removeAttribute('src');
    img.hidden = true;
  }
}

/**
 * A new element with a class and text.
 * @param {string} tag
 * @param {string} [cls]
 * @param {string} [text]
 */
function make(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) {
    e.className = cls;
  }
  if (text !== undefined) {
    e.textContent = text;
  }
  return e;
}

/** One viewer's playback: at most one peer connection at a time. */
class Player {
  /**
   * @param {string} slug
   * @param {HTMLVideoElement} video
   * @param {(s: Status) => void} show
   * @param {string} [token] a practice credential, sent as Bearer: a channel
   *   in a practice session plays only for those invited
   */
  constructor(slug, video, show, token) {
    this.video = video;
    this.show = show;
    /** Failed attempts since the last connection that worked. */
    this.failures = 0;
    this.link = new Keeper(`/whep/${encodeURIComponent(slug)}`, {
      setup: (pc) => this.setup(pc),
      failed: (err) => {
        const wait = this.failed(err);
        if (wait >= 0) {
          this.failures++;
        }
        return wait;
      },
      onState: (state) => this.onState(state),
      reconnect: () => this.start(true),
    }, { token: token || undefined });
  }

  /**
   * Starts a new connection, ending the current one. Keeps trying until one
   * is answered, then the connection's state takes over.
   * @param {boolean} again true when replacing a connection that worked
   */
  start(again) {
    this.show({ title: again ? 'watch.reconnecting' : 'watch.connecting' });
    this.link.start();
  }

  /**
   * Shows what went wrong.
   * @param {unknown} err
   * @returns {number} milliseconds until the next try, or -1 for none
   */
  failed(err) {
    const retry = backoff(this.failures, retryBaseMs, retryMaxMs);
    if (!(err instanceof SignalError)) {
      console.warn('watch: connect failed', err);
      this.show({ title: 'watch.reconnecting', hint: 'watch.retryIn', vars: { seconds: Math.ceil(retry / 1000) } });
      return retry;
    }
    const refusal = whepRefusal(err.status, err.code);
    if (err.status === 503 || err.status === 429) {
      // Not live yet or full: come back when the server says.
      const full = refusal === 'full';
      this.show({ title: full ? 'watch.full' : 'watch.notLive', hint: full ? 'watch.fullHint' : 'watch.notLiveHint' });
      return Math.min(60, Math.max(1, err.retryAfter ?? 5)) * 1000;
    }
    if (refusal === 'notLive') {
      // A private practice session: for everyone not invited the shop is
      // simply not live, until the practice ends.
      this.show({ title: 'watch.notLive', hint: 'watch.notLiveHint' });
      return retry;
    }
    if (refusal === 'notFound') {
      this.show({ title: 'watch.notFound', hint: 'watch.notFoundHint' });
      return -1;
    }
    console.warn('watch: connect failed', err.status, err.code, err.message);
    const title = err.status === 0 ? 'error.network' : 'error.server';
    this.show({ title, hint: 'watch.retryIn', vars: { seconds: Math.ceil(retry / 1000) } });
    return retry;
  }

  /**
   * Prepares a new connection: receive audio and video, and play them.
   * @param {RTCPeerConnection} pc
   */
  setup(pc) {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.addEventListener('track', (ev) => {
      if (pc !== this.link.pc) {
        return; // a replaced connection
      }
      stream.addTrack(ev.track);
      if (this.video.srcObject !== stream) {
        this.video.srcObject = stream;
      }
      this.play();
    });
  }

  /** @param {RTCPeerConnectionState} state */
  onState(state) {
    switch (state) {
      case 'connected':
        this.failures = 0;
        // Back after a hiccup: the video never stopped, so no 'playing'.
        if (this.video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && !this.video.paused) {
          this.show({ title: '' });
        }
        break;
      case 'disconnected':
        this.show({ title: 'watch.reconnecting' });
        break;
    }
  }

  /** Plays, muted if the browser does not allow sound yet. */
  play() {
    this.video.play().catch(() => {
      if (!this.video.muted) {
        this.video.muted = true;
        this.video.play().catch(() => {});
      }
    });
  }

  /** Ends the current connection and any retry in progress. */
  stop() {
    this.link.stop();
  }

  /** Retries now if it is waiting, e.g. when the network is back. */
  retryNow() {
    this.link.retryNow();
  }
}

/** Hearts floating at once, at most: each is one small animated element. */
const maxHearts = 6;
/** Likes sent per second, at most (the server allows 20). */
const maxLikesPerSecond = 8;

function main() {
  setupLang();
  const body = document.body;
  const video = byId('video', HTMLVideoElement);
  const statusBox = el('status');
  const statusTitle = el('status-title');
  const statusHint = el('status-hint');
  const unmute = byId('unmute', HTMLButtonElement);

  /** @type {Status} */
  let status = { title: 'watch.connecting' };
  /** Whether the live video is playing. */
  let playing = false;
  /** What the room says: live or not, null before it said anything. @type {boolean | null} */
  let roomLive = null;
  /** The live room's state (watch-state.js). */
  let live = emptyState();
  /** This viewer in the room. */
  let myViewerID = 0;
  let nickname = store.get('dangol.nick') ?? '';
  /** Until when this viewer may not chat (ms), 0 for not muted. */
  let mutedUntil = 0;

  /** @param {Status} s */
  const show = (s) => {
    status = s;
    if (s.title === 'watch.notLive' || s.title === 'watch.notFound') {
      playing = false;
    }
    statusBox.hidden = !s.title;
    statusTitle.textContent = s.title ? t(s.title, s.vars) : '';
    statusHint.textContent = s.hint ? t(s.hint, s.vars) : '';
    schedule();
  };

  // Rendering is batched into one frame: a busy room sends many events. A
  // hidden tab gets no frames, so a timer renders there (slowly) instead.
  let queued = false;
  const run = () => {
    if (queued) {
      queued = false;
      render();
    }
  };
  function schedule() {
    if (!queued) {
      queued = true;
      requestAnimationFrame(run);
      setTimeout(run, 250);
    }
  }

  const slug = slugFromPath(location.pathname);
  if (!slug) {
    show({ title: 'watch.notFound', hint: 'watch.notFoundHint' });
    return;
  }
  const api = `/api/channels/${encodeURIComponent(slug)}`;
  const ordersKey = `dangol.orders.${slug}`;
  /** @type {Order[]} the viewer's orders here, newest first */
  let orders = Array.isArray(store.json(ordersKey)) ? store.json(ordersKey) : [];

  // An invitation to a practice session (/c/{slug}?practice=<token>): the
  // token opens the private room and video. It stays in the address, so a
  // reload still works.
  const practice = practiceToken(location.search);

  // ---- The live room ----
  const room = new Room(slug, { name: nickname || undefined, lang: lang(), query: { practice } });
  room.on('hello', (m) => {
    if (!m.ok) {
      // Banned, or the channel is gone: the video may still play.
      if (m.error?.code === 'banned') {
        chatError('watch.errBanned');
      }
      return;
    }
    myViewerID = m.viewer_id;
    live = fromHello(m, live);
    // The server's word on this broadcast's orders: their status may have
    // moved while the page was closed or the connection down.
    for (const o of m.orders ?? []) {
      gotOrder(o);
    }
    for (const o of orders) {
      live = applyOrderToClaims(live, o);
    }
    setLive(watchableLive(live, practice));
    schedule();
  });
  // A room that keeps refusing us (private for a practice session, or out of
  // reach): the shop is not live for this viewer, unless the video plays.
  // room.js keeps retrying, with a bounded backoff.
  room.on('failed', (ev) => {
    if (ev.attempts >= 2 && roomLive === true) {
      roomLive = false;
      schedule();
    }
  });
  for (const type of ['chat.message', 'chat.hidden', 'product.pinned', 'stock', 'coupon.dropped',
    'coupon.remaining', 'coupon.closed', 'likes', 'viewers', 'notice']) {
    room.on(type, (ev) => {
      if (type === 'coupon.closed') {
        linger(ev.coupon_id, ev.reason);
      }
      if (type === 'stock' && sheetProduct && sheetProduct.id === ev.product_id) {
        sheetProduct = { ...sheetProduct, stock: ev.stock };
        renderSheet();
      }
      live = reduce(live, ev);
      schedule();
    });
  }
  room.on('live', (ev) => {
    live = reduce(live, ev);
    setLive(watchableLive(live, practice));
    schedule();
  });
  room.on('order.updated', (ev) => {
    if (ev.order) {
      gotOrder(ev.order);
    }
  });
  room.on('viewer.muted', (ev) => {
    if (ev.viewer_id !== myViewerID) {
      return;
    }
    mutedUntil = ev.muted_until ? Date.parse(ev.muted_until) : 0;
    if (mutedUntil > Date.now()) {
      chatError('watch.errMuted', { until: timeOf(mutedUntil) });
    } else {
      chatError('');
    }
  });

  /** @param {boolean} on */
  function setLive(on) {
    const was = roomLive;
    roomLive = on;
    if (on && was !== true) {
      player?.retryNow(); // do not wait for the next WHEP retry
    }
    if (!on) {
      playing = false;
      if (was === true) {
        loadStall(); // a new replay may be there
      }
    }
  }

  // ---- Video ----
  /** @type {Player | null} */
  let player = null;
  video.muted = true;
  const updateUnmute = () => {
    unmute.hidden = !video.muted || !video.srcObject || body.classList.contains('offline') || body.classList.contains('replaying');
  };
  unmute.addEventListener('click', () => {
    video.muted = false;
    video.play().catch(() => {});
    updateUnmute();
  });
  video.addEventListener('volumechange', updateUnmute);
  video.addEventListener('playing', () => {
    playing = true;
    show({ title: '' });
    updateUnmute();
  });
  // Portrait video fills a portrait screen; other shapes are shown whole.
  video.addEventListener('resize', () => {
    video.classList.toggle('portrait', video.videoHeight > video.videoWidth);
  });

  // ---- Chat ----
  const chatList = el('chat');
  const chatForm = byId('chat-form', HTMLFormElement);
  const chatInput = byId('chat-input', HTMLInputElement);
  const chatErr = el('chat-error');
  /** @type {Map<number, HTMLElement>} */
  const chatItems = new Map();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let chatErrTimer;

  /**
   * Shows a short, kind message above the chat input; '' hides it.
   * @param {string} key
   * @param {Record<string, string | number>} [vars]
   */
  function chatError(key, vars) {
    clearTimeout(chatErrTimer);
    chatErr.hidden = !key;
    chatErr.textContent = key ? t(key, vars) : '';
    if (key) {
      chatErrTimer = setTimeout(() => {
        chatErr.hidden = true;
      }, 6000);
    }
  }

  /** @param {number} ms */
  function timeOf(ms) {
    return new Date(ms).toLocaleTimeString(lang() === 'en' ? 'en-US' : 'ko-KR', { hour: 'numeric', minute: '2-digit' });
  }

  function renderChat() {
    const seen = new Set();
    const rows = [];
    for (const m of live.chat) {
      seen.add(m.id);
      let li = chatItems.get(m.id);
      if (!li) {
        li = make('li', m.viewer_id === myViewerID ? 'mine' : '');
        li.append(make('b', 'nick', m.nickname || t('watch.guest')), document.createTextNode(' '), make('span', '', m.text));
        chatItems.set(m.id, li);
      }
      rows.push(li);
    }
    for (const id of chatItems.keys()) {
      if (!seen.has(id)) {
        chatItems.get(id)?.remove();
        chatItems.delete(id);
      }
    }
    const last = chatList.lastElementChild;
    if (rows.length !== chatList.children.length || rows[rows.length - 1] !== last) {
      chatList.replaceChildren(...rows);
      chatList.scrollTop = chatList.scrollHeight;
    }
  }

  /** @type {string | null} text waiting for the nickname */
  let chatPending = null;
  chatForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = chatInput.value.replace(/\s+/g, ' ').trim();
    if (!text) {
      return;
    }
    if (!nickname) {
      chatPending = text;
      askNickname();
      return;
    }
    sendChat(text);
  });

  /** @param {string} text */
  function sendChat(text) {
    if (mutedUntil > Date.now()) {
      chatError('watch.errMuted', { until: timeOf(mutedUntil) });
      return;
    }
    chatInput.value = '';
    room.send('chat.send', { text }).then(() => chatError(''), (err) => {
      if (err instanceof RoomError) {
        if (err.code === 'muted' && err.until) {
          mutedUntil = Date.parse(err.until);
        }
        if (err.code === 'rate_limited' || err.code === 'not_live') {
          chatInput.value ||= text; // let them send it again
        }
        chatError(errorKey(err.code, err.field), { until: err.until ? timeOf(Date.parse(err.until)) : '' });
      }
    });
  }

  // Nickname, asked once and kept.
  const nickSheet = byId('nick-sheet', HTMLDialogElement);
  const nickInput = byId('nick-input', HTMLInputElement);
  const nickErr = el('nick-error');
  function askNickname() {
    nickInput.value = nickname;
    nickErr.hidden = true;
    nickSheet.showModal();
    nickInput.focus();
  }
  byId('nick-cancel', HTMLButtonElement).addEventListener('click', () => {
    chatPending = null;
    nickSheet.close();
  });
  byId('nick-form', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = cleanNickname(nickInput.value);
    if (!name) {
      nickErr.textContent = t('watch.errNickname');
      nickErr.hidden = false;
      nickInput.focus();
      return;
    }
    // room.js sends the name only in the first hello of a connection: set it
    // for the next one, and tell the current connection with a hello of its
    // own (the server takes a new nickname from a repeated hello).
    room.opts.name = name;
    room.send('hello', { name }).then(() => {
      nickname = name;
      store.set('dangol.nick', name);
      nickSheet.close();
      if (chatPending) {
        sendChat(chatPending);
      }
      chatPending = null;
    }, (err) => {
      nickErr.textContent = t(err instanceof RoomError ? errorKey(err.code, err.field) : 'watch.errGeneric');
      nickErr.hidden = false;
    });
  });

  // ---- Likes ----
  const likeBtn = byId('like', HTMLButtonElement);
  const hearts = el('hearts');
  /** @type {number[]} times of the likes sent in the last second */
  let likeTimes = [];
  const reduceMotion = matchMedia('(prefers-reduced-motion: reduce)');
  likeBtn.addEventListener('click', () => {
    const now = Date.now();
    likeTimes = likeTimes.filter((x) => now - x < 1000);
    if (likeTimes.length < maxLikesPerSecond) {
      likeTimes.push(now);
      live = { ...live, likes: live.likes + 1 }; // the server's total follows
      room.send('like').catch(() => {});
      schedule();
    }
    if (!reduceMotion.matches && hearts.childElementCount < maxHearts) {
      const h = make('span', 'heart', ['❤️', '💖', '🧡', '💕'][Math.floor(Math.random() * 4)]);
      h.style.setProperty('--x', `${Math.round(Math.random() * 40 - 20)}px`);
      h.addEventListener('animationend', () => h.remove());
      hearts.append(h);
    }
  });

  // ---- Coupons ----
  const couponsBox = el('coupons');
  /** Closed coupons shown a little longer with why. @type {Map<number, {coupon: any, reason: string}>} */
  const lingering = new Map();
  /** Result of this viewer's claim that did not work, by coupon. @type {Map<number, string>} */
  const claimErrors = new Map();
  /** @type {Set<number>} claims on their way */
  const claiming = new Set();

  /** @param {number} id @param {string} reason */
  function linger(id, reason) {
    const c = live.coupons.find((x) => x.id === id);
    if (!c) {
      return;
    }
    lingering.set(id, { coupon: c, reason });
    setTimeout(() => {
      lingering.delete(id);
      schedule();
    }, 3000);
  }

  /** @param {number} id */
  function claim(id) {
    claiming.add(id);
    claimErrors.delete(id);
    schedule();
    room.send('coupon.claim', { coupon_id: id }).then((r) => {
      live = addClaim(live, r.claim ?? { id: 0, coupon_id: id });
      if (typeof r.remaining === 'number') {
        live = reduce(live, { type: 'coupon.remaining', coupon_id: id, remaining: r.remaining });
      }
    }, (err) => {
      const code = err instanceof RoomError ? err.code : 'generic';
      if (code === 'already_claimed') {
        live = addClaim(live, { id: 0, coupon_id: id });
      } else {
        claimErrors.set(id, errorKey(code));
      }
    }).finally(() => {
      claiming.delete(id);
      schedule();
    });
  }

  /** What the coupons were drawn from: they are drawn again only when it changes (a focused button stays). */
  let couponsDrawn = '';
  function renderCoupons() {
    const shown = [...live.coupons.map((c) => ({ coupon: c, reason: '' })), ...lingering.values()];
    const key = JSON.stringify([shown, live.claims, [...claiming], [...claimErrors], lang()]);
    if (key === couponsDrawn) {
      return;
    }
    couponsDrawn = key;
    couponsBox.replaceChildren(...shown.map(({ coupon: c, reason }) => {
      const mine = live.claims.find((x) => x.coupon_id === c.id);
      const claimed = !!mine;
      const discount = t('watch.couponDiscount', { won: formatWon(c.discount_won, lang()) });
      // Once claimed (or over) the banner shrinks to one line: the video matters more.
      const compact = claimed || !!reason;
      const box = make('div', `coupon${claimed ? ' claimed' : ''}${compact ? ' compact' : ''}`);
      const info = make('div', 'coupon-info');
      // A preset coupon's title is its discount already: say it once.
      const same = c.title === discount;
      if (compact) {
        info.append(make('p', 'coupon-title', same ? discount : `${c.title} · ${discount}`));
      } else {
        info.append(make('p', 'coupon-title', c.title));
        if (!same) {
          info.append(make('p', 'coupon-discount', discount));
        }
        info.append(make('p', 'coupon-left', t('watch.couponLeft', { n: formatCount(c.remaining, lang()) })));
      }
      box.append(make('span', 'coupon-icon', '🎟️'), info);
      const stateKey = (mine?.used_by_order ? 'watch.couponUsed' : '')
        || couponStateKey({ claimed, closed: reason, remaining: c.remaining }) || claimErrors.get(c.id) || '';
      if (stateKey) {
        box.append(make('p', 'coupon-state', t(stateKey)));
      } else {
        const b = /** @type {HTMLButtonElement} */ (make('button', 'coupon-claim', t(claiming.has(c.id) ? 'watch.couponClaiming' : 'watch.couponClaim')));
        b.type = 'button';
        b.disabled = claiming.has(c.id);
        b.setAttribute('aria-label', `${t('watch.couponClaim')}: ${c.title}`);
        b.addEventListener('click', () => claim(c.id));
        box.append(b);
      }
      return box;
    }));
  }

  // ---- Pinned product ----
  const pinned = el('pinned');
  const pinnedOrder = byId('pinned-order', HTMLButtonElement);
  pinnedOrder.addEventListener('click', () => {
    if (live.pinned) {
      openOrder(live.pinned, { kind: 'live' });
    }
  });

  // The room's products carry no photo URL: take it from the public
  // products list, asked again when an unknown product is pinned.
  /** @type {Map<number, string>} product id -> thumbnail URL ('' for none) */
  const photos = new Map();
  /** @type {Promise<void> | null} */
  let photosLoading = null;
  /** @param {Product} p */
  function photoOf(p) {
    const url = p.thumb_url ?? p.photo_url ?? photos.get(p.id);
    if (url === undefined && !photosLoading) {
      photosLoading = getJSON(`${api}/products`).then((r) => {
        for (const x of Array.isArray(r?.products) ? r.products : []) {
          photos.set(x.id, x.thumb_url ?? x.photo_url ?? '');
        }
        if (!photos.has(p.id)) {
          photos.set(p.id, ''); // not there: do not ask again for it
        }
        photosLoading = null;
        schedule();
        renderSheet();
      });
    }
    return url;
  }

  /**
   * Fills a product card (the pinned one, or the replay's chapter's).
   * @param {string} prefix ids start with it
   * @param {Product} p
   */
  function fillCard(prefix, p) {
    setImg(byId(`${prefix}-img`, HTMLImageElement), photoOf(p));
    el(`${prefix}-name`).textContent = p.name;
    el(`${prefix}-price`).textContent = formatWon(p.price_won, lang());
    const stock = el(`${prefix}-stock`);
    stock.textContent = p.stock > 0 ? t('watch.stockLeft', { n: p.stock }) : t('watch.soldOut');
    stock.classList.toggle('out', p.stock <= 0);
  }

  // ---- Order sheet ----
  const sheet = byId('order-sheet', HTMLDialogElement);
  const qtyOut = byId('qty', HTMLOutputElement);
  const nameIn = byId('buyer-name', HTMLInputElement);
  const phoneIn = byId('buyer-phone', HTMLInputElement);
  const noteIn = byId('order-note', HTMLInputElement);
  const couponField = el('coupon-field');
  const couponSel = byId('order-coupon', HTMLSelectElement);
  const orderErr = el('order-error');
  const submit = byId('order-submit', HTMLButtonElement);
  /** @type {Product | null} */
  let sheetProduct = null;
  /** @type {{kind: 'live'} | {kind: 'replay', broadcastId: number}} */
  let sheetCtx = { kind: 'live' };
  let qty = 1;
  /** The command id of the order being placed: a retry after an error reuses it (never twice). */
  let orderID = '';

  /**
   * @param {Product} p
   * @param {{kind: 'live'} | {kind: 'replay', broadcastId: number}} ctx
   */
  function openOrder(p, ctx) {
    sheetProduct = p;
    sheetCtx = ctx;
    qty = 1;
    orderID = randomID();
    const buyer = store.json('dangol.buyer') ?? {};
    nameIn.value ||= buyer.name ?? '';
    phoneIn.value ||= buyer.phone ?? '';
    noteIn.value = '';
    showOrderError('');
    // The coupons this viewer claimed and has not used (live orders only).
    const usable = ctx.kind === 'live' ? usableCoupons(live) : [];
    couponSel.replaceChildren(make('option', '', t('watch.noCoupon')));
    /** @type {HTMLOptionElement} */ (couponSel.firstElementChild).value = '';
    for (const c of usable) {
      const off = t('watch.couponDiscount', { won: formatWon(c.discount_won, lang()) });
      const o = /** @type {HTMLOptionElement} */ (make('option', '', c.title
        ? (c.title === off ? off : `${c.title} (${off})`)
        : t('watch.couponN', { id: c.coupon_id })));
      o.value = String(c.coupon_id);
      couponSel.append(o);
    }
    if (usable.length) {
      couponSel.value = String(usable[0].coupon_id);
    }
    couponField.hidden = usable.length === 0;
    renderSheet();
    sheet.showModal();
    (nameIn.value && phoneIn.value ? submit : nameIn).focus();
  }

  function renderSheet() {
    const p = sheetProduct;
    if (!p) {
      return;
    }
    qty = stepQty(qty, 0, p.stock);
    setImg(byId('order-img', HTMLImageElement), photoOf(p));
    el('order-name').textContent = p.name;
    el('order-price').textContent = formatWon(p.price_won, lang());
    el('order-stock').textContent = p.stock > 0 ? t('watch.stockLeft', { n: p.stock }) : t('watch.soldOut');
    qtyOut.textContent = String(qty);
    byId('qty-minus', HTMLButtonElement).disabled = qty <= 1;
    byId('qty-plus', HTMLButtonElement).disabled = qty >= Math.min(999, p.stock);
    const c = usableCoupons(live).find((x) => String(x.coupon_id) === couponSel.value);
    const total = Math.max(0, p.price_won * qty - (sheetCtx.kind === 'live' && c ? c.discount_won : 0));
    el('order-total').textContent = t('watch.orderTotal', { won: formatWon(total, lang()) });
    submit.disabled = p.stock <= 0;
  }

  /** @param {string} key @param {string} [field] */
  function showOrderError(key, field) {
    orderErr.hidden = !key;
    orderErr.textContent = key ? t(key) : '';
    if (key) {
      orderErr.scrollIntoView({ block: 'nearest' });
    }
    for (const [f, input] of /** @type {Array<[string, HTMLElement]>} */ ([['buyer.name', nameIn], ['buyer.phone', phoneIn], ['note', noteIn], ['items', qtyOut]])) {
      if (f === field) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', 'order-error');
      } else {
        input.removeAttribute('aria-invalid');
        input.removeAttribute('aria-describedby');
      }
    }
  }

  byId('qty-minus', HTMLButtonElement).addEventListener('click', () => {
    qty = stepQty(qty, -1, sheetProduct?.stock ?? 1);
    renderSheet();
  });
  byId('qty-plus', HTMLButtonElement).addEventListener('click', () => {
    qty = stepQty(qty, 1, sheetProduct?.stock ?? 1);
    renderSheet();
  });
  couponSel.addEventListener('change', renderSheet);
  byId('order-close', HTMLButtonElement).addEventListener('click', () => sheet.close());
  for (const input of [nameIn, phoneIn, noteIn]) {
    input.addEventListener('input', () => {
      orderID = randomID(); // a changed order is a new command
    });
  }

  byId('order-form', HTMLFormElement).addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const p = sheetProduct;
    if (!p || submit.disabled) {
      return;
    }
    const form = { name: nameIn.value.trim(), phone: phoneIn.value.trim(), qty, note: noteIn.value.trim() };
    const bad = checkOrderForm(form);
    if (bad) {
      showOrderError(bad.key, bad.field);
      ({ 'buyer.name': nameIn, 'buyer.phone': phoneIn, note: noteIn }[bad.field] ?? nameIn).focus();
      return;
    }
    store.set('dangol.buyer', JSON.stringify({ name: form.name, phone: form.phone }));
    const body = {
      items: [{ product_id: p.id, qty }],
      buyer: { name: form.name, phone: form.phone },
      note: form.note,
    };
    submit.disabled = true;
    submit.textContent = t('watch.orderSending');
    try {
      /** @type {Order} */
      let order;
      if (sheetCtx.kind === 'live') {
        const coupon = Number(couponSel.value) || 0;
        const r = await room.send('order.place', coupon ? { ...body, coupon_id: coupon } : body);
        order = r.order;
      } else {
        order = await placeReplayOrder(sheetCtx.broadcastId, { id: orderID, ...body });
        order = { ...order, source: 'replay' };
      }
      sheet.close();
      gotOrder(order);
      openOrders();
    } catch (err) {
      const e = err instanceof RoomError ? err : new RoomError('generic', '');
      if (e.code === 'out_of_stock' && sheetProduct) {
        orderID = randomID();
      }
      showOrderError(errorKey(e.code, e.field), e.field);
    } finally {
      submit.textContent = t('watch.orderSubmit');
      renderSheet();
    }
  });

  /**
   * POST .../broadcasts/{id}/orders (docs/api.md): the replay's order.
   * @param {number} broadcastID
   * @param {Record<string, any>} body
   * @returns {Promise<Order>}
   */
  async function placeReplayOrder(broadcastID, body) {
    /** @type {Response} */
    let res;
    try {
      res = await fetch(`${api}/broadcasts/${broadcastID}/orders`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept-Language': lang() },
        body: JSON.stringify(body),
      });
    } catch {
      throw new RoomError('network', '');
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const e = data?.error ?? {};
      throw new RoomError(e.code ?? 'generic', e.message ?? '', e);
    }
    return data;
  }

  // ---- My orders ----
  const ordersSheet = byId('orders-sheet', HTMLDialogElement);
  const ordersList = el('orders');
  const ordersErr = el('orders-error');
  const ordersOpen = byId('orders-open', HTMLButtonElement);
  ordersOpen.addEventListener('click', openOrders);
  byId('orders-close', HTMLButtonElement).addEventListener('click', () => ordersSheet.close());

  function openOrders() {
    ordersErr.hidden = true;
    renderOrders();
    if (!ordersSheet.open) {
      ordersSheet.showModal();
    }
  }

  /** @param {Order} order */
  function gotOrder(order) {
    orders = upsertOrder(orders, order);
    live = applyOrderToClaims(live, order);
    store.set(ordersKey, JSON.stringify(orders));
    renderOrders();
    schedule();
  }

  /** @param {Order & {source?: string}} o */
  function orderRow(o) {
    const li = make('li', `order status-${o.status}`);
    const items = o.items?.map((it) => `${it.name} × ${it.qty}`).join(', ') ?? '';
    li.append(
      make('p', 'order-items', items),
      make('p', 'order-meta', `${t('watch.orderNo', { id: o.id })} · ${formatWon(o.total_won, lang())}`),
      make('p', 'order-status', t(orderStatusKey(o.status))),
    );
    if (o.source === 'replay' && !orderDone(o)) {
      li.append(make('p', 'muted small', t('watch.replayOrderHint')));
    } else if (canCancel(o)) {
      const b = /** @type {HTMLButtonElement} */ (make('button', 'secondary', t('watch.orderCancel')));
      b.type = 'button';
      b.addEventListener('click', () => {
        b.disabled = true;
        room.send('order.cancel', { order_id: o.id }).then((r) => gotOrder(r.order), (err) => {
          ordersErr.textContent = t(err instanceof RoomError ? errorKey(err.code, err.field) : 'watch.errGeneric');
          ordersErr.hidden = false;
          b.disabled = false;
        });
      });
      li.append(b);
    }
    return li;
  }

  function renderOrders() {
    ordersList.replaceChildren(...(orders.length ? orders.map(orderRow) : [make('li', 'muted', t('watch.noOrders'))]));
  }

  // ---- Stall (not live) ----
  const stallInfo = el('stall-info');
  /** @type {Record<string, any> | null} */
  let channel = null;
  /** @type {Array<Record<string, any>>} */
  let replays = [];
  /** @type {import('./watch-state.js').StallProduct[]} */
  let stallItems = [];

  async function loadStall() {
    const [ch, rp, pr] = await Promise.all([getJSON(api), getJSON(`${api}/replays`), getJSON(`${api}/products`)]);
    channel = ch && typeof ch === 'object' ? ch : null;
    replays = Array.isArray(rp?.replays) ? rp.replays.filter((/** @type {any} */ r) => r && (r.replay_url || r.replay_hls_url)) : [];
    stallItems = stallProducts(pr?.products);
    for (const p of stallItems) {
      photos.set(p.id, p.thumb_url ?? p.photo_url ?? ''); // the pinned card's photos too
    }
    schedule();
  }

  // The products, with a button for each one's clip: a video element only
  // once it is tapped, and one at a time (a cheap phone, a market's LTE).
  const productsList = el('stall-products');
  /** @type {{id: number, video: HTMLVideoElement, error: HTMLElement, button: HTMLButtonElement} | null} */
  let clip = null;
  /** What the products were drawn from: drawn again only when it changes (a playing clip stays). */
  let productsDrawn = '';

  function renderProducts() {
    const key = JSON.stringify([stallItems, lang()]);
    if (key === productsDrawn) {
      return;
    }
    productsDrawn = key;
    stopClip();
    el('products-box').hidden = stallItems.length === 0;
    productsList.replaceChildren(...stallItems.map(productRow));
  }

  /** @param {import('./watch-state.js').StallProduct} p */
  function productRow(p) {
    const li = make('li', 'list-item stall-product');
    li.dataset.product = String(p.id);
    const row = make('div', 'product-row');
    const url = p.thumb_url ?? p.photo_url;
    if (url) {
      const img = /** @type {HTMLImageElement} */ (make('img', 'product-thumb'));
      img.alt = '';
      img.loading = 'lazy';
      img.decoding = 'async';
      img.width = 80;
      img.height = 80;
      img.src = url;
      row.append(img);
    } else {
      const none = make('span', 'product-thumb none', '🛍️');
      none.setAttribute('aria-hidden', 'true');
      row.append(none);
    }
    const info = make('div', 'product-info');
    const price = make('p', 'product-price-line');
    price.append(make('strong', 'product-price', formatWon(p.price_won, lang())));
    if (p.stock <= 0) {
      price.append(' ', make('span', 'product-soldout', t('watch.soldOut')));
    }
    info.append(make('p', 'product-name', p.name), price);
    row.append(info);
    li.append(row);
    if (p.clip) {
      const b = /** @type {HTMLButtonElement} */ (make('button', 'clip-btn'));
      b.type = 'button';
      b.setAttribute('aria-expanded', 'false');
      clipLabel(b, p, false);
      const c = p.clip;
      b.addEventListener('click', () => {
        if (clip?.id === p.id) {
          stopClip();
        } else {
          playClip(p, c.url, li, b);
        }
      });
      li.append(b);
    }
    return li;
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {{name: string}} p
   * @param {boolean} open
   */
  function clipLabel(b, p, open) {
    const text = t(open ? 'channel.closeClip' : 'channel.watchClip');
    const icon = make('span', 'clip-icon', open ? '✕' : '▶');
    icon.setAttribute('aria-hidden', 'true');
    b.replaceChildren(icon, make('span', '', text));
    b.setAttribute('aria-label', `${text}: ${p.name}`);
    b.setAttribute('aria-expanded', String(open));
  }

  /**
   * Plays a product's clip under it, with sound (the tap allows it), else
   * muted.
   * @param {{id: number, name: string}} p
   * @param {string} url
   * @param {HTMLElement} li
   * @param {HTMLButtonElement} b
   */
  function playClip(p, url, li, b) {
    stopClip();
    const v = document.createElement('video');
    v.className = 'clip-video';
    v.controls = true;
    v.playsInline = true;
    v.setAttribute('playsinline', '');
    v.preload = 'auto';
    v.src = url;
    const err = make('p', 'form-error clip-error', t('channel.clipError'));
    err.setAttribute('role', 'alert');
    err.hidden = true;
    v.addEventListener('error', () => {
      err.hidden = false;
    });
    li.append(v, err);
    clip = { id: p.id, video: v, error: err, button: b };
    clipLabel(b, p, true);
    v.play().catch(() => {
      if (clip?.video === v) {
        v.muted = true;
        v.play().catch(() => {});
      }
    });
  }

  function stopClip() {
    const c = clip;
    if (!c) {
      return;
    }
    clip = null;
    c.video.pause();
    c.video.removeAttribute('src');
    c.video.load();
    c.video.remove();
    c.error.remove();
    const p = stallItems.find((x) => x.id === c.id);
    clipLabel(c.button, p ?? { name: '' }, false);
  }

  /**
   * Sets a row of the facts, hiding it when empty.
   * @param {string} id
   * @param {unknown} v
   */
  function fact(id, v) {
    const text = typeof v === 'string' ? v.trim() : '';
    el(id).textContent = text;
    el(`${id}-row`).hidden = !text;
  }

  /** What the stall was drawn from (see couponsDrawn). */
  let stallDrawn = '';
  function renderStall() {
    const ch = channel;
    renderProducts();
    const key = JSON.stringify([ch, replays, lang()]);
    if (key === stallDrawn) {
      return;
    }
    stallDrawn = key;
    stallInfo.hidden = !ch || typeof ch.name !== 'string';
    if (ch && !stallInfo.hidden) {
      setImg(byId('stall-photo', HTMLImageElement), ch.photo_url ?? ch.thumb_url);
      el('stall-name').textContent = ch.name;
      fact('stall-market', ch.market);
      fact('stall-location', ch.location);
      fact('stall-hours', ch.hours);
      el('stall-desc').textContent = typeof ch.description === 'string' ? ch.description : '';
      document.title = `${ch.name} · ${t('watch.title')}`;
    }
    const next = upcoming(ch?.schedule, Date.now()).slice(0, 3);
    el('schedule-box').hidden = next.length === 0;
    el('schedule').replaceChildren(...next.map((s) => {
      const li = make('li', 'list-item');
      li.append(make('p', 'when', formatWhen(s.starts_at, lang())), make('p', '', s.title || t('watch.title')));
      return li;
    }));
    el('replays-box').hidden = replays.length === 0;
    el('replays').replaceChildren(...replays.slice(0, 10).map((r) => {
      const li = make('li');
      const b = /** @type {HTMLButtonElement} */ (make('button', 'replay-item'));
      b.type = 'button';
      b.append(
        make('span', 'replay-play', '▶'),
        make('span', 'replay-text'),
      );
      const text = /** @type {HTMLElement} */ (b.lastElementChild);
      const when = formatWhen(r.started_at, lang());
      const length = r.duration_s ? formatDuration(r.duration_s) : '';
      text.append(make('span', 'replay-name', r.title || when || t('watch.title')),
        make('span', 'replay-when', (r.title ? [when, length] : [length]).filter(Boolean).join(' · ')));
      b.addEventListener('click', () => openReplay(r));
      li.append(b);
      return li;
    }));
  }

  // ---- Replay ----
  const replayBox = el('replay');
  const replayVideo = byId('replay-video', HTMLVideoElement);
  const chaptersList = el('chapters');
  const replayErr = el('replay-error');
  /** @type {{id: number, chapters: Array<{offset_s: number, product: Product}>} | null} */
  let replay = null;
  let chapterIndex = -1;

  /** @param {Record<string, any>} r */
  async function openReplay(r) {
    video.muted = true; // a live start must not talk over the replay
    stopClip();
    replay = { id: r.id, chapters: [] };
    chapterIndex = -1;
    el('replay-title').textContent = r.title || formatWhen(r.started_at, lang()) || t('watch.title');
    replayErr.hidden = true;
    const nativeHls = replayVideo.canPlayType('application/vnd.apple.mpegurl') !== '';
    replayVideo.src = replaySource(r, nativeHls);
    replayBox.hidden = false;
    body.classList.add('replaying');
    schedule();
    byId('replay-back', HTMLButtonElement).focus();
    replayVideo.play().catch(() => {});
    const doc = await getJSON(`${api}/broadcasts/${encodeURIComponent(r.id)}/replay`);
    if (replay?.id !== r.id) {
      return;
    }
    replay.chapters = Array.isArray(doc?.chapters) ? doc.chapters.filter((/** @type {any} */ c) => c?.product) : [];
    renderChapters();
  }

  function closeReplay() {
    replay = null;
    replayVideo.pause();
    replayVideo.removeAttribute('src');
    replayVideo.load();
    replayBox.hidden = true;
    body.classList.remove('replaying');
    schedule();
  }
  byId('replay-back', HTMLButtonElement).addEventListener('click', closeReplay);
  byId('replay-live', HTMLButtonElement).addEventListener('click', closeReplay);
  replayVideo.addEventListener('error', () => {
    if (replay) {
      replayErr.textContent = t('channel.replayError');
      replayErr.hidden = false;
    }
  });
  replayVideo.addEventListener('timeupdate', () => {
    if (!replay) {
      return;
    }
    const i = chapterAt(replay.chapters, replayVideo.currentTime);
    if (i !== chapterIndex) {
      chapterIndex = i;
      renderChapters();
    }
  });
  byId('replay-order', HTMLButtonElement).addEventListener('click', () => {
    const c = replay?.chapters[chapterIndex];
    if (replay && c) {
      openOrder(c.product, { kind: 'replay', broadcastId: replay.id });
    }
  });

  function renderChapters() {
    const chapters = replay?.chapters ?? [];
    el('chapters-title').hidden = chapters.length === 0;
    chaptersList.replaceChildren(...chapters.map((c, i) => {
      const li = make('li');
      const b = /** @type {HTMLButtonElement} */ (make('button', `chapter${i === chapterIndex ? ' current' : ''}`));
      b.type = 'button';
      b.append(make('span', 'chapter-time', formatDuration(c.offset_s)), make('span', 'chapter-name', c.product.name),
        make('span', 'chapter-price', formatWon(c.product.price_won, lang())));
      if (i === chapterIndex) {
        b.setAttribute('aria-current', 'true');
      }
      b.addEventListener('click', () => {
        replayVideo.currentTime = c.offset_s;
        replayVideo.play().catch(() => {});
      });
      li.append(b);
      return li;
    }));
    const c = chapters[chapterIndex];
    el('replay-product').hidden = !c;
    if (c) {
      fillCard('replay-product', c.product);
      byId('replay-order', HTMLButtonElement).disabled = c.product.stock <= 0;
    }
  }

  // ---- Everything on screen ----
  const liveUI = el('live-ui');
  const viewers = el('viewers');
  function render() {
    const offline = !(roomLive === true || playing);
    body.classList.toggle('offline', offline);
    liveUI.hidden = offline;
    el('live-badge').hidden = offline;
    // Invited people must know this is not a real sale.
    el('practice-banner').hidden = !practice && !(live.live && live.practice);
    viewers.hidden = offline || !live.viewers;
    viewers.textContent = `👀 ${formatCount(live.viewers, lang())}`;
    viewers.setAttribute('aria-label', t('watch.viewers', { n: live.viewers }));
    updateUnmute();
    if (offline) {
      renderStall();
    } else {
      stopClip(); // the shop is live: the live video comes first
      el('notice').hidden = !live.notice;
      el('notice-text').textContent = live.notice;
      el('likes').textContent = formatCount(live.likes, lang());
      renderCoupons();
      renderChat();
      pinned.hidden = !live.pinned;
      if (live.pinned) {
        fillCard('pinned', live.pinned);
        pinnedOrder.disabled = live.pinned.stock <= 0;
      }
    }
    el('replay-live').hidden = !replay || offline;
    ordersOpen.hidden = orders.length === 0;
    const open = orders.filter((o) => !orderDone(o)).length;
    el('orders-count').textContent = open ? String(open) : '';
    if (ordersSheet.open) {
      renderOrders();
    }
  }

  /** Texts set from code, and placeholders, in the new language. */
  function translateMore() {
    for (const input of document.querySelectorAll('[data-i18n-placeholder]')) {
      const key = input.getAttribute('data-i18n-placeholder');
      if (key && (input instanceof HTMLInputElement)) {
        input.placeholder = t(key);
      }
    }
  }
  translateMore();
  onLangChange(() => {
    show(status);
    translateMore();
    chatItems.clear(); // "guest" names
    renderSheet();
    renderChapters();
    render();
  });

  // The layers under the top bar start below it, however tall large text
  // or a wrapped row makes it.
  const top = document.querySelector('.top');
  if (top instanceof HTMLElement && typeof ResizeObserver === 'function') {
    new ResizeObserver(() => {
      document.documentElement.style.setProperty('--top-h', `${Math.ceil(top.getBoundingClientRect().height)}px`);
    }).observe(top);
  }

  room.open();
  loadStall();
  render();

  if (typeof RTCPeerConnection !== 'function') {
    show({ title: 'watch.noWebRTC', hint: 'watch.noWebRTCHint' });
    return;
  }
  player = new Player(slug, video, show, practice);
  player.start(false);

  // Leave the server a DELETE rather than a session to time out.
  window.addEventListener('pagehide', () => player?.stop());
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) {
      player?.start(false); // back from the back-forward cache
    }
  });
  window.addEventListener('online', () => player?.retryNow());
}

main();
