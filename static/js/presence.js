// The presence socket on every page of a signed-in user: the online list, calling a user
// by username, and the ringing dialog (docs/protocol.md, "Presence socket").
// User text only ever reaches the page through textContent.

import { CallDialog, el, nameOf } from "./call_dialog.js";
import { CLOSE_CODES, FATAL_CLOSE_CODES } from "./close-codes.js";
import { gettext, interpolate } from "./i18n.js";

const CALL_KEY = "parley-direct-call"; // this tab's call: {call_id, url} once it joins the room
const PLACED_KEY = "parley-placed-call"; // the call this tab placed (it opens the room on accept)
const dialog = document.getElementById("ring-dialog");
const lobbyUrl = dialog ? dialog.dataset.lobbyUrl : "/";

// The server's error texts are English: the codes a person can meet here, in their language.
const ERROR_MESSAGES = {
  "rate-limited": () => gettext("Too many calls in a minute; wait a little."),
  "no-such-user": () => gettext("There is nobody else with that username."),
  busy: () => gettext("You are already in a call: hang up first."),
  unavailable: () => gettext("The call could not be placed; try again shortly."),
  "no-such-call": () => gettext("This call is no longer ringing."),
};

/** 16 -> "0:16", 3725 -> "1:02:05", like the history page. */
export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
}

// --- The socket ------------------------------------------------------------------------------
class Presence {
  constructor() {
    this.ws = null;
    this.heartbeat = null;
    this.retry = 1000;
    this.moved = false; // the last close was a 4012 move (closed)
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
    // "Call back" / "Call again" buttons of the history page.
    document.addEventListener("click", (event) => {
      const button = event.target.closest("[data-call-back]");
      if (button) this.call(button.dataset.callBack);
    });
    // Leave in a direct call's room hangs up at once; a closed or reloaded tab has the server's grace.
    document.addEventListener("parley:leave", () => {
      const current = JSON.parse(sessionStorage.getItem(CALL_KEY) || "null");
      if (current && location.pathname === current.url) this.send({ type: "hangup", call_id: current.call_id });
    });
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.ws = new WebSocket(`${scheme}://${location.host}/ws/presence/`);
    this.ws.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    this.ws.addEventListener("close", (event) => this.closed(event.code));
  }

  closed(code) {
    clearInterval(this.heartbeat);
    if (FATAL_CLOSE_CODES.has(code)) return; // signed out or refused: do not hammer the server
    // 4012: this server process is stopping, another one takes us now (once: then the back-off).
    const moving = code === CLOSE_CODES.moving && !this.moved;
    this.moved = code === CLOSE_CODES.moving;
    setTimeout(() => this.connect(), moving ? 0 : this.retry);
    if (!moving) this.retry = Math.min(this.retry * 2, 30000);
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
    this.moved = false;
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
    const peer = this.dialog?.peer?.username;
    const current = { call_id: frame.call_id, url: frame.room.url, peer, since: Date.now() };
    sessionStorage.setItem(CALL_KEY, JSON.stringify(current));
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
        this.callEnded(current);
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

  /** The room of a direct call after a hang-up: only the ending, its length and Call again. */
  callEnded(current) {
    const room = document.getElementById("call");
    if (room) room.hidden = true; // the room closes with the call: nothing of it stays behind
    const buttons = [];
    if (current.peer) buttons.push([gettext("Call again"), "primary", () => this.call(current.peer)]);
    buttons.push([gettext("Back to the lobby"), "ring-close", () => location.assign(lobbyUrl)]);
    const length = current.since ? clock((Date.now() - current.since) / 1000) : null;
    this.dialog?.outcome("hangup", gettext("Call ended"), length, { buttons, close: false });
  }

  ended(frame, state, title, detail) {
    if (sessionStorage.getItem(PLACED_KEY) === frame.call_id) sessionStorage.removeItem(PLACED_KEY);
    if (!this.dialog || this.dialog.callId !== frame.call_id) return;
    if (this.dialog.node.dataset.state !== "incoming") {
      this.dialog.outcome(state, title, detail);
      return;
    }
    if (state === "declined") {
      this.dialog.close(); // declined here or in another tab
      return;
    }
    // It rang here and nobody answered: say so until read, with Call back.
    const caller = this.dialog.peer;
    const buttons = [[gettext("Call back"), "primary ring-call-back", () => this.call(caller.username)]];
    const notice = interpolate(gettext("Missed call from %(name)s"), { name: nameOf(caller) });
    this.dialog.outcome("missed", notice, `@${caller.username}`, { buttons, person: caller });
    this.missedBadge();
  }

  missedBadge() {
    const badge = document.getElementById("calls-badge");
    if (!badge) return;
    badge.textContent = String((parseInt(badge.textContent, 10) || 0) + 1);
    badge.hidden = false;
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
