// @ts-check
// Dark picture: the merchant films in a dark corner of the market, or a
// finger covers the lens. The server cannot tell (it does not decode the
// phone's H.264), but the studio has the camera: it measures the preview's
// brightness on a tiny canvas about once a second. Here is the logic that
// needs no page, tested in testdata/static.test.js.

/** The size the preview is scaled down to before it is measured: cheap, and enough for a mean. */
export const sampleWidth = 32;
export const sampleHeight = 18;
/** How often the picture is measured while live. */
export const sampleEveryMs = 1000;

/**
 * @typedef {object} DarkOptions
 * @property {number} darkBelow mean luma (0–255) under which the picture is dark
 * @property {number} brightAbove mean luma over which it is bright again: higher than
 *   darkBelow, so that a picture near the line does not flicker between the two
 * @property {number} darkAfterMs how long it must stay dark before the merchant is told
 * @property {number} brightAfterMs how long it must stay bright before the warning goes
 * @property {number} maxGapMs samples further apart than this do not make one run: a
 *   page in the background gets its timers late, and a run must not span that
 */

/** @type {DarkOptions} */
export const darkDefaults = {
  darkBelow: 40,
  brightAbove: 48,
  darkAfterMs: 3000,
  brightAfterMs: 2000,
  maxGapMs: 2500,
};

/**
 * The mean luma (Rec. 601: 0.299 R + 0.587 G + 0.114 B) of RGBA pixels,
 * as getImageData gives them.
 * @param {ArrayLike<number>} rgba 4 bytes a pixel; a last partial pixel is ignored
 * @returns {number | null} 0 to 255, or null without a pixel
 */
export function meanLuma(rgba) {
  const n = Math.floor(rgba.length / 4);
  if (n === 0) {
    return null;
  }
  let sum = 0;
  for (let i = 0; i < n * 4; i += 4) {
    sum += 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
  }
  return sum / n;
}

/**
 * Whether the picture is dark, from its samples: it turns dark when it
 * stays under darkBelow for darkAfterMs, and bright again when it stays
 * over brightAbove for brightAfterMs. A moment of shadow (a hand passing,
 * a customer leaning in) changes nothing.
 */
export class DarkDetector {
  /** @param {Partial<DarkOptions>} [opts] */
  constructor(opts = {}) {
    this.opts = { ...darkDefaults, ...opts };
    this.dark = false;
    /** When the samples started saying the contrary of dark; null when they do not. @type {number | null} */
    this.since = null;
    /** The last sample's time. @type {number | null} */
    this.last = null;
  }

  /**
   * Takes a sample.
   * @param {number | null} luma the picture's mean luma; null (no frame yet) is no sample
   * @param {number} now ms, of a clock that only goes forward (performance.now())
   * @returns {boolean | null} the new state when it changed, else null
   */
  sample(luma, now) {
    if (luma === null || !Number.isFinite(luma)) {
      return null;
    }
    const o = this.opts;
    if (this.last !== null && now - this.last > o.maxGapMs) {
      this.since = null;
    }
    this.last = now;
    const contrary = this.dark ? luma > o.brightAbove : luma < o.darkBelow;
    if (!contrary) {
      this.since = null;
      return null;
    }
    this.since ??= now;
    if (now - this.since < (this.dark ? o.brightAfterMs : o.darkAfterMs)) {
      return null;
    }
    this.dark = !this.dark;
    this.since = null;
    return this.dark;
  }

  /** Forgets everything: not live any more, or a new broadcast. */
  reset() {
    this.dark = false;
    this.since = null;
    this.last = null;
  }
}
