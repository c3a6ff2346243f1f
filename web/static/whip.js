// @ts-check
// WHIP (publish) and WHEP (watch) signalling over HTTP (RFC 9725), shared
// by the watch page and the studio. Both are one POST of an SDP offer that
// answers 201 Created with the SDP answer and a Location for the session,
// and a DELETE of that Location to end it. Keeper, at the end, keeps a
// page's one connection up: retries and the reconnect watchdog.

/** An error answer from the server, or a network failure (status 0). */
export class SignalError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the request did not get through
   * @param {string} code the server's error code ("not_live", "full", ...) or ""
   * @param {string} message the server's message, for logs, not for people
   * @param {number | null} retryAfter seconds from Retry-After, or null
   */
  constructor(status, code, message, retryAfter) {
    super(message || `HTTP ${status}`);
    this.name = 'SignalError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * @typedef {object} Session
 * @property {string} location absolute URL of the session resource
 * @property {RTCIceServer[]} iceServers from the answer's Link headers, for
 *   the next connection
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} [token] sent as "Authorization: Bearer"
 * @property {AbortSignal} [signal] cancels the request
 * @property {number} [gatherMs] how long to wait for ICE candidates (1000)
 */

/**
 * Offers pc to a WHIP or WHEP endpoint and applies the answer. The
 * transceivers must already be added. Candidates are gathered before the
 * POST (for at most gatherMs), so the offer carries them and no trickle is
 * needed.
 * @param {RTCPeerConnection} pc
 * @param {string} url e.g. "/whep/stall-7"
 * @param {ConnectOptions} [opts]
 * @returns {Promise<Session>}
 * @throws {SignalError} when the server refuses or cannot be reached
 */
export async function connect(pc, url, opts = {}) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await waitForIceGathering(pc, opts.gatherMs ?? 1000);
  const sdp = pc.localDescription?.sdp ?? offer.sdp ?? '';

  /** @type {Record<string, string>} */
  const headers = { 'Content-Type': 'application/sdp' };
  if (opts.token) {
    headers.Authorization = `Bearer ${opts.token}`;
  }
  /** @type {Response} */
  let res;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body: sdp,
      cache: 'no-store',
      signal: opts.signal,
    });
  } catch (err) {
    if (opts.signal?.aborted) {
      throw err;
    }
    throw new SignalError(0, 'network', String(err), null);
  }
  if (!res.ok) {
    throw await errorFrom(res);
  }
  const loc = res.headers.get('Location');
  if (!loc) {
    throw new SignalError(res.status, 'no_location', 'answer has no Location header', null);
  }
  const answer = await res.text();
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return {
    location: new URL(loc, res.url || new URL(url, document.baseURI)).href,
    iceServers: parseLinkHeader(res.headers.get('Link')),
  };
}

/**
 * Ends a session. Errors are ignored: the server ends forgotten sessions by
 * itself. keepalive lets the request outlive a closing page.
 * @param {string} location
 * @param {string} [token]
 * @returns {Promise<void>}
 */
export async function endSession(location, token) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  try {
    await fetch(location, { method: 'DELETE', headers, keepalive: true });
  } catch {
    // Nothing to do: the session times out on the server.
  }
}

/**
 * Resolves when pc has gathered its ICE candidates, or after ms.
 * @param {RTCPeerConnection} pc
 * @param {number} ms
 * @returns {Promise<void>}
 */
export function waitForIceGathering(pc, ms) {
  if (pc.iceGatheringState === 'complete') {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', onState);
      pc.removeEventListener('icecandidate', onCandidate);
      resolve();
    };
    const onState = () => {
      if (pc.iceGatheringState === 'complete') {
        done();
      }
    };
    // Some browsers signal the end only with a null candidate.
    /** @param {RTCPeerConnectionIceEvent} ev */
    const onCandidate = (ev) => {
      if (!ev.candidate) {
        done();
      }
    };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', onState);
    pc.addEventListener('icecandidate', onCandidate);
  });
}

/**
 * Reads an error answer: its JSON body {"error": {"code", "message"}} if
 * any, and Retry-After.
 * @param {Response} res
 * @returns {Promise<SignalError>}
 */
async function errorFrom(res) {
  let code = '';
  let message = res.statusText;
  try {
    const body = await res.json();
    if (body && typeof body.error === 'object' && body.error) {
      code = typeof body.error.code === 'string' ? body.error.code : '';
      message = typeof body.error.message === 'string' ? body.error.message : message;
    }
  } catch {
    // Not JSON: the status says enough.
  }
  return new SignalError(res.status, code, message, parseRetryAfter(res.headers.get('Retry-After'), Date.now()));
}

