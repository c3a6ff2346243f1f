// @ts-check
// Texts of the customer's pages (watch, channel, replay), Korean first,
// with English: keys start with watch. or channel. (see i18n.js).

/** @type {Record<'ko' | 'en', Record<string, string>>} */
export const watchTexts = {
  ko: {
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
  },
  en: {
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
  },
};
