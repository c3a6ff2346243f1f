// Unit tests of the browser modules that run without a browser:
//   node --test web/testdata/static.test.js
// web_test.go runs them when node is installed.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

import { detectLang, langs, textIn, texts } from '../static/i18n.js';
import { Keeper, Pause, SignalError, backoff, parseLinkHeader, parseRetryAfter } from '../static/whip.js';
import {
  addClaim, applyOrderToClaims, canCancel, chapterAt, chatKeep, checkOrderForm, cleanNickname, couponStateKey,
  errorKey, formatCount, formatDuration, formatWhen, formatWon, fromHello, orderDone, orderStatusKey, reduce,
  replaySource, stallProducts, stepQty, upcoming, upsertOrder, usableCoupons,
} from '../static/watch-state.js';

const dir = new URL('../', import.meta.url);

test('parseLinkHeader', async (t) => {
  const cases = [
    { name: 'empty', in: null, want: [] },
    { name: 'stun', in: '<stun:stun.example.net>; rel="ice-server"', want: [{ urls: 'stun:stun.example.net' }] },
    {
      name: 'turn with credentials (RFC 9725 example)',
      in: '<turn:turn.example.net?transport=udp>; rel="ice-server"; username="user"; credential="myPassword"; credential-type="password"',
      want: [{ urls: 'turn:turn.example.net?transport=udp', username: 'user', credential: 'myPassword' }],
    },
    {
      name: 'several joined by commas',
      in: '<stun:a.example:3478>; rel="ice-server", <turns:b.example?transport=tcp>; rel=ice-server; username=u; credential="p,w;\\"x"',
      want: [{ urls: 'stun:a.example:3478' }, { urls: 'turns:b.example?transport=tcp', username: 'u', credential: 'p,w;"x' }],
    },
    { name: 'other relations ignored', in: '</foo>; rel="next", <stun:s.example>; rel="ice-server"', want: [{ urls: 'stun:s.example' }] },
    { name: 'other schemes ignored', in: '<https://evil.example>; rel="ice-server"', want: [] },
    { name: 'turn without credentials ignored', in: '<turn:t.example>; rel="ice-server"', want: [] },
    { name: 'case and spacing', in: '<stun:s.example> ;REL = "ice-server"', want: [{ urls: 'stun:s.example' }] },
    { name: 'garbage', in: 'garbage, <unterminated', want: [] },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      assert.deepEqual(parseLinkHeader(c.in), c.want);
    });
  }
});

test('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter(null, now), null);
  assert.equal(parseRetryAfter('5', now), 5);
  assert.equal(parseRetryAfter(' 12 ', now), 12);
  assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now), 30);
  assert.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), null);
});

test('backoff stays within bounds', () => {
  assert.equal(backoff(0, 1000, 15000, () => 0), 750);
  assert.equal(backoff(0, 1000, 15000, () => 0.999999), 1000);
  assert.equal(backoff(3, 1000, 15000, () => 0.999999), 8000);
  assert.equal(backoff(10, 1000, 15000, () => 0.999999), 15000);
  assert.equal(backoff(1000, 1000, 15000, () => 0.999999), 15000);
});

test('Pause wakes early', async () => {
  const p = new Pause();
  const started = Date.now();
  const waiting = p.wait(60_000);
  p.wake();
  await waiting;
  assert.ok(Date.now() - started < 10_000);
});

test('detectLang', () => {
  assert.equal(detectLang(['ko-KR', 'en-US']), 'ko');
  assert.equal(detectLang(['en-US', 'ko']), 'en');
  assert.equal(detectLang(['fr-FR', 'en']), 'en');
  assert.equal(detectLang(['ja-JP']), 'ko');
  assert.equal(detectLang([]), 'ko');
});

test('every language has every text', () => {
  const keys = Object.keys(texts.ko).sort();
  for (const l of langs) {
    assert.deepEqual(Object.keys(texts[l]).sort(), keys, `keys of ${l}`);
    for (const [k, v] of Object.entries(texts[l])) {
      assert.ok(v.trim() !== '', `${l} ${k} is empty`);
    }
  }
});

test('textIn: the text in a given language', () => {
  assert.equal(textIn('ko', 'lang.switch'), 'English');
  assert.equal(textIn('en', 'lang.switch'), '한국어');
  assert.equal(textIn('en', 'tutor.hello', { name: 'Minji' }), texts.en['tutor.hello'].replace('{name}', 'Minji'));
  assert.equal(textIn('ko', 'admin.title'), '단골 운영');
  assert.equal(textIn('en', 'no.such.key'), 'no.such.key');
});

test('every text the pages use exists', () => {
  /** @type {Array<[string, string]>} */
  const used = [];
  /** @type {Set<string>} */
  const pages = new Set();
  for (const name of readdirSync(new URL('pages/', dir))) {
    const html = readFileSync(new URL(`pages/${name}`, dir), 'utf8');
    // One mechanism for every page: i18n.js's data-i18n and data-i18n-label.
    assert.doesNotMatch(html, /\sdata-(?:text|text-label|admin-text|admin-label)=/, `${name} uses i18n.js's data-i18n`);
    for (const m of html.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)) {
      used.push([name, m[1]]);
      pages.add(name);
    }
  }
  for (const name of ['studio.html', 'watch.html', 'tutor.html', 'practice.html', 'review.html', 'admin.html']) {
    assert.ok(pages.has(name), `${name}'s texts are checked`);
  }
  // Names of the live room's messages, not texts.
  const notTexts = new Set(['coach.tip']);
  for (const name of readdirSync(new URL('static/', dir)).filter((n) => n.endsWith('.js'))) {
    const js = readFileSync(new URL(`static/${name}`, dir), 'utf8');
    for (const m of js.matchAll(/'((?:lang|watch|studio|error|tutor|coach|review|check|time|admin)\.[A-Za-z]+)'/g)) {
      if (!notTexts.has(m[1])) {
        used.push([name, m[1]]);
      }
    }
  }
  assert.ok(used.length > 20, 'found the texts in use');
  for (const [file, key] of used) {
    assert.ok(key in texts.ko && key in texts.en, `${file} uses unknown text ${key}`);
  }
});

// Keeper, the reconnect watchdog both pages use, against a fake
// RTCPeerConnection and a fake server (fetch).

/** A peer connection whose state the test sets. */
class FakePeer extends EventTarget {
  /** @type {FakePeer[]} every one made, oldest first */
  static made = [];

  constructor(config) {
    super();
    this.config = config;
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    this.iceGatheringState = 'complete';
    this.localDescription = null;
    this.remoteDescription = null;
    this.closed = false;
    this.kinds = [];
    this.transceivers = [];
    /** The one (bundled) DTLS transport, whose state the test sets. */
    this.dtls = Object.assign(new EventTarget(), { state: 'new' });
    FakePeer.made.push(this);
  }

  addTransceiver(kind) {
    this.kinds.push(kind);
    const tr = { sender: { transport: this.dtls }, receiver: { transport: this.dtls } };
    this.transceivers.push(tr);
    return tr;
  }

  getTransceivers() {
    return this.transceivers;
  }

  async createOffer() {
    return { type: 'offer', sdp: `v=0 offer ${FakePeer.made.indexOf(this)}\r\n` };
  }

  async setLocalDescription(d) {
    this.localDescription = d;
  }

  async setRemoteDescription(d) {
    this.remoteDescription = d;
  }

  close() {
    this.closed = true;
    this.connectionState = 'closed';
  }

  /** @param {RTCPeerConnectionState} state */
  set(state) {
    this.connectionState = state;
    this.dispatchEvent(new Event('connectionstatechange'));
  }

  /** @param {RTCDtlsTransportState} state */
  setTransport(state) {
    this.dtls.state = state;
    this.dtls.dispatchEvent(new Event('statechange'));
  }
}

/**
 * A fake server: answers POSTs with next(request) (201 with a new session by
 * default) and records every request.
 */
class FakeServer {
  constructor() {
    /** @type {Array<{method: string, url: string, headers: Record<string, string>, body: string}>} */
    this.requests = [];
    this.sessions = 0;
    /** @type {(() => Response | Promise<Response>) | null} answers the next POST, once */
    this.next = null;
  }

