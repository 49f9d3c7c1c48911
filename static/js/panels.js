// The chat and people panels: beside the stage on a wide screen, slide-overs on a phone; unread badge.

import { gettext, interpolate } from "./i18n.js";
import { setButton } from "./icons.js";
import { byId } from "./ui.js";

const NARROW = "(max-width: 52rem)";
const NAMES = ["chat", "people"];

export class Panels {
  constructor() {
    this.narrow = window.matchMedia(NARROW);
    this.open = {};
    this.unread = 0;
    for (const name of NAMES) {
      const button = byId(`toggle-${name}`);
      setButton(button, name);
      button.addEventListener("click", () => this.toggle(name));
    }
    for (const close of document.querySelectorAll(".panel-close")) {
      setButton(close, "close");
      close.addEventListener("click", () => this.set(close.dataset.panel, false));
    }
    this.narrow.addEventListener("change", () => this.reset());
    this.reset();
  }

  /** Wide: both panels open beside the stage. Narrow: both closed, the stage takes the screen. */
  reset() {
    for (const name of NAMES) this.open[name] = !this.narrow.matches;
    this.apply();
  }

  toggle(name) {
    this.set(name, !this.open[name]);
  }

  set(name, open) {
    this.open[name] = open;
    // On a phone a slide-over covers the stage: one at a time.
    if (open && this.narrow.matches) for (const other of NAMES) if (other !== name) this.open[other] = false;
    if (name === "chat" && open) this.setUnread(0);
    this.apply();
  }

  apply() {
    for (const name of NAMES) {
      byId(`${name}-panel`).hidden = !this.open[name];
      byId(`toggle-${name}`).setAttribute("aria-expanded", String(this.open[name]));
    }
    byId("incall").dataset.sidebar = NAMES.some((name) => this.open[name]) ? "open" : "closed";
  }

  /** A chat message arrived: count it while the chat is closed. */
  onMessage() {
    if (!this.open.chat) this.setUnread(this.unread + 1);
  }

  setUnread(count) {
    this.unread = count;
    const badge = byId("chat-unread");
    const button = byId("toggle-chat");
    badge.hidden = count === 0;
    badge.textContent = count > 99 ? "99+" : String(count);
    if (count) button.setAttribute("aria-label", interpolate(gettext("Chat, %(count)s unread"), { count }));
    else button.removeAttribute("aria-label");
  }
}
