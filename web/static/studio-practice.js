// @ts-check
// The studio's practice mode (docs/api.md, Practice sessions): a rehearsal
// on the merchant's own channel that only invited people see. The studio
// opens or cancels the session, marks the whole screen while it is open,
// and after the practice offers its review. The broadcast itself is
// published as any other: the server makes it the practice one.
// CoachTips shows the tutor's tips (the room event coach.tip) large over the
// camera picture.

import { t } from './i18n.js';
import { TipQueue, practiceOn, practiceOpen, sitePath } from './studio-logic.js';
import { busy, byId, reportError } from './studio-ui.js';

/**
 * How often an idle studio asks for the open session: a tutor may open or
 * cancel it from their own page meanwhile.
 */
const refreshEveryMs = 30_000;

/**
 * @typedef {import('./studio-logic.js').PracticeSession} PracticeSession
 * @typedef {{
 *   api: import('./studio-api.js').StudioApi,
 *   toast: import('./studio-ui.js').Toast,
 *   unauthorized: () => void,
 *   idle: () => boolean,
 *   changed: () => void,
 *   ended?: () => void,
 * }} PracticeContext idle: whether the studio is off the air; changed: asks
 *   the page to draw itself again; ended: a practice broadcast just ended
 */

/** The practice session of the channel, as the studio knows it. */
export class Practice {
  /** @param {PracticeContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {PracticeSession | null} the open session (or the one that just ended) */
    this.session = null;
    /** What the room says: live or not, null before it said anything. @type {boolean | null} */
    this.roomLive = null;
    /** Whether the room's live broadcast is a practice one. */
    this.roomPractice = false;
    /** The review of the practice that just ended, '' for none. */
    this.review = '';
    /**
     * Counts the changes made here: an answer to a request sent before one
     * of them is out of date (a start-up GET answered 404 after the POST).
     */
    this.gen = 0;
    this.button = byId('practice', HTMLButtonElement);
    this.cancelButton = byId('practice-cancel', HTMLButtonElement);
    this.reviewLink = byId('practice-review', HTMLAnchorElement);
    this.button.addEventListener('click', () => this.start());
    this.cancelButton.addEventListener('click', () => this.cancel());
    setInterval(() => {
      if (document.visibilityState === 'visible' && ctx.idle() && this.roomLive !== true) {
        this.load();
      }
    }, refreshEveryMs);
  }

  /** @returns {boolean} whether the studio is in practice mode */
  get on() {
    return practiceOn(this);
  }

  /** @returns {boolean} whether the session waits for the studio to go live (it can be cancelled) */
  get waiting() {
    return this.on && this.roomLive !== true && this.session?.state === 'waiting';
  }

  /**
   * Asks the server for the open session (at start-up, and now and then).
   * A failure changes nothing: the room still says when a broadcast is a
   * practice one.
   */
  async load() {
    const gen = this.gen;
    try {
      const s = await this.ctx.api.practice();
      if (gen === this.gen) {
        this.set(s);
      }
    } catch (err) {
      if (/** @type {any} */ (err)?.status === 401) {
        this.ctx.unauthorized();
      } else {
        console.info('studio: practice session', err);
      }
    }
  }

  /** @param {PracticeSession | null} session */
  set(session) {
    this.gen++;
    this.session = session && typeof session === 'object' ? session : null;
    if (practiceOpen(this.session)) {
      this.review = ''; // a new practice: the last one's review is not the point now
    }
    this.ctx.changed();
  }

  /** The Practice button: opens a session; the next broadcast is the practice one. */
  start() {
    return busy(this.button, async () => {
      try {
        this.set(await this.ctx.api.startPractice());
        this.ctx.toast.show(t('studio.practiceReady'), 'ok');
      } catch (err) {
        reportError(this.ctx, err);
      }
    });
  }

  /** The Cancel practice button, while the session waits. */
  cancel() {
    const id = this.session?.id;
    if (id === undefined) {
      return Promise.resolve();
    }
    return busy(this.cancelButton, async () => {
      try {
        await this.ctx.api.cancelPractice(id);
        this.set(null);
        this.ctx.toast.show(t('studio.practiceCancelled'), 'ok');
      } catch (err) {
        const status = /** @type {any} */ (err)?.status;
        if (status === 404) {
          this.set(null); // gone already
        } else {
          reportError(this.ctx, err);
          this.load(); // 409: it went live meanwhile
        }
      }
    });
  }

  /**
   * Checks, before going live in practice mode, that the session is still
   * open: a session cancelled meanwhile (by the tutor, or after two hours)
   * would make the merchant go live for real while believing it a practice.
   * @returns {Promise<boolean>} whether to go live
   */
  async stillOpen() {
    try {
      const s = await this.ctx.api.practice();
      this.set(s);
      if (practiceOpen(s)) {
        return true;
      }
      this.ctx.toast.show(t('studio.practiceGone'));
      return false;
    } catch (err) {
      reportError(this.ctx, err);
      return false;
    }
  }

  /**
   * The room's word on the broadcast (hello state, live event).
   * @param {boolean} live
   * @param {boolean} practice
   */
  fromRoom(live, practice) {
    const wasPractice = this.roomLive === true && this.roomPractice;
    this.roomLive = live;
    this.roomPractice = live && practice;
    if (wasPractice && !live) {
      this.ended();
      return;
    }
    if (live && !practice) {
      this.review = ''; // a real broadcast since: the review link would only be in the way
    }
    if (this.roomPractice) {
      if (practiceOpen(this.session)) {
        this.session = { ...(/** @type {PracticeSession} */ (this.session)), state: 'live' };
      } else {
        this.load(); // opened from the tutor's page, or the start-up GET failed: the review needs it
      }
    }
    this.ctx.changed();
  }

  /** The practice broadcast ended: out of practice mode, with its review to offer. */
  ended() {
    const url = sitePath(this.session?.review_url);
    if (url) {
      this.review = url;
    }
    if (this.session) {
      this.gen++;
      this.session = { ...this.session, state: 'ended' };
    }
    this.roomPractice = false;
    this.ctx.ended?.();
    this.ctx.changed();
  }

  /**
   * Shows and hides the practice controls.
   * @param {boolean} idle whether the studio is off the air
   */
  render(idle) {
    this.button.hidden = !idle || this.on;
    this.cancelButton.hidden = !idle || !this.waiting;
    this.reviewLink.hidden = !idle || this.on || !this.review;
    if (this.review && this.reviewLink.getAttribute('href') !== this.review) {
      this.reviewLink.href = this.review;
    }
  }
}