  /** @type {typeof fetch} */
  fetch = async (url, init = {}) => {
    const req = { method: init.method ?? 'GET', url: String(url), headers: { ...init.headers }, body: String(init.body ?? '') };
    this.requests.push(req);
    if (req.method !== 'POST') {
      return new Response(null, { status: 200 });
    }
    const next = this.next;
    this.next = null;
    if (next) {
      return next();
    }
    this.sessions++;
    return new Response(`v=0 answer ${this.sessions}\r\n`, {
      status: 201,
      headers: { 'Content-Type': 'application/sdp', Location: `/whep/stall/s${this.sessions}` },
    });
  };

  /** @param {string} method */
  count(method) {
    return this.requests.filter((r) => r.method === method).length;
  }
}

/**
 * Waits until cond() is true, for at most 2 s.
 * @param {() => boolean} cond
 * @param {string} what
 */
async function until(cond, what) {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A keeper against a fresh fake server, with short timeouts, recording what
 * it tells the page.
 * @param {{failed?: (err: unknown) => number, keepSession?: boolean, token?: string}} [o]
 */
function newKeeper(o = {}) {
  const server = new FakeServer();
  globalThis.fetch = server.fetch;
  FakePeer.made = [];
  const told = { states: /** @type {string[]} */ ([]), reconnects: 0, failures: /** @type {unknown[]} */ ([]), setups: 0 };
  const keeper = new Keeper('/whep/stall', {
    setup: (pc) => {
      told.setups++;
      pc.addTransceiver('video', { direction: 'recvonly' });
    },
    failed: (err) => {
      told.failures.push(err);
      return o.failed ? o.failed(err) : 10;
    },
    onState: (state) => told.states.push(state),
    reconnect: () => {
      told.reconnects++;
    },
  }, { token: o.token, keepSession: o.keepSession, connectTimeoutMs: 40, disconnectGraceMs: 40, gatherMs: 10 });
  return { keeper, server, told };
}

test('Keeper', { timeout: 20_000 }, async (t) => {
  const saved = { RTCPeerConnection: globalThis.RTCPeerConnection, fetch: globalThis.fetch, document: globalThis.document };
  globalThis.RTCPeerConnection = /** @type {any} */ (FakePeer);
  globalThis.document = /** @type {any} */ ({ baseURI: 'https://market.example/c/stall' });
  t.after(() => Object.assign(globalThis, saved));

  await t.test('offers, applies the answer and keeps a connection that connects', async () => {
    const { keeper, server, told } = newKeeper({ token: 'secret' });
    await keeper.start();
    const [pc] = FakePeer.made;
    assert.equal(keeper.pc, pc);
    assert.equal(told.setups, 1);
    assert.deepEqual(pc.kinds, ['video']);
    assert.deepEqual(pc.remoteDescription, { type: 'answer', sdp: 'v=0 answer 1\r\n' });
    assert.equal(keeper.location, 'https://market.example/whep/stall/s1');
    const [post] = server.requests;
    assert.equal(post.method, 'POST');
    assert.equal(post.url, '/whep/stall');
    assert.equal(post.headers.Authorization, 'Bearer secret');
    assert.equal(post.headers['Content-Type'], 'application/sdp');
    assert.equal(post.body, pc.localDescription.sdp);

    pc.set('connected');
    await sleep(120); // three connect timeouts
    assert.deepEqual(told.states, ['connected']);
    assert.equal(told.reconnects, 0);
    keeper.stop();
  });

  await t.test('asks to reconnect when a connection does not connect in time', async () => {
    const { keeper, told } = newKeeper();
    await keeper.start();
    FakePeer.made[0].set('connecting');
    await until(() => told.reconnects === 1, 'the reconnect');
    await sleep(60);
    assert.equal(told.reconnects, 1, 'once');
    keeper.stop();
  });

  await t.test('a disconnected connection gets a grace period to recover', async () => {
    const { keeper, told } = newKeeper();
    await keeper.start();
    const [pc] = FakePeer.made;
    pc.set('connected');
    pc.set('disconnected');
    pc.set('connected'); // recovered by itself, within the grace
    await sleep(120); // three graces
    assert.equal(told.reconnects, 0, 'recovered within the grace');
    pc.set('disconnected');
    assert.equal(told.reconnects, 0, 'not at once');
    await until(() => told.reconnects === 1, 'the reconnect after the grace');
    assert.deepEqual(told.states, ['connected', 'disconnected', 'connected', 'disconnected']);
    keeper.stop();
  });

  await t.test('a failed connection is replaced at once', async () => {
    const { keeper, told } = newKeeper();
    await keeper.start();
    FakePeer.made[0].set('connected');
    FakePeer.made[0].set('failed');
    assert.equal(told.reconnects, 1);
    assert.deepEqual(told.states, ['connected', 'failed']);
    keeper.stop();
  });

  await t.test('a DTLS transport the server closes ends the connection at once', async () => {
    const { keeper, told } = newKeeper();
    await keeper.start();
    const [pc] = FakePeer.made;
    pc.set('connected');
    pc.setTransport('connected');
    assert.equal(told.reconnects, 0);
    pc.setTransport('closed'); // close_notify: the broadcast ended
    assert.equal(told.reconnects, 1);
    keeper.stop();
  });

  await t.test('callbacks of a replaced connection do nothing', async () => {
    const { keeper, server, told } = newKeeper();
    await keeper.start();
    await keeper.start();
    const [old, current] = FakePeer.made;
    assert.ok(old.closed, 'the old connection is closed');
    assert.equal(keeper.pc, current);
    assert.equal(server.count('DELETE'), 1, "the old connection's session is ended");
    old.set('connected');
    old.set('failed');
    old.setTransport('closed');
    assert.equal(told.reconnects, 0);
    assert.deepEqual(told.states, []);
    keeper.stop();
    await sleep(120); // three connect timeouts
    assert.equal(told.reconnects, 0, 'stop ends the watch too');
  });

  await t.test('retries a refused attempt after the wait the page chose, or now', async () => {
    let waits = 0;
    const { keeper, server, told } = newKeeper({ failed: () => (waits++ === 0 ? 60_000 : 10) });
    server.next = () => new Response('{"error":{"code":"not_live","message":"not live"}}', {
      status: 503, headers: { 'Retry-After': '2', 'Content-Type': 'application/json' },
    });
    const started = keeper.start();
    await until(() => told.failures.length === 1, 'the refusal');
    const [err] = told.failures;
    assert.ok(err instanceof SignalError);
    assert.equal(err.status, 503);
    assert.equal(err.code, 'not_live');
    assert.equal(err.retryAfter, 2);
    assert.ok(FakePeer.made[0].closed, 'the refused connection is closed');
    keeper.retryNow(); // instead of a minute
    await started;
    assert.equal(server.count('POST'), 2);
    assert.equal(keeper.pc, FakePeer.made[1]);
    keeper.stop();
  });

  await t.test('stops when the page gives up', async () => {
    const { keeper, server } = newKeeper({ failed: () => -1 });
    server.next = () => new Response(null, { status: 404 });
    await keeper.start();
    assert.ok(keeper.stopped);
    assert.equal(keeper.pc, null);
    await sleep(30);
    assert.equal(server.count('POST'), 1, 'no retry');
  });

  await t.test('a network failure is a SignalError with status 0', async () => {
    const { keeper, server, told } = newKeeper({ failed: () => -1 });
    server.next = () => Promise.reject(new TypeError('fetch failed'));
    await keeper.start();
    assert.ok(told.failures[0] instanceof SignalError);
    assert.equal(/** @type {SignalError} */ (told.failures[0]).status, 0);
  });

  await t.test('stop ends the session, and a wait in progress', async () => {
    const { keeper, server } = newKeeper({ failed: () => 60_000 });
    await keeper.start();
    keeper.stop();
    assert.ok(FakePeer.made[0].closed);
    const del = server.requests.find((r) => r.method === 'DELETE');
    assert.equal(del?.url, 'https://market.example/whep/stall/s1');
    assert.equal(keeper.location, null);

    server.next = () => new Response(null, { status: 503 });
    const started = keeper.start();
    await until(() => server.count('POST') === 2, 'the second POST');
    await sleep(5);
    keeper.stop(); // ends the minute's wait too
    await started;
  });

  await t.test('end: the session ends on the server before the connection closes', async () => {
    const { keeper, server, told } = newKeeper({ keepSession: true, token: 'k' });
    await keeper.start();
    const [pc] = FakePeer.made;
    pc.set('connected');
    /** @type {(r: Response) => void} */
    let answer = () => {};
    const fetch = server.fetch;
    globalThis.fetch = (url, init) => (init?.method === 'DELETE' ? fetch(url, init).then(() => new Promise((resolve) => {
      answer = resolve;
    })) : fetch(url, init));
    const ended = keeper.end();
    assert.ok(keeper.stopped);
    await until(() => server.count('DELETE') === 1, 'the DELETE');
    const del = server.requests.find((r) => r.method === 'DELETE');
    assert.equal(del?.url, 'https://market.example/whep/stall/s1');
    assert.equal(del?.headers.Authorization, 'Bearer k');
    assert.ok(!pc.closed, 'open until the server answers');
    pc.set('failed'); // the server closed its side
    assert.equal(told.reconnects, 0, 'ending is not a drop');
    answer(new Response(null, { status: 200 }));
    await ended;
    assert.ok(pc.closed);
    assert.equal(keeper.pc, null);
    assert.equal(keeper.location, null);
  });

  await t.test('end closes the connection even when the server does not answer', async () => {
    const { keeper, server } = newKeeper();
    await keeper.start();
    globalThis.fetch = (url, init) => (init?.method === 'DELETE' ? new Promise(() => {}) : server.fetch(url, init));
    await keeper.end(20);
    assert.ok(FakePeer.made[0].closed);
  });

  await t.test('keepSession leaves sessions to the server (a publisher resumes)', async () => {
    const { keeper, server } = newKeeper({ keepSession: true, token: 'k' });
    await keeper.start();
    await keeper.start(); // republish after a drop
    keeper.stop();
    assert.equal(server.count('DELETE'), 0);
    assert.equal(keeper.location, 'https://market.example/whep/stall/s2', 'kept for the End button');
  });

  await t.test('an answer that comes after stop is ended', async () => {
    for (const keepSession of [false, true]) {
      const { keeper, server } = newKeeper({ keepSession, token: 'k' });
      /** @type {(r: Response) => void} */
      let answer = () => {};
      server.next = () => new Promise((resolve) => {
        answer = resolve;
      });
      const started = keeper.start();
      await until(() => server.count('POST') === 1, 'the POST');
      keeper.stop();
      answer(new Response('v=0\r\n', { status: 201, headers: { Location: '/whip/stall/late' } }));
      await started;
      const del = server.requests.find((r) => r.method === 'DELETE');
      assert.equal(del?.url, 'https://market.example/whip/stall/late', `keepSession ${keepSession}`);
      assert.equal(del?.headers.Authorization, 'Bearer k');
    }
  });
});

// The watch page's logic (watch-state.js), without a DOM.

test('formatWon', () => {
  assert.equal(formatWon(5000), '5,000원');
  assert.equal(formatWon(0), '0원');
  assert.equal(formatWon(999), '999원');
  assert.equal(formatWon(1234567), '1,234,567원');
  assert.equal(formatWon(-2000), '-2,000원');
  assert.equal(formatWon(5000, 'en'), '₩5,000');
  assert.equal(formatWon(NaN), '0원');
});

test('formatCount and formatDuration', () => {
  assert.equal(formatCount(999), '999');
  assert.equal(formatCount(1234), '1,234');
  assert.equal(formatCount(12345), '1.2만');
  assert.equal(formatCount(12345, 'en'), '12.3k');
  assert.equal(formatCount(-3), '0');
  assert.equal(formatDuration(65.9), '1:05');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(0), '0:00');
});

