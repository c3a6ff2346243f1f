// Unit tests of the browser modules that run without a browser:
//   node --test web/testdata/static.test.js
// web_test.go runs them when node is installed.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

import { detectLang, langs, texts } from '../static/i18n.js';
import { Keeper, Pause, SignalError, backoff, parseLinkHeader, parseRetryAfter } from '../static/whip.js';

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

test('every text the pages use exists', () => {
  /** @type {Array<[string, string]>} */
  const used = [];
  for (const name of readdirSync(new URL('pages/', dir))) {
    const html = readFileSync(new URL(`pages/${name}`, dir), 'utf8');
    for (const m of html.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)) {
      used.push([name, m[1]]);
    }
  }
  for (const name of readdirSync(new URL('static/', dir)).filter((n) => n.endsWith('.js'))) {
    const js = readFileSync(new URL(`static/${name}`, dir), 'utf8');
    for (const m of js.matchAll(/'((?:lang|watch|studio|error)\.[A-Za-z]+)'/g)) {
      used.push([name, m[1]]);
    }
  }
  assert.ok(used.length > 20, 'found the texts in use');
  for (const [file, key] of used) {
    assert.ok(key in texts.ko, `${file} uses unknown text ${key}`);
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
