// @ts-check
// Texts of the pages, Korean first, with English. The language comes from
// the browser, can be switched with a button and is remembered.

// Each page's texts live in a file of their own, so that the pages can grow
// apart; all are merged here, so that every page can show any text and one
// check covers them all (testdata/static.test.js).
import { adminTexts } from './texts-admin.js';
import { studioTexts } from './texts-studio.js';
import { tutorTexts } from './texts-tutor.js';
import { watchTexts } from './texts-watch.js';

/** @typedef {'ko' | 'en'} Lang */

/** @type {readonly Lang[]} */
export const langs = ['ko', 'en'];

const storageKey = 'dangol.lang';

/**
 * Every text shown to people. {name} is replaced by vars of the same name.
 * @type {Record<Lang, Record<string, string>>}
 */
export const texts = {
  ko: {
    'lang.switch': 'English',
    'lang.switchLabel': '영어로 보기 (English)',

    'error.unauthorized': '링크가 만료되었어요. 도우미에게 새 링크를 받으세요.',
    'error.notFound': '가게 채널을 찾을 수 없어요. 도우미에게 물어보세요.',
    'error.busy': '이 가게는 이미 다른 휴대폰에서 방송 중이에요.',
    'error.network': '연결이 안 돼요. 와이파이나 데이터를 확인해 주세요.',
    'error.server': '서버에 문제가 생겼어요. 잠시 후 다시 시도할게요.',
    'error.cameraDenied': '카메라와 마이크를 허용해 주세요. 주소창 옆 자물쇠를 눌러 "허용"으로 바꿔 주세요.',
    'error.cameraMissing': '카메라를 찾을 수 없어요.',
    'error.cameraBusy': '다른 앱이 카메라를 쓰고 있어요. 다른 앱을 닫고 다시 눌러 주세요.',
    'error.insecure': '보안 연결(https) 주소로 열어야 카메라를 쓸 수 있어요.',
    'error.unsupported': '이 브라우저에서는 방송할 수 없어요. 크롬이나 사파리로 열어 주세요.',
    'error.generic': '문제가 생겼어요. 다시 눌러 주세요.',
  },
  en: {
    'lang.switch': '한국어',
    'lang.switchLabel': '한국어로 보기 (Korean)',

    'error.unauthorized': 'This link no longer works. Ask your helper for a new one.',
    'error.notFound': 'We cannot find this shop\'s channel. Ask your helper.',
    'error.busy': 'This shop is already live from another phone.',
    'error.network': 'Cannot connect. Please check Wi-Fi or mobile data.',
    'error.server': 'The server has a problem. We will try again shortly.',
    'error.cameraDenied': 'Please allow the camera and microphone: tap the lock next to the address and choose "Allow".',
    'error.cameraMissing': 'No camera was found.',
    'error.cameraBusy': 'Another app is using the camera. Close it and tap again.',
    'error.insecure': 'The camera only works on a secure (https) address.',
    'error.unsupported': 'This browser cannot broadcast. Please open it in Chrome or Safari.',
    'error.generic': 'Something went wrong. Please tap again.',
  },
};

for (const l of langs) {
  Object.assign(texts[l], watchTexts[l], studioTexts[l], tutorTexts[l], adminTexts[l]);
}

/**
 * Picks the language from the browser's preferences: the first of them that
 * is Korean or English, and Korean otherwise.
 * @param {readonly string[]} prefs e.g. navigator.languages
 * @returns {Lang}
 */
export function detectLang(prefs) {
  for (const pref of prefs) {
    const base = pref.toLowerCase().split('-')[0];
    if (base === 'ko' || base === 'en') {
      return base;
    }
  }
  return 'ko';
}

/** @type {Lang | null} */
let current = null;

/**
 * The language in use: the remembered choice, or the browser's.
 * @returns {Lang}
 */
export function lang() {
  if (current) {
    return current;
  }
  let saved = null;
  try {
    saved = localStorage.getItem(storageKey);
  } catch {
    // Storage can be off (private mode); then nothing is remembered.
  }
  if (saved === 'ko' || saved === 'en') {
    current = saved;
  } else {
    const prefs = navigator.languages?.length ? navigator.languages : [navigator.language || ''];
    current = detectLang(prefs);
  }
  return current;
}

/**
 * Sets and remembers the language, and translates the page.
 * @param {Lang} l
 */
export function setLang(l) {
  current = l;
  try {
    localStorage.setItem(storageKey, l);
  } catch {
    // Not remembered; still switched for this visit.
  }
  translate(document);
  for (const fn of listeners) {
    fn(l);
  }
}

/** @type {Array<(l: Lang) => void>} */
const listeners = [];

/**
 * Calls fn after every language switch, so that texts set from code can be
 * set again.
 * @param {(l: Lang) => void} fn
 */
export function onLangChange(fn) {
  listeners.push(fn);
}

/**
 * The text for key in language l, with {name} replaced by vars: the pure
 * form of t(), for code that node tests in both languages and for texts
 * that must be in one language whatever the reader's (the coach's quick
 * tips are sent in Korean). A missing key shows as the key itself, easy to
 * spot.
 * @param {Lang} l
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 * @returns {string}
 */
export function textIn(l, key, vars) {
  const s = texts[l]?.[key] ?? texts.ko[key] ?? key;
  if (!vars) {
    return s;
  }
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/**
 * The text for key in the current language, with {name} replaced by vars.
 * A missing key shows as the key itself, easy to spot.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 * @returns {string}
 */
export function t(key, vars) {
  return textIn(lang(), key, vars);
}

/**
 * Translates the elements under root (the page title too): data-i18n sets
 * the text, data-i18n-label sets aria-label.
 * @param {ParentNode} root
 */
export function translate(root) {
  document.documentElement.lang = lang();
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const key = el.getAttribute('data-i18n');
    if (key) {
      el.textContent = t(key);
    }
  }
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    const key = el.getAttribute('data-i18n-label');
    if (key) {
      el.setAttribute('aria-label', t(key));
    }
  }
}

/**
 * Translates the page and wires the language button (an element with
 * data-lang-switch), which switches between Korean and English.
 */
export function setupLang() {
  translate(document);
  const button = document.querySelector('[data-lang-switch]');
  button?.addEventListener('click', () => {
    setLang(lang() === 'ko' ? 'en' : 'ko');
  });
}
