// @ts-check
// The studio's coupons panel: a few ready-made coupons one tap away (after
// a yes/no question: coupons are money), a form for another, and the open
// coupons with how many are left, live.

import { lang, t } from './i18n.js';
import { couponDrop, couponPresets, formatWon, parseAmount, secondsLeft } from './studio-logic.js';
import { ask, busy, byId, h } from './studio-ui.js';

/**
 * @typedef {import('./studio-ui.js').Toast} Toast
 * @typedef {import('./room.js').Room} Room
 * @typedef {{id: number, title: string, discount_won: number, quantity: number, remaining: number, expires_at: string}} Coupon
 */

export class Coupons {
  /** @param {{room: Room, toast: Toast}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Map<number, Coupon>} */
    this.coupons = new Map();
    this.presets = byId('coupon-presets', HTMLElement);
    this.list = byId('coupon-list', HTMLElement);
    this.empty = byId('coupons-empty', HTMLElement);
    this.form = byId('coupon-form', HTMLFormElement);
    this.error = byId('coupon-error', HTMLElement);
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.ticker = undefined;

    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const submit = this.form.querySelector('button[type=submit]');
      if (submit instanceof HTMLButtonElement) {
        busy(submit, () => this.custom());
      }
    });

    const { room } = ctx;
    room.on('coupon.dropped', (m) => this.put(m.coupon));
    room.on('coupon.remaining', (m) => {
      const c = this.coupons.get(m.coupon_id);
      if (c) {
        c.remaining = m.remaining;
        this.render();
      }
    });
    room.on('coupon.closed', (m) => {
      const c = this.coupons.get(m.coupon_id);
      this.coupons.delete(m.coupon_id);
      this.render();
      if (c && m.reason === 'sold_out') {
        ctx.toast.show(t('studio.couponSoldOut', { title: c.title }), 'ok');
      }
    });
    this.renderPresets();
  }

  /** @param {Record<string, any>} state */
  fromState(state) {
    this.coupons.clear();
    for (const c of state?.coupons ?? []) {
      this.coupons.set(c.id, c);
    }
    this.render();
  }

  /** @param {Coupon | undefined} c */
  put(c) {
    if (c && typeof c.id === 'number') {
      this.coupons.set(c.id, c);
      this.render();
    }
  }

  renderPresets() {
    const l = lang();
    this.presets.replaceChildren(...couponPresets.map((p) => {
      const b = h('button', { type: 'button', class: 'preset' },
        h('span', { class: 'preset-won' }, t('studio.couponOff', { won: formatWon(p.discountWon, l) })),
        h('span', { class: 'preset-detail' }, t('studio.couponPeople', { n: p.quantity, m: p.minutes })));
      b.addEventListener('click', () => busy(/** @type {HTMLButtonElement} */ (b), () => this.drop({ discountWon: p.discountWon, quantity: p.quantity, minutes: p.minutes })));
      return b;
    }));
  }

  render() {
    const l = lang();
    const now = Date.now();
    const open = [...this.coupons.values()].sort((a, b) => b.id - a.id);
    this.list.replaceChildren(...open.map((c) => {
      const s = secondsLeft(c.expires_at, now);
      const left = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
      const off = t('studio.couponOff', { won: formatWon(c.discount_won, l) });
      return h('li', { class: 'card coupon' },
        h('p', { class: 'coupon-title' }, `🎟️ ${c.title}`),
        off === c.title ? null : h('p', { class: 'coupon-won' }, off),
        h('p', { class: 'coupon-left' }, t('studio.couponRemaining', { n: c.remaining, total: c.quantity })),
        h('p', { class: 'coupon-time' }, t('studio.couponTimeLeft', { time: left })));
    }));
    this.empty.hidden = open.length > 0;
    if (open.length > 0) {
      this.ticker ??= setInterval(() => this.render(), 1000);
    } else {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /**
   * Asks, then drops a coupon.
   * @param {{title?: string, discountWon: number | null, quantity: number | null, minutes: number | null}} c
   * @returns {Promise<boolean>} whether it was dropped
   */
  async drop(c) {
    const r = couponDrop(c, lang());
    if (!r.ok) {
      this.error.textContent = t(r.key);
      this.error.hidden = false;
      return false;
    }
    const f = r.fields;
    const yes = await ask(
      t('studio.couponAsk', { won: formatWon(f.discount_won, lang()), n: f.quantity }),
      t('studio.couponAskYes'),
      { text: t('studio.couponAskText', { title: f.title, m: Math.round(f.expires_in_s / 60) }) });
    if (!yes) {
      return false;
    }
    try {
      const reply = await this.ctx.room.send('coupon.drop', f);
      this.put(reply.coupon);
      this.ctx.toast.show(t('studio.couponDropped'), 'ok');
      return true;
    } catch (err) {
      this.ctx.toast.error(err);
      return false;
    }
  }

  async custom() {
    this.error.hidden = true;
    const v = (/** @type {string} */ id) => byId(id, HTMLInputElement).value;
    const ok = await this.drop({
      title: v('coupon-title'),
      discountWon: parseAmount(v('coupon-discount')),
      quantity: parseAmount(v('coupon-quantity')),
      minutes: parseAmount(v('coupon-minutes')),
    });
    if (ok) {
      byId('coupon-title', HTMLInputElement).value = '';
    }
  }
}
