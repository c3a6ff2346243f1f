// Unit tests of the tutor pages' pure modules (dashboard, coaching, review):
//   node --test web/testdata/tutor.test.js
// web_test.go runs them when node is installed.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

import { textIn, texts } from '../static/i18n.js';
import { tutorTexts } from '../static/texts-tutor.js';
import { errorText, formatSlot as formatWhen, sitePath as localPath } from '../static/studio-logic.js';
import {
  absoluteURL, addNote, channelState, cleanText, crowdText, describeItem, formatSeconds,
  hasReview, hashToken, pickCredential, pollDelay, quickTips,
  scoreBars, sessionParams, sessionStateKey, statusInfo, ticksOf, timelineMarks, validSlug, watchToken,
} from '../static/tutor-logic.js';
import { formatDuration as clock, formatWon } from '../static/watch-state.js';

const dir = new URL('../', import.meta.url);
const ownFiles = /^(tutor|coach|review)[\w-]*\.js$|^texts-tutor\.js$/;
const ownPages = ['tutor.html', 'practice.html', 'review.html'];

test('texts: both languages, same keys, same placeholders, none empty', () => {
  const keys = Object.keys(tutorTexts.ko).sort();
  assert.deepEqual(Object.keys(tutorTexts.en).sort(), keys);
  const vars = (/** @type {string} */ s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const k of keys) {
    assert.ok(tutorTexts.ko[k].trim() && tutorTexts.en[k].trim(), `${k} is empty`);
    assert.deepEqual(vars(tutorTexts.en[k]), vars(tutorTexts.ko[k]), `placeholders of ${k}`);
  }
});

test('texts: merged into i18n.js\'s table', () => {
  for (const l of /** @type {const} */ (['ko', 'en'])) {
    for (const [k, v] of Object.entries(tutorTexts[l])) {
      assert.equal(texts[l][k], v, `${l} ${k}`);
    }
  }
});

test('texts: every key the tutor pages use exists', () => {
  /** @type {Array<[string, string]>} */
  const used = [];
  for (const name of ownPages) {
    const html = readFileSync(new URL(`pages/${name}`, dir), 'utf8');
    for (const m of html.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)) {
      used.push([name, m[1]]);
    }
  }
  for (const name of readdirSync(new URL('static/', dir)).filter((n) => ownFiles.test(n))) {
    const js = readFileSync(new URL(`static/${name}`, dir), 'utf8');
    for (const m of js.matchAll(/'((?:lang|error|tutor|coach|review|check|time)\.[A-Za-z_]+)'/g)) {
      used.push([name, m[1]]);
    }
  }
  assert.ok(used.length > 50, `found the texts in use (${used.length})`);
  for (const [file, key] of used) {
    assert.ok(key in tutorTexts.ko || key in texts.ko, `${file} uses unknown text ${key}`);
  }
  // Built from the checklist's keys at run time.
  for (const key of ['greeted', 'products_pinned', 'price_stated', 'coupon_dropped', 'questions_answered', 'orders_handled', 'stream_quality']) {
    assert.ok(`check.${key}` in tutorTexts.ko, key);
  }
});