/**
 * Parses Retry-After: seconds, or an HTTP date.
 * @param {string | null} value
 * @param {number} now milliseconds since the epoch
 * @returns {number | null} seconds to wait, or null when absent or invalid
 */
export function parseRetryAfter(value, now) {
  if (!value) {
    return null;
  }
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    return Number(v);
  }
  const at = Date.parse(v);
  if (Number.isNaN(at)) {
    return null;
  }
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * Reads the ICE servers from Link headers (RFC 9725 §4.6), e.g.
 *   <stun:stun.example.net>; rel="ice-server",
 *   <turn:turn.example.net?transport=udp>; rel="ice-server";
 *     username="user"; credential="secret"; credential-type="password"
 * Links of other relations and other URI schemes are ignored, and so are
 * TURN servers without credentials.
 * @param {string | null} value the Link header(s), joined by commas as fetch does
 * @returns {RTCIceServer[]}
 */
export function parseLinkHeader(value) {
  /** @type {RTCIceServer[]} */
  const servers = [];
  if (!value) {
    return servers;
  }
  for (const link of splitLinks(value)) {
    const rels = (link.params.rel ?? '').toLowerCase().split(/\s+/);
    if (!rels.includes('ice-server') || !/^(stuns?|turns?):/i.test(link.uri)) {
      continue;
    }
    /** @type {RTCIceServer} */
    const server = { urls: link.uri };
    if (link.params.username !== undefined) {
      server.username = link.params.username;
    }
    if (link.params.credential !== undefined) {
      server.credential = link.params.credential;
    }
    // A TURN server without credentials makes RTCPeerConnection throw.
    if (/^turns?:/i.test(link.uri) && (server.username === undefined || server.credential === undefined)) {
      continue;
    }
    servers.push(server);
  }
  return servers;
}

/**
 * Splits a Link header into links: a <uri> followed by ;name=value or
 * ;name="quoted value" parameters, links separated by commas. Commas inside
 * <> or quotes do not separate. Parameter names are lowercased; the first of
 * a repeated name wins (RFC 8288).
 * @param {string} value
 * @returns {Array<{uri: string, params: Record<string, string>}>}
 */
function splitLinks(value) {
  /** @type {Array<{uri: string, params: Record<string, string>}>} */
  const links = [];
  const n = value.length;
  let i = 0;
  const skipSpace = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) {
      i++;
    }
  };
  while (i < n) {
    const open = value.indexOf('<', i);
    if (open < 0) {
      break;
    }
    const close = value.indexOf('>', open);
    if (close < 0) {
      break;
    }
    const uri = value.slice(open + 1, close).trim();
    /** @type {Record<string, string>} */
    const params = {};
    i = close + 1;
    for (;;) {
      skipSpace();
      if (i >= n || value[i] === ',') {
        i++;
        break;
      }
      if (value[i] !== ';') {
        i++; // stray character: skip it
        continue;
      }
      i++;
      skipSpace();
      const nameStart = i;
      while (i < n && !'=;, \t'.includes(value[i])) {
        i++;
      }
      const name = value.slice(nameStart, i).toLowerCase();
      skipSpace();
      let val = '';
      if (value[i] === '=') {
        i++;
        skipSpace();
        if (value[i] === '"') {
          i++;
          while (i < n && value[i] !== '"') {
            if (value[i] === '\\' && i + 1 < n) {
              i++;
            }
            val += value[i];
            i++;
          }
          i++; // the closing quote
        } else {
          const valStart = i;
          while (i < n && !';, \t'.includes(value[i])) {
            i++;
          }
          val = value.slice(valStart, i);
        }
      }
      if (name && !(name in params)) {
        params[name] = val;
      }
    }
    links.push({ uri, params });
  }
  return links;
}

/**
 * The wait before retry number attempt (0-based): doubling from baseMs up
 * to maxMs, with jitter so that many viewers do not retry at once.
 * @param {number} attempt
 * @param {number} baseMs
 * @param {number} maxMs
 * @param {() => number} [random] returns [0, 1), for tests
 * @returns {number} milliseconds
 */
export function backoff(attempt, baseMs, maxMs, random = Math.random) {
  const ms = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ms * (0.75 + 0.25 * random()));
}

/** A wait that can be cut short, for retries that should happen now. */
export class Pause {
  /** @type {(() => void) | null} */
  #resolve = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer = undefined;

  /**
   * Waits ms, or until wake is called. A wait in progress ends first.
   * @param {number} ms
   * @returns {Promise<void>}
   */
  wait(ms) {
    this.wake();
    return new Promise((resolve) => {
      this.#resolve = resolve;
      this.#timer = setTimeout(() => this.wake(), ms);
    });
  }

