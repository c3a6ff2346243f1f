// @ts-check
// The live room's websocket (docs/protocol.md), shared by the watch page and
// the studio: one connection that says hello first, matches replies to
// commands by id, hands events to listeners, and comes back by itself after
// a drop, resending the commands that got no reply with their same ids, so
// that a claim or an order is never done twice nor lost.

import { backoff } from './whip.js';

/**
 * @typedef {{type: string, [k: string]: any}} Message
 * @typedef {{ok: true, [k: string]: any} | {ok: false, error: {code: string, message: string, field?: string, until?: string}}} Reply
 */

/** The error of a command the server refused; code is the protocol's. */
export class RoomError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {Record<string, any>} [extra] field, until
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.code = code;
    this.field = extra.field;
    this.until = extra.until;
  }
}

const tokenKey = (/** @type {string} */ slug) => `dangol.viewer.${slug}`;

/**
 * The websocket URL of a room: base with the merchant's token (?token=) and
 * any extra query parameters (e.g. practice), empty values left out.
 * @param {string} base e.g. "wss://host/ws/kim-fish", may already have a query
 * @param {string} [token]
 * @param {Record<string, string | undefined>} [query]
 * @returns {string}
 */
export function roomURL(base, token, query = {}) {
  const params = new URLSearchParams();
  if (token) {
    params.set('token', token);
  }
  for (const [k, v] of Object.entries(query)) {
    if (v) {
      params.set(k, v);
    }
  }
  const q = params.toString();
  if (!q) {
    return base;
  }
  return base + (base.includes('?') ? '&' : '?') + q;
}

/**
 * A connection to a channel's live room.
 *
 * Events: 'hello' (the hello reply, after every (re)connection: rebuild the
 * view from its state), 'state' ('connecting' | 'open' | 'closed'),
 * 'failed' ({attempts}: the connection closed before it ever opened, that
 * many times in a row; see below), and every server event by its type
 * ('chat.message', 'coupon.dropped', ...).
 *
 * A refused upgrade (403 `practice` while a practice session keeps the room
 * private, 401, 404) and an unreachable server look the same to a page:
 * browsers do not expose the HTTP status of a failed websocket upgrade.
 * Both end in 'failed'; the room keeps retrying with a bounded backoff
 * either way, so a page that cannot tell them apart can show its "not
 * live" view and wait.
 */
export class Room {
  /**
   * @param {string} slug the channel
   * @param {{token?: string, name?: string, lang?: string, url?: string, query?: Record<string, string | undefined>}} [opts]
   *   token: the merchant's stream key or studio token (viewers have none);
   *   name: the nickname sent in hello; url: the websocket URL (tests);
   *   query: more query parameters of the websocket URL, empty ones left
   *   out, e.g. {practice: token} for a practice session's private room
   *   (an invited customer's practice token, or a tutor's token).
   */
  constructor(slug, opts = {}) {
    this.slug = slug;
    this.opts = opts;
    /** @type {Map<string, Array<(m: any) => void>>} */
    this.listeners = new Map();
    /** Commands without a reply yet, by id: resent after a reconnect. @type {Map<string, {msg: Message, resolve: (r: any) => void, reject: (e: Error) => void}>} */
    this.pending = new Map();
    this.seq = 0;
    this.attempt = 0;
    /** Connections in a row that closed before they opened. */
    this.unopened = 0;
    this.closed = false;
    this.ready = false; // hello answered on the current connection
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retry = undefined;
    /** @type {Record<string, any> | null} the last hello reply */
    this.me = null;
  }

  /**
   * Calls fn for each event of the type (see the class comment).
   * @param {string} type
   * @param {(m: any) => void} fn
   */
  on(type, fn) {
    const list = this.listeners.get(type) ?? [];
    list.push(fn);
    this.listeners.set(type, list);
    return this;
  }

