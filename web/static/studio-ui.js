// @ts-check
// Small pieces of the studio page shared by its panels: building elements,
// the message strip (toast), the yes/no question, the new-order sound, and
// the panel switcher over the lower half of the screen.

import { t } from './i18n.js';
import { errorText } from './studio-logic.js';

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) {
    throw new Error(`missing #${id}`);
  }
  return el;
}

/**
 * Makes an element: h('p', {class: 'x'}, 'text', child). Texts are text,
 * never HTML.
 * @param {string} tag
 * @param {Record<string, string | boolean | number | undefined>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) {
      continue;
    }
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c !== null && c !== undefined && c !== false) {
      el.append(c);
    }
  }
  return el;
}

/**
 * The message strip under the top bar, for what went wrong or right. The
 * tutor and admin pages use it too, with their own words for errors and
 * their own times.
 */
export class Toast {
  /**
   * @param {HTMLElement} el
   * @param {{words?: Parameters<typeof errorText>[1], okMs?: number, errorMs?: number}} [opts]
   *   words: the page's own words for errors (errorText); okMs, errorMs:
   *   how long a message stays, 0 keeps it
   */
  constructor(el, opts = {}) {
    this.el = el;
    this.words = opts.words;
    this.okMs = opts.okMs ?? 3000;
    this.errorMs = opts.errorMs ?? 7000;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    // A tap puts it away early.
    el.addEventListener('click', () => {
      el.hidden = true;
    });
  }

  /**
   * @param {string} text '' hides it
   * @param {'error' | 'ok'} [kind]
   * @param {number} [ms] how long it stays, 0 keeps it; the kind's time when left out
   */
  show(text, kind = 'error', ms) {
    this.el.textContent = text;
    this.el.classList.toggle('ok', kind === 'ok');
    this.el.classList.toggle('bad', kind === 'error');
    this.el.hidden = !text;
    clearTimeout(this.timer);
    const wait = ms ?? (kind === 'ok' ? this.okMs : this.errorMs);
    if (text && wait > 0) {
      this.timer = setTimeout(() => {
        this.el.hidden = true;
      }, wait);
    }
  }

  /**
   * What to say about an error of the room or the API, in words.
   * @param {unknown} err
   * @returns {string}
   */
  message(err) {
    const e = /** @type {{code?: string, message?: string, status?: number}} */ (err);
    const r = errorText(err && typeof err === 'object' ? e : null, this.words);
    return 'key' in r ? t(r.key) : r.text;
  }

  /**
   * Shows an error of the room or the API in words.
   * @param {unknown} err
   */
  error(err) {
    console.warn('studio:', err);
    this.show(this.message(err));
  }
}

/**
 * Asks a yes/no question in the #ask dialog.
 * @param {string} title
 * @param {string} yes the text of the yes button
 * @param {{text?: string, danger?: boolean}} [opts]
 * @returns {Promise<boolean>}
 */
export function ask(title, yes, opts = {}) {
  const dialog = document.getElementById('ask');
  if (!(dialog instanceof HTMLDialogElement) || typeof dialog.showModal !== 'function') {
    return Promise.resolve(window.confirm(title));
  }
  byId('ask-title', HTMLElement).textContent = title;
  const text = byId('ask-text', HTMLElement);
  text.textContent = opts.text ?? '';
  text.hidden = !opts.text;
  const yesButton = byId('ask-yes', HTMLButtonElement);
  yesButton.textContent = yes;
  yesButton.classList.toggle('danger', !!opts.danger);
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
  });
}

/**
 * The new-order sound: two short beeps made by WebAudio (no sound file),
 * and a buzz. Browsers let a page make sound only after a tap: unlock is
 * called on the first one.
 */
export class Bell {
  constructor() {
    /** @type {AudioContext | null} */
    this.ctx = null;
  }

  unlock() {
    const AC = window.AudioContext ?? /** @type {any} */ (window).webkitAudioContext;
    if (!AC) {
      return;
    }
    try {
      this.ctx ??= new AC();
      if (this.ctx.state === 'suspended') {
        this.ctx.resume().catch(() => {});
      }
    } catch {
      this.ctx = null;
    }
  }

