// @ts-check
// Tutor dashboard /tutor#t={token}: the tutor's shops, whether each is live
// or practising, and per shop its schedule, past broadcasts, practice
// scores, and the tools to set up the owner's phone (studio link, QR code,
// poster, new PIN), plus a form to create a shop for a new owner.

import { Api, ApiError, loadTutorToken, saveTutorToken } from './tutor-api.js';
import { formatSlot as formatWhen, sitePath as localPath } from './studio-logic.js';
import {
  absoluteURL, channelState, hasReview, hashToken, scoreBars, sessionStateKey, validSlug,
} from './tutor-logic.js';
import { ask, busy, byId, copyField, currentLang, errorMessage, h, notice as newNotice, setupTexts, t } from './tutor-ui.js';
import { formatDuration as clock } from './watch-state.js';

/**
 * @typedef {Record<string, any>} Channel one of GET /api/tutor's channels
 * @typedef {{schedule: any[], history: any[], broadcasts: any[], error?: unknown}} Detail
 */

/** Reads the login link's token, keeps it, and takes it out of the address bar (screenshots, shared links). */
function takeToken() {
  const fromHash = hashToken(location.hash);
  if (location.hash) {
    history.replaceState(null, '', location.pathname + location.search);
  }
  if (fromHash) {
    saveTutorToken(fromHash);
    return fromHash;
  }
  return loadTutorToken();
}

