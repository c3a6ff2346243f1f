// @ts-check
// Watch page /c/{slug}: plays the channel over WHEP, waits while it is not
// live and reconnects by itself.

import { onLangChange, setupLang, t } from './i18n.js';
import { Pause, SignalError, backoff, connect, endSession, onConnectionState } from './whip.js';

/** How long a disconnected connection may try to recover before a new one. */
const disconnectGraceMs = 5000;
/** How long a new connection may take to connect before it is replaced. */
const connectTimeoutMs = 15000;
/** Bounds of the wait between failed attempts. */
const retryBaseMs = 1000;
const retryMaxMs = 15000;

/**
 * What the page shows above the video: keys into the i18n table, so that a
 * language switch can show it again. title '' hides the box.
 * @typedef {{title: string, hint?: string, vars?: Record<string, string | number>}} Status
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
 * The channel slug from a path like /c/{slug}.
 * @param {string} pathname
 * @returns {string}
 */
function slugFromPath(pathname) {
  const m = /^\/c\/([^/]+)$/.exec(pathname);
  return m ? decodeURIComponent(m[1]) : '';
}

/** One viewer's playback: at most one peer connection at a time. */
class Player {
  /**
   * @param {string} slug
   * @param {HTMLVideoElement} video
   * @param {(s: Status) => void} show
   */
  constructor(slug, video, show) {
    this.url = `/whep/${encodeURIComponent(slug)}`;
    this.video = video;
    this.show = show;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {string | null} the session to DELETE */
    this.location = null;
    /** @type {RTCIceServer[]} from the last answer's Link headers */
    this.iceServers = [];
    /** @type {AbortController | null} */
    this.abort = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    /** Counts connection attempts; a callback of an older one does nothing. */
    this.gen = 0;
    this.failures = 0;
    this.pause = new Pause();
  }

  /**
   * Starts a new connection, ending the current one. Keeps trying until one
   * is answered, then the connection's state takes over.
   * @param {boolean} again true when replacing a connection that worked
   */
  async start(again) {
    const gen = this.stop();
    const abort = new AbortController();
    this.abort = abort;
    this.show({ title: again ? 'watch.reconnecting' : 'watch.connecting' });
    while (gen === this.gen) {
      try {
        await this.attempt(gen, abort.signal);
        return;
      } catch (err) {
        if (gen !== this.gen) {
          return;
        }
        this.closePeer();
        const wait = this.failed(err);
        if (wait < 0) {
          return;
        }
        this.failures++;
        await this.pause.wait(wait);
      }
    }
  }

  /**
   * Shows what went wrong.
   * @param {unknown} err
   * @returns {number} milliseconds until the next try, or -1 for none
   */
  failed(err) {
    const retry = backoff(this.failures, retryBaseMs, retryMaxMs);
    if (!(err instanceof SignalError)) {
      console.warn('watch: connect failed', err);
      this.show({ title: 'watch.reconnecting', hint: 'watch.retryIn', vars: { seconds: Math.ceil(retry / 1000) } });
      return retry;
    }
    if (err.status === 503 || err.status === 429) {
      // Not live yet or full: come back when the server says.
      const full = err.code === 'full';
      this.show({ title: full ? 'watch.full' : 'watch.notLive', hint: full ? 'watch.fullHint' : 'watch.notLiveHint' });
      return Math.min(60, Math.max(1, err.retryAfter ?? 5)) * 1000;
    }
    if (err.status === 404) {
      this.show({ title: 'watch.notFound', hint: 'watch.notFoundHint' });
      return -1;
    }
    console.warn('watch: connect failed', err.status, err.code, err.message);
    const title = err.status === 0 ? 'error.network' : 'error.server';
    this.show({ title, hint: 'watch.retryIn', vars: { seconds: Math.ceil(retry / 1000) } });
    return retry;
  }

