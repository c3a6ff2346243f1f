// @ts-check
// The operator's page (/admin): tutors and channels, as the `dangol tutor`
// and `dangol channel` commands manage them, over /api/admin (commerce/api_admin.go).
//
// The admin key is the operator's master key: it comes in the link's
// fragment (/admin#k=...), which browsers never send, is taken out of the
// address bar at once and is kept in sessionStorage only, so that it is
// forgotten with the tab rather than left on the machine.

import { lang, onLangChange, setupLang, t } from './i18n.js';
import { ApiError, request } from './studio-api.js';
import { Toast, ask, byId as el } from './studio-ui.js';
import { absoluteURL as siteURL } from './tutor-logic.js';
import { copyText } from './tutor-ui.js';

/** sessionStorage key of the admin key. */
export const keyStorage = 'dangol.admin.key';

/**
 * @typedef {{id: number, handle: string, name: string, phone: string, channels: string[]}} AdminTutor
 * @typedef {{slug: string, name: string, live: boolean, live_practice: boolean, tutors: string[]}} AdminChannel
 * @typedef {{key: string, value: string}} ResultRow a label's text key and the value to show and copy
 * @typedef {{titleKey: string, vars: Record<string, string>, rows: ResultRow[]}} Result
 */

/**
 * The admin key in a location hash such as "#k=KEY", or "".
 * @param {string} hash
 * @returns {string}
 */
