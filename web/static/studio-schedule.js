// @ts-check
// The studio's schedule panel: the broadcasts the merchant announced (the
// customers' stall page shows them), a form to add one with the phone's
// date and time pickers and two quick buttons, and delete after a yes.
// Times are Korean time, whatever the phone's clock zone.

import { lang, t } from './i18n.js';
import { formError, formatSlot, quickSlots, scheduleInput } from './studio-logic.js';
import { ask, busy, byId, h, reportError, showFormError } from './studio-ui.js';

/**
 * @typedef {import('./studio-ui.js').Toast} Toast
 * @typedef {import('./studio-api.js').StudioApi} StudioApi
 * @typedef {{id: number, title: string, starts_at: string}} Slot
 */

export class Schedule {
  /**
   * @param {{api: StudioApi, toast: Toast, unauthorized: () => void}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Slot[]} */
    this.slots = [];
    this.loaded = false;
    this.list = byId('schedule-list', HTMLElement);
    this.empty = byId('schedule-empty', HTMLElement);
    this.form = byId('schedule-form', HTMLFormElement);
    this.title = byId('schedule-title', HTMLInputElement);
    this.date = byId('schedule-date', HTMLInputElement);
    this.time = byId('schedule-time', HTMLInputElement);
    this.error = byId('schedule-error', HTMLElement);
    this.save = byId('schedule-save', HTMLButtonElement);
    this.quick = byId('schedule-quick', HTMLElement);

    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(this.save, () => this.submit());
    });
    for (const input of [this.title, this.date, this.time]) {
      input.addEventListener('input', () => this.showError(null));
    }
  }

  async load() {
    try {
      this.slots = await this.ctx.api.schedule();
      this.loaded = true;
      this.render();
    } catch (err) {
      reportError(this.ctx, err);
    }
  }

  /** Draws the list and the quick buttons (their day changes with the clock). */
  render() {
    const l = lang();
    this.list.replaceChildren(...this.slots.map((s) => {
      const when = formatSlot(s.starts_at, l);
      const del = h('button', { type: 'button', class: 'slot-delete', 'aria-label': t('studio.scheduleDeleteLabel', { when }) },
        t('studio.scheduleDelete'));
      del.addEventListener('click', () => busy(/** @type {HTMLButtonElement} */ (del), () => this.remove(s)));
      return h('li', { class: 'card slot' },
        h('span', { class: 'info' },
          h('span', { class: 'slot-when' }, when),
          h('span', { class: 'slot-title' }, s.title || t('studio.scheduleNoTitle'))),
        del);
    }));
    this.empty.hidden = !this.loaded || this.slots.length > 0;
    this.quick.replaceChildren(...quickSlots(Date.now()).map((q) => {
      const b = h('button', { type: 'button', class: 'quick' }, t(q.key));
      b.addEventListener('click', () => {
        this.date.value = q.date;
        this.time.value = q.time;
        this.showError(null);
      });
      return b;
    }));
  }

  /**
   * Shows what is wrong under the form and marks its input; null clears.
   * @param {{input: string, key: string} | {input: string, text: string} | null} e
   */
  showError(e) {
    showFormError(this.error, 'schedule-error', { title: this.title, date: this.date, time: this.time }, e);
  }


  async submit() {
    const input = scheduleInput({ title: this.title.value, date: this.date.value, time: this.time.value });
    if (!input.ok) {
      this.showError({ input: input.field, key: input.key });
      ({ title: this.title, date: this.date, time: this.time })[input.field].focus();
      return;
    }
    this.showError(null);
    try {
      const slot = await this.ctx.api.addSchedule(input.body);
      this.slots = [...this.slots.filter((s) => s.id !== slot.id), slot]
        .sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
      this.loaded = true;
      this.form.reset();
      this.render();
      this.ctx.toast.show(t('studio.scheduleSaved', { when: formatSlot(slot.starts_at, lang()) }), 'ok');
    } catch (err) {
      console.warn('studio: schedule', err);
      // starts_at is the date and the time: the date input shows it.
      this.showError(formError(/** @type {any} */ (err), { title: 'title', starts_at: 'date' }));
    }
  }

  /** @param {Slot} s */
  async remove(s) {
    const when = formatSlot(s.starts_at, lang());
    const yes = await ask(t('studio.scheduleDeleteAsk'), t('studio.scheduleDeleteYes'),
      { text: s.title ? `${when} · ${s.title}` : when, danger: true });
    if (!yes) {
      return;
    }
    try {
      await this.ctx.api.deleteSchedule(s.id);
    } catch (err) {
      if (/** @type {any} */ (err).code !== 'not_found') { // gone already: as good as deleted
        this.ctx.toast.error(err);
        return;
      }
    }
    this.slots = this.slots.filter((x) => x.id !== s.id);
    this.render();
    this.ctx.toast.show(t('studio.scheduleDeleted'), 'ok');
  }
}
