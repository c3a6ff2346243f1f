// @ts-check
// Coaching page /practice?c={slug}&s={session}: the tutor watches a live
// practice (video over WHEP, the live room as customers see it) and helps:
// quick tips shown large on the owner's phone, notes for the review, the
// ticks only a person can judge, and simulated customers. The owner may
// open it too, with the studio's credentials.

import { textIn } from './i18n.js';
import { Room } from './room.js';
import { formatSlot as formatWhen, sitePath as localPath } from './studio-logic.js';
import { Api, ApiError, loadStudioCredentials, loadTutorToken } from './tutor-api.js';
import {
  absoluteURL, addNote, cleanText, crowdText, pickCredential, pollDelay, quickTips, sessionParams, ticksOf, watchToken,
} from './tutor-logic.js';
import {
  ask, busy, byId, copyField, currentLang, fatalOf, h, merchantLinks, notice as newNotice, setText, setupTexts, t, wireTick,
} from './tutor-ui.js';
import { Keeper, SignalError, backoff } from './whip.js';
import { formatDuration as clock, formatWon, fromHello, reduce } from './watch-state.js';

/** Bounds of the wait between failed video attempts. */
const retryBaseMs = 1000;
const retryMaxMs = 10000;

/**
 * @typedef {Record<string, any>} Session the session document (docs/api.md)
 * @typedef {import('./watch-state.js').LiveState} RoomView
 */

