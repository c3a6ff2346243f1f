// @ts-check
// Pieces the three tutor pages share: their texts, building elements, the
// message line, copy buttons, what to say about a failed request, and what
// the coaching and review pages do alike.

import { lang, onLangChange, setupLang, t } from './i18n.js';
import { errorText } from './studio-logic.js';
// The element helpers, the busy button, the message line and the yes/no
// question are the studio's: one of each for every page.
import { Toast, ask, busy, byId, h } from './studio-ui.js';

export { Toast, ask, busy, byId, h };

/**
 * Sets up the texts (i18n.js translates [data-i18n] and [data-i18n-label],
 * again after every switch) and the language button; render runs again
 * after every switch, for the texts set from code.
 * @param {() => void} render
 */
export function setupTexts(render) {
  setupLang();
  onLangChange(() => {
    render();
  });
}

/** @returns {'ko' | 'en'} */
export function currentLang() {
  return lang();
}

/**
 * The tutor pages' words for errors (studio-logic.js errorText): their own
 * texts for the codes they know and for a refused credential, the server's
 * message else, and a server failure said as one.
 */
export const tutorWords = Object.freeze({
  codes: Object.freeze({
    network: 'error.network',
    unauthorized: 'tutor.errUnauthorized',
    forbidden: 'tutor.errForbidden',
    live: 'tutor.errLive',
    not_live: 'tutor.errNotLive',
    exists: 'tutor.errExists',
    internal: 'error.server',
  }),
  unauthorized: 'tutor.errUnauthorized',
  server: true,
});

/**
 * What to say about a failed request: the page's own words for the codes it
 * knows, else the server's message (already in the reader's language).
 * @param {unknown} err
 * @returns {string}
 */
export function errorMessage(err) {
  const r = errorText(/** @type {any} */ (err ?? null), tutorWords);
  return 'key' in r ? t(r.key) : r.text;
}

/**
 * The message line of a tutor page (#notice): news stays 6 s, an error
 * until the next message.
 * @param {HTMLElement} el
 */
export function notice(el) {
  return new Toast(el, { words: tutorWords, okMs: 6000, errorMs: 0 });
}

/**
 * Sets an element's text only when it changes: a live region (aria-live,
 * role=status) is read out again on every write, even of the same words.
 * @param {{textContent: string | null}} el
 * @param {string} text
 * @returns {boolean} whether it changed
 */
export function setText(el, text) {
  if (el.textContent === text) {
    return false;
  }
  el.textContent = text;
  return true;
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
 * @param {Toast} notice says whether it was copied
 * @param {string} [id] the button's id (the box's is id-value): a page
 *   drawn again puts the keyboard focus back by id
 * @returns {HTMLElement}
 */
export function copyField(value, whatKey, notice, id) {
  const input = /** @type {HTMLInputElement} */ (h('input', {
    type: 'text', readonly: true, class: 'copy-value', spellcheck: 'false', id: id ? `${id}-value` : undefined,
  }));
  input.value = value;
  input.setAttribute('aria-label', t(whatKey));
  const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'secondary copy', id }, t('tutor.copy')));
  button.setAttribute('aria-label', t('tutor.copyLabel', { what: t(whatKey) }));
  button.addEventListener('click', async () => {
    const ok = await copyText(value);
    notice.show(ok ? t('tutor.copied') : t('tutor.copyFailed'), ok ? 'ok' : 'error', 6000);
    if (!ok) {
      input.focus();
      input.select();
    }
  });
  input.addEventListener('focus', () => input.select());
  return h('div', { class: 'copy-row' }, input, button);
}

// ---- The coaching and review pages ----

/** The state box's words when the page cannot show the session: [title, hint]. */
export const fatalBadLink = /** @type {[string, string]} */ (['coach.badLink', 'coach.badLinkHint']);
export const fatalNoCreds = /** @type {[string, string]} */ (['coach.noCreds', 'coach.noCredsHint']);

/**
 * What the coaching and review pages say instead of the session: a link
 * without its channel and session, no credential for it on this device,
 * or the server refusing it.
 * @param {{params: unknown, cred: unknown} | {err: unknown}} what
 * @returns {[string, string] | null} null: nothing fatal (an error to show in the notice, if any)
 */
export function fatalOf(what) {
  if ('err' in what) {
    const status = /** @type {any} */ (what.err)?.status;
    if (status === 404) {
      return fatalBadLink;
    }
    return status === 401 || status === 403 ? fatalNoCreds : null;
  }
  if (!what.params) {
    return fatalBadLink;
  }
  return what.cred ? null : fatalNoCreds;
}

/**
 * Points the page's links at the studio for the owner (the tutor's go to
 * the dashboard, as the page has them).
 * @param {string} slug
 * @param {Array<[HTMLAnchorElement, string]>} links each with its text key for the owner
 */
export function merchantLinks(slug, links) {
  const studio = `/studio?c=${encodeURIComponent(slug)}`;
  for (const [a, key] of links) {
    a.href = studio;
    a.setAttribute('data-i18n', key);
    a.textContent = t(key);
  }
}

/**
 * Wires a tick checkbox (PUT .../ticks): off while it is sent, back as it
 * was with the error said when it fails.
 * @template T
 * @param {HTMLInputElement} box
 * @param {string} key the checklist key
 * @param {(ticks: Record<string, boolean>) => Promise<T>} send
 * @param {(answer: T) => unknown} done after it is saved, with the server's answer
 * @param {Toast} notice
 */
export function wireTick(box, key, send, done, notice) {
  box.addEventListener('change', async () => {
    const want = box.checked;
    box.disabled = true;
    try {
      const answer = await send({ [key]: want });
      box.disabled = false;
      await done(answer);
    } catch (err) {
      box.checked = !want;
      notice.error(err);
    } finally {
      box.disabled = false;
    }
  });
}

export { t };
