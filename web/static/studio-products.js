// @ts-check
// The studio's products panel: the stall's products with big photos; a tap
// shows one to the viewers (product.pin), a tap on the shown one takes it
// down. "Add product" takes a photo with the phone's camera.

import { lang, t } from './i18n.js';
import { formatWon, parseAmount } from './studio-logic.js';
import { busy, byId, h, reportError } from './studio-ui.js';

/**
 * @typedef {import('./studio-ui.js').Toast} Toast
 * @typedef {import('./room.js').Room} Room
 * @typedef {import('./studio-api.js').StudioApi} StudioApi
 * @typedef {{id: number, name: string, price_won: number, stock: number, thumb_url?: string}} Product
 */

export class Products {
  /**
   * @param {{room: Room, api: StudioApi, toast: Toast, unauthorized: () => void}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Product[]} */
    this.products = [];
    this.pinnedID = 0;
    this.loaded = false;
    this.list = byId('product-list', HTMLElement);
    this.empty = byId('products-empty', HTMLElement);
    this.view = byId('products-view', HTMLElement);
    this.form = byId('product-form', HTMLFormElement);
    this.photo = new PhotoPicker('product-photo');
    this.name = byId('product-name', HTMLInputElement);
    this.price = byId('product-price', HTMLInputElement);
    this.stock = byId('product-stock', HTMLInputElement);
    this.error = byId('product-error', HTMLElement);
    this.save = byId('product-save', HTMLButtonElement);

    byId('product-add', HTMLButtonElement).addEventListener('click', () => this.openForm());
    byId('product-cancel', HTMLButtonElement).addEventListener('click', () => this.closeForm());
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(this.save, () => this.submit());
    });

    const { room } = ctx;
    room.on('product.pinned', (m) => {
      this.pinnedID = m.product?.id ?? 0;
      this.render();
    });
    room.on('stock', (m) => {
      const p = this.products.find((x) => x.id === m.product_id);
      if (p) {
        p.stock = m.stock;
        this.render();
      }
    });
  }

  /**
   * The live room's state after hello.
   * @param {Record<string, any>} state
   */
  fromState(state) {
    this.pinnedID = state?.pinned?.id ?? 0;
    this.render();
    this.load(); // stock may have changed while disconnected
  }

  async load() {
    try {
      this.products = await this.ctx.api.products();
      this.loaded = true;
      this.render();
    } catch (err) {
      reportError(this.ctx, err);
    }
  }

  render() {
    const l = lang();
    this.list.replaceChildren(...this.products.map((p) => {
      const pinned = p.id === this.pinnedID;
      const photo = p.thumb_url
        ? h('img', { class: 'thumb', src: p.thumb_url, alt: '', loading: 'lazy' })
        : h('span', { class: 'thumb none', 'aria-hidden': 'true' }, '📦');
      const stock = p.stock > 0 ? t('studio.productStockLeft', { n: p.stock }) : t('studio.productSoldOut');
      const button = h('button', { type: 'button', class: `card product${pinned ? ' pinned' : ''}`, 'aria-pressed': String(pinned) },
        photo,
        h('span', { class: 'info' },
          h('span', { class: 'name' }, p.name),
          h('span', { class: 'price' }, formatWon(p.price_won, l)),
          h('span', { class: `stock${p.stock > 0 ? '' : ' out'}` }, stock),
          pinned ? h('span', { class: 'pin-mark' }, `📌 ${t('studio.productPinned')}`) : null));
      button.addEventListener('click', () => busy(/** @type {HTMLButtonElement} */ (button), () => this.pin(p)));
      return h('li', {}, button);
    }));
    this.empty.hidden = !this.loaded || this.products.length > 0;
  }

  /** @param {Product} p */
  async pin(p) {
    const id = p.id === this.pinnedID ? 0 : p.id;
    try {
      const r = await this.ctx.room.send('product.pin', { product_id: id });
      this.pinnedID = r.product?.id ?? 0;
      this.render();
      this.ctx.toast.show(id ? t('studio.productPinnedToast', { name: p.name }) : t('studio.productUnpinnedToast'), 'ok');
    } catch (err) {
      this.ctx.toast.error(err);
    }
  }

  openForm() {
    this.form.reset();
    this.photo.clear();
    this.error.hidden = true;
    this.view.hidden = true;
    this.form.hidden = false;
    this.form.scrollIntoView({ block: 'start' });
  }

  closeForm() {
    this.photo.clear();
    this.form.hidden = true;
    this.view.hidden = false;
  }

  /** @param {string} key */
  fail(key) {
    this.error.textContent = t(key);
    this.error.hidden = false;
  }

  async submit() {
    this.error.hidden = true;
    const name = this.name.value.trim();
    const price = parseAmount(this.price.value);
    const stockText = this.stock.value.trim();
    const stock = stockText === '' ? 0 : parseAmount(stockText);
    if (!name) {
      this.fail('studio.productNeedName');
      this.name.focus();
      return;
    }
    if (price === null || price > 100_000_000) {
      this.fail('studio.productNeedPrice');
      this.price.focus();
      return;
    }
    if (stock === null || stock > 1_000_000) {
      this.fail('studio.productNeedStock');
      this.stock.focus();
      return;
    }
    /** @type {Product} */
    let product;
    try {
      product = await this.ctx.api.addProduct({ name, price_won: price, stock });
    } catch (err) {
      this.showError(err);
      return;
    }
    this.upsert(product);
    const file = this.photo.file();
    if (file) {
      try {
        this.upsert(await this.ctx.api.putPhoto(product.id, await shrinkPhoto(file)));
      } catch (err) {
        // The product is saved; only its photo is missing.
        this.closeForm();
        this.ctx.toast.show(`${t('studio.productPhotoFailed')} ${messageOf(err)}`);
        return;
      }
    }
    this.closeForm();
    this.ctx.toast.show(t('studio.productSaved', { name }), 'ok');
  }

  /** @param {unknown} err */
  showError(err) {
    console.warn('studio: product', err);
    this.error.textContent = messageOf(err) || t('error.generic');
    this.error.hidden = false;
  }

  /** @param {Product} p */
  upsert(p) {
    const i = this.products.findIndex((x) => x.id === p.id);
    if (i >= 0) {
      this.products[i] = p;
    } else {
      this.products.push(p);
    }
    this.loaded = true;
    this.render();
  }
}

