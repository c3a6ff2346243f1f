// @ts-check
// Studio /studio?c={slug}#t={token}: camera preview and one big button to
// go live over WHIP. A dropped connection republishes by itself; only the
// End button (after a confirmation) ends the broadcast.

import { lang, onLangChange, setupLang, t } from './i18n.js';
import { Room, RoomError } from './room.js';
import { StudioApi, loadStudioCredentials, login, studioCredentialsKey as credentialsKey } from './studio-api.js';
import { Chat } from './studio-chat.js';
import { Coupons } from './studio-coupons.js';
import { DarkDetector, meanLuma, sampleEveryMs, sampleHeight, sampleWidth } from './studio-dark.js';
import { bitrate, classifyQuality, loginInput, qualityKeys, statsSample } from './studio-logic.js';
import { Orders } from './studio-orders.js';
import { CoachTips, Practice } from './studio-practice.js';
import { Products } from './studio-products.js';
import { Schedule } from './studio-schedule.js';
import { StallProfile } from './studio-stall.js';
import { Bell, Tabs, Toast } from './studio-ui.js';
import { Keeper, SignalError, backoff } from './whip.js';

/** How often the connection quality is measured while live. */
const qualityEveryMs = 2000;
/**
 * 409: the server still holds the previous connection (it has not noticed
 * the drop yet). Try again every second, for about as long as it takes the
 * server to notice.
 */
const conflictRetryMs = 1000;
const maxConflictRetries = 30;
/** Bounds of the wait between other failed attempts. */
const retryBaseMs = 1000;
const retryMaxMs = 10000;

/**
 * Simulcast layers, smallest first: a viewer on a weak network gets "q".
 * @type {RTCRtpEncodingParameters[]}
 */
const layers = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/** @type {MediaTrackConstraints} */
const audioConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/**
 * @typedef {'environment' | 'user'} Facing
 * @typedef {{slug: string, token: string}} Credentials
 * @typedef {'idle' | 'starting' | 'live' | 'reconnecting'} State
 * @typedef {{title: string, hint?: string}} Message keys into the i18n table; title '' hides it
 */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) {
    throw new Error(`missing #${id}`);
  }
  return el;
}

/**
 * Reads the studio link /studio?c={slug}#t={token} and remembers it, so the
 * phone stays logged in; without a token, uses the remembered one for the
 * same channel. The token is taken out of the address bar, where it could
 * end up in a screenshot or a shared link.
 * @returns {Credentials | null}
 */
function credentials() {
  const slug = new URLSearchParams(location.search).get('c') ?? '';
  const token = new URLSearchParams(location.hash.slice(1)).get('t') ?? '';
  /** @type {Credentials | null} */
  const saved = loadStudioCredentials();

  /** @type {Credentials | null} */
  let creds = null;
  if (slug && token) {
    creds = { slug, token };
    try {
      localStorage.setItem(credentialsKey, JSON.stringify(creds));
    } catch {
      // Not remembered: works until the page is closed.
    }
  } else if (saved && (!slug || slug === saved.slug)) {
    creds = saved;
  }
  if (token || (creds && !slug)) {
    // Other parameters (?tab=orders) stay.
    const params = new URLSearchParams(location.search);
    if (creds) {
      params.set('c', creds.slug);
    }
    const query = params.toString();
    const url = query ? `/studio?${query}` : '/studio';
    history.replaceState(null, '', url);
  }
  return creds;
}

/**
 * The i18n key for a getUserMedia failure.
 * @param {unknown} err
 * @returns {string}
 */
function cameraError(err) {
  const name = err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'error.cameraDenied';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'error.cameraMissing';
    case 'NotReadableError':
    case 'AbortError':
      return 'error.cameraBusy';
    default:
      return 'error.generic';
  }
}

/** The phone's camera and microphone, shown in the preview. */
class Camera {
  /** @param {HTMLVideoElement} preview */
  constructor(preview) {
    this.preview = preview;
    /** @type {Facing} */
    this.facing = 'environment';
    /** @type {MediaStream | null} */
    this.stream = null;
    /** Called when a track ends (another app took the camera, ...). */
    this.onEnded = () => {};
  }

