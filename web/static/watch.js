// @ts-check
// Watch page /c/{slug}: plays the channel over WHEP, waits while it is not
// live and reconnects by itself.

import { onLangChange, setupLang, t } from './i18n.js';
import { Keeper, SignalError, backoff } from './whip.js';

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
    this.video = video;
    this.show = show;
    /** Failed attempts since the last connection that worked. */
    this.failures = 0;
    this.link = new Keeper(`/whep/${encodeURIComponent(slug)}`, {
      setup: (pc) => this.setup(pc),
      failed: (err) => {
        const wait = this.failed(err);
        if (wait >= 0) {
          this.failures++;
        }
        return wait;
      },
      onState: (state) => this.onState(state),
      reconnect: () => this.start(true),
    });
  }

  /**
   * Starts a new connection, ending the current one. Keeps trying until one
   * is answered, then the connection's state takes over.
   * @param {boolean} again true when replacing a connection that worked
   */
  start(again) {
    this.show({ title: again ? 'watch.reconnecting' : 'watch.connecting' });
    this.link.start();
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
   * Prepares a new connection: receive audio and video, and play them.
   * @param {RTCPeerConnection} pc
   */
  setup(pc) {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.addEventListener('track', (ev) => {
      if (pc !== this.link.pc) {
        return; // a replaced connection
      }
      stream.addTrack(ev.track);
      if (this.video.srcObject !== stream) {
        this.video.srcObject = stream;
      }
      this.play();
    });
  }

  /** @param {RTCPeerConnectionState} state */
  onState(state) {
    switch (state) {
      case 'connected':
        this.failures = 0;
        // Back after a hiccup: the video never stopped, so no 'playing'.
        if (this.video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && !this.video.paused) {
          this.show({ title: '' });
        }
        break;
      case 'disconnected':
        this.show({ title: 'watch.reconnecting' });
        break;
    }
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

  /** Ends the current connection and any retry in progress. */
  stop() {
    this.link.stop();
  }

  /** Retries now if it is waiting, e.g. when the network is back. */
  retryNow() {
    this.link.retryNow();
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
