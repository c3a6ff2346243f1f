// @ts-check
// The studio's chat panel: the viewers' messages in large text. A tap on a
// message offers to hide it or to quiet its writer for 10 minutes, each
// after a yes/no question.

import { t } from './i18n.js';
import { ask, byId, h } from './studio-ui.js';

/**
 * @typedef {import('./studio-ui.js').Toast} Toast
 * @typedef {import('./room.js').Room} Room
 * @typedef {{id: number, viewer_id: number, nickname: string, text: string, hidden?: boolean}} ChatMessage
 */

/** How many messages the panel keeps. */
const keep = 200;
/** How long "10분 조용히" quiets a viewer. */
export const muteMinutes = 10;

export class Chat {
  /** @param {{room: Room, toast: Toast}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {ChatMessage[]} */
    this.messages = [];
    this.list = byId('chat-list', HTMLElement);
    this.empty = byId('chat-empty', HTMLElement);
    this.dialog = byId('msg', HTMLElement);

    ctx.room.on('chat.message', (m) => {
      const msg = m.message;
      if (msg && !msg.hidden && !this.messages.some((x) => x.id === msg.id)) {
        this.messages.push(msg);
        if (this.messages.length > keep) {
          this.messages.splice(0, this.messages.length - keep);
        }
        this.render();
      }
    });
    ctx.room.on('chat.hidden', (m) => this.remove(m.message_id));
  }

  /** @param {Record<string, any>} state */
  fromState(state) {
    this.messages = (state?.chat ?? []).filter((/** @type {ChatMessage} */ m) => !m.hidden);
    this.render();
  }

  /** @param {number} id */
  remove(id) {
    const n = this.messages.length;
    this.messages = this.messages.filter((m) => m.id !== id);
    if (this.messages.length !== n) {
      this.render();
    }
  }

  render() {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    const sheetBody = this.list.closest('.sheet-body');
    const bodyAtBottom = !sheetBody || sheetBody.scrollHeight - sheetBody.scrollTop - sheetBody.clientHeight < 80;
    const me = this.ctx.room.me?.viewer_id;
    this.list.replaceChildren(...this.messages.map((m) => {
      const content = [h('span', { class: 'who' }, m.nickname), h('span', { class: 'said' }, m.text)];
      if (m.viewer_id === me) {
        return h('li', { class: 'mine' }, h('p', { class: 'msg' }, ...content));
      }
      const b = h('button', { type: 'button', class: 'msg' }, ...content);
      b.addEventListener('click', () => this.act(m));
      return h('li', {}, b);
    }));
    this.empty.hidden = this.messages.length > 0;
    if (atBottom && bodyAtBottom && sheetBody) {
      sheetBody.scrollTop = sheetBody.scrollHeight;
    }
  }

  /**
   * The message's menu: hide it, or quiet its writer.
   * @param {ChatMessage} m
   */
  async act(m) {
    const dialog = this.dialog;
    if (!(dialog instanceof HTMLDialogElement) || typeof dialog.showModal !== 'function') {
      if (window.confirm(t('studio.chatHideAsk'))) {
        this.hide(m);
      }
      return;
    }
    byId('msg-who', HTMLElement).textContent = m.nickname;
    byId('msg-text', HTMLElement).textContent = m.text;
    dialog.returnValue = '';
    dialog.showModal();
    await new Promise((resolve) => dialog.addEventListener('close', resolve, { once: true }));
    if (dialog.returnValue === 'hide') {
      if (await ask(t('studio.chatHideAsk'), t('studio.chatHideYes'), { text: m.text })) {
        this.hide(m);
      }
    } else if (dialog.returnValue === 'mute') {
      if (await ask(t('studio.chatMuteAsk', { name: m.nickname }), t('studio.chatMuteYes'), { text: t('studio.chatMuteText') })) {
        this.mute(m);
      }
    }
  }

  /** @param {ChatMessage} m */
  async hide(m) {
    try {
      await this.ctx.room.send('chat.hide', { message_id: m.id });
      this.remove(m.id);
      this.ctx.toast.show(t('studio.chatHidden'), 'ok');
    } catch (err) {
      this.ctx.toast.error(err);
    }
  }

  /** @param {ChatMessage} m */
  async mute(m) {
    try {
      await this.ctx.room.send('viewer.mute', { viewer_id: m.viewer_id, minutes: muteMinutes });
      this.ctx.toast.show(t('studio.chatMuted', { name: m.nickname }), 'ok');
    } catch (err) {
      this.ctx.toast.error(err);
    }
  }
}
