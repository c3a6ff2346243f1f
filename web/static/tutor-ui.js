// @ts-check
// Pieces the three tutor pages share: their texts, building elements, the
// message line, copy buttons and what to say about a failed request.

import { lang, langs, onLangChange, setupLang, t, texts } from './i18n.js';
import { tutorTexts } from './texts-tutor.js';
// The element helpers and the busy button are the studio's: one of each for every page.
import { busy, byId, h } from './studio-ui.js';

export { busy, byId, h };

// i18n.js does not import texts-tutor.js, so its t() learns the tutor
// texts here, before anything is shown.
for (const l of langs) {
  Object.assign(texts[l], tutorTexts[l]);
}

/**
 * Translates [data-text] (text) and [data-text-label] (aria-label) under
 * root: the tutor pages' own attributes, since i18n.js's data-i18n is
 * checked against its own table only.
 * @param {ParentNode} root
 */
export function translateOwn(root) {
  for (const el of root.querySelectorAll('[data-text]')) {
    const key = el.getAttribute('data-text');
    if (key) {
      el.textContent = t(key);
    }
  }
  for (const el of root.querySelectorAll('[data-text-label]')) {
    const key = el.getAttribute('data-text-label');
    if (key) {
      el.setAttribute('aria-label', t(key));
    }
  }
  const title = document.querySelector('title[data-text]');
  if (title) {
    document.title = title.textContent ?? '';
  }
}

/**
 * Sets up the texts and the language button; render runs again after every
 * switch, for the texts set from code.
 * @param {() => void} render
 */
export function setupTexts(render) {
  setupLang();
  translateOwn(document);
  onLangChange(() => {
    translateOwn(document);
    render();
  });
}

/** @returns {'ko' | 'en'} */
export function currentLang() {
  return lang();
}

/** @type {Record<string, string>} */
const errorKeys = {
  network: 'error.network',
  unauthorized: 'tutor.errUnauthorized',
  forbidden: 'tutor.errForbidden',
  live: 'tutor.errLive',
  not_live: 'tutor.errNotLive',
  exists: 'tutor.errExists',
  internal: 'error.server',
};

/**
 * What to say about a failed request: the page's own words for the codes it
 * knows, else the server's message (already in the reader's language).
 * @param {unknown} err
 * @returns {string}
 */
export function errorMessage(err) {
  const e = /** @type {{code?: string, message?: string, status?: number}} */ (err ?? {});
  const code = e.code ?? '';
  if (errorKeys[code]) {
    return t(errorKeys[code]);
  }
  if (e.status === 401) {
    return t('tutor.errUnauthorized');
  }
  if (code && e.message) {
    return e.message;
  }
  if (typeof e.status === 'number' && e.status >= 500) {
    return t('error.server');
  }
  return t('error.generic');
}

/** A line that says what happened (role=status or alert, set in the page). */
export class Notice {
  /** @param {HTMLElement} el */
  constructor(el) {
    this.el = el;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
  }

  /**
   * @param {string} text
   * @param {{error?: boolean, ms?: number}} [opts] ms: hides after, 0 keeps it
   */
  show(text, opts = {}) {
    clearTimeout(this.timer);
    this.el.textContent = text;
    this.el.classList.toggle('bad', !!opts.error);
    this.el.hidden = !text;
    const ms = opts.ms ?? 6000;
    if (text && ms > 0) {
      this.timer = setTimeout(() => {
        this.el.hidden = true;
      }, ms);
    }
  }

  /** @param {unknown} err */
  error(err) {
    this.show(errorMessage(err), { error: true, ms: 0 });
  }

  clear() {
    this.show('');
  }
}

/**
 * Copies text; the clipboard API needs a secure page, so an old-style
 * selection copy is the fallback.
 * @param {string} text
 * @returns {Promise<boolean>}
 */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

/**
 * A read-only link box with a copy button beside it. The box can be
 * selected by hand when copying fails.
 * @param {string} value
 * @param {string} whatKey text key naming the value, for the button's name
 * @param {Notice} notice says whether it was copied
 * @returns {HTMLElement}
 */
export function copyField(value, whatKey, notice) {
  const input = /** @type {HTMLInputElement} */ (h('input', { type: 'text', readonly: true, class: 'copy-value', spellcheck: 'false' }));
  input.value = value;
  input.setAttribute('aria-label', t(whatKey));
  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'secondary copy' }, t('tutor.copy')));
  button.setAttribute('aria-label', t('tutor.copyLabel', { what: t(whatKey) }));
  button.addEventListener('click', async () => {
    const ok = await copyText(value);
    notice.show(ok ? t('tutor.copied') : t('tutor.copyFailed'), { error: !ok });
    if (!ok) {
      input.focus();
      input.select();
    }
  });
  input.addEventListener('focus', () => input.select());
  return h('div', { class: 'copy-row' }, input, button);
}

/**
 * Asks yes or no with the browser's own dialog: plain, big on phones and
 * read out by screen readers.
 * @param {string} question
 */
export function confirmed(question) {
  return window.confirm(question);
}

export { t };
