// @ts-check
// The studio's orders panel: the live broadcast's orders, loaded from the
// API and kept up to date by the room's order.updated events, with one big
// button for the next step of each (accept, ready, picked up) and a reject
// button that asks first. A new order rings and buzzes the phone.

import { lang, t } from './i18n.js';
import { canReject, formatWon, itemsLine, nextStep, statusKeys, upsertOrder, waitingOrders } from './studio-logic.js';
import { ask, busy, byId, h } from './studio-ui.js';

/**
 * @typedef {import('./studio-ui.js').Toast} Toast
 * @typedef {import('./studio-ui.js').Bell} Bell
 * @typedef {import('./room.js').Room} Room
 * @typedef {import('./studio-api.js').StudioApi} StudioApi
 * @typedef {import('./studio-logic.js').Order} Order
 */

export class Orders {
  /**
   * @param {{room: Room, api: StudioApi, toast: Toast, bell: Bell, onCount: (n: number) => void}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Order[]} */
    this.orders = [];
    /** The broadcast whose orders are listed; 0 for none. */
    this.broadcastID = 0;
    /** Whether the list was loaded once: orders found later are new. */
    this.loaded = false;
    this.list = byId('order-list', HTMLElement);
    this.empty = byId('orders-empty', HTMLElement);

    ctx.room.on('order.updated', (m) => this.update(m.order));
    ctx.room.on('live', (m) => {
      if (m.live && m.broadcast_id) {
        this.load(m.broadcast_id);
      }
    });
  }

  /** @param {Record<string, any>} state */
  fromState(state) {
    if (state?.live && state.broadcast_id) {
      // Also after a reconnect: orders may have come in meanwhile.
      this.load(state.broadcast_id);
    } else {
      // Not live: the last broadcast's orders, still to be picked up.
      this.loadLatest();
    }
  }

  async loadLatest() {
    try {
      const b = await this.ctx.api.latestBroadcast();
      if (b && !this.broadcastID) {
        await this.load(b.id);
      }
    } catch (err) {
      console.info('studio: latest broadcast', err);
    }
  }

  /** @param {number} broadcastID */
  async load(broadcastID) {
    if (broadcastID !== this.broadcastID) {
      this.broadcastID = broadcastID;
      this.orders = [];
      this.loaded = false;
      this.render();
    }
    try {
      const got = await this.ctx.api.orders(broadcastID);
      if (broadcastID !== this.broadcastID) {
        return;
      }
      let rang = false;
      for (const o of got) {
        const r = upsertOrder(this.orders, o);
        this.orders = r.list;
        if (r.isNew && this.loaded && o.status === 'placed' && !rang) {
          this.ctx.bell.ring();
          rang = true;
        }
      }
      this.loaded = true;
      this.render();
    } catch (err) {
      this.ctx.toast.error(err);
    }
  }

  /** @param {Order | undefined} order */
  update(order) {
    if (!order || typeof order.id !== 'number') {
      return;
    }
    if (order.broadcast_id && this.broadcastID && order.broadcast_id !== this.broadcastID) {
      return;
    }
    const r = upsertOrder(this.orders, order);
    this.orders = r.list;
    if (r.isNew && order.status === 'placed') {
      this.ctx.bell.ring();
      this.ctx.toast.show(t('studio.orderNew', { name: order.buyer?.name ?? '' }), 'ok');
    }
    this.render();
  }

  render() {
    const l = lang();
    this.list.replaceChildren(...this.orders.map((o) => this.card(o, l)));
    this.empty.hidden = this.orders.length > 0;
    this.ctx.onCount(waitingOrders(this.orders));
  }

  /**
   * @param {Order} o
   * @param {'ko' | 'en'} l
   */
  card(o, l) {
    const step = nextStep(o.status);
    /** @type {HTMLElement[]} */
    const buttons = [];
    if (step) {
      const b = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: `primary step-${step.status}` }, t(step.key)));
      b.addEventListener('click', () => busy(b, () => this.setStatus(o, step.status)));
      buttons.push(b);
    }
    if (canReject(o.status)) {
      const b = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'reject' }, t('studio.orderReject')));
      b.addEventListener('click', () => busy(b, async () => {
        const yes = await ask(t('studio.orderRejectAsk', { name: o.buyer?.name ?? '' }), t('studio.orderRejectYes'), { text: itemsLine(o.items), danger: true });
        if (yes) {
          await this.setStatus(o, 'rejected');
        }
      }));
      buttons.push(b);
    }
    const discount = o.discount_won > 0 ? ` ${t('studio.orderDiscount', { won: formatWon(o.discount_won, l) })}` : '';
    const phone = o.buyer?.phone ?? '';
    return h('li', { class: `card order status-${o.status}` },
      h('p', { class: 'order-head' },
        h('span', { class: 'order-buyer' }, o.buyer?.name ?? ''),
        h('span', { class: `order-status st-${o.status}` }, t(statusKeys[o.status] ?? 'studio.statusPlaced'))),
      h('p', { class: 'order-items' }, itemsLine(o.items)),
      h('p', { class: 'order-total' }, t('studio.orderTotal', { won: formatWon(o.total_won, l) }) + discount),
      o.note ? h('p', { class: 'order-note' }, `📝 ${o.note}`) : null,
      buttons.length ? h('div', { class: 'order-actions' }, ...buttons) : null,
      h('p', { class: 'order-foot' },
        phone ? h('a', { class: 'order-phone', href: `tel:${phone.replace(/[^\d+]/g, '')}` }, `📞 ${phone}`) : null,
        h('span', { class: 'order-no' }, t('studio.orderNumber', { id: o.id }))));
  }

  /**
   * @param {Order} o
   * @param {string} status
   */
  async setStatus(o, status) {
    try {
      const r = await this.ctx.room.send('order.status', { order_id: o.id, status });
      if (r.order) {
        this.update(r.order);
      }
    } catch (err) {
      this.ctx.toast.error(err);
    }
  }
}