test('pages: no inline code, no positive tabindex, every input labelled', () => {
  for (const name of ownPages) {
    const html = readFileSync(new URL(`pages/${name}`, dir), 'utf8');
    assert.doesNotMatch(html, /\sstyle=|<style|\son[a-z]+=/i, name);
    assert.doesNotMatch(html, /tabindex="[1-9]/, name);
    for (const m of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
      assert.match(m[1], /type="module" src=/, name);
      assert.equal(m[2].trim(), '', name);
    }
    // Inputs sit inside their <label>; a bare one would have no name.
    const bare = html.replace(/<label[\s\S]*?<\/label>/g, '').match(/<(input|textarea|select)\b/g);
    assert.equal(bare, null, `${name}: input outside a label`);
  }
  for (const name of readdirSync(new URL('static/', dir)).filter((n) => ownFiles.test(n))) {
    const js = readFileSync(new URL(`static/${name}`, dir), 'utf8');
    assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, name);
    assert.doesNotMatch(js, /https?:\/\//, `${name} reaches another origin`);
  }
});

test('page address: token, session, credentials', () => {
  assert.equal(hashToken('#t=MQVLSCQCZDONB6R7EJQ6K6GGQU'), 'MQVLSCQCZDONB6R7EJQ6K6GGQU');
  assert.equal(hashToken('t=MQVLSCQCZDONB6R7EJQ6K6GGQU&x=1'), 'MQVLSCQCZDONB6R7EJQ6K6GGQU');
  assert.equal(hashToken(''), '');
  assert.equal(hashToken('#t=short'), '');
  assert.equal(hashToken('#t=<script>alert(1)</script>'), '');

  assert.deepEqual(sessionParams('?c=kim-fish&s=7'), { slug: 'kim-fish', session: 7 });
  assert.deepEqual(sessionParams('?s=12&c=%EB%8B%A8%EA%B3%A8'), { slug: '단골', session: 12 });
  assert.equal(sessionParams('?c=kim-fish'), null);
  assert.equal(sessionParams('?c=kim-fish&s=0'), null);
  assert.equal(sessionParams('?c=kim-fish&s=7x'), null);
  assert.equal(sessionParams('?c=&s=7'), null);
  assert.equal(sessionParams(''), null);

  // The studio's credentials for this channel come first: a tutor token left
  // on the merchant's phone must not act for the tutor.
  assert.deepEqual(pickCredential('TUTOR', { slug: 'kim-fish', token: 'STUDIO' }, 'kim-fish'), { token: 'STUDIO', role: 'merchant' });
  assert.deepEqual(pickCredential('TUTOR', { slug: 'other', token: 'STUDIO' }, 'kim-fish'), { token: 'TUTOR', role: 'tutor' });
  assert.deepEqual(pickCredential('TUTOR', null, 'kim-fish'), { token: 'TUTOR', role: 'tutor' });
  assert.deepEqual(pickCredential(null, { slug: 'kim-fish', token: 'STUDIO' }, 'kim-fish'), { token: 'STUDIO', role: 'merchant' });
  assert.equal(pickCredential(null, { slug: 'other', token: 'STUDIO' }, 'kim-fish'), null);
  assert.equal(pickCredential(null, { slug: 'kim-fish', token: '' }, 'kim-fish'), null);
  assert.equal(pickCredential(null, 'garbage', 'kim-fish'), null);
  assert.equal(pickCredential(null, null, 'kim-fish'), null);
});

test('watching a practice: the session token, not the long-lived one', () => {
  assert.equal(watchToken({ token: 'SESSION' }, 'TUTOR'), 'SESSION');
  assert.equal(watchToken({ token: '' }, 'TUTOR'), 'TUTOR');
  assert.equal(watchToken({}, 'TUTOR'), 'TUTOR');
  assert.equal(watchToken(null, 'TUTOR'), 'TUTOR');
  assert.equal(watchToken({ token: 7 }, 'TUTOR'), 'TUTOR');
});

test('links: only this server', () => {
  assert.equal(absoluteURL('/studio?c=x#t=ABC', 'https://dangol.example'), 'https://dangol.example/studio?c=x#t=ABC');
  assert.equal(absoluteURL('/c/x', 'https://dangol.example/'), 'https://dangol.example/c/x');
  assert.equal(absoluteURL('//evil.example/x', 'https://dangol.example'), '');
  assert.equal(absoluteURL('https://evil.example/x', 'https://dangol.example'), '');
  assert.equal(absoluteURL(/** @type {any} */ (undefined), 'https://dangol.example'), '');
  assert.equal(localPath('/review?c=x&s=7'), '/review?c=x&s=7');
  assert.equal(localPath('javascript:alert(1)'), '');
  assert.equal(localPath('//evil.example'), '');
  assert.equal(localPath('/\\evil.example'), '');
  assert.equal(localPath(null), '');
});

test('validSlug', () => {
  for (const ok of ['park-rice', 'abc', 'kim-fish-2', 'a1b']) {
    assert.ok(validSlug(ok), ok);
  }
  for (const bad of ['ab', 'Park', 'park rice', '-abc', 'abc-', 'a--b', 'x'.repeat(41), '단골']) {
    assert.ok(!validSlug(bad), bad);
  }
});

test('times, money and numbers in both languages', () => {
  assert.equal(formatSeconds(14, 'ko'), '14초');
  assert.equal(formatSeconds(14, 'en'), '14 s');
  assert.equal(formatSeconds(8.2, 'ko'), '8.2초');
  assert.equal(formatSeconds(0, 'ko'), '0초');
  assert.equal(formatSeconds(60, 'ko'), '1분');
  assert.equal(formatSeconds(95, 'ko'), '1분 35초');
  assert.equal(formatSeconds(95, 'en'), '1 min 35 s');
  assert.equal(formatSeconds(612.4, 'ko'), '10분 12초');
  assert.equal(formatSeconds(null, 'ko'), '');
  assert.equal(formatSeconds(-1, 'ko'), '');

  assert.equal(clock(0), '0:00');
  assert.equal(clock(75.9), '1:15');
  assert.equal(clock(3723), '1:02:03');

  // Korean time, whatever the machine's zone.
  assert.equal(formatWhen('2026-03-07T01:00:00Z', 'ko'), '3월 7일 (토) 오전 10:00');
  assert.equal(formatWhen('2026-03-07T01:00:00Z', 'en'), 'Sat, Mar 7, 10:00 AM');
  assert.equal(formatWhen('2026-03-01T05:30:00Z', 'ko'), '3월 1일 (일) 오후 2:30');
  assert.equal(formatWhen('nope', 'ko'), '');
  assert.equal(formatWhen(null, 'ko'), '');

  assert.equal(formatWon(5000, 'ko'), '5,000원');
  assert.equal(formatWon(1234567, 'en'), '₩1,234,567');
});

/** The checklist of docs/api.md's review example. */
const checklist = [
  { key: 'greeted', status: 'pass', seconds: 8.2, limit_s: 30, tick: true },
  { key: 'products_pinned', status: 'fail', done: 2, total: 3 },
  { key: 'price_stated', status: 'todo', tick: true },
  { key: 'coupon_dropped', status: 'pass', done: 1 },
  { key: 'questions_answered', status: 'pass', done: 4, total: 5, seconds: 14.0, limit_s: 60 },
  { key: 'orders_handled', status: 'fail', done: 3, total: 6, seconds: 95.0, limit_s: 60 },
  { key: 'stream_quality', status: 'pass', kbps: 820, reconnects: 0, frozen_s: 0, dark_s: 0 },
];

test('checklist in Korean', () => {
  const got = checklist.map((item) => describeItem(item, 'ko', { price_stated: false }));
  assert.deepEqual(got.map((d) => d.title), ['손님께 인사하기', '상품 보여 주기', '가격 말하기', '쿠폰 뿌리기', '질문에 답하기', '주문 받기', '영상 상태']);
  assert.deepEqual(got.map((d) => d.status), ['pass', 'fail', 'todo', 'pass', 'pass', 'fail', 'pass']);
  assert.deepEqual(got.map((d) => d.icon), ['✔', '✖', '?', '✔', '✔', '✖', '✔']);
  assert.deepEqual(got.map((d) => d.statusText), ['잘했어요', '다음엔 더 잘해요', '도우미 확인 전', '잘했어요', '잘했어요', '다음엔 더 잘해요', '잘했어요']);
  assert.deepEqual(got.map((d) => d.detail), [
    '방송 시작 8.2초 뒤에 첫 인사를 했어요 (30초 안에 하면 좋아요)',
    '상품 3개 중 2개를 보여 줬어요',
    '도우미가 아직 확인하지 않았어요',
    '쿠폰을 1번 뿌렸어요',
    '질문 5개 중 4개에 1분 안에 답했어요 (보통 14초)',
    '주문 6건 중 3건을 1분 안에 받았어요 (보통 1분 35초)',
    '화질 820kbps · 끊김 0번 · 멈춤 0초 · 화면이 어두웠던 시간 0초',
  ]);
  assert.deepEqual(got.map((d) => d.tickable), [true, false, true, false, false, false, false]);
});

test('checklist in English', () => {
  const got = checklist.map((item) => describeItem(item, 'en'));
  assert.equal(got[0].title, 'Greet the customers');
  assert.equal(got[0].detail, 'First greeting 8.2 s after going live (best within 30 s)');
  assert.equal(got[1].detail, 'Showed 2 of 3 products');
  assert.equal(got[4].detail, 'Answered 4 of 5 questions within 1 min (typically 14 s)');
  assert.equal(got[5].detail, 'Took 3 of 6 orders within 1 min (typically 1 min 35 s)');
  assert.equal(got[5].statusText, 'Try again next time');
  assert.equal(got[6].detail, '820 kbps · 0 reconnects · 0 s frozen · picture too dark for 0 s');
});

test('checklist: nothing to judge, ticks, unknown items', () => {
  assert.equal(describeItem({ key: 'questions_answered', status: 'na', done: 0, total: 0 }, 'ko').detail, '손님 질문이 없었어요');
  assert.equal(describeItem({ key: 'questions_answered', status: 'na', done: 0, total: 0 }, 'ko').statusText, '해당 없음');
  assert.equal(describeItem({ key: 'orders_handled', status: 'na', total: 0 }, 'en').detail, 'No orders came in');
  assert.equal(describeItem({ key: 'coupon_dropped', status: 'fail', done: 0 }, 'ko').detail, '쿠폰을 뿌리지 않았어요');
  assert.equal(describeItem({ key: 'greeted', status: 'pass', tick: true }, 'ko', { greeted: true }).detail, '도우미가 인사를 확인했어요');
  assert.equal(describeItem({ key: 'greeted', status: 'fail', limit_s: 30, tick: true }, 'ko').detail, '30초 안에 인사하지 않았어요');
  assert.equal(describeItem({ key: 'price_stated', status: 'pass', tick: true }, 'en').detail, 'The helper checked that the price was said');
  assert.equal(describeItem({ key: 'stream_quality', status: 'fail', kbps: 250.4, reconnects: 2, frozen_s: 7.5, dark_s: 12 }, 'ko').detail,
    '화질 250kbps · 끊김 2번 · 멈춤 7.5초 · 화면이 어두웠던 시간 12초');
  assert.equal(describeItem({ key: 'stream_quality', status: 'fail', kbps: 900, reconnects: 0, frozen_s: 0, dark_s: 65 }, 'en').detail,
    '900 kbps · 0 reconnects · 0 s frozen · picture too dark for 1 min 5 s');
  assert.equal(describeItem({ key: 'stream_quality', status: 'na' }, 'ko').detail, '영상 정보가 없어요');
  const unknown = describeItem({ key: 'smiled', status: 'weird' }, 'ko');
  assert.equal(unknown.title, 'smiled');
  assert.equal(unknown.status, 'todo');
  assert.equal(unknown.detail, '');
  assert.deepEqual(statusInfo('na'), { status: 'na', icon: '–', key: 'review.statusNa' });
  assert.deepEqual(ticksOf({ ticks: { price_stated: true } }), { greeted: false, price_stated: true });
  assert.deepEqual(ticksOf(null), { greeted: false, price_stated: false });
});

test('timeline: marks in percent of the recording, seek times clamped', () => {
  const notes = [
    { id: 1, kind: 'note', text: 'before', at: '2026-03-01T09:00:00Z', offset_s: null },
    { id: 2, kind: 'tip', text: 'greet', at: '2026-03-01T09:01:12Z', offset_s: 12 },
    { id: 3, kind: 'note', text: 'mid', at: '2026-03-01T09:06:00Z', offset_s: 306.2 },
    { id: 4, kind: 'note', text: 'after', at: '2026-03-01T09:20:00Z', offset_s: 700 },
  ];
  const marks = timelineMarks(notes, 612.4);
  assert.deepEqual(marks.map((m) => m.left), [0, 2, 50, 100]);
  assert.deepEqual(marks.map((m) => m.at), [0, 12, 306.2, 612.4]);
  assert.equal(marks[1].note, notes[1]);
  assert.deepEqual(timelineMarks(notes, 0).map((m) => m.left), [0, 0, 0, 0]);
  assert.deepEqual(timelineMarks(notes, null).map((m) => m.at), [0, 12, 306.2, 700]);
  assert.deepEqual(timelineMarks(/** @type {any} */ (null), 10), []);
});

test('score bars: oldest first, newest last, unscored left out', () => {
  const history = [
    { id: 9, state: 'ended', started_at: '2026-03-09T01:00:00Z', score: 86 },
    { id: 8, state: 'cancelled', started_at: null, score: null },
    { id: 7, state: 'ended', started_at: '2026-03-07T01:00:00Z', score: 0 },
    { id: 6, state: 'ended', started_at: '2026-03-06T01:00:00Z', score: 57 },
  ];
  const bars = scoreBars(history, 'ko');
  assert.deepEqual(bars.map((b) => b.id), [6, 7, 9]);
  assert.deepEqual(bars.map((b) => b.score), [57, 0, 86]);
  assert.deepEqual(bars.map((b) => b.height), [57, 4, 86]);
  assert.equal(bars[2].label, '3월 9일 (월) 오전 10:00 86점');
  assert.equal(scoreBars(history, 'en')[0].label, 'Fri, Mar 6, 10:00 AM: 57 points');
  assert.deepEqual(scoreBars(history, 'ko', 2).map((b) => b.id), [7, 9]);
  assert.deepEqual(scoreBars(/** @type {any} */ (undefined), 'ko'), []);
});

test('channels and sessions', () => {
  assert.equal(channelState({ live: true, live_practice: true }), 'practice');
  assert.equal(channelState({ live: true, live_practice: false }), 'live');
  assert.equal(channelState({ live: false }), 'off');
  assert.equal(sessionStateKey('ended'), 'tutor.stateEnded');
  assert.equal(sessionStateKey('??'), 'tutor.stateWaiting');
  assert.ok(hasReview({ state: 'ended' }));
  assert.ok(!hasReview({ state: 'cancelled' }));
  assert.ok(!hasReview({ state: 'waiting' }));
  assert.equal(pollDelay('waiting'), 3000);
  assert.equal(pollDelay('live'), 10000);
  assert.equal(pollDelay('ended'), 0);
});

test('coaching: tips, crowd, notes, socket URL', () => {
  assert.equal(quickTips.length, 6);
  assert.deepEqual(quickTips.map((k) => textIn('ko', k)), ['인사해 주세요', '가격을 말해 주세요', '상품을 보여 주세요', '쿠폰을 뿌려 보세요', '질문에 답해 주세요', '주문을 확인해 주세요']);
  assert.equal(crowdText(null, 'ko'), '연습 손님 없음');
  assert.equal(crowdText({ pace: 'busy', viewers: 30 }, 'ko'), '연습 손님 30명 (북적이게)');
  assert.equal(crowdText({ pace: 'rush', viewers: 120 }, 'en'), '120 practice customers (Rush)');
  assert.equal(cleanText('  안녕  ', 120), '안녕');
  assert.equal(cleanText('   ', 120), null);
  assert.equal(cleanText('가'.repeat(120), 120), '가'.repeat(120));
  assert.equal(cleanText('가'.repeat(121), 120), null);
  assert.equal(cleanText('😀'.repeat(120), 120), '😀'.repeat(120));
  const a = { id: 1, kind: 'tip', text: 'a', at: '2026-03-01T09:01:00Z', offset_s: 60 };
  const b = { id: 2, kind: 'note', text: 'b', at: '2026-03-01T09:00:30Z', offset_s: 30 };
  assert.deepEqual(addNote(addNote([], a), b).map((n) => n.id), [2, 1]);
  assert.deepEqual(addNote([a, b], { ...a, text: 'again' }).map((n) => n.text), ['b', 'again']);
});

test('api: credentials, paths and answers', async () => {
  const { Api, ApiError } = await import('../static/tutor-api.js');
  /** @type {Array<{method: string, url: string, headers: Record<string, string>, body: string}>} */
  const seen = [];
  /** @type {(url: string, method: string) => Response} */
  let answer = () => new Response('{}', { status: 200 });
  globalThis.fetch = /** @type {typeof fetch} */ (async (url, init = {}) => {
    const req = { method: init.method ?? 'GET', url: String(url), headers: /** @type {any} */ ({ ...init.headers }), body: String(init.body ?? '') };
    seen.push(req);
    return answer(req.url, req.method);
  });
  const api = new Api('TOK', () => 'en');

  answer = () => new Response(JSON.stringify({ error: { code: 'not_found', message: 'none' } }), { status: 404 });
  assert.equal(await api.openPractice('kim-fish'), null);
  assert.equal(seen.at(-1)?.url, '/api/channels/kim-fish/practice');
  assert.equal(seen.at(-1)?.headers.Authorization, 'Bearer TOK');
  assert.equal(seen.at(-1)?.headers['Accept-Language'], 'en');

  answer = () => new Response(JSON.stringify({ error: { code: 'live', message: 'The channel is live' } }), { status: 409 });
  await assert.rejects(api.startPractice('kim-fish'), (err) => err instanceof ApiError && err.code === 'live' && err.status === 409);
  assert.deepEqual([seen.at(-1)?.method, seen.at(-1)?.url], ['POST', '/api/channels/kim-fish/practice']);

  answer = () => new Response(JSON.stringify({ id: 3, kind: 'tip', text: 'x', at: '', offset_s: 1 }), { status: 201 });
  await api.tip(7, '가격을 말해 주세요');
  assert.deepEqual([seen.at(-1)?.method, seen.at(-1)?.url, seen.at(-1)?.body], ['POST', '/api/practice/7/tips', '{"text":"가격을 말해 주세요"}']);
  assert.equal(seen.at(-1)?.headers['Content-Type'], 'application/json');

  await api.ticks(7, { greeted: true });
  assert.deepEqual([seen.at(-1)?.method, seen.at(-1)?.url, seen.at(-1)?.body], ['PUT', '/api/practice/7/ticks', '{"greeted":true}']);
  await api.crowd(7, 'rush');
  assert.deepEqual([seen.at(-1)?.method, seen.at(-1)?.url, seen.at(-1)?.body], ['PUT', '/api/practice/7/crowd', '{"pace":"rush"}']);
  answer = () => new Response(null, { status: 204 });
  assert.equal(await api.stopCrowd(7), null);
  assert.deepEqual([seen.at(-1)?.method, seen.at(-1)?.url], ['DELETE', '/api/practice/7/crowd']);

  answer = () => new Response(JSON.stringify({ notes: [{ id: 1 }] }), { status: 200 });
  assert.deepEqual(await api.notes(7), [{ id: 1 }]);
  assert.equal(seen.at(-1)?.url, '/api/practice/7/notes');

  answer = () => new Response(JSON.stringify({ id: 3, state: 'cancelled' }), { status: 200 });
  assert.equal((await api.cancelSession(7)).state, 'cancelled');
  assert.deepEqual([seen.at(-1)?.method, seen.at(-1)?.url], ['DELETE', '/api/practice/7']);
  assert.equal(seen.at(-1)?.headers.Authorization, 'Bearer TOK');

  answer = () => new Response(JSON.stringify({ sessions: [{ id: 7, score: 71 }] }), { status: 200 });
  assert.deepEqual(await api.practiceHistory('kim fish'), [{ id: 7, score: 71 }]);
  assert.equal(seen.at(-1)?.url, '/api/channels/kim%20fish/practice/history?limit=20');

  answer = () => new Response(JSON.stringify({ pin: '482913' }), { status: 200 });
  assert.equal((await api.resetPin('kim-fish')).pin, '482913');
  assert.deepEqual([seen.at(-1)?.method, seen.at(-1)?.url], ['POST', '/api/tutor/channels/kim-fish/pin']);
  await api.studioLink('kim-fish');
  assert.equal(seen.at(-1)?.url, '/api/tutor/channels/kim-fish/studio-link');
  await api.broadcasts('kim-fish');
  assert.equal(seen.at(-1)?.url, '/api/tutor/channels/kim-fish/broadcasts?limit=30');

  answer = () => new Response(JSON.stringify({ error: { code: 'invalid', message: 'bad slug', field: 'slug' } }), { status: 400 });
  await assert.rejects(api.createChannel({ slug: 'api', name: 'x' }), (err) => err instanceof ApiError && err.field === 'slug');

  globalThis.fetch = /** @type {typeof fetch} */ (async () => {
    throw new TypeError('offline');
  });
  await assert.rejects(api.me(), (err) => err instanceof ApiError && err.status === 0 && err.code === 'network');
});

test('errors in the tutor pages\' words', async () => {
  const { tutorWords } = await import('../static/tutor-ui.js');
  const cases = [
    { in: { status: 401, code: 'unauthorized', message: 'x' }, want: { key: 'tutor.errUnauthorized' } },
    { in: { status: 401, code: '', message: '' }, want: { key: 'tutor.errUnauthorized' } },
    { in: { status: 409, code: 'live', message: 'x' }, want: { key: 'tutor.errLive' } },
    { in: { status: 0, code: 'network', message: 'TypeError' }, want: { key: 'error.network' } },
    { in: { status: 400, code: 'invalid', message: '주소가 잘못됐어요' }, want: { text: '주소가 잘못됐어요' } },
    { in: { status: 502, code: '', message: 'HTTP 502' }, want: { key: 'error.server' } },
    { in: { status: 400, code: '', message: '' }, want: { key: 'error.generic' } },
    { in: null, want: { key: 'error.generic' } },
  ];
  for (const c of cases) {
    assert.deepEqual(errorText(c.in, tutorWords), c.want, JSON.stringify(c.in));
  }
  // The studio keeps its own words.
  assert.deepEqual(errorText({ status: 401, code: '', message: '' }), { key: 'error.generic' });
  assert.deepEqual(errorText({ status: 502, code: '', message: '' }), { key: 'error.generic' });
  assert.deepEqual(errorText({ code: 'not_live', message: 'x' }), { key: 'studio.errNotLive' });
  for (const key of Object.values(tutorWords.codes)) {
    assert.ok(key in tutorTexts.ko || key.startsWith('error.'), key);
  }
});

test('coaching and review pages: fatal states, live regions written only on change', async () => {
  const { fatalBadLink, fatalNoCreds, fatalOf, setText } = await import('../static/tutor-ui.js');
  assert.equal(fatalOf({ params: null, cred: null }), fatalBadLink);
  assert.equal(fatalOf({ params: { slug: 'x', session: 1 }, cred: null }), fatalNoCreds);
  assert.equal(fatalOf({ params: { slug: 'x', session: 1 }, cred: { token: 'T' } }), null);
  assert.equal(fatalOf({ err: { status: 404 } }), fatalBadLink);
  assert.equal(fatalOf({ err: { status: 401 } }), fatalNoCreds);
  assert.equal(fatalOf({ err: { status: 403 } }), fatalNoCreds);
  assert.equal(fatalOf({ err: { status: 500 } }), null);
  assert.equal(fatalOf({ err: new Error('x') }), null);

  // A live region is read out on every write: the same text is not written again.
  let writes = 0;
  let text = '';
  const el = {
    get textContent() { return text; },
    set textContent(v) { writes++; text = String(v); },
  };
  assert.equal(setText(el, '연습 중'), true);
  assert.equal(setText(el, '연습 중'), false);
  assert.equal(setText(el, '끝났어요'), true);
  assert.equal(writes, 2);
});

test('the studio\'s saved credentials, as both the studio and the tutor pages read them', async () => {
  const { loadStudioCredentials, studioCredentialsKey } = await import('../static/studio-api.js');
  const tutorApi = await import('../static/tutor-api.js');
  assert.equal(tutorApi.loadStudioCredentials, loadStudioCredentials, 'one reader');
  /** @type {Record<string, string>} */
  const store = {};
  const saved = globalThis.localStorage;
  globalThis.localStorage = /** @type {any} */ ({
    getItem: (/** @type {string} */ k) => (k in store ? store[k] : null),
  });
  try {
    assert.equal(studioCredentialsKey, 'dangol.studio');
    assert.equal(loadStudioCredentials(), null);
    store['dangol.studio'] = JSON.stringify({ slug: 'kim-fish', token: 'STUDIO', extra: 1 });
    assert.deepEqual(loadStudioCredentials(), { slug: 'kim-fish', token: 'STUDIO' });
    store['dangol.studio'] = JSON.stringify({ slug: 'kim-fish', token: '' });
    assert.equal(loadStudioCredentials(), null);
    store['dangol.studio'] = '{garbled';
    assert.equal(loadStudioCredentials(), null);
  } finally {
    globalThis.localStorage = saved;
  }
});

test('notes: only the documented {"notes": [...]} answer', async () => {
  const { Api } = await import('../static/tutor-api.js');
  const api = new Api('TOK', () => 'ko');
  globalThis.fetch = /** @type {typeof fetch} */ (async () => new Response(JSON.stringify([{ id: 2 }]), { status: 200 }));
  assert.deepEqual(await api.notes(7), []);
});