test('order statuses in words, in both languages', () => {
  for (const s of ['placed', 'accepted', 'ready', 'picked_up', 'rejected', 'cancelled', 'weird']) {
    const key = orderStatusKey(s);
    assert.ok(key in texts.ko && key in texts.en, `${s}: ${key}`);
  }
  assert.equal(orderStatusKey('ready'), 'watch.orderReady');
  assert.notEqual(orderStatusKey('rejected'), orderStatusKey('cancelled'));
  assert.ok(canCancel({ status: 'placed' }));
  assert.ok(!canCancel({ status: 'accepted' }));
  assert.ok(orderDone({ status: 'picked_up' }) && orderDone({ status: 'cancelled' }) && !orderDone({ status: 'ready' }));
});

test('server errors map to texts the viewer reads', () => {
  const codes = ['out_of_stock', 'sold_out', 'already_claimed', 'expired', 'closed', 'not_live', 'coupon_not_claimed',
    'coupon_used', 'bad_transition', 'rate_limited', 'banned_word', 'muted', 'banned', 'not_found', 'internal', 'network', 'invalid'];
  for (const c of codes) {
    const key = errorKey(c);
    assert.ok(key in texts.ko && key in texts.en, `${c}: ${key}`);
  }
  assert.equal(errorKey('invalid', 'buyer.phone'), 'watch.errPhone');
  assert.equal(errorKey('invalid', 'items[0].qty'), 'watch.errQty');
  assert.equal(errorKey('invalid', 'something'), 'watch.errInvalid');
  assert.equal(errorKey('out_of_stock'), 'watch.errOutOfStock');
});

test('checkOrderForm and stepQty', () => {
  const ok = { name: '박영희', phone: '010-1234-5678', qty: 1, note: '' };
  assert.equal(checkOrderForm(ok), null);
  assert.equal(checkOrderForm({ ...ok, name: ' ' })?.field, 'buyer.name');
  assert.equal(checkOrderForm({ ...ok, phone: '010-12' })?.field, 'buyer.phone');
  assert.equal(checkOrderForm({ ...ok, phone: '010-1234-567x' })?.field, 'buyer.phone');
  assert.equal(checkOrderForm({ ...ok, phone: '+82 10 1234 5678' }), null);
  assert.equal(checkOrderForm({ ...ok, qty: 0 })?.field, 'items');
  assert.equal(checkOrderForm({ ...ok, note: 'x'.repeat(201) })?.field, 'note');
  assert.equal(stepQty(1, -1, 5), 1);
  assert.equal(stepQty(5, 1, 5), 5);
  assert.equal(stepQty(2, 1, 5), 3);
  assert.equal(stepQty(7, 0, 3), 3, 'stock went down under the quantity');
  assert.equal(stepQty(1, 1, 0), 1);
  assert.equal(stepQty(999, 1, 5000), 999);
});

test('live state: hello, then events', () => {
  const hello = {
    claims: [],
    state: {
      live: true, broadcast_id: 7, pinned: { id: 3, name: '고등어', price_won: 5000, stock: 8 },
      coupons: [{ id: 5, title: '선착순', discount_won: 2000, quantity: 20, remaining: 4 }],
      viewers: 31, likes: 120, notice: '3시까지 할인',
      chat: [{ id: 9, viewer_id: 40, nickname: '민수', text: '안녕하세요' }, { id: 10, viewer_id: 41, nickname: 'x', text: 'gone', hidden: true }],
    },
  };
  let s = fromHello(hello);
  assert.equal(s.live, true);
  assert.equal(s.chat.length, 1, 'hidden messages left out');
  const before = s;
  s = reduce(s, { type: 'stock', product_id: 3, stock: 6 });
  assert.equal(s.pinned?.stock, 6);
  assert.equal(before.pinned?.stock, 8, 'the old state is not changed');
  assert.equal(reduce(s, { type: 'stock', product_id: 99, stock: 1 }), s, 'another product: same state');
  s = reduce(s, { type: 'chat.message', message: { id: 11, viewer_id: 42, nickname: '순이', text: '<b>hi</b>' } });
  s = reduce(s, { type: 'chat.message', message: { id: 11, viewer_id: 42, nickname: '순이', text: '<b>hi</b>' } });
  assert.deepEqual(s.chat.map((m) => m.id), [9, 11], 'no duplicates');
  s = reduce(s, { type: 'chat.hidden', message_id: 9 });
  assert.deepEqual(s.chat.map((m) => m.id), [11]);
  for (let i = 0; i < 100; i++) {
    s = reduce(s, { type: 'chat.message', message: { id: 100 + i, viewer_id: 1, nickname: 'a', text: 't' } });
  }
  assert.equal(s.chat.length, chatKeep);
  assert.equal(s.chat.at(-1)?.id, 199);
  s = reduce(s, { type: 'coupon.remaining', coupon_id: 5, remaining: 3 });
  assert.equal(s.coupons[0].remaining, 3);
  s = reduce(s, { type: 'coupon.dropped', coupon: { id: 6, title: '두 번째', discount_won: 1000, quantity: 5, remaining: 5 } });
  assert.deepEqual(s.coupons.map((c) => c.id), [5, 6]);
  s = reduce(s, { type: 'coupon.closed', coupon_id: 5, reason: 'sold_out' });
  assert.deepEqual(s.coupons.map((c) => c.id), [6]);
  assert.equal(s.closed[5], 'sold_out');
  assert.equal(s.known[5].title, '선착순', 'a closed coupon is still known for the order form');
  s = reduce(s, { type: 'likes', likes: 130 });
  s = reduce(s, { type: 'viewers', viewers: 40 });
  s = reduce(s, { type: 'notice', text: '' });
  s = reduce(s, { type: 'product.pinned', product: null });
  assert.equal(s.likes, 130);
  assert.equal(s.viewers, 40);
  assert.equal(s.notice, '');
  assert.equal(s.pinned, null);
  assert.equal(reduce(s, { type: 'unknown' }), s);
  const ended = reduce(s, { type: 'live', live: false, broadcast_id: 0 });
  assert.equal(ended.live, false);
  assert.equal(ended.coupons.length, 0);
  assert.equal(ended.chat.length, 0);
  const again = reduce(ended, { type: 'live', live: true, broadcast_id: 8 });
  assert.equal(again.live, true);
  assert.equal(again.broadcastId, 8);
});

