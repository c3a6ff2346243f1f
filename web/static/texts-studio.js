// @ts-check
// Texts of the merchant's studio, Korean first, with English: keys start
// with studio. (see i18n.js).

/** @type {Record<'ko' | 'en', Record<string, string>>} */
export const studioTexts = {
  ko: {
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
  },
  en: {
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
  },
};
