// @ts-check
// The stall's profile, as a tutor sets it up with the merchant: the
// market, where the stall is, its hours, a few words about it and its
// photo, which the customers' stall page shows. Only reachable while not
// live (from the schedule panel), so it never gets in the way of a
// broadcast.

import { t } from './i18n.js';
import { formError } from './studio-logic.js';
import { PhotoPicker, messageOf, shrinkPhoto } from './studio-products.js';
import { busy, byId, reportError, showFormError } from './studio-ui.js';

/**
 * @typedef {import('./studio-ui.js').Toast} Toast
 * @typedef {import('./studio-api.js').StudioApi} StudioApi
 */

/** The profile's fields: the API's names, which are the inputs' ids after "stall-". */
const fields = /** @type {const} */ (['market', 'location', 'hours', 'description']);

export class StallProfile {
  /**
   * @param {{api: StudioApi, toast: Toast, unauthorized: () => void, done: () => void}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.form = byId('stall-form', HTMLFormElement);
    this.photo = new PhotoPicker('stall-photo');
    /** @type {Record<string, HTMLInputElement | HTMLTextAreaElement>} */
    this.inputs = {};
    for (const f of fields) {
      const el = document.getElementById(`stall-${f}`);
      if (!(el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement)) {
        throw new Error(`missing #stall-${f}`);
      }
      this.inputs[f] = el;
      el.addEventListener('input', () => this.showError(null));
    }
    this.name = byId('stall-name', HTMLElement);
    this.error = byId('stall-error', HTMLElement);
    this.save = byId('stall-save', HTMLButtonElement);
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(this.save, () => this.submit());
    });
    byId('stall-back', HTMLButtonElement).addEventListener('click', () => ctx.done());
  }

  /** Fills the form with the profile as it is. */
  async load() {
    this.showError(null);
    this.photo.clear();
    this.form.setAttribute('aria-busy', 'true');
    try {
      this.fill(await this.ctx.api.channel());
    } catch (err) {
      reportError(this.ctx, err);
    } finally {
      this.form.removeAttribute('aria-busy');
    }
  }

  /** @param {Record<string, any>} ch the channel document */
  fill(ch) {
    this.name.textContent = typeof ch?.name === 'string' ? ch.name : '';
    for (const f of fields) {
      this.inputs[f].value = typeof ch?.[f] === 'string' ? ch[f] : '';
    }
    this.photo.clear(ch?.thumb_url ?? ch?.photo_url);
  }

  /**
   * @param {{input: string, key: string} | {input: string, text: string} | null} e
   */
  showError(e) {
    showFormError(this.error, 'stall-error', this.inputs, e);
  }


  async submit() {
    this.showError(null);
    /** @type {Record<string, string>} */
    const body = {};
    for (const f of fields) {
      body[f] = this.inputs[f].value.trim();
    }
    /** @type {Record<string, any>} */
    let ch;
    try {
      ch = await this.ctx.api.editChannel(body);
    } catch (err) {
      console.warn('studio: stall', err);
      const e = formError(/** @type {any} */ (err), { market: 'market', location: 'location', hours: 'hours', description: 'description' });
      this.showError(e);
      this.inputs[e.input]?.focus();
      return;
    }
    const file = this.photo.file();
    if (file) {
      try {
        ch = await this.ctx.api.putChannelPhoto(await shrinkPhoto(file));
      } catch (err) {
        this.fill(ch);
        this.showError({ input: '', text: `${t('studio.stallPhotoFailed')} ${messageOf(err)}` });
        return;
      }
    }
    this.fill(ch);
    this.ctx.toast.show(t('studio.stallSaved'), 'ok');
  }
}
