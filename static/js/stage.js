// The stage: grid or speaker view, a 1:1 call with a floating self-view, pin, full screen, picture-in-picture.

import { gettext } from "./i18n.js";
import { setButton } from "./icons.js";
import { byId } from "./ui.js";

const SELF = "self";
const CORNERS = ["br", "bl", "tr", "tl"];

/**
 * Columns for `count` tiles in a width×height box: the ones that give each tile the most area, for
 * 16:9 tiles on a wide stage and 3:4 ones on a tall (phone) stage, where 4 people make a 2×2 grid.
 */
export function gridColumns(count, width, height) {
  const aspect = height > width ? 3 / 4 : 16 / 9;
  let best = 1;
  let bestArea = 0;
  for (let columns = 1; columns <= count; columns += 1) {
    const rows = Math.ceil(count / columns);
    const tileWidth = Math.min(width / columns, (height / rows) * aspect);
    const area = tileWidth * (tileWidth / aspect);
    if (area > bestArea + 1) {
      bestArea = area;
      best = columns;
    }
  }
  return best;
}

export class Stage {
  constructor(tiles) {
    this.tiles = tiles;
    this.container = tiles.container;
    this.mode = "grid";
    this.pinned = null;
    this.speaker = null;
    this.speaking = new Set();
    this.corner = "br";
    tiles.onChange = () => this.update();
    tiles.onPin = (peerId) => this.pin(peerId);
    new ResizeObserver(() => this.update()).observe(this.container);
    const layout = byId("toggle-layout");
    layout.addEventListener("click", () => this.setMode(this.mode === "grid" ? "speaker" : "grid"));
    byId("stage-fullscreen").addEventListener("click", () => this.toggleFullscreen(byId("stage")));
    byId("toggle-pip").addEventListener("click", () => this.togglePip());
    byId("toggle-pip").hidden = !document.pictureInPictureEnabled;
    setButton(byId("stage-fullscreen"), "fullscreen");
    setButton(byId("toggle-pip"), "pip");
    this.bindDrag();
    this.update();
  }

  setMode(mode) {
    this.mode = mode;
    this.update();
  }

  pin(peerId) {
    this.pinned = this.pinned === peerId ? null : peerId;
    this.update();
  }

  /** From the speaker detector: the dominant speaker and who speaks now. */
  setSpeaker(peerId, speaking) {
    this.speaker = peerId;
    this.speaking = speaking;
    this.update();
  }

  /** The tile on the big stage: pinned, else a shared screen, else (in speaker view) the speaker. */
  mainTile() {
    const remote = [...this.tiles.tiles.keys()].filter((id) => id !== SELF);
    if (this.pinned && this.tiles.tiles.has(this.pinned)) return this.pinned;
    this.pinned = null;
    const presenter = remote.find((id) => this.tiles.tiles.get(id).root.dataset.screen === "true");
    if (presenter) return presenter;
    if (this.mode !== "speaker" || remote.length === 0) return null;
    return remote.includes(this.speaker) ? this.speaker : remote[0];
  }

  update() {
    const count = this.tiles.tiles.size;
    const main = this.mainTile();
    const remote = count - (this.tiles.tiles.has(SELF) ? 1 : 0);
    const layout = main ? "speaker" : remote === 1 && this.tiles.tiles.has(SELF) ? "duo" : "grid";
    this.container.dataset.layout = layout;
    if (layout === "grid") {
      const { width, height } = this.container.getBoundingClientRect();
      const columns = gridColumns(Math.max(1, count), width || 1, height || 1);
      this.container.style.setProperty("--columns", String(columns));
      this.container.style.setProperty("--rows", String(Math.ceil(Math.max(1, count) / columns)));
    } else if (layout === "speaker") {
      this.container.style.setProperty("--columns", String(Math.min(6, Math.max(1, count - 1))));
    }
    for (const [peerId, tile] of this.tiles.tiles) {
      tile.root.classList.toggle("main", peerId === main);
      tile.root.classList.toggle("floating", layout === "duo" && peerId === SELF);
      tile.root.classList.toggle("speaking", this.speaking.has(peerId));
      tile.root.dataset.corner = this.corner;
      const pinned = peerId === this.pinned;
      tile.pin.setAttribute("aria-pressed", String(pinned));
      tile.pin.setAttribute("aria-label", pinned ? gettext("Unpin") : gettext("Pin to the stage"));
    }
    const layoutButton = byId("toggle-layout");
    const speakerView = this.mode === "speaker";
    layoutButton.setAttribute("aria-pressed", String(speakerView));
    setButton(layoutButton, "speaker");
  }

  toggleFullscreen(node) {
    if (document.fullscreenElement) document.exitFullscreen();
    else node.requestFullscreen().catch(() => {});
  }

  /** Picture-in-picture of the active speaker (or the stage's main tile, or the first remote tile). */
  async togglePip() {
    if (document.pictureInPictureElement) {
      await document.exitPictureInPicture();
      return;
    }
    const peerId = this.mainTile() || this.speaker || [...this.tiles.tiles.keys()].find((id) => id !== SELF);
    const tile = this.tiles.tiles.get(peerId);
    if (tile && tile.video.readyState >= 1) await tile.video.requestPictureInPicture().catch(() => {});
  }

  /** In a 1:1 call the floating self-view can be dragged to any corner. */
  bindDrag() {
    let start = null;
    this.container.addEventListener("pointerdown", (event) => {
      const tile = event.target.closest(".tile.floating");
      if (!tile || event.target.closest("button")) return;
      start = { x: event.clientX, y: event.clientY, tile };
      tile.setPointerCapture(event.pointerId);
    });
    this.container.addEventListener("pointermove", (event) => {
      if (!start) return;
      start.tile.style.translate = `${event.clientX - start.x}px ${event.clientY - start.y}px`;
    });
    this.container.addEventListener("pointerup", (event) => {
      if (!start) return;
      const box = this.container.getBoundingClientRect();
      const right = event.clientX > box.left + box.width / 2;
      const bottom = event.clientY > box.top + box.height / 2;
      this.corner = CORNERS.find((corner) => corner === `${bottom ? "b" : "t"}${right ? "r" : "l"}`);
      start.tile.style.translate = "";
      start = null;
      this.update();
    });
  }
}