  /** Ends the wait in progress, if any. */
  wake() {
    clearTimeout(this.#timer);
    const resolve = this.#resolve;
    this.#resolve = null;
    resolve?.();
  }
}

/**
 * The connection state, also on browsers without
 * RTCPeerConnection.connectionState (older Firefox): derived from the ICE
 * state there.
 * @param {RTCPeerConnection} pc
 * @returns {RTCPeerConnectionState}
 */
export function connectionState(pc) {
  if (pc.connectionState) {
    return pc.connectionState;
  }
  switch (pc.iceConnectionState) {
    case 'checking':
      return 'connecting';
    case 'connected':
    case 'completed':
      return 'connected';
    case 'disconnected':
      return 'disconnected';
    case 'failed':
      return 'failed';
    case 'closed':
      return 'closed';
    default:
      return 'new';
  }
}

/**
 * Calls fn when the connection state of pc changes.
 * @param {RTCPeerConnection} pc
 * @param {(state: RTCPeerConnectionState) => void} fn
 */
export function onConnectionState(pc, fn) {
  /** @type {RTCPeerConnectionState | null} */
  let last = null;
  const check = () => {
    const state = connectionState(pc);
    if (state !== last) {
      last = state;
      fn(state);
    }
  };
  pc.addEventListener('connectionstatechange', check);
  pc.addEventListener('iceconnectionstatechange', check);
}

/**
 * @typedef {object} KeeperHooks
 * @property {(pc: RTCPeerConnection) => void} setup adds the transceivers
 *   (and track listeners) to a new connection, before its offer
 * @property {(err: unknown) => number} failed told why an attempt failed;
 *   returns the milliseconds to wait before the next one, or -1 to give up
 *   (the keeper then stops)
 * @property {(state: RTCPeerConnectionState) => void} onState told when the
 *   state of the current connection changes
 * @property {() => void} reconnect called when the current connection failed,
 *   was closed by the server, did not connect in time or stayed disconnected
 *   too long: the page shows it is reconnecting and calls start again
 */

/**
 * @typedef {object} KeeperOptions
 * @property {string} [token] sent as "Authorization: Bearer" on the offer
 *   and on the session's DELETE: the studio's token for WHIP; for WHEP a
 *   practice credential, which a channel in a practice session asks of its
 *   viewers (without one its WHEP answers 401)
 * @property {boolean} [keepSession] leave a replaced connection's session to
 *   the server instead of ending it (a publisher that comes back within the
 *   server's grace period resumes its broadcast); the last session stays in
 *   location until the page ends it
 * @property {number} [connectTimeoutMs] how long a new connection may take
 *   to connect before it is replaced (15000)
 * @property {number} [disconnectGraceMs] how long a disconnected connection
 *   may try to recover before it is replaced (5000)
 * @property {number} [gatherMs] passed to connect
 */

/**
 * Keeps one page's connection to a WHIP or WHEP endpoint: connects, retries
 * failed attempts after the wait the page chooses, and watches the
 * connection, asking the page to reconnect when it fails, is closed by the
 * server, does not connect in time or stays disconnected longer than a grace
 * period. The watch page and the studio share it; what they show, and how
 * long they wait after which error, stays with them (the hooks). At most one
 * connection is current; callbacks of older ones do nothing.
 */
export class Keeper {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer = undefined;
  /** @type {AbortController | null} */
  #abort = null;
  #pause = new Pause();

  /**
   * @param {string} url e.g. "/whep/stall-7"
   * @param {KeeperHooks} hooks
   * @param {KeeperOptions} [opts]
   */
  constructor(url, hooks, opts = {}) {
    this.url = url;
    this.hooks = hooks;
    this.token = opts.token;
    this.keepSession = opts.keepSession ?? false;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 15000;
    this.disconnectGraceMs = opts.disconnectGraceMs ?? 5000;
    this.gatherMs = opts.gatherMs;
    /** @type {RTCPeerConnection | null} the current connection */
    this.pc = null;
    /** @type {string | null} the last session the server answered with */
    this.location = null;
    /** @type {RTCIceServer[]} from the last answer's Link headers */
    this.iceServers = [];
    /** Counts connections; a callback of an older one does nothing. */
    this.gen = 0;
    /** Whether stop was called after the last start. */
    this.stopped = true;
  }