test('claims, coupons for the order form, and orders', () => {
  let s = fromHello({ claims: [{ id: 1, coupon_id: 5, used_by_order: 0 }], state: { live: true, coupons: [{ id: 5, title: '선착순', discount_won: 2000, remaining: 3 }] } });
  s = addClaim(s, { id: 2, coupon_id: 6 });
  assert.equal(addClaim(s, { id: 3, coupon_id: 6 }), s, 'one claim per coupon');
  assert.deepEqual(usableCoupons(s), [
    { coupon_id: 5, title: '선착순', discount_won: 2000 },
    { coupon_id: 6, title: '', discount_won: 0 },
  ]);
  const order = { id: 41, status: 'placed', coupon_id: 5, items: [], total_won: 8000 };
  s = applyOrderToClaims(s, order);
  assert.deepEqual(usableCoupons(s).map((c) => c.coupon_id), [6], 'used by the order');
  s = applyOrderToClaims(s, { ...order, status: 'cancelled' });
  assert.deepEqual(usableCoupons(s).map((c) => c.coupon_id), [5, 6], 'given back when cancelled');

  let orders = upsertOrder([], order);
  orders = upsertOrder(orders, { ...order, id: 42 });
  assert.deepEqual(orders.map((o) => o.id), [42, 41], 'newest first');
  orders = upsertOrder(orders, { ...order, status: 'ready' });
  assert.equal(orders.find((o) => o.id === 41)?.status, 'ready');
  assert.equal(upsertOrder(orders, { ...order, status: 'accepted' }), orders, 'never back to an earlier status');
  orders = upsertOrder(orders, { ...order, status: 'picked_up' });
  assert.equal(orders.find((o) => o.id === 41)?.status, 'picked_up');
  let many = [];
  for (let i = 1; i <= 15; i++) {
    many = upsertOrder(many, { ...order, id: i });
  }
  assert.equal(many.length, 10);
  assert.equal(many[0].id, 15);
});

test('coupon banner states', () => {
  assert.equal(couponStateKey({ claimed: false, remaining: 3 }), '');
  assert.equal(couponStateKey({ claimed: true, remaining: 0, closed: 'sold_out' }), 'watch.couponClaimed');
  assert.equal(couponStateKey({ claimed: false, remaining: 0 }), 'watch.couponSoldOut');
  assert.equal(couponStateKey({ claimed: false, remaining: 2, closed: 'expired' }), 'watch.couponExpired');
  assert.equal(couponStateKey({ claimed: false, remaining: 2, closed: 'sold_out' }), 'watch.couponSoldOut');
});

test('replays: source, chapters, schedule', () => {
  const r = { replay_url: '/replays/s/7.mp4', replay_hls_url: '/replays/s/7.m3u8' };
  assert.equal(replaySource(r, true), '/replays/s/7.m3u8');
  assert.equal(replaySource(r, false), '/replays/s/7.mp4');
  assert.equal(replaySource({ replay_url: '/replays/s/8.webm' }, true), '/replays/s/8.webm');
  assert.equal(replaySource({}, false), '');
  const chapters = [{ offset_s: 5.5 }, { offset_s: 25.5 }];
  assert.equal(chapterAt(chapters, 0), -1);
  assert.equal(chapterAt(chapters, 5.4), 0, 'a seek lands a little early');
  assert.equal(chapterAt(chapters, 24), 0);
  assert.equal(chapterAt(chapters, 100), 1);
  const now = Date.parse('2026-03-01T09:00:00Z');
  const next = upcoming([
    { id: 2, title: 'b', starts_at: '2026-03-02T09:00:00Z' },
    { id: 1, title: 'a', starts_at: '2026-03-01T10:00:00Z' },
    { id: 0, title: 'old', starts_at: '2026-02-01T10:00:00Z' },
    { id: 3, title: 'bad' },
  ], now);
  assert.deepEqual(next.map((s) => s.id), [1, 2]);
  assert.deepEqual(upcoming(undefined, now), []);
  assert.match(formatWhen('2026-03-01T05:00:00Z', 'ko'), /3월 1일/);
  assert.equal(formatWhen('nope', 'ko'), '');
  assert.equal(cleanNickname('  순이  \n 엄마 '), '순이 엄마');
  assert.equal([...cleanNickname('가'.repeat(30))].length, 20);
});

test('stall products: clips only from this server', () => {
  const got = stallProducts([
    { id: 1, name: '고등어', price_won: 5000, stock: 3, thumb_url: '/photos/p/1_320.jpg', photo_url: '/photos/p/1.jpg',
      clip: { url: '/replays/s/7/clips/pin-41.mp4', duration_s: 18.4, broadcast_id: 7, pinned_at: '2026-03-01T09:05:12Z' } },
    { id: 2, name: '오징어', price_won: 8000, stock: 0, thumb_url: 'https://evil.example/x.jpg', clip: { url: 'https://evil.example/x.mp4' } },
    { id: 3, name: '갈치', price_won: 9000, clip: { url: '//evil.example/x.mp4' } },
    { id: 4, name: 'no price' },
    null,
    'x',
  ]);
  assert.deepEqual(got, [
    { id: 1, name: '고등어', price_won: 5000, stock: 3, thumb_url: '/photos/p/1_320.jpg', photo_url: '/photos/p/1.jpg',
      clip: { url: '/replays/s/7/clips/pin-41.mp4', duration_s: 18.4 } },
    { id: 2, name: '오징어', price_won: 8000, stock: 0 },
    { id: 3, name: '갈치', price_won: 9000, stock: 0 },
  ]);
  assert.deepEqual(stallProducts(undefined), []);
  assert.deepEqual(stallProducts({ products: [] }), []);
});

// ---------------------------------------------------------------------------
// Studio (merchant) logic: studio-logic.js, studio-api.js. Kept in a block of
// its own, with its own import, apart from the watch page's tests.
// ---------------------------------------------------------------------------

const studio = await import('../static/studio-logic.js');

test('studio: formatWon and parseAmount', () => {
  assert.equal(studio.formatWon(5000), '5,000원');
  assert.equal(studio.formatWon(0), '0원');
  assert.equal(studio.formatWon(999), '999원');
  assert.equal(studio.formatWon(1234567), '1,234,567원');
  assert.equal(studio.formatWon(-2000), '-2,000원');
  assert.equal(studio.formatWon(12000, 'en'), '12,000 won');
  assert.equal(studio.parseAmount('5000'), 5000);
  assert.equal(studio.parseAmount(' 5,000 원 '), 5000);
  assert.equal(studio.parseAmount('0'), 0);
  assert.equal(studio.parseAmount(''), null);
  assert.equal(studio.parseAmount('12.5'), null);
  assert.equal(studio.parseAmount('-3'), null);
  assert.equal(studio.parseAmount('오천'), null);
});