  /**
   * One connection attempt.
   * @param {number} gen
   * @param {AbortSignal} signal
   */
  async attempt(gen, signal) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });

    const stream = new MediaStream();
    pc.addEventListener('track', (ev) => {
      if (gen !== this.gen) {
        return;
      }
      stream.addTrack(ev.track);
      if (this.video.srcObject !== stream) {
        this.video.srcObject = stream;
      }
      this.play();
    });
    onConnectionState(pc, (state) => {
      if (gen === this.gen) {
        this.onState(state);
      }
    });

    const session = await connect(pc, this.url, { signal });
    if (gen !== this.gen) {
      endSession(session.location);
      return;
    }
    this.location = session.location;
    if (session.iceServers.length > 0) {
      this.iceServers = session.iceServers;
    }
    this.armTimer(connectTimeoutMs);
  }

  /** @param {RTCPeerConnectionState} state */
  onState(state) {
    switch (state) {
      case 'connected':
        clearTimeout(this.timer);
        this.failures = 0;
        // Back after a hiccup: the video never stopped, so no 'playing'.
        if (this.video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && !this.video.paused) {
          this.show({ title: '' });
        }
        break;
      case 'disconnected':
        // ICE often recovers by itself (a Wi-Fi hiccup); wait a little.
        this.show({ title: 'watch.reconnecting' });
        this.armTimer(disconnectGraceMs);
        break;
      case 'failed':
        this.start(true);
        break;
    }
  }

  /** @param {number} ms replace the connection unless it connects within ms */
  armTimer(ms) {
    clearTimeout(this.timer);
    const gen = this.gen;
    this.timer = setTimeout(() => {
      if (gen === this.gen && this.pc?.connectionState !== 'connected') {
        this.start(true);
      }
    }, ms);
  }

  /** Plays, muted if the browser does not allow sound yet. */
  play() {
    this.video.play().catch(() => {
      if (!this.video.muted) {
        this.video.muted = true;
        this.video.play().catch(() => {});
      }
    });
  }

  /**
   * Ends the current connection and any retry in progress.
   * @returns {number} the new generation
   */
  stop() {
    this.gen++;
    clearTimeout(this.timer);
    this.abort?.abort();
    this.abort = null;
    this.pause.wake();
    this.closePeer();
    return this.gen;
  }

  closePeer() {
    if (this.location) {
      endSession(this.location);
      this.location = null;
    }
    this.pc?.close();
    this.pc = null;
  }

  /** Retries now if it is waiting, e.g. when the network is back. */
  retryNow() {
    this.pause.wake();
  }
}

function main() {
  setupLang();
  const video = byId('video', HTMLVideoElement);
  const statusBox = byId('status', HTMLElement);
  const statusTitle = byId('status-title', HTMLElement);
  const statusHint = byId('status-hint', HTMLElement);
  const unmute = byId('unmute', HTMLButtonElement);

  /** @type {Status} */
  let status = { title: 'watch.connecting' };
  /** @param {Status} s */
  const show = (s) => {
    status = s;
    statusBox.hidden = !s.title;
    statusTitle.textContent = s.title ? t(s.title, s.vars) : '';
    statusHint.textContent = s.hint ? t(s.hint, s.vars) : '';
  };
  onLangChange(() => show(status));

  const slug = slugFromPath(location.pathname);
  if (!slug) {
    show({ title: 'watch.notFound', hint: 'watch.notFoundHint' });
    return;
  }
  if (typeof RTCPeerConnection !== 'function') {
    show({ title: 'watch.noWebRTC', hint: 'watch.noWebRTCHint' });
    return;
  }

  // Autoplay is allowed only muted; one tap turns the sound on.
  video.muted = true;
  const updateUnmute = () => {
    unmute.hidden = !video.muted || !video.srcObject;
  };
  unmute.addEventListener('click', () => {
    video.muted = false;
    video.play().catch(() => {});
    updateUnmute();
  });
  video.addEventListener('volumechange', updateUnmute);
  video.addEventListener('playing', () => {
    show({ title: '' });
    updateUnmute();
  });
  // Portrait video fills a portrait screen; other shapes are shown whole.
  video.addEventListener('resize', () => {
    video.classList.toggle('portrait', video.videoHeight > video.videoWidth);
  });

  const player = new Player(slug, video, show);
  player.start(false);

  // Leave the server a DELETE rather than a session to time out.
  window.addEventListener('pagehide', () => player.stop());
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) {
      player.start(false); // back from the back-forward cache
    }
  });
  window.addEventListener('online', () => player.retryNow());
}

main();
