// Unit tests of the operator page's logic and texts, without a browser:
//   node --test web/testdata/admin.test.js

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  absoluteURL, channelBody, channelRows, errorMessage, keyFromHash, keyStorage, listText, tutorBody,
} from '../static/admin.js';
import { texts } from '../static/i18n.js';
import { ApiError } from '../static/studio-api.js';
import { adminTexts } from '../static/texts-admin.js';

const dir = new URL('../', import.meta.url);

test('keyFromHash', async (t) => {
  const cases = [
    { name: 'link', in: '#k=OPKEY123', want: 'OPKEY123' },
    { name: 'escaped', in: '#k=a%2Bb%3D', want: 'a+b=' },
    { name: 'with others', in: '#x=1&k=KEY', want: 'KEY' },
    { name: 'no hash', in: '', want: '' },
    { name: 'other key', in: '#t=TUTOR', want: '' },
    { name: 'empty', in: '#k=', want: '' },
    { name: 'spaces', in: '#k=%20KEY%20', want: 'KEY' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.equal(keyFromHash(c.in), c.want));
  }
});

test('the key is kept per tab', () => {
  // sessionStorage, under a key of its own: see admin.js.
  const js = readFileSync(new URL('static/admin.js', dir), 'utf8');
  assert.ok(!/localStorage/.test(js), 'admin.js must not use localStorage');
  assert.equal(keyStorage, 'dangol.admin.key');
});

test('absoluteURL keeps the fragment', () => {
  assert.equal(absoluteURL('https://dangol.example', '/studio?c=kim-fish#t=ABC'), 'https://dangol.example/studio?c=kim-fish#t=ABC');
  assert.equal(absoluteURL('http://127.0.0.1:8080', '/tutor#t=X%2BY'), 'http://127.0.0.1:8080/tutor#t=X%2BY');
});

test('tutorBody', async (t) => {
  const cases = [
    { name: 'all', in: { name: ' 박서연 ', handle: ' SeoYeon ', phone: ' 010-1234-5678 ' },
      want: { name: '박서연', handle: 'seoyeon', phone: '010-1234-5678' } },
    { name: 'name only', in: { name: 'Hana Lee', handle: ' ', phone: '' }, want: { name: 'Hana Lee' } },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.deepEqual(tutorBody(c.in), c.want));
  }
});

test('channelBody', () => {
  assert.deepEqual(channelBody({ slug: ' Park-Rice ', name: ' 박씨네 쌀 ', tutor: '' }), { slug: 'park-rice', name: '박씨네 쌀' });
  assert.deepEqual(channelBody({ slug: 'a-b', name: 'n', tutor: 'minji' }), { slug: 'a-b', name: 'n', tutor: 'minji' });
});

test('channelRows', () => {
  const rows = channelRows({
    slug: 'kim-fish', studio_url: '/studio?c=kim-fish#t=TOK', pin: '012345', stream_key: 'KEY', channel_url: '/c/kim-fish',
  }, 'https://d.example');
  assert.deepEqual(rows.map((r) => r.value), ['https://d.example/studio?c=kim-fish#t=TOK', '012345', 'KEY', 'https://d.example/c/kim-fish']);
  for (const r of rows) {
    assert.ok(r.key in adminTexts.ko, r.key);
  }
});

test('listText', () => {
  assert.equal(listText([], 'none'), 'none');
  assert.equal(listText(['a', 'b'], 'none'), 'a, b');
});

test('errorMessage', async (t) => {
  const tr = (/** @type {string} */ k) => `<${k}>`;
  const cases = [
    { name: 'server message', in: new ApiError(409, 'exists', '이미 있습니다.', 'slug'), want: '이미 있습니다.' },
    { name: 'network', in: new ApiError(0, 'network', 'TypeError: failed'), want: '<error.network>' },
    { name: 'server failure', in: new ApiError(500, 'internal', 'boom'), want: '<error.server>' },
    { name: 'no message', in: new ApiError(400, '', ''), want: '<error.generic>' },
    { name: 'not an ApiError', in: new Error('x'), want: '<error.generic>' },
  ];
  for (const c of cases) {
    await t.test(c.name, () => assert.equal(errorMessage(c.in, tr), c.want));
  }
});

test('admin texts: every language has every text, with the same {vars}', () => {
  const keys = Object.keys(adminTexts.ko).sort();
  const vars = (/** @type {string} */ s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const l of /** @type {const} */ (['ko', 'en'])) {
    assert.deepEqual(Object.keys(adminTexts[l]).sort(), keys, `keys of ${l}`);
    for (const [k, v] of Object.entries(adminTexts[l])) {
      assert.ok(k.startsWith('admin.'), `${k} starts with admin.`);
      assert.ok(v.trim() !== '', `${l} ${k} is empty`);
      assert.deepEqual(vars(v), vars(adminTexts.ko[k]), `${l} ${k} vars`);
      assert.equal(texts[l][k], v, `${l} ${k} merged into i18n's texts`);
    }
  }
});

test('every text the admin page uses exists', () => {
  const html = readFileSync(new URL('pages/admin.html', dir), 'utf8');
  const js = readFileSync(new URL('static/admin.js', dir), 'utf8');
  const used = [
    ...[...html.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)].map((m) => m[1]),
    ...[...js.matchAll(/'((?:admin|lang|error)\.[A-Za-z]+)'/g)].map((m) => m[1]),
  ];
  assert.ok(used.length > 30, `found the texts in use: ${used.length}`);
  for (const key of used) {
    assert.ok(key in texts.ko && key in texts.en, `unknown text ${key}`);
  }
});

test('the page has no inline script or style', () => {
  const html = readFileSync(new URL('pages/admin.html', dir), 'utf8');
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'inline <script>');
  assert.ok(!/<style/i.test(html), '<style>');
  assert.ok(!/\sstyle=/i.test(html), 'style attribute');
  assert.ok(!/\son[a-z]+=/i.test(html), 'event handler attribute');
  assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML/.test(readFileSync(new URL('static/admin.js', dir), 'utf8')), 'HTML from strings');
});
