// A tile's connection quality: three bars on a button, and a popover with the figures behind them.

import { gettext, interpolate } from "./i18n.js";
import { element } from "./ui.js";

const BARS = { good: 3, fair: 2, poor: 1 };
const LEVELS = {
  good: () => gettext("good"),
  fair: () => gettext("fair"),
  poor: () => gettext("poor"),
};

let counter = 0;

function figure(value, unit) {
  return value === null || value === undefined ? "–" : interpolate(unit, { n: value });
}

/** Our camera to this peer: "240p · 24 fps · 512 kbit/s", and whether the network lowered it. */
function sendingText(sending) {
  if (!sending) return "–";
  const parts = [sending.height ? `${sending.height}p` : null, figure(sending.fps, gettext("%(n)s fps")), figure(sending.kbps, gettext("%(n)s kbit/s"))];
  const text = parts.filter(Boolean).join(" · ");
  return sending.lowered ? interpolate(gettext("%(figures)s, lowered for the network"), { figures: text }) : text;
}

/** The button (bars) and its popover (a native `popover`, so it is not clipped by the tile). */
export class QualityIndicator {
  constructor() {
    counter += 1;
    this.button = element("button", "tile-quality");
    this.button.type = "button";
    this.bars = element("span", "quality-bars");
    this.bars.setAttribute("aria-hidden", "true");
    for (let bar = 1; bar <= 3; bar += 1) this.bars.append(element("span", `quality-bar bar-${bar}`));
    this.button.append(this.bars);
    this.popover = element("div", "quality-details");
    this.popover.id = `quality-details-${counter}`;
    this.popover.popover = "auto";
    this.popover.setAttribute("role", "dialog");
    this.popover.setAttribute("aria-label", gettext("Connection details"));
    this.list = element("dl");
    this.popover.append(element("h3", "", gettext("Connection details")), this.list);
    this.button.popoverTargetElement = this.popover;
    this.button.setAttribute("aria-controls", this.popover.id);
    this.popover.addEventListener("toggle", (event) => this.onToggle(event.newState === "open"));
    this.update({ state: "new" });
  }

  /** Place the popover above the button, inside the window. */
  onToggle(open) {
    this.button.setAttribute("aria-expanded", String(open));
    if (!open) return;
    const box = this.button.getBoundingClientRect();
    const width = this.popover.offsetWidth;
    const height = this.popover.offsetHeight;
    const left = Math.min(Math.max(8, box.left), window.innerWidth - width - 8);
    const top = box.top - height - 8 >= 8 ? box.top - height - 8 : Math.min(box.bottom + 8, window.innerHeight - height - 8);
    this.popover.style.left = `${left}px`;
    this.popover.style.top = `${top}px`;
  }

  /** `stats` from the StatsPoller (or only `{state}` from a link's state change). */
  update(stats) {
    const connected = stats.state === "connected";
    const level = connected && stats.level ? stats.level : connected ? null : "poor";
    if (!connected || stats.level) {
      this.level = level;
      this.button.dataset.level = connected ? level : "none";
      this.bars.dataset.bars = String(connected ? BARS[level] : 0);
      const label = connected ? LEVELS[level]() : gettext("no connection");
      this.button.setAttribute("aria-label", interpolate(gettext("Connection quality: %(level)s. Show details"), { level: label }));
    }
    if (!stats.level) return;
    const rows = [
      [gettext("Round trip"), figure(stats.rtt, gettext("%(n)s ms"))],
      [gettext("Packet loss"), stats.loss === null ? "–" : `${stats.loss} %`],
      [gettext("Jitter"), figure(stats.jitter, gettext("%(n)s ms"))],
      [gettext("Receiving"), figure(stats.kbps, gettext("%(n)s kbit/s"))],
      [gettext("Sending"), sendingText(stats.sending)],
      [gettext("Path"), stats.candidateType === "relay" ? gettext("via relay") : gettext("direct")],
    ];
    this.list.replaceChildren(...rows.flatMap(([term, value]) => [element("dt", "", term), element("dd", "", value)]));
  }
}