export function keyFromHash(hash) {
  return (new URLSearchParams(hash.replace(/^#/, '')).get('k') ?? '').trim();
}

/**
 * The absolute URL of a path the API answers (/studio?c=..#t=..), to send
 * to a merchant or a tutor ('' for anything but a path of this server).
 * @param {string} origin e.g. location.origin
 * @param {string} path
 * @returns {string}
 */
export function absoluteURL(origin, path) {
  return siteURL(path, origin);
}

/**
 * The body of POST /api/admin/tutors from the form's values: trimmed, the
 * handle in lower case, the optional fields left out when empty.
 * @param {{name: string, handle: string, phone: string}} v
 * @returns {{name: string, handle?: string, phone?: string}}
 */
export function tutorBody(v) {
  /** @type {{name: string, handle?: string, phone?: string}} */
  const body = { name: v.name.trim() };
  const handle = v.handle.trim().toLowerCase();
  if (handle) {
    body.handle = handle;
  }
  const phone = v.phone.trim();
  if (phone) {
    body.phone = phone;
  }
  return body;
}

/**
 * The body of POST /api/admin/channels from the form's values.
 * @param {{slug: string, name: string, tutor: string}} v
 * @returns {{slug: string, name: string, tutor?: string}}
 */
export function channelBody(v) {
  /** @type {{slug: string, name: string, tutor?: string}} */
  const body = { slug: v.slug.trim().toLowerCase(), name: v.name.trim() };
  if (v.tutor) {
    body.tutor = v.tutor;
  }
  return body;
}

/**
 * A list for people: "a, b", or none when empty.
 * @param {readonly string[]} items
 * @param {string} none
 * @returns {string}
 */
export function listText(items, none) {
  return items.length ? items.join(', ') : none;
}

/**
 * What to tell the operator about a failed request: the server's own
 * message (in the language asked for) when there is one.
 * @param {unknown} err
 * @param {(key: string) => string} tr
 * @returns {string}
 */
export function errorMessage(err, tr) {
  if (err instanceof ApiError) {
    if (err.code === 'network') {
      return tr('error.network');
    }
    if (err.status >= 500) {
      return tr('error.server');
    }
    if (err.message && err.message !== `HTTP ${err.status}`) {
      return err.message;
    }
  }
  return tr('error.generic');
}

/**
 * Copies the rows a result shows into rows of text keys and values; the
 * links become absolute.
 * @param {Record<string, string>} created POST /api/admin/channels' answer
 * @param {string} origin
 * @returns {ResultRow[]}
 */
export function channelRows(created, origin) {
  return [
    { key: 'admin.studioLink', value: absoluteURL(origin, created.studio_url) },
    { key: 'admin.pin', value: created.pin },
    { key: 'admin.streamKey', value: created.stream_key },
    { key: 'admin.channelLink', value: absoluteURL(origin, created.channel_url) },
  ];
}

function start() {
  const page = new AdminPage(takeKey());
  // i18n.js translates [data-i18n] and [data-i18n-label], again after
  // every switch, before the page draws its own texts again.
  setupLang();
  onLangChange(() => {
    // The server wrote the errors shown in the other language.
    for (const e of document.querySelectorAll('#app .form-error')) {
      if (e instanceof HTMLElement) {
        e.hidden = true;
      }
    }
    page.render();
  });
  page.open();
  // A new link pasted into the open tab changes only the fragment.
  addEventListener('hashchange', () => {
    const key = takeKey();
    if (key !== page.key) {
      page.key = key;
      page.open();
    }
  });
}

/**
 * Reads the key from the link and keeps it for the tab, or reads the kept
 * one; the key is taken out of the address bar, where it could end up in a
 * screenshot, a bookmark or the history.
 * @returns {string}
 */
function takeKey() {
  const fromLink = keyFromHash(location.hash);
  if (location.hash) {
    history.replaceState(null, '', location.pathname + location.search);
  }
  if (fromLink) {
    storeKey(fromLink);
    return fromLink;
  }
  try {
    return sessionStorage.getItem(keyStorage) ?? '';
  } catch {
    return ''; // storage off: the operator types the key
  }
}

/** @param {string} key "" forgets it */
function storeKey(key) {
  try {
    if (key) {
      sessionStorage.setItem(keyStorage, key);
    } else {
      sessionStorage.removeItem(keyStorage);
    }
  } catch {
    // Not kept: works until the page is reloaded.
  }
}

class AdminPage {
  /** @param {string} key */
  constructor(key) {
    this.key = key;
    /** @type {AdminTutor[]} */
    this.tutors = [];
    /** @type {AdminChannel[]} */
    this.channels = [];
    /** @type {Map<HTMLElement, Result>} the secrets shown once, by box */
    this.results = new Map();
    this.toaster = new Toast(el('toast', HTMLParagraphElement), { okMs: 5000, errorMs: 5000 });
    this.wire();
  }

  wire() {
    el('login', HTMLFormElement).addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = el('login-key', HTMLInputElement).value.trim();
      if (key) {
        this.key = key;
        storeKey(key);
        this.open();
      }
    });
    el('logout', HTMLButtonElement).addEventListener('click', () => this.logout(''));
    el('refresh', HTMLButtonElement).addEventListener('click', () => this.load());
    el('tutor-form', HTMLFormElement).addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.addTutor();
    });
    el('channel-form', HTMLFormElement).addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.addChannel();
    });
    el('link-form', HTMLFormElement).addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.changeLink('POST');
    });
    el('unlink', HTMLButtonElement).addEventListener('click', () => this.changeLink('DELETE'));
  }

  /**
   * Calls the admin API with the key.
   * @param {string} method
   * @param {string} path under /api/admin
   * @param {any} [json]
   */
  call(method, path, json) {
    return request(method, `/api/admin${path}`, { token: this.key, lang: lang(), json });
  }

  /** Shows the lists if there is a key, the login otherwise. */
  async open() {
    if (!this.key) {
      this.showLogin('');
      return;
    }
    el('login', HTMLFormElement).hidden = true;
    el('app', HTMLDivElement).hidden = false;
    el('logout', HTMLButtonElement).hidden = false;
    await this.load();
  }

  async load() {
    try {
      const [tr, cr] = await Promise.all([this.call('GET', '/tutors'), this.call('GET', '/channels')]);
      this.tutors = Array.isArray(tr?.tutors) ? tr.tutors : [];
      this.channels = Array.isArray(cr?.channels) ? cr.channels : [];
      this.render();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        // Every route is 404 when the server has no admin token.
        this.logout('admin.loginOff');
        return;
      }
      this.failed(err, null);
    }
  }

  /**
   * Handles a failed request: a wrong key logs out, anything else is shown
   * in errorBox (or the toast) and the input at fault gets the focus.
   * @param {unknown} err
   * @param {HTMLFormElement | null} form
   */
  failed(err, form) {
    if (err instanceof ApiError && err.status === 401) {
      this.logout('admin.loginWrong');
      return;
    }
    const msg = errorMessage(err, t);
    const box = form?.querySelector('.form-error');
    if (!(box instanceof HTMLElement)) {
      this.toast(msg);
      return;
    }
    box.textContent = msg;
    box.hidden = false;
    const field = err instanceof ApiError && err.field ? form?.elements.namedItem(err.field) : null;
    if (field instanceof HTMLElement) {
      field.focus();
    }
  }

  /** @param {string} why a text key, or "" */
  logout(why) {
    this.key = '';
    storeKey('');
    this.tutors = [];
    this.channels = [];
    for (const box of this.results.keys()) {
      box.hidden = true;
      box.replaceChildren();
    }
    this.results.clear();
    this.showLogin(why);
  }

  /** @param {string} why */
  showLogin(why) {
    el('app', HTMLDivElement).hidden = true;
    el('logout', HTMLButtonElement).hidden = true;
    el('login', HTMLFormElement).hidden = false;
    const err = el('login-error', HTMLParagraphElement);
    err.hidden = !why;
    err.textContent = why ? t(why) : '';
    el('login-key', HTMLInputElement).value = '';
    el('login-key', HTMLInputElement).focus();
  }

  /**
   * Runs a change with the form's submit buttons off, so a double tap does
   * not create twice, and its error box cleared.
   * @param {HTMLFormElement} form
   * @param {() => Promise<void>} fn
   */
  async busy(form, fn) {
    const buttons = form.querySelectorAll('button');
    const box = form.querySelector('.form-error');
    if (box instanceof HTMLElement) {
      box.hidden = true;
    }
    for (const b of buttons) {
      b.disabled = true;
    }
    try {
      await fn();
    } catch (err) {
      this.failed(err, form);
    } finally {
      for (const b of buttons) {
        b.disabled = false;
      }
    }
  }

  addTutor() {
    const form = el('tutor-form', HTMLFormElement);
    return this.busy(form, async () => {
      const body = tutorBody({
        name: el('tutor-name', HTMLInputElement).value,
        handle: el('tutor-handle', HTMLInputElement).value,
        phone: el('tutor-phone', HTMLInputElement).value,
      });
      const r = await this.call('POST', '/tutors', body);
      form.reset();
      this.show(el('tutor-result', HTMLDivElement), {
        titleKey: 'admin.tutorAdded',
        vars: { handle: r.tutor.handle },
        rows: [{ key: 'admin.tutorLink', value: absoluteURL(location.origin, r.login_url) }],
      });
      await this.load();
    });
  }

  addChannel() {
    const form = el('channel-form', HTMLFormElement);
    return this.busy(form, async () => {
      const body = channelBody({
        slug: el('channel-slug', HTMLInputElement).value,
        name: el('channel-name', HTMLInputElement).value,
        tutor: el('channel-tutor', HTMLSelectElement).value,
      });
      const r = await this.call('POST', '/channels', body);
      form.reset();
      this.show(el('channel-result', HTMLDivElement), {
        titleKey: 'admin.channelAdded',
        vars: { slug: r.slug },
        rows: channelRows(r, location.origin),
      });
      await this.load();
    });
  }

  /** @param {'POST' | 'DELETE'} method link or unlink */
  changeLink(method) {
    const form = el('link-form', HTMLFormElement);
    const handle = el('link-tutor', HTMLSelectElement).value;
    const slug = el('link-channel', HTMLSelectElement).value;
    if (!handle || !slug) {
      const box = el('link-error', HTMLParagraphElement);
      box.textContent = t('admin.pick');
      box.hidden = false;
      return Promise.resolve();
    }
    return this.busy(form, async () => {
      await this.call(method, `/tutors/${encodeURIComponent(handle)}/channels/${encodeURIComponent(slug)}`);
      this.toast(t(method === 'POST' ? 'admin.linked' : 'admin.unlinked', { handle, slug }));
      await this.load();
    });
  }

  /** @param {string} slug */
  async resetPIN(slug) {
    if (!(await ask(t('admin.pinResetAsk', { slug }), t('admin.pinReset')))) {
      return;
    }
    try {
      const r = await this.call('POST', `/channels/${encodeURIComponent(slug)}/pin`);
      this.show(el('pin-result', HTMLDivElement), {
        titleKey: 'admin.pinNew', vars: { slug }, rows: [{ key: 'admin.pin', value: r.pin }],
      });
    } catch (err) {
      this.failed(err, null);
    }
  }

  /**
   * Shows a secret that is given only once, with copy buttons.
   * @param {HTMLElement} box
   * @param {Result} result
   */
  show(box, result) {
    this.results.set(box, result);
    this.renderResult(box, result);
    box.hidden = false;
    box.querySelector('input')?.focus();
  }

  /**
   * @param {HTMLElement} box
   * @param {Result} result
   */
  renderResult(box, result) {
    const title = document.createElement('p');
    title.className = 'result-title';
    title.textContent = t(result.titleKey, result.vars);
    const once = document.createElement('p');
    once.className = 'hint';
    once.textContent = t('admin.once');
    const list = document.createElement('dl');
    for (const row of result.rows) {
      const label = t(row.key);
      const dt = document.createElement('dt');
      dt.textContent = label;
      const value = document.createElement('input');
      value.type = 'text';
      value.readOnly = true;
      value.value = row.value;
      value.className = 'secret';
      value.setAttribute('aria-label', label);
      value.spellcheck = false;
      const copy = document.createElement('button');
      copy.type = 'button';
      copy.className = 'secondary';
      copy.textContent = t('admin.copy');
      copy.setAttribute('aria-label', t('admin.copyLabel', { what: label }));
      copy.addEventListener('click', () => this.copy(value));
      const dd = document.createElement('dd');
      dd.append(value, copy);
      list.append(dt, dd);
    }
    box.replaceChildren(title, once, list);
  }

  /** @param {HTMLInputElement} input */
  async copy(input) {
    if (await copyText(input.value)) {
      this.toast(t('admin.copied'));
      return;
    }
    // No clipboard at all: select it for the operator.
    input.focus();
    input.select();
    this.toast(t('admin.copyFailed'));
  }

  /** @param {string} msg */
  toast(msg) {
    this.toaster.show(msg, 'ok');
  }

  render() {
    this.renderTutors();
    this.renderChannels();
    this.renderSelects();
    for (const [box, result] of this.results) {
      this.renderResult(box, result);
    }
  }

  renderTutors() {
    const list = el('tutor-list', HTMLUListElement);
    list.replaceChildren(...this.tutors.map((tu) => {
      const li = document.createElement('li');
      const name = document.createElement('strong');
      name.textContent = tu.name;
      const handle = document.createElement('span');
      handle.className = 'handle';
      handle.textContent = `${tu.handle} · #${tu.id}`;
      const info = document.createElement('span');
      info.className = 'sub';
      info.textContent = t('admin.tutorChannels', { slugs: listText(tu.channels ?? [], t('admin.none')) });
      li.append(name, handle, info);
      if (tu.phone) {
        const phone = document.createElement('span');
        phone.className = 'sub';
        phone.textContent = tu.phone;
        li.append(phone);
      }
      return li;
    }));
    el('tutors-empty', HTMLParagraphElement).hidden = this.tutors.length > 0;
  }

  renderChannels() {
    const list = el('channel-list', HTMLUListElement);
    list.replaceChildren(...this.channels.map((ch) => {
      const li = document.createElement('li');
      const name = document.createElement('strong');
      name.textContent = ch.name;
      const slug = document.createElement('span');
      slug.className = 'handle';
      slug.textContent = ch.slug;
      li.append(name, slug);
      if (ch.live) {
        const live = document.createElement('span');
        live.className = ch.live_practice ? 'badge practice' : 'badge';
        live.textContent = t(ch.live_practice ? 'admin.livePractice' : 'admin.live');
        li.append(live);
      }
      const tutors = document.createElement('span');
      tutors.className = 'sub';
      tutors.textContent = t('admin.channelTutors', { handles: listText(ch.tutors ?? [], t('admin.none')) });
      const pin = document.createElement('button');
      pin.type = 'button';
      pin.className = 'secondary';
      pin.textContent = t('admin.pinReset');
      pin.setAttribute('aria-label', t('admin.pinResetLabel', { slug: ch.slug }));
      pin.addEventListener('click', () => this.resetPIN(ch.slug));
      li.append(tutors, pin);
      return li;
    }));
    el('channels-empty', HTMLParagraphElement).hidden = this.channels.length > 0;
  }

  /** Fills the tutor and channel pickers, keeping what was picked. */
  renderSelects() {
    const tutorOpts = this.tutors.map((tu) => ({ value: tu.handle, label: `${tu.name} (${tu.handle})` }));
    const channelOpts = this.channels.map((ch) => ({ value: ch.slug, label: `${ch.name} (${ch.slug})` }));
    fillSelect(el('channel-tutor', HTMLSelectElement), t('admin.none'), tutorOpts);
    fillSelect(el('link-tutor', HTMLSelectElement), t('admin.pick'), tutorOpts);
    fillSelect(el('link-channel', HTMLSelectElement), t('admin.pick'), channelOpts);
  }
}

/**
 * Replaces a select's options, the first one empty, keeping its value if
 * it is still there.
 * @param {HTMLSelectElement} select
 * @param {string} empty the empty option's text
 * @param {{value: string, label: string}[]} opts
 */
function fillSelect(select, empty, opts) {
  const was = select.value;
  const first = document.createElement('option');
  first.value = '';
  first.textContent = empty;
  select.replaceChildren(first, ...opts.map((o) => {
    const opt = document.createElement('option');
    opt.value = o.value;
    opt.textContent = o.label;
    return opt;
  }));
  select.value = opts.some((o) => o.value === was) ? was : '';
}

// Last: the page's class must be defined before it starts. Not in node,
// where the tests import the functions above.
if (typeof document !== 'undefined') {
  start();
}
