// @ts-check
// The REST API as the tutor's pages use it (docs/api.md: Tutors, Practice
// sessions, Schedule, Broadcasts), and where the credentials are kept.

// One request function for every page: the studio's, which these pages share.
// The practice session calls and the studio's saved credentials are the
// studio's too.
import { ApiError, cancelPractice, loadStudioCredentials, openPractice, request, startPractice } from './studio-api.js';

export { ApiError, loadStudioCredentials, request };

/** localStorage key of the tutor's token (the dashboard's login). */
export const tutorTokenKey = 'dangol.tutor';

/** The API with one credential: a tutor's token or a merchant's. */
export class Api {
  /**
   * @param {string} token
   * @param {() => string} lang for the server's error messages
   */
  constructor(token, lang) {
    this.token = token;
    this.lang = lang;
  }

  /**
   * @param {string} method
   * @param {string} url
   * @param {any} [json]
   */
  call(method, url, json) {
    return request(method, url, { token: this.token, lang: this.lang(), json });
  }

  // ---- Tutor ----

  /** @returns {Promise<{tutor: Record<string, any>, channels: Array<Record<string, any>>}>} */
  async me() {
    const r = await this.call('GET', '/api/tutor');
    return { tutor: r?.tutor ?? {}, channels: Array.isArray(r?.channels) ? r.channels : [] };
  }

  /** @param {{slug: string, name: string}} ch */
  createChannel(ch) {
    return this.call('POST', '/api/tutor/channels', ch);
  }

  /** @param {string} slug */
  studioLink(slug) {
    return this.call('POST', `${tutorChannel(slug)}/studio-link`);
  }

  /** @param {string} slug */
  resetPin(slug) {
    return this.call('POST', `${tutorChannel(slug)}/pin`);
  }

  /**
   * @param {string} slug
   * @returns {Promise<Array<Record<string, any>>>}
   */
  async broadcasts(slug) {
    const r = await this.call('GET', `${tutorChannel(slug)}/broadcasts?limit=30`);
    return Array.isArray(r?.broadcasts) ? r.broadcasts : [];
  }

  // ---- Channel ----

  /**
   * @param {string} slug
   * @returns {Promise<Array<Record<string, any>>>}
   */
  async schedule(slug) {
    const r = await this.call('GET', `${channel(slug)}/schedule`);
    return Array.isArray(r?.schedule) ? r.schedule : [];
  }

  /**
   * @param {string} slug
   * @returns {Promise<Array<Record<string, any>>>} newest first
   */
  async practiceHistory(slug) {
    const r = await this.call('GET', `${channel(slug)}/practice/history?limit=20`);
    return Array.isArray(r?.sessions) ? r.sessions : [];
  }

  /**
   * The open session, or null when none is open.
   * @param {string} slug
   */
  openPractice(slug) {
    return openPractice(this, slug);
  }

  /**
   * Opens a session (or answers the one already open).
   * @param {string} slug
   */
  startPractice(slug) {
    return startPractice(this, slug);
  }

  // ---- Practice session ----

  /** @param {number} id */
  session(id) {
    return this.call('GET', practice(id));
  }

  /** @param {number} id */
  cancelSession(id) {
    return cancelPractice(this, id);
  }

  /**
   * @param {number} id
   * @param {string} text
   */
  tip(id, text) {
    return this.call('POST', `${practice(id)}/tips`, { text });
  }

  /**
   * @param {number} id
   * @param {string} text
   */
  note(id, text) {
    return this.call('POST', `${practice(id)}/notes`, { text });
  }

  /**
   * @param {number} id
   * @returns {Promise<Array<Record<string, any>>>} oldest first
   */
  async notes(id) {
    const r = await this.call('GET', `${practice(id)}/notes`);
    return Array.isArray(r?.notes) ? r.notes : [];
  }

  /**
   * @param {number} id
   * @param {Record<string, boolean>} ticks
   */
  ticks(id, ticks) {
    return this.call('PUT', `${practice(id)}/ticks`, ticks);
  }

  /**
   * @param {number} id
   * @param {string} pace calm, busy or rush
   */
  crowd(id, pace) {
    return this.call('PUT', `${practice(id)}/crowd`, { pace });
  }

  /** @param {number} id */
  stopCrowd(id) {
    return this.call('DELETE', `${practice(id)}/crowd`);
  }

  /** @param {number} id */
  review(id) {
    return this.call('GET', `${practice(id)}/review`);
  }
}

/** @param {string} slug */
const channel = (slug) => `/api/channels/${encodeURIComponent(slug)}`;
/** @param {string} slug */
const tutorChannel = (slug) => `/api/tutor/channels/${encodeURIComponent(slug)}`;
/** @param {number} id */
const practice = (id) => `/api/practice/${encodeURIComponent(String(id))}`;

// ---- Stored credentials ----

/** @returns {string | null} */
export function loadTutorToken() {
  try {
    return localStorage.getItem(tutorTokenKey) || null;
  } catch {
    return null;
  }
}

/** @param {string | null} token null forgets it */
export function saveTutorToken(token) {
  try {
    if (token) {
      localStorage.setItem(tutorTokenKey, token);
    } else {
      localStorage.removeItem(tutorTokenKey);
    }
  } catch {
    // Storage off (private mode): logged in for this visit only.
  }
}
