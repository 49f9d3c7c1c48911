// The ringing dialog of direct calls and its ring tone (used by presence.js).
// User text only ever reaches the page through textContent.

import { gettext, interpolate } from "./i18n.js";

export const el = (tag, attrs = {}, text = null) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
};
export const nameOf = (user) => user.display_name || user.username;
const initialOf = (user) => (Array.from(nameOf(user).trim())[0] || "?").toUpperCase();

// --- The ring sound: two tones, 2 s on and 4 s off, made with WebAudio (no asset) -------------
class Ringer {
  constructor() {
    this.context = null;
    this.timer = null;
  }

  start(incoming) {
    this.stop();
    try {
      this.context = new AudioContext();
      this.context.resume().catch(() => {});
    } catch {
      return; // no audio: the dialog still shows
    }
    const burst = () => {
      const ctx = this.context;
      const gain = ctx.createGain();
      gain.gain.value = 0.08;
      gain.connect(ctx.destination);
      const tones = incoming ? [440, 480] : [425];
      for (const frequency of tones) {
        const osc = ctx.createOscillator();
        osc.frequency.value = frequency;
        osc.connect(gain);
        osc.start();
        osc.stop(ctx.currentTime + (incoming ? 2 : 1));
      }
    };
    burst();
    this.timer = setInterval(burst, incoming ? 6000 : 4000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.context) this.context.close().catch(() => {});
    this.context = null;
  }
}

// --- The dialog --------------------------------------------------------------------------------
export class CallDialog {
  constructor(node, presence) {
    this.node = node;
    this.presence = presence;
    this.callId = null;
    this.ringer = new Ringer();
    node.addEventListener("cancel", (event) => {
      event.preventDefault(); // Escape declines or cancels, like the button
      this.primaryDismiss();
    });
  }

  /** `person` adds their initial as an avatar; `label` a small line above it. */
  render(title, detail, buttons, { person = null, label = null } = {}) {
    this.node.replaceChildren();
    if (label) this.node.append(el("p", { class: "ring-label" }, label));
    if (person) this.node.append(el("div", { class: "ring-avatar", "aria-hidden": "true" }, initialOf(person)));
    this.node.append(el("h2", { id: "ring-title" }, title));
    if (detail) this.node.append(el("p", { class: "ring-detail", id: "ring-detail" }, detail));
    const row = el("div", { class: "ring-actions" });
    for (const [text, className, action] of buttons) {
      const button = el("button", { type: "button", class: className }, text);
      button.addEventListener("click", action);
      row.append(button);
    }
    if (buttons.length) this.node.append(row);
    this.node.setAttribute("aria-labelledby", "ring-title");
    if (detail) this.node.setAttribute("aria-describedby", "ring-detail");
    else this.node.removeAttribute("aria-describedby");
    if (!this.node.open) this.node.showModal();
    const first = this.node.querySelector("button");
    if (first) first.focus();
  }

  incoming(frame) {
    this.callId = frame.call_id;
    this.peer = frame.caller;
    this.dismiss = () => this.presence.send({ type: "decline", call_id: frame.call_id });
    this.node.dataset.state = "incoming";
    // The tab title says it too, for a call that rings in a background tab.
    this.pageTitle = this.pageTitle ?? document.title;
    document.title = interpolate(gettext("%(name)s is calling you."), { name: nameOf(frame.caller) });
    const buttons = [
      [gettext("Accept"), "ring-accept", () => this.presence.send({ type: "accept", call_id: frame.call_id })],
      [gettext("Decline"), "danger ring-decline", () => this.dismiss()],
    ];
    this.render(nameOf(frame.caller), `@${frame.caller.username}`, buttons, {
      person: frame.caller,
      label: gettext("Incoming call"),
    });
    this.ringer.start(true);
  }

  outgoing(frame) {
    this.callId = frame.call_id;
    this.peer = frame.callee;
    this.dismiss = () => this.presence.send({ type: "cancel", call_id: frame.call_id });
    this.node.dataset.state = "ringing";
    this.render(
      interpolate(gettext("Calling %(name)s…"), { name: nameOf(frame.callee) }),
      gettext("Ringing…"),
      [[gettext("Cancel"), "danger ring-cancel", () => this.dismiss()]],
      { person: frame.callee },
    );
    this.ringer.start(false);
  }

  /** An ending to read: `buttons` (e.g. Call back) come before Close, or instead of it (`close: false`). */
  outcome(state, title, detail, { buttons = [], close = true, person = null } = {}) {
    this.ringer.stop();
    this.restoreTitle();
    this.callId = null;
    this.dismiss = () => this.close();
    this.node.dataset.state = state;
    const all = close ? [...buttons, [gettext("Close"), "ring-close", () => this.close()]] : buttons;
    this.render(title, detail, all, { person });
  }

  connecting() {
    this.ringer.stop();
    this.node.dataset.state = "accepted";
    this.render(gettext("Connecting…"), null, []);
  }

  restoreTitle() {
    if (this.pageTitle !== undefined) document.title = this.pageTitle;
    this.pageTitle = undefined;
  }

  primaryDismiss() {
    if (this.dismiss) this.dismiss();
    else this.close();
  }

  close() {
    this.ringer.stop();
    this.restoreTitle();
    this.callId = null;
    this.dismiss = null;
    delete this.node.dataset.state;
    if (this.node.open) this.node.close();
  }
}
