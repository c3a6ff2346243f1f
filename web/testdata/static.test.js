// Unit tests of the browser modules that run without a browser:
//   node --test web/testdata/static.test.js
// web_test.go runs them when node is installed.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

import { detectLang, langs, texts } from '../static/i18n.js';
import { Pause, backoff, parseLinkHeader, parseRetryAfter } from '../static/whip.js';

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