  /**
   * @param {string} type
   * @param {any} m
   */
  emit(type, m) {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        fn(m);
      } catch (err) {
        console.error(`room ${type} listener`, err);
      }
    }
  }

  /** Connects, and keeps connecting after drops until close. */
  open() {
    this.closed = false;
    this.connect();
    return this;
  }

  connect() {
    if (this.closed) {
      return;
    }
    let base = this.opts.url;
    if (!base) {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      base = `${proto}//${location.host}/ws/${encodeURIComponent(this.slug)}`;
    }
    const url = roomURL(base, this.opts.token, this.opts.query);
    this.ready = false;
    this.emit('state', 'connecting');
    const ws = new WebSocket(url);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.unopened = 0;
      this.hello(ws);
    };
    ws.onmessage = (ev) => this.receive(ws, ev);
    ws.onclose = () => {
      if (this.ws !== ws) {
        return;
      }
      this.ws = null;
      this.ready = false;
      this.emit('state', 'closed');
      if (!opened && !this.closed) {
        this.unopened++;
        this.emit('failed', { attempts: this.unopened });
      }
      if (!this.closed) {
        const wait = backoff(this.attempt++, 500, 10000);
        this.retry = setTimeout(() => this.connect(), wait);
      }
    };
  }

  /** @param {WebSocket} ws */
  hello(ws) {
    /** @type {Record<string, any>} */
    const msg = { type: 'hello', id: this.nextID('h') };
    if (this.opts.name) {
      msg.name = this.opts.name;
    }
    if (this.opts.lang) {
      msg.lang = this.opts.lang;
    }
    const token = this.viewerToken();
    if (token && !this.opts.token) {
      msg.viewer_token = token;
    }
    this.helloID = msg.id;
    ws.send(JSON.stringify(msg));
  }

  /**
   * @param {WebSocket} ws
   * @param {MessageEvent} ev
   */
  receive(ws, ev) {
    /** @type {Message} */
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (m.type !== 'reply') {
      this.emit(m.type, m);
      return;
    }
    if (m.id === this.helloID) {
      if (!m.ok) {
        // Banned from the channel, or a bad key: nothing to retry.
        this.emit('hello', m);
        return;
      }
      this.attempt = 0;
      this.ready = true;
      this.me = m;
      if (m.viewer_token && !this.opts.token) {
        this.saveViewerToken(m.viewer_token);
      }
      this.emit('state', 'open');
      this.emit('hello', m);
      // Commands that got no reply before the drop, again with their ids.
      for (const p of this.pending.values()) {
        ws.send(JSON.stringify(p.msg));
      }
      return;
    }
    const p = this.pending.get(String(m.id));
    if (!p) {
      return;
    }
    this.pending.delete(String(m.id));
    if (m.ok) {
      p.resolve(m);
    } else {
      const e = m.error ?? { code: 'internal', message: '' };
      p.reject(new RoomError(e.code, e.message, e));
    }
  }

  /**
   * Sends a command and resolves with its reply, or rejects with a
   * RoomError. It waits through reconnects: the command goes (again, with
   * its id) once the room is back.
   * @param {string} type
   * @param {Record<string, any>} [fields]
   * @returns {Promise<Record<string, any>>}
   */
  send(type, fields = {}) {
    const id = this.nextID('c');
    const msg = { ...fields, type, id };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { msg, resolve, reject });
      if (this.ready && this.ws?.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify(msg));
      }
    });
  }

  /** @param {string} prefix */
  nextID(prefix) {
    // Unique across page loads too: a reload must not reuse an id the
    // server remembers with another command.
    this.seq++;
    return `${prefix}${Date.now().toString(36)}${this.seq.toString(36)}`;
  }

  /** Closes for good: no reconnect; unanswered commands are rejected. */
  close() {
    this.closed = true;
    clearTimeout(this.retry);
    this.ws?.close();
    this.ws = null;
    for (const p of this.pending.values()) {
      p.reject(new RoomError('closed', 'closed'));
    }
    this.pending.clear();
  }

  viewerToken() {
    try {
      return localStorage.getItem(tokenKey(this.slug));
    } catch {
      return null;
    }
  }

  /** @param {string} token */
  saveViewerToken(token) {
    try {
      localStorage.setItem(tokenKey(this.slug), token);
    } catch {
      // Not remembered: a reload is a new viewer.
    }
  }
}