function main() {
  const notice = newNotice(byId('notice', HTMLElement));
  const stateTitle = byId('state-title', HTMLElement);
  const stateHint = byId('state-hint', HTMLElement);
  const channelName = byId('channel-name', HTMLElement);
  const toReview = byId('to-review', HTMLAnchorElement);
  const cancel = byId('cancel', HTMLButtonElement);
  const back = byId('back', HTMLAnchorElement);
  const workspace = byId('workspace', HTMLElement);
  const video = byId('video', HTMLVideoElement);
  const videoStatus = byId('video-status', HTMLElement);
  const unmute = byId('unmute', HTMLButtonElement);
  const viewersEl = byId('viewers', HTMLElement);
  const likesEl = byId('likes', HTMLElement);
  const pinnedEl = byId('pinned', HTMLElement);
  const roomNotice = byId('room-notice', HTMLElement);
  const couponsEl = byId('coupons', HTMLUListElement);
  const chatEl = byId('chat', HTMLOListElement);
  const quickBox = byId('quick-tips', HTMLElement);
  const tipForm = byId('tip-form', HTMLFormElement);
  const tipText = byId('tip-text', HTMLInputElement);
  const ticksBox = byId('ticks', HTMLElement);
  const tickGreeted = byId('tick-greeted', HTMLInputElement);
  const tickPrice = byId('tick-price', HTMLInputElement);
  const noteForm = byId('note-form', HTMLFormElement);
  const noteText = byId('note-text', HTMLTextAreaElement);
  const crowdState = byId('crowd-state', HTMLElement);
  const crowdStop = byId('crowd-stop', HTMLButtonElement);
  const paceButtons = /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll('button[data-pace]')]);
  const share = byId('share', HTMLElement);
  const shareLink = byId('share-link', HTMLElement);
  const sentEl = byId('sent', HTMLOListElement);

  const params = sessionParams(location.search);
  const cred = params ? pickCredential(loadTutorToken(), loadStudioCredentials(), params.slug) : null;

  /** @type {Session | null} */
  let session = null;
  /** @type {import('./tutor-logic.js').Note[]} */
  let notes = [];
  /** @type {RoomView | null} */
  let view = null;
  /** @type {Room | null} */
  let room = null;
  /** @type {Keeper | null} */
  let keeper = null;
  let videoFailures = 0;
  /** @type {{title: string, vars?: Record<string, string | number>}} */
  let videoMsg = { title: 'coach.connecting' };
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let pollTimer;
  /** The last error shown in the state box instead of the session, if any: [title, hint]. @type {[string, string] | null} */
  let fatal = null;
  /**
   * Counts the changes made here (ticks, crowd, cancel), as they are sent and
   * as they are answered: a GET of the session sent before one of them
   * answered is out of date and is dropped, so that a poll never flips a
   * checkbox or a pace button back (studio-practice.js Practice.gen).
   */
  let gen = 0;

  setupTexts(renderAll);

  if (cred?.role === 'merchant' && params) {
    merchantLinks(params.slug, [[back, 'tutor.backStudio']]);
  }

  // Quick tips: one tap, as the merchant needs them now.
  for (const key of quickTips) {
    const b = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'tip-btn', 'data-i18n': key }, t(key)));
    // Sent in Korean whatever the tutor reads: the owner's phone shows it.
    b.addEventListener('click', () => busy(b, () => sendTip(textIn('ko', key))));
    quickBox.append(b);
  }

  fatal = fatalOf({ params, cred });
  if (!params || !cred) {
    renderState();
    return;
  }
  const { slug, session: id } = params;
  const api = new Api(cred.token, currentLang);
  ticksBox.hidden = cred.role !== 'tutor';

  /** @param {unknown} err */
  function failed(err) {
    const f = session ? null : fatalOf({ err });
    if (f) {
      fatal = f;
      renderState();
      return;
    }
    notice.error(err);
  }

  async function refresh() {
    clearTimeout(pollTimer);
    const asked = gen;
    try {
      const s = await api.session(id);
      if (asked !== gen) {
        // A change made here was sent or answered meanwhile: this answer
        // may predate it. Ask again shortly, not in a loop.
        pollTimer = setTimeout(refresh, 1000);
        return;
      }
      session = s;
    } catch (err) {
      failed(err);
      if (session || !(err instanceof ApiError) || err.status === 0 || err.status >= 500) {
        pollTimer = setTimeout(refresh, 5000);
      }
      return;
    }
    renderAll();
    const state = String(session?.state ?? '');
    if (state === 'live') {
      startLive();
    } else if (state === 'ended' || state === 'cancelled') {
      stopLive();
    }
    const wait = pollDelay(state);
    if (wait > 0) {
      pollTimer = setTimeout(refresh, wait);
    }
  }

  function startLive() {
    if (!keeper) {
      keeper = new Keeper(`/whep/${encodeURIComponent(slug)}`, {
        setup: (pc) => {
          pc.addTransceiver('audio', { direction: 'recvonly' });
          pc.addTransceiver('video', { direction: 'recvonly' });
          const stream = new MediaStream();
          pc.addEventListener('track', (ev) => {
            if (pc !== keeper?.pc) {
              return;
            }
            stream.addTrack(ev.track);
            if (video.srcObject !== stream) {
              video.srcObject = stream;
            }
            play();
          });
        },
        failed: videoFailed,
        onState: (state) => {
          if (state === 'connected') {
            videoFailures = 0;
            showVideo('');
          } else if (state === 'disconnected') {
            showVideo('coach.reconnecting');
          }
        },
        reconnect: () => {
          showVideo('coach.reconnecting');
          keeper?.start();
        },
      }, { token: watchToken(session, cred?.token ?? '') });
      showVideo('coach.connecting');
      keeper.start();
    }
    if (!room) {
      // The session's own token goes as ?practice=: it opens only this
      // session, while it is open, and a URL may end up in a proxy's log.
      // Never ?token=, which would make this page the merchant.
      room = new Room(slug, { query: { practice: watchToken(session, cred?.token ?? '') }, lang: currentLang() });
      room.on('hello', (m) => {
        if (m.ok) {
          view = fromHello(m);
          renderRoom();
        }
      });
      room.on('state', (s) => {
        if (s !== 'open' && !view) {
          renderRoom();
        }
      });
      for (const type of ['chat.message', 'chat.hidden', 'product.pinned', 'stock', 'coupon.dropped', 'coupon.remaining',
        'coupon.closed', 'likes', 'viewers', 'notice']) {
        room.on(type, (ev) => {
          if (view) {
            const next = reduce(view, ev);
            if (next !== view) {
              view = next;
              renderRoom();
            }
          }
        });
      }
      // The broadcast ended or started: the session says what that means.
      room.on('live', (ev) => {
        if (view) {
          view = reduce(view, ev);
          renderRoom();
        }
        refresh();
      });
      room.open();
      loadNotes();
    }
  }

  function stopLive() {
    keeper?.stop();
    keeper = null;
    room?.close();
    room = null;
    video.srcObject = null;
    loadNotes();
  }

  /**
   * @param {unknown} err
   * @returns {number} ms until the next try, or -1 for none
   */
  function videoFailed(err) {
    const retry = backoff(videoFailures++, retryBaseMs, retryMaxMs);
    if (err instanceof SignalError) {
      if (err.status === 503 || err.status === 429) {
        // Not on air yet (the studio is starting): come back when told.
        showVideo('coach.connecting');
        return Math.min(30, Math.max(1, err.retryAfter ?? 3)) * 1000;
      }
      if (err.status === 401 || err.status === 403 || err.status === 404) {
        showVideo('coach.noCreds');
        return -1;
      }
    }
    console.warn('coach: video', err);
    showVideo('coach.reconnecting');
    return retry;
  }

  /** @param {string} title '' when the video plays */
  function showVideo(title) {
    videoMsg = { title };
    videoStatus.textContent = title ? t(title) : '';
    videoStatus.hidden = !title;
    unmute.hidden = !video.muted || !video.srcObject || !!title;
  }

  function play() {
    video.play().catch(() => {
      if (!video.muted) {
        video.muted = true;
        video.play().catch(() => {});
      }
    });
    showVideo(videoMsg.title);
  }

  async function loadNotes() {
    try {
      notes = /** @type {any[]} */ (await api.notes(id));
      renderSent();
    } catch (err) {
      console.warn('coach: notes', err);
    }
  }

  /**
   * @param {string} text
   * @returns {Promise<boolean>} whether it was sent
   */
  async function sendTip(text) {
    if (!session) {
      return false;
    }
    try {
      const note = await api.tip(id, text);
      if (note && typeof note.id === 'number') {
        notes = addNote(notes, /** @type {any} */ (note));
      }
      renderSent();
      notice.show(t('coach.tipSent', { text }), 'ok');
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'not_live') {
        refresh();
      }
      notice.error(err);
      return false;
    }
  }

  function renderAll() {
    renderState();
    renderRoom();
    renderSent();
    renderControls();
  }

  function renderState() {
    if (fatal) {
      setText(stateTitle, t(fatal[0]));
      setText(stateHint, t(fatal[1]));
      stateHint.hidden = false;
      workspace.hidden = true;
      toReview.hidden = true;
      cancel.hidden = true;
      return;
    }
    if (!session) {
      return;
    }
    const state = String(session.state ?? '');
    const titles = { waiting: 'coach.waiting', live: 'coach.live', ended: 'coach.ended', cancelled: 'coach.cancelled' };
    // #state is a live region: only what changed is written (and read out).
    setText(stateTitle, t(/** @type {Record<string, string>} */ (titles)[state] ?? 'coach.waiting'));
    stateHint.hidden = state !== 'waiting';
    setText(stateHint, state === 'waiting' ? t('coach.waitingHint') : '');
    const title = session.title ? ` · ${session.title}` : '';
    const started = session.started_at ? ` · ${formatWhen(session.started_at, currentLang())}` : '';
    setText(channelName, `${session.channel ?? slug}${title}${started}`);
    const review = localPath(session.review_url) || `/review?c=${encodeURIComponent(slug)}&s=${id}`;
    toReview.href = review;
    toReview.hidden = state !== 'ended';
    cancel.hidden = state !== 'waiting';
    workspace.hidden = state === 'cancelled';
    document.body.dataset.state = state;
  }

  function renderControls() {
    const live = session?.state === 'live';
    const open = live || session?.state === 'waiting';
    for (const b of [...quickBox.querySelectorAll('button')]) {
      /** @type {HTMLButtonElement} */ (b).disabled = !live;
    }
    const tipSend = /** @type {HTMLButtonElement | null} */ (tipForm.querySelector('button'));
    if (tipSend) {
      tipSend.disabled = !live;
    }
    tipText.disabled = !live;
    const ticks = ticksOf(session);
    tickGreeted.checked = ticks.greeted;
    tickPrice.checked = ticks.price_stated;
    const crowd = session?.crowd ?? null;
    setText(crowdState, crowdText(crowd, currentLang()));
    for (const b of paceButtons) {
      b.disabled = !live;
      b.setAttribute('aria-pressed', String(!!crowd && crowd.pace === b.dataset.pace));
    }
    crowdStop.disabled = !live || !crowd;
    const watch = open && session?.watch_url ? absoluteURL(localPath(session.watch_url), location.origin) : '';
    share.hidden = !watch;
    shareLink.replaceChildren(...(watch ? [copyField(watch, 'coach.share', notice)] : []));
  }

  function renderRoom() {
    const lang = currentLang();
    const v = view;
    viewersEl.textContent = t('coach.viewers', { n: v?.viewers ?? 0 });
    likesEl.textContent = `♥ ${t('coach.likes', { n: v?.likes ?? 0 })}`;
    if (!v) {
      pinnedEl.textContent = session?.state === 'live' ? t('coach.roomOff') : '';
      couponsEl.replaceChildren();
      chatEl.replaceChildren();
      roomNotice.hidden = true;
      return;
    }
    pinnedEl.textContent = v.pinned
      ? t('coach.pinned', { name: String(v.pinned.name ?? ''), price: formatWon(v.pinned.price_won, lang) })
      : t('coach.noPinned');
    roomNotice.hidden = !v.notice;
    roomNotice.textContent = v.notice ? t('coach.notice', { text: v.notice }) : '';
    couponsEl.replaceChildren(...(v.coupons.length
      ? v.coupons.map((c) => h('li', { class: 'row' }, t('coach.coupon', { title: String(c.title ?? ''), n: c.remaining ?? 0 })))
      : [h('li', { class: 'muted' }, t('coach.noCoupons'))]));
    // Follow new messages only when already at the bottom: someone reading
    // older ones is not pulled away.
    const atBottom = chatEl.scrollHeight - chatEl.scrollTop - chatEl.clientHeight < 40;
    chatEl.replaceChildren(...(v.chat.length
      ? v.chat.map((m) => h('li', { class: 'chat-line' }, h('span', { class: 'nick' }, String(m.nickname ?? '')), ' ', String(m.text ?? '')))
      : [h('li', { class: 'muted' }, t('coach.noChat'))]));
    if (atBottom) {
      chatEl.scrollTop = chatEl.scrollHeight;
    }
  }

  function renderSent() {
    const lang = currentLang();
    sentEl.replaceChildren(...(notes.length
      ? [...notes].reverse().map((n) => {
        const when = typeof n.offset_s === 'number' ? clock(n.offset_s) : formatWhen(n.at, lang);
        return h('li', { class: 'row' },
          h('span', { class: `tag ${n.kind === 'tip' ? 'tag-tip' : 'tag-note'}` }, t(n.kind === 'tip' ? 'coach.kindTip' : 'coach.kindNote')),
          h('div', { class: 'row-text' }, h('p', {}, String(n.text ?? '')), h('p', { class: 'muted' }, when)));
      })
      : [h('li', { class: 'muted' }, t('coach.noSent'))]));
  }

  tipForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = cleanText(tipText.value, 120);
    const button = /** @type {HTMLButtonElement | null} */ (tipForm.querySelector('button'));
    if (!text || !button) {
      tipText.focus();
      return;
    }
    busy(button, async () => {
      if (await sendTip(text)) {
        tipText.value = '';
      }
    });
  });

  noteForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = cleanText(noteText.value, 500);
    const button = /** @type {HTMLButtonElement | null} */ (noteForm.querySelector('button'));
    if (!text || !button) {
      noteText.focus();
      return;
    }
    busy(button, async () => {
      try {
        const note = await api.note(id, text);
        if (note && typeof note.id === 'number') {
          notes = addNote(notes, /** @type {any} */ (note));
        }
        noteText.value = '';
        renderSent();
        notice.show(t('coach.noteSaved'), 'ok');
      } catch (err) {
        notice.error(err);
      }
    });
  });

  for (const [box, key] of /** @type {Array<[HTMLInputElement, string]>} */ ([[tickGreeted, 'greeted'], [tickPrice, 'price_stated']])) {
    wireTick(box, key, (ticks) => {
      gen++; // a poll answering while this is sent would show the tick as it was
      return api.ticks(id, ticks);
    }, (s) => {
      gen++;
      session = s;
      renderControls();
    }, notice);
  }

  // The buttons are drawn after busy() gave them back: drawn inside the
  // work, busy's end would turn on a button renderControls turned off.
  for (const b of paceButtons) {
    b.addEventListener('click', () => busy(b, async () => {
      try {
        gen++;
        const crowd = await api.crowd(id, String(b.dataset.pace));
        if (session) {
          gen++;
          session = { ...session, crowd };
        }
      } catch (err) {
        notice.error(err);
      }
    }).then(renderControls));
  }

  crowdStop.addEventListener('click', () => busy(crowdStop, async () => {
    try {
      gen++;
      await api.stopCrowd(id);
      if (session) {
        gen++;
        session = { ...session, crowd: null };
      }
    } catch (err) {
      notice.error(err);
    }
  }).then(renderControls));

  cancel.addEventListener('click', async () => {
    if (!(await ask(t('coach.cancelConfirm'), t('coach.cancel'), { danger: true }))) {
      return;
    }
    busy(cancel, async () => {
      try {
        const s = await api.cancelSession(id);
        gen++;
        session = s;
        renderAll();
        stopLive();
      } catch (err) {
        notice.error(err);
        refresh();
      }
    });
  });

  unmute.addEventListener('click', () => {
    video.muted = false;
    video.play().catch(() => {});
    unmute.hidden = true;
  });

  // A phone that slept or lost the network: look again at once.
  window.addEventListener('online', () => {
    keeper?.retryNow();
    refresh();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      refresh();
    }
  });
  window.addEventListener('pagehide', () => {
    keeper?.end();
    room?.close();
  });
  // Back from the browser's page cache, the video and the room are gone.
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) {
      location.reload();
    }
  });

  refresh();
}

main();