test('studio: the next step of an order', () => {
  assert.deepEqual(studio.nextStep('placed'), { status: 'accepted', key: 'studio.orderAccept' });
  assert.deepEqual(studio.nextStep('accepted'), { status: 'ready', key: 'studio.orderReady' });
  assert.deepEqual(studio.nextStep('ready'), { status: 'picked_up', key: 'studio.orderPickedUp' });
  for (const done of ['picked_up', 'rejected', 'cancelled', 'nonsense']) {
    assert.equal(studio.nextStep(done), null, done);
    assert.equal(studio.canReject(done), false, done);
  }
  for (const open of ['placed', 'accepted', 'ready']) {
    assert.equal(studio.canReject(open), true, open);
  }
  for (const [status, key] of Object.entries(studio.statusKeys)) {
    assert.ok(key in texts.ko && key in texts.en, `${status}: ${key}`);
  }
  for (const s of ['placed', 'accepted', 'ready']) {
    const key = studio.nextStep(s)?.key ?? '';
    assert.ok(key in texts.ko, key);
  }
});

test('studio: the order list and its badge', () => {
  let list = /** @type {any[]} */ ([]);
  let r = studio.upsertOrder(list, { id: 1, status: 'placed' });
  assert.equal(r.isNew, true);
  list = r.list;
  list = studio.upsertOrder(list, { id: 2, status: 'accepted' }).list;
  list = studio.upsertOrder(list, { id: 3, status: 'placed' }).list;
  list = studio.upsertOrder(list, { id: 4, status: 'picked_up' }).list;
  // New orders first (newest first), then accepted, then done.
  assert.deepEqual(list.map((o) => o.id), [3, 1, 2, 4]);
  assert.equal(studio.waitingOrders(list), 2);
  r = studio.upsertOrder(list, { id: 3, status: 'accepted' });
  assert.equal(r.isNew, false);
  assert.deepEqual(r.list.map((o) => o.id), [1, 3, 2, 4]);
  assert.equal(studio.waitingOrders(r.list), 1);
  assert.equal(list.length, 4, 'the old list is not changed');
  assert.equal(studio.itemsLine([{ name: '고등어', qty: 2 }, { name: '오징어', qty: 1 }]), '고등어 ×2, 오징어 ×1');
  assert.equal(studio.itemsLine([]), '');
});

test('studio: coupon presets and drops', () => {
  assert.ok(studio.couponPresets.length >= 3 && studio.couponPresets.length <= 4);
  for (const p of studio.couponPresets) {
    assert.equal(p.minutes, 10);
    const r = studio.couponDrop(p);
    assert.ok(r.ok, JSON.stringify(p));
    if (r.ok) {
      assert.equal(r.fields.expires_in_s, 600);
      assert.equal(r.fields.discount_won, p.discountWon);
      assert.equal(r.fields.quantity, p.quantity);
      assert.match(r.fields.title, /원 할인$/);
    }
  }
  const r = studio.couponDrop({ title: '  첫 손님 할인 ', discountWon: 2000, quantity: 20, minutes: 5 });
  assert.deepEqual(r, { ok: true, fields: { title: '첫 손님 할인', discount_won: 2000, quantity: 20, expires_in_s: 300 } });
  const en = studio.couponDrop({ discountWon: 1000, quantity: 1, minutes: 1 }, 'en');
  assert.ok(en.ok && en.fields.title === '1,000 won off');
  const bad = (/** @type {any} */ c) => {
    const x = studio.couponDrop(c);
    return x.ok ? '' : x.field;
  };
  assert.equal(bad({ discountWon: null, quantity: 1, minutes: 1 }), 'discount');
  assert.equal(bad({ discountWon: 0, quantity: 1, minutes: 1 }), 'discount');
  assert.equal(bad({ discountWon: 1_000_001, quantity: 1, minutes: 1 }), 'discount');
  assert.equal(bad({ discountWon: 1000, quantity: 0, minutes: 1 }), 'quantity');
  assert.equal(bad({ discountWon: 1000, quantity: 5, minutes: 0 }), 'minutes');
  assert.equal(bad({ discountWon: 1000, quantity: 5, minutes: 1441 }), 'minutes');
  assert.equal(bad({ title: '가'.repeat(41), discountWon: 1000, quantity: 5, minutes: 10 }), 'title');
  assert.equal(bad({ title: '가'.repeat(40), discountWon: 1000, quantity: 5, minutes: 10 }), '');
  assert.equal(studio.secondsLeft('2026-03-01T09:10:00Z', Date.parse('2026-03-01T09:00:00Z')), 600);
  assert.equal(studio.secondsLeft('2026-03-01T09:00:00Z', Date.parse('2026-03-01T09:00:05Z')), 0);
  assert.equal(studio.secondsLeft('nope', 0), 0);
});

test('studio: connection quality from stats', () => {
  const report = [
    { type: 'outbound-rtp', kind: 'video', rid: 'q', bytesSent: 10_000 },
    { type: 'outbound-rtp', kind: 'video', rid: 'f', bytesSent: 90_000 },
    { type: 'outbound-rtp', kind: 'audio', bytesSent: 5_000 },
    { type: 'remote-inbound-rtp', kind: 'video', fractionLost: 0.01, roundTripTime: 0.05 },
    { type: 'remote-inbound-rtp', kind: 'audio', fractionLost: 0, roundTripTime: 0.08 },
    { type: 'candidate-pair', nominated: true, currentRoundTripTime: 0.5 },
  ];
  const a = studio.statsSample(report, 1000);
  assert.deepEqual(a, { at: 1000, bytesSent: 105_000, loss: 0.01, rtt: 0.08 });
  const b = studio.statsSample([{ type: 'outbound-rtp', bytesSent: 355_000 }], 3000);
  assert.deepEqual(b, { at: 3000, bytesSent: 355_000, loss: null, rtt: null });
  assert.equal(studio.bitrate(a, b), 1_000_000); // 250 kB in 2 s
  assert.equal(studio.bitrate(null, b), null);
  assert.equal(studio.bitrate(b, a), null, 'a sample from before');
  // Without remote-inbound-rtp, the candidate pair's round trip is used.
  assert.equal(studio.statsSample([{ type: 'candidate-pair', nominated: true, currentRoundTripTime: 0.2 }], 0).rtt, 0.2);

  const q = (/** @type {any} */ x) => studio.classifyQuality({ state: 'live', bitrate: null, loss: null, rtt: null, ...x });
  assert.equal(q({ bitrate: 1_200_000, loss: 0, rtt: 0.04 }), 'good');
  assert.equal(q({ bitrate: 1_200_000 }), 'good');
  assert.equal(q({ bitrate: 80_000, loss: 0, rtt: 0.04 }), 'weak');
  assert.equal(q({ bitrate: 1_200_000, loss: 0.12, rtt: 0.04 }), 'weak');
  assert.equal(q({ bitrate: 1_200_000, loss: 0, rtt: 1.2 }), 'weak');
  assert.equal(q({}), 'unknown');
  assert.equal(q({ state: 'reconnecting', bitrate: 1_200_000 }), 'reconnecting');
  assert.equal(q({ state: 'idle', bitrate: 1_200_000 }), 'unknown');
  for (const key of Object.values(studio.qualityKeys).filter(Boolean)) {
    assert.ok(key in texts.ko && key in texts.en, key);
  }
  assert.equal(texts.ko['studio.qualityGood'].includes('연결 좋음'), true);
  assert.equal(texts.ko['studio.qualityWeak'].includes('연결 약함'), true);
  assert.equal(texts.ko['studio.qualityReconnecting'].includes('다시 연결 중'), true);
});

test('studio: login input and error texts', () => {
  assert.deepEqual(studio.loginInput(' Kim-Fish ', '123456'), { ok: true, channel: 'kim-fish', pin: '123456' });
  assert.deepEqual(studio.loginInput('kim', '１２３ ４５６'), { ok: true, channel: 'kim', pin: '123456' });
  assert.equal(studio.loginInput('', '123456').ok, false);
  const short = studio.loginInput('kim', '12345');
  assert.ok(!short.ok && short.field === 'pin');
  assert.equal(studio.loginInput('kim', '12345a').ok, false);
  assert.deepEqual(studio.errorText({ code: 'not_live', message: 'x' }), { key: 'studio.errNotLive' });
  assert.deepEqual(studio.errorText({ code: 'sold_out', message: '쿠폰이 모두 소진되었습니다.' }), { text: '쿠폰이 모두 소진되었습니다.' });
  assert.deepEqual(studio.errorText(null), { key: 'error.generic' });
  assert.deepEqual(studio.errorText(new Error('boom')), { key: 'error.generic' });
});

