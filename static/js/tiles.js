// The video tiles: one per person, keyed by peer id ("self" for us).

import { gettext, interpolate } from "./i18n.js";
import { icon } from "./icons.js";
import { QualityIndicator } from "./quality.js";
import { element, initial, stateLabel } from "./ui.js";

function toolButton(name, label, onClick) {
  const button = element("button", "tile-tool");
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.append(icon(name));
  button.addEventListener("click", onClick);
  return button;
}

/** The video grid: one tile per person, keyed by peer id ("self" for us). */
export class Tiles {
  constructor(container) {
    this.container = container;
    this.tiles = new Map();
    this.sinkId = "";
    this.onChange = () => {};
    this.onPin = () => {};
  }

  /** Play every remote tile's sound on the chosen output device. */
  async setSinkId(sinkId) {
    this.sinkId = sinkId;
    for (const tile of this.tiles.values()) if (!tile.local) await tile.video.setSinkId(sinkId);
  }

  /** `screen`: a peer's shared screen (keyed "<peer id>:screen"), shown whole, without a quality badge. */
  ensure(peerId, { name, local = false, screen: sharedScreen = false }) {
    let tile = this.tiles.get(peerId);
    if (!tile) {
      const root = element("figure", local ? "tile local" : sharedScreen ? "tile shared-screen" : "tile");
      root.dataset.peerId = peerId;
      root.dataset.screen = String(sharedScreen);
      const video = element("video");
      video.autoplay = true;
      video.playsInline = true;
      if (local || sharedScreen) video.muted = true;
      if (local) {
        video.classList.add("mirror");
      }
      const avatar = element("div", "tile-avatar");
      avatar.setAttribute("aria-hidden", "true");
      const avatarLetter = element("span");
      avatar.append(avatarLetter);
      const caption = element("figcaption", "tile-caption");
      const nameNode = element("span", "tile-name");
      const muted = element("span", "badge tile-muted", gettext("Muted"));
      const screen = element("span", "badge tile-screen", gettext("Presenting"));
      const state = element("span", "badge tile-state");
      muted.hidden = true;
      screen.hidden = true;
      state.hidden = local || sharedScreen;
      caption.append(nameNode, muted, screen, state);
      const quality = local || sharedScreen ? null : new QualityIndicator();
      const stalled = element("div", "tile-stalled", gettext("Reconnecting…"));
      stalled.hidden = true;
      if (quality) caption.append(quality.button);
      const tools = element("div", "tile-tools");
      const pin = toolButton("pin", gettext("Pin to the stage"), () => this.onPin(peerId));
      const fit = toolButton("fit", gettext("Show the whole picture"), () => {
        const fitted = root.classList.toggle("fit");
        fit.setAttribute("aria-pressed", String(fitted));
      });
      fit.setAttribute("aria-pressed", "false");
      const full = toolButton("fullscreen", gettext("Full screen"), () => {
        if (document.fullscreenElement) document.exitFullscreen();
        else root.requestFullscreen().catch(() => {});
      });
      tools.append(pin, fit, full);
      root.append(video, avatar, stalled, caption, tools);
      if (quality) root.append(quality.popover);
      this.container.append(root);
      tile = { root, video, avatarLetter, nameNode, muted, screen, state, local, pin, quality, stalled };
      this.tiles.set(peerId, tile);
      if (!local && this.sinkId) video.setSinkId(this.sinkId).catch(() => {});
      this.onChange();
    }
    const shown = local ? interpolate(gettext("%(name)s (you)"), { name }) : name;
    tile.nameNode.textContent = shown;
    tile.avatarLetter.textContent = initial(name);
    tile.root.setAttribute("aria-label", shown);
    return tile;
  }

  setStream(peerId, stream) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
    tile.video.play().catch(() => {});
  }

  setMedia(peerId, media) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    tile.muted.hidden = media.audio;
    tile.screen.hidden = !media.screen;
    tile.root.classList.toggle("camera-off", !media.video);
    tile.root.dataset.audio = String(media.audio);
    tile.root.dataset.video = String(media.video);
  }

  /** The link's state, and from the stats poller its quality and whether its video stalled. */
  setState(peerId, stats) {
    const { state, candidateType, rtt } = stats;
    const tile = this.tiles.get(peerId);
    if (!tile || !tile.quality) return;
    tile.quality.update(stats);
    if (stats.level || state !== "connected") {
      const stalled = Boolean(stats.stalled);
      tile.stalled.hidden = !stalled && !tile.away;
      tile.root.classList.toggle("stalled", stalled);
    }
    // A link that says "connected" over a frozen picture is not: the badge says what the cover says.
    const shown = state === "connected" && tile.root.classList.contains("stalled") ? "disconnected" : state;
    const parts = [stateLabel(shown)];
    if (shown === "connected" && candidateType === "relay") parts.push(gettext("via relay"));
    if (shown === "connected" && rtt !== null && rtt !== undefined) parts.push(interpolate(gettext("%(ms)s ms"), { ms: rtt }));
    tile.state.textContent = parts.join(" · ");
    tile.root.dataset.state = state;
    tile.state.classList.toggle("bad", shown === "failed" || shown === "disconnected");
    tile.state.classList.toggle("good", shown === "connected");
  }

  /** The peer's socket dropped and the server holds its seat (`peer-suspended`), or it is back. */
  setAway(peerId, away) {
    const tile = this.tiles.get(peerId);
    if (!tile || tile.local) return;
    tile.away = away;
    tile.stalled.hidden = !away && !tile.root.classList.contains("stalled");
    tile.root.classList.toggle("away", away);
  }

    remove(peerId) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.root.remove();
    this.tiles.delete(peerId);
    this.onChange();
  }
}
