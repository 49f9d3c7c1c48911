// Emoji reactions: a menu in the control bar; each one floats over its sender's tile for a few seconds.

import { gettext, interpolate } from "./i18n.js";
import { setButton } from "./icons.js";
import { byId, element } from "./ui.js";

const SHOWN_MS = 4000;
// The server's set (calls/protocol/incoming.py REACTIONS), with their spoken names.
const EMOJI = [
  ["👍", () => gettext("Thumbs up")],
  ["👏", () => gettext("Applause")],
  ["😂", () => gettext("Laughter")],
  ["❤️", () => gettext("Love")],
  ["🎉", () => gettext("Celebration")],
  ["😮", () => gettext("Surprise")],
];

export class Reactions {
  constructor(call) {
    this.call = call;
    this.button = byId("react-button");
    this.menu = byId("react-menu");
    setButton(this.button, "smile");
    this.button.addEventListener("click", () => this.setOpen(this.menu.hidden));
    for (const [emoji, label] of EMOJI) {
      const choice = element("button", "react-choice", emoji);
      choice.type = "button";
      choice.setAttribute("aria-label", label());
      choice.addEventListener("click", () => {
        this.call.signal.send({ type: "reaction", emoji });
        this.setOpen(false);
        this.button.focus();
      });
      this.menu.append(choice);
    }
    this.menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        this.setOpen(false);
        this.button.focus();
      }
    });
    document.addEventListener("click", (event) => {
      if (!this.menu.hidden && !this.menu.contains(event.target) && !this.button.contains(event.target)) this.setOpen(false);
    });
    // Said once for screen readers; the floating emoji itself is decoration.
    this.live = element("p", "visually-hidden");
    this.live.setAttribute("aria-live", "polite");
    document.body.append(this.live);
  }

  setOpen(open) {
    this.menu.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (open) this.menu.querySelector("button")?.focus();
  }

  onReaction(frame) {
    const mine = frame.from === this.call.selfId;
    const tile = this.call.tiles.tiles.get(mine ? "self" : frame.from);
    const user = this.call.peers.get(frame.from)?.user;
    const name = mine ? gettext("You") : user ? user.display_name || user.username : "";
    const entry = EMOJI.find(([emoji]) => emoji === frame.emoji);
    if (!tile || !entry) return;
    const float = element("span", "reaction-float", frame.emoji);
    float.setAttribute("aria-hidden", "true");
    float.style.left = `${20 + Math.random() * 50}%`;
    tile.root.append(float);
    setTimeout(() => float.remove(), SHOWN_MS);
    this.live.textContent = interpolate(gettext("%(name)s: %(reaction)s"), { name, reaction: entry[1]() });
  }
}
