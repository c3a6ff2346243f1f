// @ts-check
// The merchant REST API (docs/api.md) as the studio uses it: products,
// photos, orders, the stall's profile and schedule, practice sessions, and
// the PIN login.

/** An error answer of the API, or a network failure (status 0). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code the API's error code, 'network' when the request did not get through
   * @param {string} message for people, in the language asked for
   * @param {string} [field] the input at fault, for bad input
   */
  constructor(status, code, message, field = '') {
    super(message || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/**
 * Sends a request and reads its JSON answer.
 * @param {string} method
 * @param {string} url
 * @param {{token?: string, lang?: string, json?: any, body?: BodyInit, type?: string}} [opts]
 * @returns {Promise<any>}
 */
export async function request(method, url, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (opts.token) {
    headers.Authorization = `Bearer ${opts.token}`;
  }
  if (opts.lang) {
    headers['Accept-Language'] = opts.lang;
  }
  /** @type {BodyInit | undefined} */
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.type) {
    headers['Content-Type'] = opts.type;
  }
  /** @type {Response} */
  let res;
  try {
    res = await fetch(url, { method, headers, body, cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, 'network', String(err));
  }
  if (res.status === 204) {
    return null;
  }
  /** @type {any} */
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Not JSON: the status says enough.
  }
  if (!res.ok) {
    const e = data && typeof data.error === 'object' && data.error ? data.error : {};
    const code = typeof e.code === 'string' ? e.code : res.status === 429 ? 'too_many_requests' : '';
    throw new ApiError(res.status, code, typeof e.message === 'string' ? e.message : '', typeof e.field === 'string' ? e.field : '');
  }
  return data;
}

/** The API of one channel, with the studio token. */
export class StudioApi {
  /**
   * @param {string} slug
   * @param {string} token
   * @param {() => string} lang the merchant's language, for error messages
   */
  constructor(slug, token, lang) {
    this.slug = slug;
    this.base = `/api/channels/${encodeURIComponent(slug)}`;
    this.token = token;
    this.lang = lang;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {{json?: any, body?: BodyInit, type?: string}} [opts]
   */
  call(method, path, opts = {}) {
    return request(method, this.base + path, { ...opts, token: this.token, lang: this.lang() });
  }

  /** @returns {Promise<any[]>} */
  async products() {
    const r = await this.call('GET', '/products');
    return Array.isArray(r?.products) ? r.products : [];
  }

  /**
   * @param {{name: string, price_won: number, stock: number}} p
   * @returns {Promise<any>} the product
   */
  addProduct(p) {
    return this.call('POST', '/products', { json: p });
  }

  /**
   * Uploads a product's photo: the image itself when the server takes its
   * type, else as a form (the server says what is wrong with it).
   * @param {number} id
   * @param {Blob} photo
   * @returns {Promise<any>} the product
   */
  putPhoto(id, photo) {
    return this.sendPhoto(`/products/${id}/photo`, photo);
  }

  /**
   * @param {string} path
   * @param {Blob} photo
   */
  sendPhoto(path, photo) {
    if (['image/jpeg', 'image/png', 'image/gif'].includes(photo.type)) {
      return this.call('PUT', path, { body: photo, type: photo.type });
    }
    const form = new FormData();
    form.append('photo', photo);
    return this.call('PUT', path, { body: form });
  }

  /**
   * The stall's profile (the channel document).
   * @returns {Promise<any>}
   */
  channel() {
    return this.call('GET', '');
  }

  /**
   * Changes the stall's profile: market, location, hours, description.
   * @param {Record<string, string>} fields
   * @returns {Promise<any>} the channel document
   */
  editChannel(fields) {
    return this.call('PATCH', '', { json: fields });
  }

  /**
   * Replaces the stall's photo.
   * @param {Blob} photo
   * @returns {Promise<any>} the channel document
   */
  putChannelPhoto(photo) {
    return this.sendPhoto('/photo', photo);
  }

  /**
   * The upcoming scheduled broadcasts, soonest first.
   * @returns {Promise<Array<{id: number, title: string, starts_at: string}>>}
   */
  async schedule() {
    const r = await this.call('GET', '/schedule');
    return Array.isArray(r?.schedule) ? r.schedule : [];
  }

  /**
   * @param {{title: string, starts_at: string}} s
   * @returns {Promise<any>} the scheduled broadcast
   */
  addSchedule(s) {
    return this.call('POST', '/schedule', { json: s });
  }

  /** @param {number} id */
  deleteSchedule(id) {
    return this.call('DELETE', `/schedule/${encodeURIComponent(id)}`);
  }

  /**
   * The channel's latest broadcast, live or ended, or null.
   * @returns {Promise<{id: number, live: boolean} | null>}
   */
  async latestBroadcast() {
    const r = await this.call('GET', '/broadcasts?limit=1');
    const b = Array.isArray(r?.broadcasts) ? r.broadcasts[0] : null;
    return b && typeof b.id === 'number' ? b : null;
  }

  /**
   * The channel's open practice session, or null when none is open (404).
   * @returns {Promise<any>} the session document, or null
   */
  practice() {
    return openPractice(this, this.slug);
  }

  /**
   * Opens a practice session (or answers the one already open): the
   * channel's next broadcast is the practice one.
   * @returns {Promise<any>} the session
   */
  startPractice() {
    return startPractice(this, this.slug);
  }

  /**
   * Cancels a practice session that has not gone live.
   * @param {number} id
   * @returns {Promise<any>} the session, cancelled
   */
  cancelPractice(id) {
    return cancelPractice(this, id);
  }

  /**
   * The orders of a broadcast, newest first (one page of up to 200).
   * @param {number} broadcastID
   * @returns {Promise<any[]>}
   */
  async orders(broadcastID) {
    const r = await this.call('GET', `/orders?broadcast=${encodeURIComponent(broadcastID)}&limit=200`);
    return Array.isArray(r?.orders) ? r.orders : [];
  }
}

// ---- Practice sessions (docs/api.md), for the studio and the tutor's pages ----

/** @typedef {{token: string, lang: () => string}} Auth a credential and the language of the error messages */

/**
 * A channel's open practice session, or null when none is open (404).
 * @param {Auth} auth
 * @param {string} slug
 * @returns {Promise<any>} the session document, or null
 */
export async function openPractice(auth, slug) {
  try {
    return await request('GET', `/api/channels/${encodeURIComponent(slug)}/practice`, { token: auth.token, lang: auth.lang() });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return null;
    }
    throw err;
  }
}

/**
 * Opens a practice session on a channel (or answers the one already open):
 * its next broadcast is the practice one.
 * @param {Auth} auth
 * @param {string} slug
 * @returns {Promise<any>} the session
 */
export function startPractice(auth, slug) {
  return request('POST', `/api/channels/${encodeURIComponent(slug)}/practice`, { token: auth.token, lang: auth.lang(), json: {} });
}

/**
 * Cancels a practice session that has not gone live.
 * @param {Auth} auth
 * @param {number} id
 * @returns {Promise<any>} the session, cancelled
 */
export function cancelPractice(auth, id) {
  return request('DELETE', `/api/practice/${encodeURIComponent(id)}`, { token: auth.token, lang: auth.lang() });
}

// ---- The studio's saved credentials ----

/** localStorage key of the studio's credentials, {slug, token}. */
export const studioCredentialsKey = 'dangol.studio';

/**
 * The studio's saved credentials, or null when there are none (or storage
 * is off, or what is kept is garbled).
 * @returns {{slug: string, token: string} | null}
 */
export function loadStudioCredentials() {
  try {
    const v = JSON.parse(localStorage.getItem(studioCredentialsKey) ?? 'null');
    if (v && typeof v.slug === 'string' && typeof v.token === 'string' && v.slug && v.token) {
      return { slug: v.slug, token: v.token };
    }
  } catch {
    // Storage off or garbled: as if nothing was saved.
  }
  return null;
}

/**
 * Logs in with the channel and its PIN (POST /api/login).
 * @param {string} channel
 * @param {string} pin
 * @param {string} lang
 * @returns {Promise<string>} the studio token
 */
export async function login(channel, pin, lang) {
  const r = await request('POST', '/api/login', { json: { channel, pin }, lang });
  const token = r?.studio_token;
  if (typeof token !== 'string' || !token) {
    throw new ApiError(500, 'internal', '');
  }
  return token;
}