test('studio: API errors carry the server message', async () => {
  const { request, login, ApiError } = await import('../static/studio-api.js');
  const saved = globalThis.fetch;
  /** @type {any[]} */
  const calls = [];
  try {
    globalThis.fetch = /** @type {any} */ (async (/** @type {string} */ url, /** @type {any} */ init) => {
      calls.push({ url, init });
      if (url === '/api/login' && JSON.parse(init.body).pin === '000000') {
        return new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'PIN이 맞지 않아요.' } }), { status: 401 });
      }
      if (url === '/api/login') {
        return new Response(JSON.stringify({ studio_token: 'TOK' }), { status: 200 });
      }
      if (url === '/down') {
        throw new TypeError('Failed to fetch');
      }
      return new Response('nope', { status: 429 });
    });
    assert.equal(await login('kim', '123456', 'ko'), 'TOK');
    assert.equal(calls[0].init.method, 'POST');
    assert.equal(calls[0].init.headers['Content-Type'], 'application/json');
    assert.equal(calls[0].init.headers['Accept-Language'], 'ko');
    assert.deepEqual(JSON.parse(calls[0].init.body), { channel: 'kim', pin: '123456' });
    await assert.rejects(login('kim', '000000', 'ko'), (err) => err instanceof ApiError && err.status === 401 && err.message === 'PIN이 맞지 않아요.');
    await assert.rejects(request('GET', '/busy'), (err) => err instanceof ApiError && err.status === 429 && err.code === 'too_many_requests');
    await assert.rejects(request('GET', '/down'), (err) => err instanceof ApiError && err.status === 0 && err.code === 'network');
  } finally {
    globalThis.fetch = saved;
  }
});

test('studio: schedule times in Korean time', () => {
  // 08:00 UTC is 17:00 in Seoul, a Tuesday.
  assert.equal(studio.formatSlot('2026-11-24T08:00:00Z'), '11월 24일 (화) 오후 5:00');
  assert.equal(studio.formatSlot('2026-11-24T08:00:00Z', 'en'), 'Tue, Nov 24, 5:00 PM');
  assert.equal(studio.formatSlot('2026-11-24T03:05:00Z'), '11월 24일 (화) 오후 12:05', 'noon is afternoon');
  assert.equal(studio.formatSlot('2026-11-23T15:30:00Z'), '11월 24일 (화) 오전 12:30', 'midnight in Seoul, the day before in UTC');
  assert.equal(studio.formatSlot('2026-12-31T23:00:00+09:00'), '12월 31일 (목) 오후 11:00');
  assert.equal(studio.formatSlot('nope'), '');
  assert.deepEqual(studio.kstParts(Date.parse('2026-11-23T15:30:00Z')), { date: '2026-11-24', time: '00:30' });

  assert.equal(studio.slotStart('2026-11-24', '17:00'), '2026-11-24T17:00:00+09:00');
  assert.equal(studio.slotStart('2026-11-24', '9:05'), '2026-11-24T09:05:00+09:00');
  assert.equal(studio.slotStart('2026-11-24', '17:00:00'), '2026-11-24T17:00:00+09:00');
  assert.equal(studio.slotStart('2026-02-30', '17:00'), null);
  assert.equal(studio.slotStart('2026-11-24', '24:00'), null);
  assert.equal(studio.slotStart('', '17:00'), null);
  assert.equal(Date.parse(studio.slotStart('2026-11-24', '17:00') ?? ''), Date.parse('2026-11-24T08:00:00Z'));
});

test('studio: quick schedule buttons', () => {
  // 16:47 in Seoul: tomorrow at 16:50, and 6 this evening.
  let q = studio.quickSlots(Date.parse('2026-11-23T16:47:00+09:00'));
  assert.deepEqual(q, [
    { key: 'studio.scheduleSameTime', date: '2026-11-24', time: '16:50' },
    { key: 'studio.scheduleTonight', date: '2026-11-23', time: '18:00' },
  ]);
  // 17:45: 6 o'clock is too close; tomorrow's instead.
  q = studio.quickSlots(Date.parse('2026-11-23T17:45:00+09:00'));
  assert.deepEqual(q[1], { key: 'studio.scheduleTomorrowEvening', date: '2026-11-24', time: '18:00' });
  // 23:55 on the last day of the year: the next year, and the minutes round up to midnight.
  q = studio.quickSlots(Date.parse('2026-12-31T23:55:00+09:00'));
  assert.deepEqual(q, [
    { key: 'studio.scheduleSameTime', date: '2027-01-02', time: '00:00' },
    { key: 'studio.scheduleTomorrowEvening', date: '2027-01-01', time: '18:00' },
  ]);
  // A UTC day apart from Seoul's (01:10 in Seoul is 16:10 UTC the day before).
  q = studio.quickSlots(Date.parse('2026-11-24T01:10:00+09:00'));
  assert.deepEqual(q, [
    { key: 'studio.scheduleSameTime', date: '2026-11-25', time: '01:10' },
    { key: 'studio.scheduleTonight', date: '2026-11-24', time: '18:00' },
  ]);
  for (const x of q) {
    assert.ok(x.key in texts.ko && x.key in texts.en, x.key);
  }
});

test('studio: the schedule form and the server\'s answers', () => {
  assert.deepEqual(studio.scheduleInput({ title: '  주말   특가 ', date: '2026-11-24', time: '17:00' }),
    { ok: true, body: { title: '주말 특가', starts_at: '2026-11-24T17:00:00+09:00' } });
  assert.deepEqual(studio.scheduleInput({ title: '', date: '', time: '17:00' }), { ok: false, field: 'date', key: 'studio.scheduleNeedDate' });
  assert.deepEqual(studio.scheduleInput({ title: '', date: '2026-11-24', time: '' }), { ok: false, field: 'time', key: 'studio.scheduleNeedTime' });
  assert.deepEqual(studio.scheduleInput({ title: '가'.repeat(81), date: '2026-11-24', time: '17:00' }),
    { ok: false, field: 'title', key: 'studio.scheduleBadTitle' });

  const inputs = { title: 'title', starts_at: 'date' };
  // The server's message, in the language the studio asked for, on the input it names.
  assert.deepEqual(studio.formError({ status: 400, code: 'invalid', field: 'starts_at', message: '방송 시작 시각은 지금보다 뒤여야 합니다.' }, inputs),
    { input: 'date', text: '방송 시작 시각은 지금보다 뒤여야 합니다.' });
  assert.deepEqual(studio.formError({ status: 400, code: 'invalid', field: 'starts_at', message: 'starts_at must be at most 90 days ahead.' }, inputs),
    { input: 'date', text: 'starts_at must be at most 90 days ahead.' });
  assert.deepEqual(studio.formError({ status: 400, code: 'invalid', field: '', message: '예약은 한 번에 20개까지 할 수 있습니다.' }, inputs),
    { input: '', text: '예약은 한 번에 20개까지 할 수 있습니다.' });
  // The studio's own words for what it knows, and for a failed connection.
  assert.deepEqual(studio.formError({ status: 0, code: 'network', message: 'TypeError' }, inputs), { input: '', key: 'error.network' });
  assert.deepEqual(studio.formError({ status: 401, code: 'unauthorized', message: 'x' }, inputs), { input: '', key: 'error.unauthorized' });
  assert.deepEqual(studio.formError(null, inputs), { input: '', key: 'error.generic' });
});

test('studio: API errors carry the field at fault', async () => {
  const { StudioApi } = await import('../static/studio-api.js');
  /** @type {any[]} */
  const seen = [];
  globalThis.fetch = async (url, init = {}) => {
    seen.push({ url: String(url), method: init.method, headers: init.headers, body: init.body });
    return new Response(JSON.stringify({ error: { code: 'invalid', message: 'starts_at must be in the future.', field: 'starts_at' } }),
      { status: 400, headers: { 'Content-Type': 'application/json' } });
  };
  const api = new StudioApi('kim-fish', 'TOKEN', () => 'en');
  await assert.rejects(api.addSchedule({ title: '', starts_at: '2020-01-01T10:00:00+09:00' }),
    (err) => err.status === 400 && err.code === 'invalid' && err.field === 'starts_at' && err.message === 'starts_at must be in the future.');
  assert.equal(seen[0].url, '/api/channels/kim-fish/schedule');
  assert.equal(seen[0].method, 'POST');
  assert.equal(seen[0].headers['Accept-Language'], 'en');
  assert.equal(seen[0].headers.Authorization, 'Bearer TOKEN');
  await assert.rejects(api.editChannel({ location: 'x' }));
  assert.equal(seen[1].url, '/api/channels/kim-fish');
  assert.equal(seen[1].method, 'PATCH');
  await assert.rejects(api.deleteSchedule(3));
  assert.equal(seen[2].url, '/api/channels/kim-fish/schedule/3');
  assert.equal(seen[2].method, 'DELETE');
});