/**
 * A photo taken with the phone's camera in a form: the file input (id),
 * its preview (id-preview) and its label (id-label), which gets smaller
 * once there is a photo. The product form and the stall form use it.
 */
export class PhotoPicker {
  /** @param {string} id */
  constructor(id) {
    this.input = byId(id, HTMLInputElement);
    this.preview = byId(`${id}-preview`, HTMLImageElement);
    this.label = byId(`${id}-label`, HTMLElement);
    /** @type {string | null} the preview's blob: URL */
    this.previewURL = null;
    this.input.addEventListener('change', () => this.showPicked());
  }

  /** @returns {File | null} the photo taken, if any */
  file() {
    return this.input.files?.[0] ?? null;
  }

  /**
   * Forgets the photo taken; shows url (the photo there is already) if given.
   * @param {string} [url]
   */
  clear(url) {
    if (this.previewURL) {
      URL.revokeObjectURL(this.previewURL);
      this.previewURL = null;
    }
    this.input.value = '';
    this.show(url && url.startsWith('/') ? url : '');
  }

  /** @param {string} src '' for none */
  show(src) {
    this.preview.hidden = !src;
    if (src) {
      this.preview.src = src;
    } else {
      this.preview.removeAttribute('src');
    }
    this.label.classList.toggle('again', !!src);
  }

  showPicked() {
    const file = this.file();
    if (this.previewURL) {
      URL.revokeObjectURL(this.previewURL);
      this.previewURL = null;
    }
    if (!file) {
      this.show('');
      return;
    }
    this.previewURL = URL.createObjectURL(file);
    this.show(this.previewURL);
  }
}

/** The longest side of a photo as uploaded: the server keeps at most 1080. */
const photoMaxSide = 1600;

/**
 * Makes a phone photo (often 4000 pixels wide, several MB, on a market's
 * LTE) small before it is uploaded, turned upright by its EXIF
 * orientation. Gives the file itself when it is small already or the
 * browser cannot do it: the server scales it down too.
 * @param {File} file
 * @returns {Promise<Blob>}
 */
export async function shrinkPhoto(file) {
  if (typeof createImageBitmap !== 'function' || !file.type.startsWith('image/') || file.type === 'image/gif') {
    return file;
  }
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    const scale = Math.min(1, photoMaxSide / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size < 2_000_000 && file.type === 'image/jpeg') {
      bitmap.close();
      return file;
    }
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    const g = canvas.getContext('2d');
    if (!g) {
      bitmap.close();
      return file;
    }
    g.fillStyle = '#fff'; // transparent parts white, as the server does
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.88));
    return blob instanceof Blob && blob.size > 0 ? blob : file;
  } catch (err) {
    console.info('studio: photo not shrunk', err);
    return file;
  }
}

/**
 * The server's words for an API error (in the merchant's language), or
 * ours for a failed connection.
 * @param {unknown} err
 * @returns {string}
 */
export function messageOf(err) {
  const e = /** @type {{status?: number, message?: string}} */ (err);
  if (e?.status === 0) {
    return t('error.network');
  }
  return e?.status && e.message ? e.message : t('error.generic');
}