function main() {
  const notice = newNotice(byId('notice', HTMLElement));
  const loading = byId('loading', HTMLElement);
  const loginForm = byId('login', HTMLFormElement);
  const loginToken = byId('login-token', HTMLInputElement);
  const loginError = byId('login-error', HTMLElement);
  const home = byId('home', HTMLElement);
  const hello = byId('hello', HTMLElement);
  const list = byId('channels', HTMLUListElement);
  const empty = byId('channels-empty', HTMLElement);
  const logout = byId('logout', HTMLButtonElement);
  const reload = byId('reload', HTMLButtonElement);
  const newForm = byId('new-channel', HTMLFormElement);
  const newName = byId('new-name', HTMLInputElement);
  const newSlug = byId('new-slug', HTMLInputElement);
  const newError = byId('new-error', HTMLElement);
  const newResult = byId('new-result', HTMLElement);

  let token = takeToken();
  const api = new Api(token ?? '', currentLang);

  /** @type {Record<string, any>} */
  let tutor = {};
  /** @type {Channel[]} */
  let channels = [];
  /** The open practice session of each shop, null for none. @type {Map<string, Record<string, any> | null>} */
  const open = new Map();
  /** @type {Map<string, Detail>} */
  const details = new Map();
  /** Shops whose details are shown. @type {Set<string>} */
  const expanded = new Set();
  /** Shown once after a request: a new studio link, a new PIN. @type {Map<string, {studio?: string, pin?: string}>} */
  const secrets = new Map();
  /** The last shop created, shown until the next: its secrets are not given again. @type {Record<string, any> | null} */
  let created = null;

  setupTexts(() => {
    render();
    renderCreated();
    if (!loginError.hidden) {
      loginError.textContent = t('tutor.errUnauthorized');
    }
  });

  function showLogin(withError = false) {
    loading.hidden = true;
    home.hidden = true;
    logout.hidden = true;
    loginForm.hidden = false;
    loginError.hidden = !withError;
    loginError.textContent = withError ? t('tutor.errUnauthorized') : '';
    loginToken.toggleAttribute('aria-invalid', withError);
  }

  /** @param {unknown} err */
  function failed(err) {
    if (err instanceof ApiError && err.status === 401) {
      token = null;
      saveTutorToken(null);
      showLogin(true);
      return;
    }
    notice.error(err);
  }

  async function load() {
    if (!token) {
      showLogin();
      return;
    }
    api.token = token;
    try {
      const me = await api.me();
      tutor = me.tutor;
      channels = me.channels;
    } catch (err) {
      loading.hidden = true;
      failed(err);
      return;
    }
    loading.hidden = true;
    loginForm.hidden = true;
    home.hidden = false;
    logout.hidden = false;
    render();
    // Which shops have a session open (waiting or live), for "open coaching".
    await Promise.all(channels.map(async (ch) => {
      try {
        open.set(ch.slug, await api.openPractice(ch.slug));
      } catch (err) {
        console.warn('tutor: open practice', ch.slug, err);
      }
    }));
    render();
    for (const slug of expanded) {
      loadDetail(slug);
    }
  }

  /** @param {string} slug */
  async function loadDetail(slug) {
    try {
      const [schedule, history, broadcasts] = await Promise.all([
        api.schedule(slug), api.practiceHistory(slug), api.broadcasts(slug),
      ]);
      details.set(slug, { schedule, history, broadcasts });
    } catch (err) {
      details.set(slug, { schedule: [], history: [], broadcasts: [], error: err });
      if (err instanceof ApiError && err.status === 401) {
        failed(err);
        return;
      }
    }
    renderCard(slug);
  }

  /**
   * Draws one shop's card again, in its place: the others (and the focus in
   * them) are left alone.
   * @param {string} slug
   */
  function renderCard(slug) {
    const i = channels.findIndex((ch) => ch.slug === slug);
    const old = list.children[i];
    if (home.hidden || i < 0 || !old) {
      render();
      return;
    }
    const focusedID = old.contains(document.activeElement) ? document.activeElement?.id ?? '' : '';
    old.replaceWith(channelCard(channels[i], i));
    if (focusedID) {
      document.getElementById(focusedID)?.focus();
    }
  }

  function render() {
    if (home.hidden) {
      return;
    }
    const focusedID = document.activeElement?.id ?? '';
    hello.textContent = tutor.name ? t('tutor.hello', { name: tutor.name }) : '';
    empty.hidden = channels.length > 0;
    list.replaceChildren(...channels.map((ch, i) => channelCard(ch, i)));
    // Rebuilt elements keep their ids: a keyboard user stays where they were.
    if (focusedID) {
      document.getElementById(focusedID)?.focus();
    }
  }

  /**
   * @param {Channel} ch
   * @param {number} i
   */
  function channelCard(ch, i) {
    const slug = String(ch.slug ?? '');
    const name = String(ch.name || slug);
    const state = channelState(ch);
    const stateKey = state === 'practice' ? 'tutor.statePractice' : state === 'live' ? 'tutor.stateLive' : 'tutor.stateOff';
    const session = open.get(slug);
    const titleID = `ch-${i}-name`;
    const detailID = `ch-${i}-detail`;
    const lang = currentLang();

    const badge = h('span', { class: `badge state-${state}` }, t(stateKey));
    const last = ch.last_broadcast_at ? t('tutor.lastBroadcast', { when: formatWhen(ch.last_broadcast_at, lang) }) : t('tutor.never');

    /** @type {HTMLElement} */
    let practice;
    if (session) {
      practice = h('a', {
        class: 'button primary', id: `ch-${i}-coach`,
        href: localPath(session.coach_url) || `/practice?c=${encodeURIComponent(slug)}&s=${encodeURIComponent(session.id)}`,
        'aria-label': t('tutor.coachOpenLabel', { name }),
      }, t('tutor.coachOpen'));
    } else {
      const b = /** @type {HTMLButtonElement} */ (h('button', {
        type: 'button', class: 'primary', id: `ch-${i}-practice`, 'aria-label': t('tutor.practiceStartLabel', { name }),
      }, t('tutor.practiceStart')));
      b.addEventListener('click', () => busy(b, () => startPractice(slug)));
      practice = b;
    }

    const isOpen = expanded.has(slug);
    const toggle = /** @type {HTMLButtonElement} */ (h('button', {
      type: 'button', class: 'secondary', id: `ch-${i}-toggle`, 'aria-expanded': String(isOpen), 'aria-controls': detailID,
      'aria-label': t('tutor.openLabel', { name }),
    }, `${isOpen ? '▲' : '▼'} ${t('tutor.open')}`));
    toggle.addEventListener('click', () => {
      if (expanded.has(slug)) {
        expanded.delete(slug);
      } else {
        expanded.add(slug);
        if (!details.has(slug)) {
          loadDetail(slug);
        }
      }
      renderCard(slug);
    });

    const card = h('li', { class: 'card shop', 'aria-labelledby': titleID },
      h('div', { class: 'shop-head' },
        h('h3', { id: titleID, class: 'shop-name' }, name),
        badge),
      h('p', { class: 'muted' }, `${slug} · ${t('tutor.counts', { b: ch.broadcasts ?? 0, p: ch.practice_broadcasts ?? 0 })}`),
      h('p', { class: 'muted' }, last),
      h('div', { class: 'actions' }, practice, toggle));
    const detail = h('div', { id: detailID, class: 'detail' });
    detail.hidden = !isOpen;
    if (isOpen) {
      fillDetail(detail, ch, i);
    }
    card.append(detail);
    return card;
  }

  /**
   * @param {HTMLElement} box
   * @param {Channel} ch
   * @param {number} i
   */
  function fillDetail(box, ch, i) {
    const slug = String(ch.slug ?? '');
    const lang = currentLang();
    const d = details.get(slug);
    if (!d) {
      box.append(h('p', { class: 'muted' }, t('tutor.loading')));
      box.append(tools(ch, i));
      return;
    }
    if (d.error) {
      box.append(h('p', { class: 'form-error', role: 'alert' }, errorMessage(d.error)));
    }

    // Scores over time, newest last, then every session with its review.
    const bars = scoreBars(d.history, lang);
    const scores = h('section', { class: 'sub' }, h('h4', {}, t('tutor.history')));
    if (bars.length === 0) {
      scores.append(h('p', { class: 'muted' }, t('tutor.noHistory')));
    } else {
      const row = h('ol', { class: 'bars', 'aria-label': t('tutor.scoresLabel') });
      for (const b of bars) {
        const bar = h('span', { class: 'score-bar' });
        // CSSOM, not a style attribute: the page's policy allows no inline styles.
        bar.style.height = `${b.height}%`;
        row.append(h('li', { class: 'bar-cell' },
          h('span', { class: 'bar-track', 'aria-hidden': 'true' }, bar),
          h('span', { class: 'bar-num', 'aria-hidden': 'true' }, String(b.score)),
          h('span', { class: 'offscreen' }, b.label)));
      }
      scores.append(row);
    }
    const sessions = d.history.filter((s) => s && s.id);
    if (sessions.length > 0) {
      const ul = h('ul', { class: 'rows' });
      for (const s of sessions) {
        const title = s.title || t('tutor.untitled');
        const when = formatWhen(s.started_at ?? s.ended_at, lang);
        const line = [when, t(sessionStateKey(s.state))].filter(Boolean).join(' · ');
        const score = typeof s.score === 'number' ? t('review.scoreValue', { score: s.score }) : t('tutor.noScore');
        const li = h('li', { class: 'row' },
          h('div', { class: 'row-text' }, h('p', { class: 'strong' }, `${title} — ${score}`), h('p', { class: 'muted' }, line)));
        if (hasReview(s)) {
          li.append(h('a', {
            class: 'button secondary', id: `ch-${i}-review-${s.id}`, href: `/review?c=${encodeURIComponent(slug)}&s=${encodeURIComponent(s.id)}`,
            'aria-label': t('tutor.reviewLabel', { title }),
          }, t('tutor.review')));
        }
        ul.append(li);
      }
      scores.append(ul);
    }

    const sched = h('section', { class: 'sub' }, h('h4', {}, t('tutor.schedule')));
    if (d.schedule.length === 0) {
      sched.append(h('p', { class: 'muted' }, t('tutor.noSchedule')));
    } else {
      sched.append(h('ul', { class: 'rows' }, ...d.schedule.map((s) => h('li', { class: 'row' },
        h('p', {}, [formatWhen(s.starts_at, lang), s.title].filter(Boolean).join(' · '))))));
    }

    const past = h('section', { class: 'sub' }, h('h4', {}, t('tutor.broadcasts')));
    if (d.broadcasts.length === 0) {
      past.append(h('p', { class: 'muted' }, t('tutor.noBroadcasts')));
    } else {
      past.append(h('ul', { class: 'rows' }, ...d.broadcasts.slice(0, 15).map((b) => {
        const duration = typeof b.duration_s === 'number' ? clock(b.duration_s) : '–';
        const line = b.live ? t('tutor.onAir') : t('tutor.broadcastLine', {
          when: formatWhen(b.started_at, lang), duration, viewers: b.total_viewers ?? 0, orders: b.orders ?? 0,
        });
        return h('li', { class: 'row' },
          h('span', { class: `tag ${b.practice ? 'tag-practice' : 'tag-real'}` }, t(b.practice ? 'tutor.practiceTag' : 'tutor.liveTag')),
          h('div', { class: 'row-text' }, h('p', { class: 'strong' }, b.title || t('tutor.untitled')), h('p', { class: 'muted' }, line)));
      })));
    }
    box.append(scores, sched, past, tools(ch, i));
  }

  /**
   * The owner's phone: a new studio link, the QR code, the poster, a new PIN.
   * @param {Channel} ch
   * @param {number} i
   */
  function tools(ch, i) {
    const slug = String(ch.slug ?? '');
    const name = String(ch.name || slug);
    const s = secrets.get(slug) ?? {};
    const box = h('section', { class: 'sub tools' }, h('h4', {}, t('tutor.tools')));

    const linkBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'secondary', id: `ch-${i}-link` }, t('tutor.studioLink')));
    linkBtn.addEventListener('click', () => busy(linkBtn, async () => {
      try {
        const r = await api.studioLink(slug);
        secrets.set(slug, { ...secrets.get(slug), studio: absoluteURL(r?.studio_url, location.origin) });
        renderCard(slug);
      } catch (err) {
        failed(err);
      }
    }));
    box.append(h('p', { class: 'hint' }, t('tutor.studioLinkHint')), linkBtn);
    if (s.studio) {
      box.append(copyField(s.studio, 'tutor.studioLinkLabel', notice, `ch-${i}-studio-copy`));
    }

    const qr = h('img', {
      class: 'qr', src: `/c/${encodeURIComponent(slug)}/qr.svg`, width: 160, height: 160, loading: 'lazy',
      alt: t('tutor.qrAlt', { name }),
    });
    box.append(
      h('p', { class: 'strong' }, t('tutor.qr')),
      qr,
      copyField(absoluteURL(`/c/${encodeURIComponent(slug)}`, location.origin), 'tutor.channelLinkLabel', notice, `ch-${i}-channel-copy`),
      h('p', {}, h('a', { class: 'button secondary', id: `ch-${i}-poster`, href: `/c/${encodeURIComponent(slug)}/poster`, target: '_blank', rel: 'noopener' }, t('tutor.poster'))));

    const pinBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'secondary', id: `ch-${i}-pin` }, t('tutor.pinReset')));
    pinBtn.addEventListener('click', async () => {
      if (!(await ask(t('tutor.pinConfirm'), t('tutor.pinReset')))) {
        return;
      }
      busy(pinBtn, async () => {
        try {
          const r = await api.resetPin(slug);
          secrets.set(slug, { ...secrets.get(slug), pin: String(r?.pin ?? '') });
          renderCard(slug);
        } catch (err) {
          failed(err);
        }
      });
    });
    box.append(pinBtn);
    if (s.pin) {
      box.append(h('p', { class: 'pin', role: 'status' }, t('tutor.pinNew', { pin: s.pin })));
    }
    return box;
  }

  /** @param {string} slug */
  async function startPractice(slug) {
    try {
      const s = await api.startPractice(slug);
      location.href = localPath(s?.coach_url) || `/practice?c=${encodeURIComponent(slug)}&s=${encodeURIComponent(s?.id)}`;
    } catch (err) {
      failed(err);
    }
  }

  function renderCreated() {
    newResult.hidden = !created;
    if (!created) {
      return;
    }
    const c = created;
    newResult.replaceChildren(
      h('p', { class: 'strong' }, t('tutor.newDone', { name: c.name || c.slug })),
      h('p', {}, t('tutor.studioLinkLabel')),
      copyField(absoluteURL(c.studio_url, location.origin), 'tutor.studioLinkLabel', notice, 'new-studio-copy'),
      h('p', {}, t('tutor.channelLinkLabel')),
      copyField(absoluteURL(c.channel_url || `/c/${encodeURIComponent(c.slug)}`, location.origin), 'tutor.channelLinkLabel', notice, 'new-channel-copy'),
      h('p', { class: 'pin' }, t('tutor.pinNew', { pin: String(c.pin ?? '') })),
      h('img', { class: 'qr', src: `/c/${encodeURIComponent(c.slug)}/qr.svg`, width: 160, height: 160, alt: t('tutor.qrAlt', { name: c.name || c.slug }) }));
  }

  /**
   * @param {HTMLInputElement | null} input
   * @param {string} text '' clears
   */
  function newFormError(input, text) {
    newError.hidden = !text;
    newError.textContent = text;
    for (const el of [newName, newSlug]) {
      const bad = !!text && el === input;
      el.toggleAttribute('aria-invalid', bad);
      if (bad) {
        el.setAttribute('aria-describedby', 'new-error');
        el.focus();
      } else {
        el.removeAttribute('aria-describedby');
      }
    }
  }

  newSlug.addEventListener('input', () => {
    // Phones capitalise and add spaces; addresses have neither.
    const v = newSlug.value.toLowerCase().replace(/\s+/g, '-');
    if (v !== newSlug.value) {
      newSlug.value = v;
    }
  });

  newForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = newName.value.trim();
    const slug = newSlug.value.trim();
    if (!name || [...name].length > 80) {
      newFormError(newName, t('tutor.errName'));
      return;
    }
    if (!validSlug(slug)) {
      newFormError(newSlug, t('tutor.errSlug'));
      return;
    }
    newFormError(null, '');
    const button = /** @type {HTMLButtonElement | null} */ (newForm.querySelector('button[type=submit]'));
    if (!button) {
      return;
    }
    busy(button, async () => {
      try {
        created = await api.createChannel({ slug, name });
        newForm.reset();
        renderCreated();
        await load();
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          failed(err);
          return;
        }
        const field = err instanceof ApiError ? err.field : '';
        newFormError(field === 'name' ? newName : field === 'slug' || (err instanceof ApiError && err.code === 'exists') ? newSlug : null, errorMessage(err));
      }
    });
  });

  loginForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    // The whole link may be pasted, or just its code.
    const v = loginToken.value.trim();
    const fromLink = v.includes('#') ? hashToken(v.slice(v.indexOf('#'))) : hashToken(`t=${v}`);
    if (!fromLink) {
      showLogin(true);
      loginToken.focus();
      return;
    }
    token = fromLink;
    saveTutorToken(token);
    loginToken.value = '';
    loginForm.hidden = true;
    loading.hidden = false;
    load();
  });

  logout.addEventListener('click', () => {
    token = null;
    saveTutorToken(null);
    channels = [];
    open.clear();
    details.clear();
    secrets.clear();
    created = null;
    list.replaceChildren();
    newResult.hidden = true;
    showLogin();
    loginToken.focus();
  });

  reload.addEventListener('click', () => busy(reload, async () => {
    details.clear();
    open.clear();
    await load();
  }));

  load();
}

main();