/** How long a tip stays large before it folds into a small chip. */
const tipOpenMs = 20_000;

/**
 * The tutor's coaching tips, large over the camera picture with a big
 * "Got it" button: the newest shown, the others counted. A tip left alone
 * folds into a chip in the top bar after a while, so that it never keeps
 * the broadcast's buttons covered; the chip opens it again.
 */
export class CoachTips {
  constructor() {
    this.queue = new TipQueue();
    /** Whether the tip is shown large (else as the chip). */
    this.open = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.box = byId('coach-tip', HTMLElement);
    this.text = byId('coach-tip-text', HTMLElement);
    this.more = byId('coach-tip-more', HTMLElement);
    this.ok = byId('coach-tip-ok', HTMLButtonElement);
    this.chip = byId('coach-tip-chip', HTMLButtonElement);
    this.ok.addEventListener('click', () => this.dismiss());
    this.chip.addEventListener('click', () => {
      this.show();
      this.ok.focus();
    });
    // The tip goes below the top bar, whose height the practice banner and
    // the phone's text size change.
    const top = document.querySelector('.top');
    if (top instanceof HTMLElement && typeof ResizeObserver === 'function') {
      new ResizeObserver(() => {
        document.documentElement.style.setProperty('--top-h', `${Math.ceil(top.getBoundingClientRect().bottom)}px`);
      }).observe(top);
    }
  }

  /**
   * A coach.tip event's tip.
   * @param {unknown} tip
   */
  add(tip) {
    if (!this.queue.add(tip)) {
      return;
    }
    try {
      navigator.vibrate?.([250, 120, 250]);
    } catch {
      // No vibration on this phone.
    }
    this.show();
  }

  /** Shows the newest tip large, for a while. */
  show() {
    this.open = this.queue.size > 0;
    clearTimeout(this.timer);
    if (this.open) {
      this.timer = setTimeout(() => {
        this.fold();
      }, tipOpenMs);
    }
    this.render();
  }

  /** Got it: the shown tip goes, the next newest comes up. */
  dismiss() {
    const hadFocus = document.activeElement === this.ok;
    this.queue.dismiss();
    this.show();
    if (hadFocus && !this.open) {
      this.ok.blur(); // a hidden button keeps no focus
    }
  }

  /** Folds the tip into the chip, keeping it. */
  fold() {
    clearTimeout(this.timer);
    const hadFocus = document.activeElement === this.ok;
    this.open = false;
    this.render();
    if (hadFocus && !this.chip.hidden) {
      this.chip.focus();
    }
  }

  /** Forgets the tips: the practice is over (they are in its review). */
  clear() {
    clearTimeout(this.timer);
    this.queue.clear();
    this.open = false;
    this.render();
  }

  render() {
    const tip = this.queue.current;
    const n = this.queue.size;
    this.box.hidden = !tip || !this.open;
    this.chip.hidden = !tip || this.open;
    this.text.textContent = tip?.text ?? '';
    this.more.hidden = this.queue.others === 0;
    this.more.textContent = this.queue.others ? t('studio.tipMore', { n: this.queue.others }) : '';
    this.chip.textContent = t('studio.tipChip', { n });
    this.chip.setAttribute('aria-label', t('studio.tipChipLabel', { n }));
  }
}
