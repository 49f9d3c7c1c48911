// Chat messages on their way: shown at once, pending while the socket is down, then delivered
// (the server's echo came back) or failed, with a Retry button. A message never silently vanishes.

import { gettext } from "./i18n.js";
import { element } from "./ui.js";


export class ChatOutbox {
  /** `send(frame)` says whether the frame went out on an open socket. */
  constructor(panel, send) {
    this.panel = panel;
    this.send = send;
    this.entries = [];
    this.count = 0;
    // A message waits this long (ms) for the connection to come back, then for the server's echo.
    this.limits = { pending: 30000, sent: 10000 };
    this.timer = setInterval(() => this.expire(), 500);
  }

  /** A message just typed by us (`name`): in the log at once, then sent when it can be. */
  add(text, name) {
    this.count += 1;
    const view = this.panel.add({ name, text, ts: null, mine: true });
    view.status = element("span", "chat-status meta");
    view.retry = element("button", "link chat-retry", gettext("Retry"));
    view.retry.type = "button";
    view.status.append(element("span", "chat-status-text"), view.retry);
    view.item.append(view.status);
    const entry = { id: `chat-${this.count}`, text, view, state: "pending", sent: false, since: 0 };
    view.retry.addEventListener("click", () => this.trySend(entry));
    this.entries.push(entry);
    this.trySend(entry);
  }

  trySend(entry) {
    entry.since = Date.now();
    if (this.send({ type: "chat", text: entry.text, id: entry.id })) {
      entry.state = "sent";
      entry.sent = true;
    } else {
      entry.state = "pending";
    }
    this.show(entry);
  }

  /** The socket is back (a welcome): send what waited for it. */
  flush() {
    for (const entry of this.entries) if (entry.state === "pending") this.trySend(entry);
  }

  /** Our own chat came back from the server: delivered. False when it matches nothing in flight. */
  confirm(frame) {
    const index = this.entries.findIndex((entry) => entry.sent && entry.text === frame.text);
    if (index < 0) return false;
    const [entry] = this.entries.splice(index, 1);
    this.panel.delivered(entry.view, frame.ts);
    return true;
  }

  /** The server refused a frame (`error` with our id as `ref`): that message failed. */
  reject(ref) {
    const entry = this.entries.find((candidate) => candidate.id === ref);
    if (!entry) return false;
    entry.state = "failed";
    this.show(entry);
    return true;
  }

  expire() {
    const now = Date.now();
    for (const entry of this.entries) {
      if (entry.state !== "failed" && now - entry.since > this.limits[entry.state]) {
        entry.state = "failed";
        this.show(entry);
      }
    }
  }

  show(entry) {
    const { item, status, retry } = entry.view;
    const texts = {
      pending: gettext("Waiting for the connection…"),
      sent: gettext("Sending…"),
      failed: gettext("Not sent."),
    };
    status.firstChild.textContent = texts[entry.state];
    item.dataset.state = entry.state;
    item.classList.add("pending");
    item.classList.toggle("failed", entry.state === "failed");
    item.setAttribute("aria-busy", String(entry.state !== "failed"));
    retry.hidden = entry.state !== "failed";
  }

  stop() {
    clearInterval(this.timer);
  }
}