// ---- Practice sessions: the room's URL, the watch page's invitation, the
// studio's practice mode and the coach's tips. ----

test('room: URL with the token and extra query parameters', async () => {
  const { roomURL } = await import('../static/room.js');
  assert.equal(roomURL('wss://h/ws/kim-fish'), 'wss://h/ws/kim-fish');
  assert.equal(roomURL('wss://h/ws/kim-fish', 'K+/='), 'wss://h/ws/kim-fish?token=K%2B%2F%3D');
  assert.equal(roomURL('wss://h/ws/kim-fish', '', { practice: 'N2Q4' }), 'wss://h/ws/kim-fish?practice=N2Q4');
  assert.equal(roomURL('wss://h/ws/kim-fish', 'K', { practice: 'P' }), 'wss://h/ws/kim-fish?token=K&practice=P');
  assert.equal(roomURL('wss://h/ws/kim-fish', '', { practice: '', other: undefined }), 'wss://h/ws/kim-fish', 'empty values left out');
  assert.equal(roomURL('ws://t/ws/x?a=1', '', { practice: 'P' }), 'ws://t/ws/x?a=1&practice=P', 'a test URL with a query');
});

test('room: connections refused before they open are told as failed', { timeout: 10_000 }, async () => {
  const { Room } = await import('../static/room.js');
  /** A websocket whose fate the test decides. */
  class FakeSocket {
    static OPEN = 1;
    /** @type {FakeSocket[]} */
    static made = [];
    /** @param {string} url */
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      /** @type {string[]} */
      this.sent = [];
      /** @type {any} */
      this.onopen = null;
      /** @type {any} */
      this.onclose = null;
      /** @type {any} */
      this.onmessage = null;
      FakeSocket.made.push(this);
    }

    /** @param {string} m */
    send(m) {
      this.sent.push(m);
    }

    close() {}
  }
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = /** @type {any} */ (FakeSocket);
  try {
    const room = new Room('kim-fish', { url: 'ws://t/ws/kim-fish', query: { practice: 'TOK' } });
    /** @type {number[]} */
    const failed = [];
    room.on('failed', (ev) => failed.push(ev.attempts));
    room.open();
    assert.equal(FakeSocket.made[0].url, 'ws://t/ws/kim-fish?practice=TOK');
    FakeSocket.made[0].onclose();
    assert.deepEqual(failed, [1]);
    await until(() => FakeSocket.made.length === 2, 'the retry');
    FakeSocket.made[1].onclose();
    assert.deepEqual(failed, [1, 2], 'counted in a row');
    await until(() => FakeSocket.made.length === 3, 'the second retry');
    const ws = FakeSocket.made[2];
    ws.readyState = 1;
    ws.onopen();
    assert.equal(JSON.parse(ws.sent[0]).type, 'hello');
    ws.onclose();
    assert.deepEqual(failed, [1, 2], 'a connection that opened is a drop, not a refusal');
    room.close();
  } finally {
    globalThis.WebSocket = saved;
  }
});

test('watch: the practice invitation', async () => {
  const { practiceToken, watchableLive, whepRefusal } = await import('../static/watch-state.js');
  assert.equal(practiceToken('?practice=N2Q4abc_-'), 'N2Q4abc_-');
  assert.equal(practiceToken('?practice=a%2Bb%3D'), 'a+b=');
  assert.equal(practiceToken(''), '');
  assert.equal(practiceToken('?practice='), '');
  assert.equal(practiceToken('?practice=a%0Ab'), '', 'no line breaks into a header');
  assert.equal(practiceToken('?practice=<script>'), '');
  assert.equal(practiceToken(`?practice=${'x'.repeat(513)}`), '');

  assert.equal(watchableLive({ live: true, practice: false }, ''), true);
  assert.equal(watchableLive({ live: true, practice: true }, ''), false, 'a practice is not live for those not invited');
  assert.equal(watchableLive({ live: true, practice: true }, 'TOK'), true);
  assert.equal(watchableLive({ live: false, practice: false }, 'TOK'), false);

  assert.equal(whepRefusal(401, ''), 'notLive', 'private practice, no credential');
  assert.equal(whepRefusal(403, 'practice'), 'notLive');
  assert.equal(whepRefusal(503, 'not_live'), 'notLive');
  assert.equal(whepRefusal(429, 'full'), 'full');
  assert.equal(whepRefusal(503, 'full'), 'full');
  assert.equal(whepRefusal(404, 'not_found'), 'notFound');
  assert.equal(whepRefusal(500, ''), 'error');
  assert.equal(whepRefusal(0, 'network'), 'error');

  let s = fromHello({ state: { live: true, broadcast_id: 31, practice: true } });
  assert.equal(s.practice, true);
  s = reduce(s, { type: 'live', live: false, broadcast_id: 0 });
  assert.equal(s.practice, false);
  s = reduce(s, { type: 'live', live: true, broadcast_id: 32, practice: true });
  assert.equal(s.practice, true);
  s = reduce(s, { type: 'live', live: true, broadcast_id: 33 });
  assert.equal(s.practice, false, 'a live event without practice is a real broadcast');
  assert.equal(fromHello({ state: { live: true } }).practice, false);
});

test('studio: practice mode', () => {
  const { practiceOn, practiceOpen, sitePath } = studio;
  assert.equal(practiceOpen(null), false);
  assert.equal(practiceOpen({ id: 7, state: 'waiting' }), true);
  assert.equal(practiceOpen({ id: 7, state: 'live' }), true);
  assert.equal(practiceOpen({ id: 7, state: 'ended' }), false);
  assert.equal(practiceOpen({ id: 7, state: 'cancelled' }), false);

  const waiting = { id: 7, state: 'waiting' };
  assert.equal(practiceOn({ session: null, roomLive: null, roomPractice: false }), false);
  assert.equal(practiceOn({ session: waiting, roomLive: null, roomPractice: false }), true, 'the REST answer before the room');
  assert.equal(practiceOn({ session: waiting, roomLive: false, roomPractice: false }), true);
  assert.equal(practiceOn({ session: null, roomLive: true, roomPractice: true }), true, 'the room says so when the REST call failed');
  assert.equal(practiceOn({ session: waiting, roomLive: true, roomPractice: false }), false, 'never "practice" over a real broadcast');
  assert.equal(practiceOn({ session: { id: 7, state: 'ended' }, roomLive: false, roomPractice: false }), false);

  assert.equal(sitePath('/review?c=kim-fish&s=7'), '/review?c=kim-fish&s=7');
  assert.equal(sitePath('//evil.example/x'), '');
  assert.equal(sitePath('/\\evil.example'), '');
  assert.equal(sitePath('https://evil.example/review'), '');
  assert.equal(sitePath('javascript:alert(1)'), '');
  assert.equal(sitePath(undefined), '');
});

test('studio: the coach\'s tips queue', () => {
  const q = new studio.TipQueue(3);
  assert.equal(q.current, null);
  assert.equal(q.others, 0);
  assert.equal(q.add({ id: 1, text: ' 가격을 크게 말해 주세요 ', at: '2026-03-01T09:01:00Z' }), true);
  assert.equal(q.current?.text, '가격을 크게 말해 주세요');
  assert.equal(q.add({ id: 1, text: '가격을 크게 말해 주세요' }), false, 'the same tip again (after a reconnect)');
  assert.equal(q.add({ id: 2, text: '   ' }), false, 'no empty tip');
  assert.equal(q.add(null), false);
  assert.equal(q.add('text'), false);
  q.add({ id: 2, text: '인사해 주세요' });
  q.add({ id: 3, text: '쿠폰을 나눠 주세요' });
  assert.equal(q.current?.text, '쿠폰을 나눠 주세요', 'the newest is shown');
  assert.equal(q.others, 2);
  q.add({ id: 4, text: '상품을 보여 주세요' });
  assert.equal(q.size, 3, 'the oldest go beyond the limit');
  q.dismiss();
  assert.equal(q.current?.text, '쿠폰을 나눠 주세요', 'then the next newest');
  assert.equal(q.others, 1);
  q.dismiss();
  q.dismiss();
  assert.equal(q.current, null);
  q.dismiss();
  assert.equal(q.size, 0);
  q.add({ id: 5, text: 'x'.repeat(500) });
  assert.equal(q.current?.text.length, 200, 'a long tip is cut');
  q.clear();
  assert.equal(q.size, 0);
  assert.equal(q.add({ id: 5, text: 'again' }), false, 'a cleared tip stays seen');
});