  ring() {
    try {
      navigator.vibrate?.([200, 100, 200]);
    } catch {
      // No vibration on this phone.
    }
    const ctx = this.ctx;
    if (!ctx || ctx.state !== 'running') {
      return;
    }
    const now = ctx.currentTime;
    for (const [i, freq] of [880, 1175].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const start = now + i * 0.22;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.5, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.2);
    }
  }
}

/**
 * The panels: one for each tab, and the stall's profile, opened from the
 * schedule panel.
 * @typedef {'products' | 'coupons' | 'orders' | 'chat' | 'schedule' | 'stall'} Tab
 */

/** The text key of each panel's title. */
const panelTitles = /** @type {Record<Tab, string>} */ ({
  products: 'studio.tabProducts',
  coupons: 'studio.tabCoupons',
  orders: 'studio.tabOrders',
  chat: 'studio.tabChat',
  schedule: 'studio.tabSchedule',
  stall: 'studio.stallTitle',
});

/** The tab buttons and the sheet over the lower half that shows one panel. */
export class Tabs {
  /** @param {(tab: Tab | null) => void} onChange */
  constructor(onChange) {
    this.onChange = onChange;
    this.sheet = byId('sheet', HTMLElement);
    this.title = byId('sheet-title', HTMLElement);
    /** @type {Tab | null} */
    this.current = null;
    this.buttons = /** @type {HTMLButtonElement[]} */ ([...document.querySelectorAll('#tabs .tab')]);
    for (const b of this.buttons) {
      b.addEventListener('click', () => {
        const tab = /** @type {Tab} */ (b.dataset.tab);
        this.show(this.current === tab ? null : tab);
      });
    }
    byId('sheet-close', HTMLButtonElement).addEventListener('click', () => this.show(null));
  }

  /** @param {Tab | null} tab */
  show(tab) {
    if (tab !== this.current) {
      const body = this.sheet.querySelector('.sheet-body');
      if (body) {
        body.scrollTop = 0; // each panel opens at its top
      }
    }
    this.current = tab;
    this.sheet.hidden = !tab;
    document.body.classList.toggle('sheet-open', !!tab);
    for (const b of this.buttons) {
      const on = b.dataset.tab === (tab === 'stall' ? 'schedule' : tab); // the stall is opened from the schedule
      b.classList.toggle('on', on);
      b.setAttribute('aria-expanded', String(on));
    }
    for (const name of Object.keys(panelTitles)) {
      byId(`panel-${name}`, HTMLElement).hidden = name !== tab;
    }
    this.retitle();
    this.onChange(tab);
  }

  retitle() {
    this.title.textContent = this.current ? t(panelTitles[this.current]) : '';
  }
}

/**
 * Marks a button busy while work runs, so a second tap does nothing.
 * @template T
 * @param {HTMLButtonElement} button
 * @param {() => Promise<T>} work
 * @returns {Promise<T | undefined>}
 */
export async function busy(button, work) {
  if (button.disabled) {
    return undefined;
  }
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/**
 * Says what went wrong with a request the way every panel does: a studio
 * whose token stopped working goes to the PIN login; anything else is said
 * in the message strip.
 * @param {{unauthorized: () => void, toast: Toast}} ctx
 * @param {unknown} err
 */
export function reportError(ctx, err) {
  if (/** @type {any} */ (err)?.status === 401) {
    ctx.unauthorized();
    return;
  }
  ctx.toast.error(err);
}

/**
 * Shows a form's error under it and marks the inputs it is about.
 * @param {HTMLElement} box the error's element, id errorID
 * @param {string} errorID
 * @param {Record<string, HTMLElement>} inputs by field name
 * @param {{input: string, key: string} | {input: string, text: string} | null} e null clears
 */
export function showFormError(box, errorID, inputs, e) {
  box.hidden = !e;
  box.textContent = !e ? '' : 'key' in e ? t(e.key) : e.text;
  for (const [name, input] of Object.entries(inputs)) {
    if (e && e.input === name) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', errorID);
    } else {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
    }
  }
  if (e) {
    box.scrollIntoView({ block: 'nearest' });
  }
}
