// @ts-check
// Texts of the pages, Korean first, with English. The language comes from
// the browser, can be switched with a button and is remembered.

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

    'watch.title': '단골 라이브',
    'watch.connecting': '연결 중…',
    'watch.notLive': '방송 준비 중',
    'watch.notLiveHint': '방송이 시작되면 바로 보여드릴게요.',
    'watch.full': '지금은 시청자가 너무 많아요',
    'watch.fullHint': '잠시 후 다시 연결할게요.',
    'watch.reconnecting': '다시 연결 중…',
    'watch.notFound': '이 방송을 찾을 수 없어요',
    'watch.notFoundHint': 'QR 코드나 링크를 다시 확인해 주세요.',
    'watch.noWebRTC': '이 브라우저에서는 방송을 볼 수 없어요',
    'watch.noWebRTCHint': '크롬이나 사파리로 열어 주세요.',
    'watch.retryIn': '{seconds}초 후 다시 시도해요',
    'watch.unmute': '소리 켜기',
    'watch.unmuteLabel': '소리 켜기',

    'studio.title': '단골 스튜디오',
    'studio.goLive': '방송 시작',
    'studio.end': '방송 종료',
    'studio.live': '방송 중',
    'studio.starting': '방송 시작하는 중…',
    'studio.reconnecting': '다시 연결 중…',
    'studio.reconnectingHint': '방송은 끊기지 않았어요. 잠시만 기다려 주세요.',
    'studio.ended': '방송이 끝났어요. 수고하셨어요!',
    'studio.switchCamera': '카메라 바꾸기',
    'studio.cameraBack': '뒤 카메라',
    'studio.cameraFront': '앞 카메라',
    'studio.confirmTitle': '방송을 끝낼까요?',
    'studio.confirmYes': '네, 끝낼게요',
    'studio.confirmNo': '아니요, 계속할게요',
    'studio.channel': '채널: {slug}',
    'studio.noLink': '스튜디오 링크로 열어 주세요',
    'studio.noLinkHint': '도우미에게 받은 링크나 QR 코드를 눌러 주세요.',
    'studio.cameraStarting': '카메라 켜는 중…',

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

    'watch.title': 'Dangol Live',
    'watch.connecting': 'Connecting…',
    'watch.notLive': 'Not live yet',
    'watch.notLiveHint': 'The video starts as soon as the shop goes live.',
    'watch.full': 'Too many viewers right now',
    'watch.fullHint': 'We will try again in a moment.',
    'watch.reconnecting': 'Reconnecting…',
    'watch.notFound': 'This broadcast was not found',
    'watch.notFoundHint': 'Please check the QR code or the link.',
    'watch.noWebRTC': 'This browser cannot play the broadcast',
    'watch.noWebRTCHint': 'Please open it in Chrome or Safari.',
    'watch.retryIn': 'Trying again in {seconds} s',
    'watch.unmute': 'Tap for sound',
    'watch.unmuteLabel': 'Turn the sound on',

    'studio.title': 'Dangol Studio',
    'studio.goLive': 'Go live',
    'studio.end': 'End',
    'studio.live': 'LIVE',
    'studio.starting': 'Going live…',
    'studio.reconnecting': 'Reconnecting…',
    'studio.reconnectingHint': 'Your broadcast has not ended. Please wait a moment.',
    'studio.ended': 'The broadcast has ended. Well done!',
    'studio.switchCamera': 'Switch camera',
    'studio.cameraBack': 'Back camera',
    'studio.cameraFront': 'Front camera',
    'studio.confirmTitle': 'End the broadcast?',
    'studio.confirmYes': 'Yes, end it',
    'studio.confirmNo': 'No, keep going',
    'studio.channel': 'Channel: {slug}',
    'studio.noLink': 'Please open your studio link',
    'studio.noLinkHint': 'Tap the link or QR code your helper gave you.',
    'studio.cameraStarting': 'Turning the camera on…',

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
 * The text for key in the current language, with {name} replaced by vars.
 * A missing key shows as the key itself, easy to spot.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 * @returns {string}
 */
export function t(key, vars) {
  const s = texts[lang()][key] ?? texts.ko[key] ?? key;
  if (!vars) {
    return s;
  }
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
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