test('studio: the practice API', async () => {
  const { StudioApi } = await import('../static/studio-api.js');
  /** @type {any[]} */
  const seen = [];
  /** @type {Response[]} */
  const answers = [];
  globalThis.fetch = async (url, init = {}) => {
    seen.push({ url: String(url), method: init.method, headers: init.headers, body: init.body });
    return /** @type {Response} */ (answers.shift());
  };
  const json = (status, v) => new Response(JSON.stringify(v), { status, headers: { 'Content-Type': 'application/json' } });
  const api = new StudioApi('kim-fish', 'TOKEN', () => 'ko');
  const doc = { id: 7, channel: 'kim-fish', state: 'waiting', review_url: '/review?c=kim-fish&s=7' };

  answers.push(json(404, { error: { code: 'not_found', message: '없음' } }));
  assert.equal(await api.practice(), null, '404: no session open');
  assert.equal(seen[0].url, '/api/channels/kim-fish/practice');
  assert.equal(seen[0].method, 'GET');
  assert.equal(seen[0].headers.Authorization, 'Bearer TOKEN');

  answers.push(json(200, doc));
  assert.deepEqual(await api.practice(), doc);

  answers.push(json(201, doc));
  assert.deepEqual(await api.startPractice(), doc);
  assert.equal(seen[2].url, '/api/channels/kim-fish/practice');
  assert.equal(seen[2].method, 'POST');

  answers.push(json(409, { error: { code: 'live', message: '방송 중에는 연습을 시작할 수 없습니다.' } }));
  await assert.rejects(api.startPractice(), (err) => err.status === 409 && err.code === 'live' && err.message === '방송 중에는 연습을 시작할 수 없습니다.');
  assert.deepEqual(studio.errorText({ code: 'live', message: '방송 중에는 연습을 시작할 수 없습니다.' }), { text: '방송 중에는 연습을 시작할 수 없습니다.' });

  answers.push(json(200, { ...doc, state: 'cancelled' }));
  assert.equal((await api.cancelPractice(7)).state, 'cancelled');
  assert.equal(seen[4].url, '/api/practice/7');
  assert.equal(seen[4].method, 'DELETE');
  assert.equal(seen[4].headers.Authorization, 'Bearer TOKEN');

  answers.push(json(500, {}));
  await assert.rejects(api.practice(), (err) => err.status === 500, 'other failures are not "no session"');
});

test('Keeper sends a WHEP practice credential as Bearer', async () => {
  const { keeper, server } = newKeeper({ token: 'PRACTICE' });
  globalThis.RTCPeerConnection = /** @type {any} */ (FakePeer);
  keeper.start();
  await until(() => server.count('POST') === 1, 'the offer');
  assert.equal(server.requests[0].headers.Authorization, 'Bearer PRACTICE');
  keeper.stop();
});

test('studio: mean luma of a frame', async () => {
  const { meanLuma, sampleWidth, sampleHeight } = await import('../static/studio-dark.js');
  /**
   * A frame of one colour, as getImageData gives it.
   * @param {number} r
   * @param {number} g
   * @param {number} b
   * @param {number} [pixels]
   */
  const frame = (r, g, b, pixels = sampleWidth * sampleHeight) => {
    const data = new Uint8ClampedArray(pixels * 4);
    for (let i = 0; i < data.length; i += 4) {
      data.set([r, g, b, 255], i);
    }
    return data;
  };
  const near = (/** @type {number | null} */ got, /** @type {number} */ want) =>
    assert.ok(got !== null && Math.abs(got - want) < 1e-9, `${got}, want ${want}`);
  near(meanLuma(frame(0, 0, 0)), 0);
  near(meanLuma(frame(255, 255, 255)), 255);
  near(meanLuma(frame(255, 0, 0)), 0.299 * 255);
  near(meanLuma(frame(0, 255, 0)), 0.587 * 255);
  near(meanLuma(frame(0, 0, 255)), 0.114 * 255);
  near(meanLuma(frame(40, 40, 40)), 40);
  // Alpha plays no part: a preview frame is opaque, and half a frame
  // black and half white is mid grey.
  near(meanLuma(new Uint8ClampedArray([255, 255, 255, 0])), 255);
  const half = frame(0, 0, 0, 4);
  half.set([255, 255, 255, 255, 255, 255, 255, 255], 8);
  near(meanLuma(half), 127.5);
  assert.equal(meanLuma(new Uint8ClampedArray(0)), null);
  assert.equal(meanLuma([10, 20, 30]), null, 'less than a pixel');
  near(meanLuma([10, 10, 10, 255, 99]), 10); // a partial last pixel is left out
  assert.ok(meanLuma(frame(20, 30, 25)) < 40, 'a dim stall corner');
  assert.ok(meanLuma(frame(120, 110, 90)) > 48, 'a lit stall');
});

test('studio: dark picture state, with its timings', async () => {
  const { DarkDetector, darkDefaults } = await import('../static/studio-dark.js');
  assert.ok(darkDefaults.brightAbove > darkDefaults.darkBelow, 'hysteresis');
  const d = new DarkDetector();
  /**
   * Samples once a second from `from` (ms): returns the changes, by time.
   * @param {number} from
   * @param {number[]} lumas
   */
  const run = (from, lumas) => {
    /** @type {Array<[number, boolean]>} */
    const changes = [];
    lumas.forEach((l, i) => {
      const c = d.sample(l, from + i * 1000);
      if (c !== null) {
        changes.push([from + i * 1000, c]);
      }
    });
    return changes;
  };

  assert.deepEqual(run(0, [120, 120, 20, 20, 20]), [], 'dark for 2 s: nothing yet');
  assert.equal(d.dark, false);
  assert.deepEqual(run(5000, [20]), [[5000, true]], 'dark for 3 s: dark');
  assert.equal(d.dark, true);
  assert.deepEqual(run(6000, [5, 0, 10]), [], 'staying dark changes nothing');
  // Between the two thresholds: still dark, and it does not count towards bright.
  assert.deepEqual(run(9000, [44, 44, 44, 44]), []);
  assert.deepEqual(run(13000, [60, 60]), [], 'bright for 1 s: still dark');
  assert.deepEqual(run(15000, [30, 60, 60]), [], 'a dark moment starts the bright run again');
  assert.deepEqual(run(18000, [60]), [[18000, false]], 'bright for 2 s: bright again');
  assert.equal(d.dark, false);
  assert.deepEqual(run(19000, [44, 44, 44, 44, 44]), [], 'between the thresholds: not dark either');
  assert.deepEqual(run(24000, [30, 30, 90, 30, 30, 30]), [], 'a passing light starts the dark run again');
  assert.deepEqual(run(30000, [30]), [[30000, true]]);

  // No frame (null) is no sample; NaN neither.
  const e = new DarkDetector();
  assert.equal(e.sample(null, 0), null);
  assert.equal(e.sample(Number.NaN, 0), null);
  assert.deepEqual([e.sample(10, 0), e.sample(null, 1000), e.sample(10, 2000), e.sample(10, 3000)], [null, null, null, true]);

  // Samples far apart (a page in the background) do not make one run.
  const g = new DarkDetector();
  assert.equal(g.sample(10, 0), null);
  assert.equal(g.sample(10, 10_000), null, 'a gap: the run starts again');
  assert.equal(g.sample(10, 11_000), null);
  assert.equal(g.sample(10, 13_000), true);

  // reset forgets: not live any more.
  g.reset();
  assert.equal(g.dark, false);
  assert.equal(g.sample(10, 14_000), null);

  // Options.
  const h = new DarkDetector({ darkAfterMs: 0 });
  assert.equal(h.sample(39.9, 0), true, 'at once');
  assert.equal(h.sample(48, 1000), null, 'at the bright threshold: not over it');
  assert.equal(h.sample(48.1, 2000), null);
  assert.equal(h.sample(48.1, 4000), false);
});
