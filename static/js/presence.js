// The presence socket on every page of a signed-in user: the online list, calling a user
// by username, and the ringing dialog (docs/protocol.md, "Presence socket").
// User text only ever reaches the page through textContent.

import { gettext, interpolate } from "./i18n.js";

const CALL_KEY = "parley-direct-call"; // this tab's call: {call_id, url} once it joins the room
const PLACED_KEY = "parley-placed-call"; // the call this tab placed (it opens the room on accept)
const dialog = document.getElementById("ring-dialog");
const lobbyUrl = dialog ? dialog.dataset.lobbyUrl : "/";

const el = (tag, attrs = {}, text = null) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
};
const nameOf = (user) => user.display_name || user.username;
const initialOf = (user) => (Array.from(nameOf(user).trim())[0] || "?").toUpperCase();

// The server's error texts are English: the codes a person can meet here, in their language.
const ERROR_MESSAGES = {
  "rate-limited": () => gettext("Too many calls in a minute; wait a little."),
  "no-such-user": () => gettext("There is nobody else with that username."),
  busy: () => gettext("You are already in a call: hang up first."),
  unavailable: () => gettext("The call could not be placed; try again shortly."),
  "no-such-call": () => gettext("This call is no longer ringing."),
};

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
class CallDialog {
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

  outcome(state, title, detail) {
    this.ringer.stop();
    this.restoreTitle();
    this.callId = null;
    this.dismiss = () => this.close();
    this.node.dataset.state = state;
    this.render(title, detail, [[gettext("Close"), "ring-close", () => this.close()]]);
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

// --- The socket ------------------------------------------------------------------------------
class Presence {
  constructor() {
    this.ws = null;
    this.heartbeat = null;
    this.retry = 1000;
    this.online = new Map();
    this.me = null;
    this.dialog = dialog ? new CallDialog(dialog, this) : null;
    this.list = document.getElementById("online-users");
    this.empty = document.getElementById("online-empty");
    this.form = document.getElementById("call-form");
    this.status = document.getElementById("call-form-status");
    if (this.form) {
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        const username = this.form.elements.username.value.trim();
        if (username) this.call(username);
      });
    }
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.ws = new WebSocket(`${scheme}://${location.host}/ws/presence/`);
    this.ws.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    this.ws.addEventListener("close", (event) => this.closed(event.code));
  }

  closed(code) {
    clearInterval(this.heartbeat);
    if ([4401, 4403, 4429].includes(code)) return; // signed out or refused: do not hammer the server
    setTimeout(() => this.connect(), this.retry);
    this.retry = Math.min(this.retry * 2, 30000);
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  call(username) {
    this.placing = true;
    this.send({ type: "call", username });
  }

  receive(frame) {
    const handler = this[`on_${frame.type.replace("-", "_")}`];
    if (handler) handler.call(this, frame);
  }

  on_presence(frame) {
    this.retry = 1000;
    this.me = frame.you;
    this.online = new Map(frame.online.map((user) => [user.id, user]));
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.send({ type: "ping" }), frame.heartbeat * 1000);
    this.renderOnline();
  }

  on_user_online(frame) {
    this.online.set(frame.user.id, frame.user);
    this.renderOnline();
  }

  on_user_offline(frame) {
    if (frame.call_id) {
      this.placing = false;
      this.dialog?.outcome("offline", interpolate(gettext("%(name)s is offline"), { name: nameOf(frame.user) }),
        gettext("They have no Parley page open. Try again later."));
      return;
    }
    this.online.delete(frame.user.id);
    this.renderOnline();
  }

  on_ring(frame) {
    this.dialog?.incoming(frame);
  }

  on_ringing(frame) {
    if (this.placing) sessionStorage.setItem(PLACED_KEY, frame.call_id);
    this.placing = false;
    this.dialog?.outgoing(frame);
  }

  on_accepted(frame) {
    const mine = frame.join || sessionStorage.getItem(PLACED_KEY) === frame.call_id;
    sessionStorage.removeItem(PLACED_KEY);
    if (!mine) {
      this.dialog?.close(); // answered in another tab
      return;
    }
    sessionStorage.setItem(CALL_KEY, JSON.stringify({ call_id: frame.call_id, url: frame.room.url }));
    this.dialog?.connecting();
    location.assign(`${frame.room.url}#join`); // like a phone: the room page joins at once
  }

  on_declined(frame) {
    this.ended(frame, "declined", gettext("Call declined"), gettext("They cannot talk right now."));
  }

  on_missed(frame) {
    this.ended(frame, "missed", gettext("No answer"), null);
  }

  on_cancelled(frame) {
    this.ended(frame, "cancelled", gettext("Call cancelled"), null);
  }

  on_busy(frame) {
    this.placing = false;
    this.dialog?.outcome("busy", interpolate(gettext("%(name)s is busy"), { name: nameOf(frame.user) }),
      gettext("They are in another call. Try again later."));
  }

  on_hangup(frame) {
    const current = JSON.parse(sessionStorage.getItem(CALL_KEY) || "null");
    if (current && current.call_id === frame.call_id) {
      sessionStorage.removeItem(CALL_KEY);
      if (location.pathname === current.url) {
        this.dialog?.outcome("hangup", gettext("Call ended"), null);
        setTimeout(() => location.assign(lobbyUrl), 1500);
        return;
      }
    }
    this.dialog?.close();
  }

  on_error(frame) {
    this.placing = false;
    const message = ERROR_MESSAGES[frame.code] ? ERROR_MESSAGES[frame.code]() : frame.message;
    if (this.status) this.status.textContent = message;
    else if (["busy", "no-such-user"].includes(frame.code)) this.dialog?.outcome("error", message, null);
  }

  ended(frame, state, title, detail) {
    if (sessionStorage.getItem(PLACED_KEY) === frame.call_id) sessionStorage.removeItem(PLACED_KEY);
    // The callee's dialog just closes on the caller's cancel; the caller is told the outcome.
    if (this.dialog && this.dialog.callId === frame.call_id) {
      if (this.dialog.node.dataset.state === "incoming") this.dialog.close();
      else this.dialog.outcome(state, title, detail);
    }
  }

  renderOnline() {
    if (!this.list) return;
    this.list.replaceChildren();
    const users = [...this.online.values()].filter((user) => !this.me || user.id !== this.me.id);
    users.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
    for (const user of users) {
      const item = el("li", { "data-username": user.username });
      item.append(el("span", { class: "online-name" }, nameOf(user)), " ");
      item.append(el("span", { class: "meta" }, `@${user.username}`), " ");
      const button = el("button", { type: "button", class: "call-user" }, gettext("Call"));
      button.setAttribute("aria-label", interpolate(gettext("Call %(name)s"), { name: nameOf(user) }));
      button.addEventListener("click", () => this.call(user.username));
      item.append(button);
      this.list.append(item);
    }
    if (this.empty) this.empty.hidden = users.length > 0;
  }
}

const presence = new Presence();
presence.connect();
window.parleyPresence = presence;