  /**
   * @param {Facing} facing
   * @returns {MediaTrackConstraints}
   */
  static video(facing) {
    // 720p leaves room for three simulcast layers (180p, 360p, 720p).
    return { facingMode: { ideal: facing }, width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
  }

  get ready() {
    return !!this.stream && this.stream.getTracks().some((tr) => tr.readyState === 'live');
  }

  /** Opens camera and microphone, closing those open before. */
  async open() {
    this.close();
    const stream = await navigator.mediaDevices.getUserMedia({ audio: audioConstraints, video: Camera.video(this.facing) });
    this.use(stream);
  }

  /**
   * Switches between the back and the front camera.
   * @returns {Promise<MediaStreamTrack | null>} the new video track
   */
  async flip() {
    const facing = this.facing === 'environment' ? 'user' : 'environment';
    const audio = this.stream?.getAudioTracks() ?? [];
    // Many phones open one camera at a time: stop the old one first.
    for (const tr of this.stream?.getVideoTracks() ?? []) {
      tr.stop();
    }
    /** @type {MediaStream} */
    let got;
    try {
      got = await navigator.mediaDevices.getUserMedia({ video: Camera.video(facing) });
      this.facing = facing;
    } catch (err) {
      console.warn('studio: switch camera', err);
      got = await navigator.mediaDevices.getUserMedia({ video: Camera.video(this.facing) });
    }
    this.use(new MediaStream([...audio, ...got.getVideoTracks()]));
    return got.getVideoTracks()[0] ?? null;
  }

  /** @param {MediaStream} stream */
  use(stream) {
    this.stream = stream;
    for (const tr of stream.getTracks()) {
      tr.addEventListener('ended', () => this.onEnded());
    }
    this.preview.srcObject = stream;
    // The front camera is shown as a mirror, as people expect; viewers get
    // the real picture.
    this.preview.classList.toggle('mirror', this.facing === 'user');
    this.preview.play().catch(() => {});
  }

  close() {
    for (const tr of this.stream?.getTracks() ?? []) {
      tr.stop();
    }
    this.stream = null;
  }

  /** @returns {Promise<boolean>} whether there is a camera to switch to */
  static async canFlip() {
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      return devices.filter((d) => d.kind === 'videoinput').length > 1;
    } catch {
      return false;
    }
  }
}

/**
 * Adds the video track, with simulcast where the browser supports it, and
 * H.264 first: it records to MP4 and plays on iPhones.
 * @param {RTCPeerConnection} pc
 * @param {MediaStreamTrack | undefined} track
 * @param {MediaStream} stream
 * @returns {RTCRtpTransceiver}
 */
function addVideo(pc, track, stream) {
  /** @type {RTCRtpTransceiver} */
  let tr;
  try {
    tr = pc.addTransceiver(track ?? 'video', { direction: 'sendonly', streams: [stream], sendEncodings: layers });
  } catch (err) {
    console.info('studio: no simulcast', err);
    tr = pc.addTransceiver(track ?? 'video', { direction: 'sendonly', streams: [stream] });
  }
  const caps = typeof RTCRtpReceiver.getCapabilities === 'function' ? RTCRtpReceiver.getCapabilities('video') : null;
  if (caps && typeof tr.setCodecPreferences === 'function') {
    /** @param {RTCRtpCodec} c */
    const rank = (c) => {
      const mime = c.mimeType.toLowerCase();
      const fmtp = c.sdpFmtpLine ?? '';
      if (mime === 'video/h264') {
        const packetized = fmtp.includes('packetization-mode=1');
        const baseline = /profile-level-id=42e0/i.test(fmtp);
        return packetized && baseline ? 0 : packetized ? 1 : 2;
      }
      return mime === 'video/vp8' ? 3 : 4;
    };
    try {
      tr.setCodecPreferences([...caps.codecs].sort((a, b) => rank(a) - rank(b)));
    } catch (err) {
      console.info('studio: codec preferences', err);
    }
  }
  return tr;
}

/**
 * Formats seconds as m:ss or h:mm:ss.
 * @param {number} s
 * @returns {string}
 */