  /**
   * Starts a new connection, replacing the current one, and keeps trying
   * until the server answers or the page gives up; the connection's state
   * takes over from there.
   * @returns {Promise<void>}
   */
  async start() {
    const gen = this.#reset();
    this.stopped = false;
    const abort = new AbortController();
    this.#abort = abort;
    while (gen === this.gen) {
      try {
        await this.#attempt(gen, abort.signal);
        return;
      } catch (err) {
        if (gen !== this.gen) {
          return;
        }
        this.#closePeer();
        const wait = this.hooks.failed(err);
        if (gen !== this.gen) {
          return; // the page started or stopped meanwhile
        }
        if (wait < 0) {
          this.stop();
          return;
        }
        await this.#pause.wait(wait);
      }
    }
  }

  /** Ends the current connection and any retry in progress. */
  stop() {
    this.#reset();
    this.stopped = true;
  }

  /**
   * Ends the session on the server, then stops like stop. The connection is
   * closed only after the server has answered (or after waitMs): one that
   * closed first would look like a dropped connection, which a server keeps
   * waiting for. The session is ended also with keepSession.
   * @param {number} [waitMs] the longest wait for the server
   * @returns {Promise<void>}
   */
  async end(waitMs = 2000) {
    const { pc, location } = this;
    this.pc = null;
    this.location = null;
    this.stop();
    if (location) {
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let timer;
      await Promise.race([
        endSession(location, this.token),
        new Promise((resolve) => {
          timer = setTimeout(resolve, waitMs);
        }),
      ]);
      clearTimeout(timer);
    }
    pc?.close();
  }

  /** Retries now if it is waiting, e.g. when the network is back. */
  retryNow() {
    this.#pause.wake();
  }

  /** @returns {number} the new generation */
  #reset() {
    this.gen++;
    clearTimeout(this.#timer);
    this.#abort?.abort();
    this.#abort = null;
    this.#pause.wake();
    this.#closePeer();
    return this.gen;
  }

  #closePeer() {
    if (this.location && !this.keepSession) {
      endSession(this.location, this.token);
      this.location = null;
    }
    this.pc?.close();
    this.pc = null;
  }

  /**
   * One connection attempt.
   * @param {number} gen
   * @param {AbortSignal} signal
   */
  async #attempt(gen, signal) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.hooks.setup(pc);
    onConnectionState(pc, (state) => {
      if (gen === this.gen) {
        this.#onState(state);
      }
    });

    const session = await connect(pc, this.url, { token: this.token, signal, gatherMs: this.gatherMs });
    if (gen !== this.gen) {
      // Answered after it was replaced: a publisher's broadcast is left to
      // its newer connection, unless it was stopped meanwhile.
      if (!this.keepSession || this.stopped) {
        endSession(session.location, this.token);
      }
      return;
    }
    this.location = session.location;
    if (session.iceServers.length > 0) {
      this.iceServers = session.iceServers;
    }
    this.#watchTransports(pc, gen);
    this.#arm(this.connectTimeoutMs);
  }

  /**
   * Reconnects as soon as a DTLS transport of pc closes or fails. A server
   * that ends a session (a broadcast that ended, a server going down) closes
   * DTLS at once, while the connection state stays 'connected' until ICE
   * gives up, many seconds later: a viewer would look at a frozen picture
   * meanwhile.
   * @param {RTCPeerConnection} pc
   * @param {number} gen
   */
  #watchTransports(pc, gen) {
    /** @type {Set<RTCDtlsTransport>} */
    const seen = new Set();
    for (const tr of pc.getTransceivers?.() ?? []) {
      const dtls = tr.receiver?.transport ?? tr.sender?.transport;
      if (!dtls || seen.has(dtls)) {
        continue; // bundled, or a browser without RTCDtlsTransport
      }
      seen.add(dtls);
      dtls.addEventListener('statechange', () => {
        if (gen === this.gen && (dtls.state === 'closed' || dtls.state === 'failed')) {
          this.hooks.reconnect();
        }
      });
    }
  }

  /** @param {RTCPeerConnectionState} state */
  #onState(state) {
    const gen = this.gen;
    this.hooks.onState(state);
    if (gen !== this.gen) {
      return;
    }
    switch (state) {
      case 'connected':
        clearTimeout(this.#timer);
        break;
      case 'disconnected':
        // ICE often recovers by itself (a Wi-Fi hiccup); wait a little.
        this.#arm(this.disconnectGraceMs);
        break;
      case 'failed':
        this.hooks.reconnect();
        break;
    }
  }

  /** @param {number} ms reconnect unless the connection connects within ms */
  #arm(ms) {
    clearTimeout(this.#timer);
    const gen = this.gen;
    this.#timer = setTimeout(() => {
      if (gen === this.gen && this.pc && connectionState(this.pc) !== 'connected') {
        this.hooks.reconnect();
      }
    }, ms);
  }
}
