// @ts-check
// Review page /review?c={slug}&s={session}: the practice's recording with
// the tutor's tips and notes on its timeline (a tap jumps there), the
// checklist in plain words, the score, and the numbers. The tutor can still
// tick what only a person can judge; the score follows.

import { formatSlot as formatWhen, sitePath as localPath } from './studio-logic.js';
import { Api, loadStudioCredentials, loadTutorToken } from './tutor-api.js';
import { describeItem, formatSeconds, pickCredential, pollDelay, sessionParams, ticksOf, timelineMarks } from './tutor-logic.js';
import { byId, currentLang, fatalOf, h, merchantLinks, notice as newNotice, setupTexts, t, wireTick } from './tutor-ui.js';
import { formatDuration as clock } from './watch-state.js';

/** @type {ReadonlyArray<[string, string]>} */
const statKeys = [
  ['viewers', 'review.statViewers'], ['chats', 'review.statChats'], ['questions', 'review.statQuestions'],
  ['claims', 'review.statClaims'], ['orders', 'review.statOrders'], ['likes', 'review.statLikes'],
];

function main() {
  const notice = newNotice(byId('notice', HTMLElement));
  const headTitle = byId('head-title', HTMLElement);
  const headHint = byId('head-hint', HTMLElement);
  const headMeta = byId('head-meta', HTMLElement);
  const content = byId('content', HTMLElement);
  const scoreEl = byId('score', HTMLElement);
  const notEnded = byId('not-ended', HTMLElement);
  const recording = byId('recording', HTMLVideoElement);
  const noRecording = byId('no-recording', HTMLElement);
  const track = byId('track', HTMLElement);
  const notesEl = byId('notes', HTMLOListElement);
  const checklistEl = byId('checklist', HTMLUListElement);
  const statsEl = byId('stats', HTMLElement);
  const progress = byId('progress', HTMLAnchorElement);
  const back = byId('back', HTMLAnchorElement);

  const params = sessionParams(location.search);
  const cred = params ? pickCredential(loadTutorToken(), loadStudioCredentials(), params.slug) : null;
  /** @type {Record<string, any> | null} */
  let review = null;
  /** @type {[string, string] | null} */
  let fatal = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let pollTimer;

  setupTexts(render);

  if (cred?.role === 'merchant' && params) {
    // The owner's progress is in the studio; the tutor's on the dashboard.
    merchantLinks(params.slug, [[back, 'tutor.backStudio'], [progress, 'tutor.progressStudio']]);
  }

  fatal = fatalOf({ params, cred });
  if (!params || !cred) {
    render();
    return;
  }
  const { session: id } = params;
  const api = new Api(cred.token, currentLang);

  async function load() {
    clearTimeout(pollTimer);
    try {
      review = await api.review(id);
    } catch (err) {
      const f = review ? null : fatalOf({ err });
      if (f) {
        fatal = f;
      } else {
        notice.error(err);
      }
    }
    render();
    // A practice not ended yet: look again until it has (its recording,
    // score and checklist come then), as the coaching page does.
    const state = fatal ? '' : String(review?.session?.state ?? (review ? '' : 'live'));
    const wait = pollDelay(state);
    if (wait > 0) {
      pollTimer = setTimeout(load, wait);
    }
  }

  /** @param {number} at seconds */
  function seek(at) {
    if (recording.hidden) {
      return;
    }
    recording.currentTime = at;
    recording.play().catch(() => {});
    recording.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  function render() {
    if (fatal) {
      headTitle.textContent = t(fatal[0]);
      headHint.textContent = t(fatal[1]);
      headHint.hidden = false;
      content.hidden = true;
      return;
    }
    if (!review) {
      return;
    }
    // Drawn again on every poll: the focused control (by id) keeps the focus.
    const focusedID = document.activeElement?.id ?? '';
    const lang = currentLang();
    const session = review.session ?? {};
    const ticks = ticksOf(session);
    const duration = Number(review.duration_s) || 0;

    headTitle.textContent = session.title || t('review.title');
    headHint.hidden = true;
    headMeta.textContent = [
      session.channel, formatWhen(session.started_at, lang), duration > 0 ? t('review.duration', { duration: formatSeconds(duration, lang) }) : '',
    ].filter(Boolean).join(' · ');
    content.hidden = false;

    const score = typeof review.score === 'number' ? review.score : null;
    scoreEl.textContent = score !== null ? t('review.scoreValue', { score }) : t('review.noScore');
    scoreEl.classList.toggle('good', score !== null && score >= 70);
    notEnded.hidden = session.state !== 'live';

    // The URL already carries its credential (?practice=); only this server's.
    const src = localPath(review.recording_url);
    recording.hidden = !src;
    noRecording.hidden = !!src;
    if (src && recording.getAttribute('src') !== src) {
      recording.src = src;
    }

    const marks = timelineMarks(Array.isArray(review.notes) ? review.notes : [], duration);
    track.hidden = !src || marks.length === 0;
    track.replaceChildren(...marks.map((m) => {
      const dot = h('span', { class: `mark ${m.note.kind === 'tip' ? 'mark-tip' : 'mark-note'}`, title: `${clock(m.at)} ${m.note.text}` });
      // CSSOM, not a style attribute: the page's policy allows no inline styles.
      dot.style.left = `${m.left}%`;
      dot.addEventListener('click', () => seek(m.at));
      return dot;
    }));
    notesEl.replaceChildren(...(marks.length ? marks.map((m) => {
      const kind = t(m.note.kind === 'tip' ? 'coach.kindTip' : 'coach.kindNote');
      const time = m.note.offset_s === null || m.note.offset_s === undefined ? t('review.beforeStart') : clock(m.at);
      const b = h('button', {
        type: 'button', class: 'note-btn', id: `note-${m.note.id}`, 'aria-label': t('review.seekLabel', { time, kind, text: String(m.note.text ?? '') }),
      },
      h('span', { class: 'time' }, time),
      h('span', { class: `tag ${m.note.kind === 'tip' ? 'tag-tip' : 'tag-note'}` }, kind),
      h('span', { class: 'note-text' }, String(m.note.text ?? '')));
      b.addEventListener('click', () => seek(m.at));
      if (!src) {
        /** @type {HTMLButtonElement} */ (b).disabled = true;
      }
      return h('li', {}, b);
    }) : [h('li', { class: 'muted' }, t('review.noNotes'))]));

    const items = Array.isArray(review.checklist) ? review.checklist : [];
    checklistEl.replaceChildren(...items.map((item, i) => {
      const d = describeItem(item, lang, ticks);
      const titleID = `check-${i}`;
      const li = h('li', { class: `check-item ${d.status}`, 'aria-labelledby': titleID },
        h('span', { class: 'check-icon', 'aria-hidden': 'true' }, d.icon),
        h('div', { class: 'check-body' },
          h('p', { class: 'strong', id: titleID }, d.title),
          h('p', { class: 'check-status' }, d.statusText),
          d.detail ? h('p', { class: 'muted' }, d.detail) : null));
      if (d.tickable && cred?.role === 'tutor') {
        const box = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: `tick-${item.key}` }));
        box.checked = !!ticks[item.key];
        wireTick(box, item.key, (tk) => api.ticks(id, tk), () => load(), notice);
        const label = h('label', { class: 'check', for: `tick-${item.key}` }, box, ' ', t('review.tick'));
        box.setAttribute('aria-label', t('review.tickLabel', { item: d.title }));
        li.append(label);
      }
      return li;
    }));

    const stats = review.stats ?? {};
    statsEl.replaceChildren(...statKeys.flatMap(([key, label]) => [
      h('div', { class: 'stat' }, h('dt', {}, t(label)), h('dd', {}, String(Number(stats[key]) || 0))),
    ]));
    if (focusedID && document.activeElement?.id !== focusedID) {
      document.getElementById(focusedID)?.focus();
    }
  }

  load();
}

main();