function clock(s) {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The studio: one broadcast at a time, republished after drops. */
class Studio {
  /**
   * @param {Credentials} creds
   * @param {Camera} camera
   * @param {() => void} render called after every change of state or message
   */
  constructor(creds, camera, render) {
    this.creds = creds;
    this.camera = camera;
    this.render = render;
    /** @type {State} */
    this.state = 'idle';
    /** @type {Message} */
    this.message = { title: '' };
    /** When the broadcast went live (ms), kept over reconnects; 0 when not live. */
    this.startedAt = 0;
    /**
     * The senders of the current connection (pc), for camera changes.
     * @type {{pc: RTCPeerConnection, audio: RTCRtpSender, video: RTCRtpSender} | null}
     */
    this.senders = null;
    /** Whether this publish run replaces a broadcast after a drop. */
    this.again = false;
    /** Failed attempts, and 409 answers, in this publish run. */
    this.failures = 0;
    this.conflicts = 0;
    /** @type {Promise<boolean> | null} the camera being opened */
    this.opening = null;
    // A replaced connection's session is left to the server, which keeps the
    // broadcast for its publisher's next connection; only end() ends it.
    this.link = new Keeper(`/whip/${encodeURIComponent(creds.slug)}`, {
      setup: (pc) => this.setup(pc),
      failed: (err) => {
        let wait;
        if (err instanceof SignalError && err.status === 409 && this.conflicts < maxConflictRetries) {
          this.conflicts++;
          wait = conflictRetryMs;
        } else {
          wait = this.failed(err, this.failures, this.again);
          this.failures++;
        }
        if (wait < 0) {
          this.stopBroadcast();
        }
        return wait;
      },
      onState: (state) => this.onState(state),
      reconnect: () => this.publish(true),
    }, { token: creds.token, keepSession: true });
  }

  /** @returns {boolean} whether a broadcast is on (or being started) */
  get active() {
    return this.state !== 'idle';
  }

  /**
   * @param {State} state
   * @param {Message} [message]
   */
  set(state, message) {
    this.state = state;
    if (message) {
      this.message = message;
    }
    this.render();
  }

  /** @param {Message} message */
  say(message) {
    this.message = message;
    this.render();
  }

  /**
   * Opens the camera, showing what went wrong if it cannot. A call while the
   * camera is being opened waits for that (a tap on Go live while the page
   * is still starting the camera must not open it twice).
   * @returns {Promise<boolean>} whether the camera is open
   */
  openCamera() {
    this.opening ??= this.openCameraNow().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  /** @returns {Promise<boolean>} */
  async openCameraNow() {
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      this.say({ title: 'error.insecure' });
      return false;
    }
    this.say({ title: 'studio.cameraStarting' });
    try {
      await this.camera.open();
      this.say({ title: '' });
      return true;
    } catch (err) {
      console.warn('studio: camera', err);
      this.say({ title: cameraError(err) });
      return false;
    }
  }

  /** The Go live button. */
  async goLive() {
    if (this.active) {
      return;
    }
    if (typeof RTCPeerConnection !== 'function') {
      this.say({ title: 'error.unsupported' });
      return;
    }
    if (!this.camera.ready && !(await this.openCamera())) {
      return;
    }
    if (this.active) {
      return; // tapped twice while the camera was opening
    }
    this.startedAt = 0;
    this.link.location = null;
    this.publish(false);
  }

  /**
   * Publishes, replacing the current connection, and keeps trying until the
   * server answers or refuses for good.
   * @param {boolean} again true when republishing a broadcast after a drop
   */
  publish(again) {
    this.again = again;
    this.failures = 0;
    this.conflicts = 0;
    this.set(again ? 'reconnecting' : 'starting', {
      title: again ? 'studio.reconnecting' : 'studio.starting',
      hint: again ? 'studio.reconnectingHint' : '',
    });
    this.link.start();
  }

  /**
   * Shows what went wrong.
   * @param {unknown} err
   * @param {number} failures failed attempts so far
   * @param {boolean} again
   * @returns {number} milliseconds until the next try, or -1 to give up
   */
  failed(err, failures, again) {
    const hint = again ? 'studio.reconnectingHint' : '';
    if (!(err instanceof SignalError)) {
      console.warn('studio: publish failed', err);
      this.say({ title: 'error.generic' });
      return -1;
    }
    console.warn('studio: publish failed', err.status, err.code, err.message);
    switch (err.status) {
      case 0:
        this.say({ title: 'error.network', hint });
        return backoff(failures, retryBaseMs, retryMaxMs);
      case 401:
      case 403:
        this.say({ title: 'error.unauthorized' });
        return -1;
      case 404:
        this.say({ title: 'error.notFound' });
        return -1;
      case 409:
        this.say({ title: 'error.busy' });
        return -1;
      case 429:
      case 503:
        this.say({ title: 'error.server', hint });
        return Math.min(60, Math.max(1, err.retryAfter ?? 5)) * 1000;
    }
    if (err.status >= 500) {
      this.say({ title: 'error.server', hint });
      return backoff(failures, retryBaseMs, retryMaxMs);
    }
    // Another 4xx: the request itself is wrong, and will stay wrong.
    this.say({ title: 'error.generic' });
    return -1;
  }

  /**
   * Prepares a new connection: the camera's tracks, to send.
   * @param {RTCPeerConnection} pc
   */
  setup(pc) {
    const stream = this.camera.stream;
    if (!stream) {
      throw new Error('camera is not open');
    }
    const [audio] = stream.getAudioTracks();
    const [video] = stream.getVideoTracks();
    this.senders = {
      pc,
      audio: pc.addTransceiver(audio ?? 'audio', { direction: 'sendonly', streams: [stream] }).sender,
      video: addVideo(pc, video, stream).sender,
    };
  }

  /** @param {RTCPeerConnectionState} state */
  onState(state) {
    switch (state) {
      case 'connected':
        if (!this.startedAt) {
          this.startedAt = Date.now();
        }
        this.set('live', { title: '' });
        break;
      case 'disconnected':
        this.set('reconnecting', { title: 'studio.reconnecting', hint: 'studio.reconnectingHint' });
        break;
    }
  }

  /** Back to idle, leaving the broadcast to time out on the server. */
  stopBroadcast() {
    this.link.stop();
    this.startedAt = 0;
    this.set('idle');
  }

  /** Ends the broadcast for good (the End button, once confirmed). */
  async end() {
    const ended = this.link.end();
    this.startedAt = 0;
    this.set('idle', { title: 'studio.ended' });
    await ended;
  }

  /** Retries now if it is waiting, e.g. when the network is back. */
  retryNow() {
    this.link.retryNow();
  }

  /** Gives the connection the tracks of the camera as it is now. */
  async useCameraTracks() {
    const senders = this.senders;
    if (!senders || senders.pc !== this.link.pc) {
      return; // no connection: the next one takes the camera as it is
    }
    const stream = this.camera.stream;
    try {
      await senders.audio.replaceTrack(stream?.getAudioTracks()[0] ?? null);
      await senders.video.replaceTrack(stream?.getVideoTracks()[0] ?? null);
    } catch (err) {
      // The connection cannot take the new tracks: publish them anew.
      console.warn('studio: replace track', err);
      if (this.active) {
        this.publish(true);
      }
    }
  }
}

/**
 * Keeps the screen on while live: a phone that goes to sleep stops its
 * camera.
 */
class WakeLock {
  constructor() {
    /** @type {WakeLockSentinel | null} */
    this.sentinel = null;
  }

  async hold() {
    if (this.sentinel || !('wakeLock' in navigator) || document.visibilityState !== 'visible') {
      return;
    }
    try {
      const s = await navigator.wakeLock.request('screen');
      s.addEventListener('release', () => {
        if (this.sentinel === s) {
          this.sentinel = null;
        }
      });
      this.sentinel = s;
    } catch {
      // Battery saver or not allowed: the screen may sleep.
    }
  }

  release() {
    this.sentinel?.release().catch(() => {});
    this.sentinel = null;
  }
}

/**
 * Measures the connection's quality from the publisher's stats: outgoing
 * bitrate, and packet loss and round-trip time as the server reports them
 * (remote-inbound-rtp).
 */
class QualityMeter {
  /** @param {(q: import('./studio-logic.js').Quality) => void} show */
  constructor(show) {
    this.show = show;
    /** @type {import('./studio-logic.js').StatsSample | null} */
    this.prev = null;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
    /** @type {() => {state: string, pc: RTCPeerConnection | null}} */
    this.source = () => ({ state: 'idle', pc: null });
  }

  start() {
    this.timer ??= setInterval(() => this.measure(), qualityEveryMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
    this.prev = null;
    this.pc = null;
  }

  async measure() {
    const { state, pc } = this.source();
    if (state !== 'live' || !pc) {
      this.prev = null;
      this.show(classifyQuality({ state, bitrate: null, loss: null, rtt: null }));
      return;
    }
    if (pc !== this.pc) {
      this.pc = pc; // a new connection: its byte counts start again
      this.prev = null;
    }
    try {
      const report = await pc.getStats();
      const cur = statsSample(report.values(), performance.now());
      const rate = bitrate(this.prev, cur);
      this.prev = cur;
      if (rate === null) {
        return; // the first sample: nothing to compare with yet
      }
      this.show(classifyQuality({ state: this.source().state, bitrate: rate, loss: cur.loss, rtt: cur.rtt }));
    } catch (err) {
      console.info('studio: stats', err);
    }
  }
}

/**
 * Watches the camera picture's brightness while live, on a tiny canvas
 * (see studio-dark.js): a picture that stays dark gets a large warning over
 * the preview, since the merchant, busy with the goods, may not notice the
 * customers see nothing.
 */
class DarkWatch {
  /**
   * @param {HTMLVideoElement} preview
   * @param {HTMLElement} box the warning
   * @param {HTMLElement} text the warning's text
   * @param {() => void} tell called after every sample and when stopped:
   *   the room is told of a change there, and told again after a failure
   */
  constructor(preview, box, text, tell) {
    this.preview = preview;
    this.box = box;
    this.text = text;
    this.tell = tell;
    this.detector = new DarkDetector();
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
    /** @type {CanvasRenderingContext2D | null} made at the first sample */
    this.ctx = null;
  }

  /** @returns {boolean} whether the picture is dark */
  get dark() {
    return this.detector.dark;
  }

  start() {
    this.timer ??= setInterval(() => this.sample(), sampleEveryMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
    const was = this.detector.dark;
    this.detector.reset();
    if (was) {
      this.show();
      this.tell();
    }
  }

  sample() {
    const v = this.preview;
    /** @type {number | null} */
    let luma = null;
    // No frame while the camera opens or switches: no sample, rather than
    // a black one.
    if (v.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && v.videoWidth > 0) {
      try {
        if (!this.ctx) {
          const canvas = document.createElement('canvas');
          canvas.width = sampleWidth;
          canvas.height = sampleHeight;
          // Read back every second: kept in memory, not on the GPU.
          this.ctx = canvas.getContext('2d', { willReadFrequently: true });
        }
        if (this.ctx) {
          this.ctx.drawImage(v, 0, 0, sampleWidth, sampleHeight);
          luma = meanLuma(this.ctx.getImageData(0, 0, sampleWidth, sampleHeight).data);
        }
      } catch (err) {
        console.info('studio: brightness', err);
      }
    }
    if (this.detector.sample(luma, performance.now()) !== null) {
      this.show();
      if (this.dark) {
        try {
          navigator.vibrate?.([200, 100, 200]);
        } catch {
          // No vibration on this phone.
        }
      }
    }
    this.tell();
  }

  show() {
    // The text is set anew each time, so that screen readers announce the
    // alert again.
    this.text.textContent = this.dark ? t('studio.darkWarning') : '';
    this.box.hidden = !this.dark;
  }

  /** After a change of language. */
  render() {
    if (this.dark) {
      this.text.textContent = t('studio.darkWarning');
    }
  }
}

/**
 * The "channel + PIN" form, for a phone without the studio link (or whose
 * link stopped working). A good PIN gets a studio token, remembered like
 * the link's.
 * @param {string} slug the channel to fill in
 */
function showLogin(slug) {
  const form = byId('login', HTMLFormElement);
  const channelInput = byId('login-channel', HTMLInputElement);
  const pinInput = byId('login-pin', HTMLInputElement);
  const error = byId('login-error', HTMLElement);
  const submit = byId('login-submit', HTMLButtonElement);
  byId('status', HTMLElement).hidden = true;
  byId('dock', HTMLElement).hidden = true;
  document.body.classList.add('logging-in');
  form.hidden = false;
  if (slug && !channelInput.value) {
    channelInput.value = slug;
  }
  if (form.dataset.wired) {
    return;
  }
  form.dataset.wired = '1';
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const input = loginInput(channelInput.value, pinInput.value);
    if (!input.ok) {
      error.textContent = t(input.key);
      error.hidden = false;
      (input.field === 'pin' ? pinInput : channelInput).focus();
      return;
    }
    submit.disabled = true;
    try {
      const token = await login(input.channel, input.pin, lang());
      try {
        localStorage.setItem(credentialsKey, JSON.stringify({ slug: input.channel, token }));
        location.replace(`/studio?c=${encodeURIComponent(input.channel)}`);
      } catch {
        // Storage off: the token goes in the fragment, read (and removed) as a studio link's.
        location.replace(`/studio?c=${encodeURIComponent(input.channel)}#t=${encodeURIComponent(token)}`);
      }
    } catch (err) {
      const e = /** @type {{status?: number, message?: string}} */ (err);
      error.textContent = e?.status === 0 ? t('error.network') : e?.message || t('studio.loginFailed');
      error.hidden = false;
      pinInput.value = '';
      pinInput.focus();
    } finally {
      submit.disabled = false;
    }
  });
}

function main() {
  setupLang();
  const preview = byId('preview', HTMLVideoElement);
  const channel = byId('channel', HTMLElement);
  const live = byId('live', HTMLElement);
  const liveLabel = byId('live-label', HTMLElement);
  const elapsed = byId('elapsed', HTMLElement);
  const viewersBox = byId('viewers', HTMLElement);
  const qualityBox = byId('quality', HTMLElement);
  const statusBox = byId('status', HTMLElement);
  const statusTitle = byId('status-title', HTMLElement);
  const statusHint = byId('status-hint', HTMLElement);
  const goLive = byId('go-live', HTMLButtonElement);
  const end = byId('end', HTMLButtonElement);
  const flip = byId('switch', HTMLButtonElement);
  const confirmBox = byId('confirm', HTMLElement);
  const tabsBox = byId('tabs', HTMLElement);
  const badge = byId('orders-badge', HTMLElement);
  const practiceBanner = byId('practice-banner', HTMLElement);
  const darkBox = byId('dark-warning', HTMLElement);
  const darkText = byId('dark-warning-text', HTMLElement);
  const confirmTitle = byId('confirm-title', HTMLElement);

  /** @param {Message} m */
  const showMessage = (m) => {
    statusBox.hidden = !m.title;
    statusTitle.textContent = m.title ? t(m.title) : '';
    statusHint.textContent = m.hint ? t(m.hint) : '';
  };

  const creds = credentials();
  if (!creds) {
    goLive.hidden = true;
    flip.hidden = true;
    showLogin(new URLSearchParams(location.search).get('c') ?? '');
    return;
  }

  const camera = new Camera(preview);
  const wake = new WakeLock();
  const toast = new Toast(byId('toast', HTMLElement));
  const bell = new Bell();
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let ticker;
  let viewers = 0;
  /** @type {import('./studio-logic.js').Quality} */
  let quality = 'unknown';
  let waiting = 0;

  const tick = () => {
    elapsed.textContent = studio.startedAt ? clock(Math.floor((Date.now() - studio.startedAt) / 1000)) : '';
  };

  const showQuality = () => {
    const s = studio.state;
    const q = s === 'reconnecting' ? 'reconnecting' : s === 'live' ? quality : 'unknown';
    const key = qualityKeys[q];
    qualityBox.hidden = !key;
    qualityBox.textContent = key ? t(key) : '';
    qualityBox.dataset.quality = q;
  };

  const showCounts = () => {
    viewersBox.textContent = t('studio.viewers', { n: viewers });
    viewersBox.setAttribute('aria-label', t('studio.viewersLabel', { n: viewers }));
    badge.textContent = String(waiting);
    badge.hidden = waiting === 0;
    badge.setAttribute('aria-label', t('studio.ordersWaiting', { n: waiting }));
  };

  const render = () => {
    const s = studio.state;
    const rehearsing = practice.on;
    channel.textContent = t('studio.channel', { slug: creds.slug });
    goLive.hidden = s !== 'idle';
    end.hidden = s === 'idle';
    live.hidden = s === 'idle' || s === 'starting';
    viewersBox.hidden = live.hidden;
    live.classList.toggle('reconnecting', s === 'reconnecting');
    live.classList.toggle('practice', rehearsing);
    liveLabel.textContent = t(s === 'reconnecting' ? 'studio.reconnecting' : rehearsing ? 'studio.practiceLive' : 'studio.live');
    // The same buttons say what they do in practice: no second set to learn.
    goLive.textContent = t(rehearsing ? 'studio.practiceStart' : 'studio.goLive');
    end.textContent = t(rehearsing ? 'studio.practiceEnd' : 'studio.end');
    confirmTitle.textContent = t(rehearsing ? 'studio.practiceConfirm' : 'studio.confirmTitle');
    document.body.classList.toggle('practice', rehearsing);
    practiceBanner.hidden = !rehearsing;
    practice.render(s === 'idle');
    document.body.dataset.state = s;
    stallOpen.hidden = s !== 'idle';
    if (s !== 'idle' && tabs.current === 'stall') {
      tabs.show(null); // going live: the broadcast comes first
    }
    showMessage(studio.message);
    showQuality();
    showCounts();
    tick();
    if (s === 'live' || s === 'reconnecting') {
      ticker ??= setInterval(tick, 1000);
      meter.start();
      darkWatch.start();
    } else {
      clearInterval(ticker);
      ticker = undefined;
      meter.stop();
      darkWatch.stop();
      quality = 'unknown';
    }
    if (s === 'idle') {
      wake.release();
    } else {
      wake.hold();
    }
  };

  const meter = new QualityMeter((q) => {
    quality = q;
    showQuality();
  });
  /** What the room holds of the picture (video.dark): it keeps the dark spells for the practice review. */
  let darkSaid = false;
  let darkSending = false;
  const tellDark = async () => {
    const want = darkWatch.dark;
    if (darkSending || want === darkSaid) {
      return;
    }
    darkSending = true;
    try {
      await room.send('video.dark', { dark: want });
      darkSaid = want;
    } catch (err) {
      if (err instanceof RoomError && err.code === 'not_live') {
        // The room has no broadcast (yet, or any more), so nothing to keep:
        // a live event or a reconnection tells it again.
        darkSaid = want;
      } else {
        console.info('studio: video.dark', err); // again at the next sample
      }
    } finally {
      darkSending = false;
    }
  };
  const darkWatch = new DarkWatch(preview, darkBox, darkText, () => {
    tellDark();
  });
  const studio = new Studio(creds, camera, render);
  meter.source = () => ({ state: studio.state, pc: studio.link.pc });

  // The live room: viewers, pins, coupons, orders and chat.
  const room = new Room(creds.slug, { token: creds.token, name: t('studio.merchantName'), lang: lang() });
  const api = new StudioApi(creds.slug, creds.token, lang);
  let relogin = false;
  const unauthorized = () => {
    if (!relogin) {
      relogin = true;
      toast.show(t('error.unauthorized'));
    }
    showLoginButton.hidden = false;
  };
  const tips = new CoachTips();
  const practice = new Practice({
    api, toast, unauthorized,
    idle: () => studio.state === 'idle',
    changed: () => render(),
    ended: () => tips.clear(),
  });
  /** Whether the broadcast was started in practice mode: the room must then confirm it. */
  let startedAsPractice = false;
  const products = new Products({ room, api, toast, unauthorized });
  const coupons = new Coupons({ room, toast });
  const orders = new Orders({
    room, api, toast, bell, onCount: (n) => {
      waiting = n;
      showCounts();
    },
  });
  const chat = new Chat({ room, toast });
  const schedule = new Schedule({ api, toast, unauthorized });
  const stall = new StallProfile({ api, toast, unauthorized, done: () => tabs.show('schedule') });
  const stallOpen = byId('stall-open', HTMLButtonElement);
  const tabs = new Tabs((tab) => {
    if (tab === 'products' && !products.loaded) {
      products.load();
    }
    if (tab === 'schedule') {
      schedule.load(); // the list may have changed on another phone, and days pass
      schedule.render();
    }
    if (tab === 'stall') {
      stall.load();
    }
  });
  tabsBox.hidden = false;
  // The stall's profile is for a quiet moment, not for during a broadcast.
  stallOpen.addEventListener('click', () => tabs.show('stall'));

  /** Placeholders, which translate() leaves alone. */
  const placeholders = () => {
    for (const input of document.querySelectorAll('[data-i18n-placeholder]')) {
      const key = input.getAttribute('data-i18n-placeholder');
      if (key && (input instanceof HTMLInputElement || input instanceof HTMLTextAreaElement)) {
        input.placeholder = t(key);
      }
    }
  };
  placeholders();

  // A way back in when the saved link stopped working.
  const showLoginButton = document.createElement('button');
  showLoginButton.type = 'button';
  showLoginButton.className = 'relogin';
  showLoginButton.hidden = true;
  showLoginButton.textContent = t('studio.loginAgain');
  showLoginButton.addEventListener('click', () => {
    room.close();
    showLogin(creds.slug);
  });
  statusBox.after(showLoginButton);

  /**
   * The room's viewer count: the customers' connections, the studio's own
   * left out by the server.
   * @param {unknown} n
   */
  const watching = (n) => Math.max(0, Number(n) || 0);

  room.on('hello', (m) => {
    if (!m.ok) {
      toast.error(m.error);
      return;
    }
    const state = m.state ?? {};
    practice.fromRoom(!!state.live, !!state.practice);
    viewers = watching(state.viewers);
    products.fromState(state);
    coupons.fromState(state);
    orders.fromState(state);
    chat.fromState(state);
    showCounts();
    // The server ends a dark spell when the studio's connection goes: a
    // new connection says it again.
    darkSaid = false;
    tellDark();
  });
  room.on('viewers', (m) => {
    viewers = watching(m.viewers);
    showCounts();
  });
  room.on('live', (m) => {
    practice.fromRoom(!!m.live, !!m.practice);
    if (m.live && !m.practice && startedAsPractice) {
      // Never let the merchant believe customers cannot see them.
      toast.show(t('studio.notPractice'));
    }
    if (!m.live) {
      startedAsPractice = false;
    }
    darkSaid = false; // a new broadcast holds no spell; an ended one needs none
    tellDark();
  });
  room.on('coach.tip', (m) => tips.add(m.tip));
  room.open();

  onLangChange(() => {
    render();
    tabs.retitle();
    products.render();
    coupons.renderPresets();
    coupons.render();
    orders.render();
    chat.render();
    schedule.render();
    placeholders();
    tips.render();
    darkWatch.render();
    showLoginButton.textContent = t('studio.loginAgain');
  });
  render();
  products.load();
  practice.load();

  // ?tab=orders (products, coupons, chat, schedule) opens that panel, e.g. from a
  // tutor's link or a home-screen shortcut.
  const startTab = new URLSearchParams(location.search).get('tab');
  if (startTab === 'products' || startTab === 'coupons' || startTab === 'orders' || startTab === 'chat' || startTab === 'schedule') {
    tabs.show(startTab);
  }

  // Sound needs a tap first: the first tap anywhere allows the order bell.
  document.addEventListener('pointerdown', () => bell.unlock(), { capture: true });
  document.addEventListener('keydown', () => bell.unlock(), { capture: true });

  camera.onEnded = () => {
    // Reopened when the page is in front again (phones stop the camera of
    // a page in the background).
    if (document.visibilityState === 'visible') {
      restoreCamera();
    }
  };
  let restoring = false;
  const restoreCamera = async () => {
    if (restoring || camera.ready) {
      return;
    }
    restoring = true;
    try {
      if (await studio.openCamera()) {
        await studio.useCameraTracks();
      }
    } finally {
      restoring = false;
    }
  };

  goLive.addEventListener('click', async () => {
    if (!practice.on) {
      startedAsPractice = false;
      studio.goLive();
      return;
    }
    if (goLive.disabled) {
      return;
    }
    goLive.disabled = true;
    try {
      if (!(await practice.stillOpen())) {
        return; // cancelled meanwhile: the merchant chooses again, knowingly
      }
    } finally {
      goLive.disabled = false;
    }
    startedAsPractice = true;
    studio.goLive();
  });

  end.addEventListener('click', () => {
    if (confirmBox instanceof HTMLDialogElement && typeof confirmBox.showModal === 'function') {
      confirmBox.returnValue = '';
      confirmBox.showModal();
    } else if (window.confirm(t(practice.on ? 'studio.practiceConfirm' : 'studio.confirmTitle'))) {
      endNow();
    }
  });
  const endNow = () => {
    const rehearsing = practice.on;
    studio.end();
    if (rehearsing) {
      practice.ended();
      studio.say({ title: 'studio.practiceEnded', hint: practice.review ? 'studio.practiceEndedHint' : '' });
    }
  };
  confirmBox.addEventListener('close', () => {
    if (confirmBox instanceof HTMLDialogElement && confirmBox.returnValue === 'end') {
      endNow();
    }
  });

  flip.addEventListener('click', async () => {
    flip.disabled = true;
    try {
      await camera.flip();
      await studio.useCameraTracks();
    } catch (err) {
      console.warn('studio: switch camera', err);
      studio.say({ title: cameraError(err) });
    } finally {
      flip.disabled = false;
    }
  });

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      restoreCamera();
      if (studio.active) {
        wake.hold(); // the screen lock is let go when the page is hidden
      }
    }
  });
  window.addEventListener('online', () => studio.retryNow());
  // Closing the page by mistake asks first; a closed page's broadcast is
  // resumed when the studio is opened again within the grace period.
  window.addEventListener('beforeunload', (ev) => {
    if (studio.active) {
      ev.preventDefault();
      ev.returnValue = '';
    }
  });

  studio.openCamera().then(async (ok) => {
    flip.hidden = !ok || !(await Camera.canFlip());
  });
}

main();
