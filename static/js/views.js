// Receivers say what they show (docs/protocol.md `view`): how large each remote camera tile is
// shown goes to that sender, which scales or pauses the video of that one link (uplink.js); and
// the `view` frames others send us set our links' encodings.

const SIZES_FOR_UPLINK = { hidden: "hidden", thumb: "thumb", tile: "full", stage: "full" };
const DEBOUNCE_MS = 150;
const THUMB_WIDTH = 320; // a tile narrower than this is a thumbnail (a strip, a phone grid of many)
const DEFAULT = "tile"; // what a sender assumes until we say otherwise

/** The size a tile is shown at: hidden (page hidden, off screen, not laid out), thumb, tile or stage. */
export function tileSize(root, visible) {
  if (document.visibilityState === "hidden" || !visible || !root.isConnected) return "hidden";
  const { width, height } = root.getBoundingClientRect();
  if (width < 2 || height < 2) return "hidden";
  if (document.fullscreenElement && document.fullscreenElement.contains(root)) return "stage";
  if (root.classList.contains("main")) return "stage";
  return width < THUMB_WIDTH ? "thumb" : "tile";
}

export class Views {
  /** `call`: tiles, uplink, signal and selfId of the call page (room.js). */
  constructor(call) {
    this.call = call;
    this.sent = new Map(); // peer id -> the size last sent
    this.visible = new Map(); // tile root -> intersecting the viewport
    this.observed = new Map(); // peer id -> tile root
    this.timer = null;
    this.resize = new ResizeObserver(() => this.schedule());
    this.intersect = new IntersectionObserver((entries) => {
      for (const entry of entries) this.visible.set(entry.target, entry.isIntersecting);
      this.schedule();
    });
    this.peerId = null; // our peer id: a new one is a fresh join, and the others know nothing yet
    call.signal.addEventListener("frame", ({ detail: frame }) => {
      if (frame.type === "view") this.onView(frame);
      else if (frame.type === "welcome" && frame.peer_id !== this.peerId) this.reset(frame.peer_id);
    });
    document.addEventListener("visibilitychange", () => this.schedule(0));
    document.addEventListener("fullscreenchange", () => this.schedule());
    // Tiles come and go, and the stage moves them (speaker view, pin: the "main" class).
    new MutationObserver(() => this.track()).observe(call.tiles.container, {
      childList: true,
      subtree: true,
      attributeFilter: ["class", "hidden", "style"],
    });
  }

  /** Follow the tiles: called on every tile added or removed and every layout change. */
  track() {
    const tiles = this.call.tiles.tiles;
    for (const [peerId, root] of this.observed) {
      if (tiles.get(peerId)?.root === root) continue;
      this.resize.unobserve(root);
      this.intersect.unobserve(root);
      this.visible.delete(root);
      this.observed.delete(peerId);
      this.sent.delete(peerId);
    }
    for (const [peerId, tile] of tiles) {
      if (tile.local || peerId.includes(":") || this.observed.has(peerId)) continue;
      this.observed.set(peerId, tile.root);
      this.resize.observe(tile.root);
      this.intersect.observe(tile.root);
    }
    this.schedule();
  }

  schedule(delay = DEBOUNCE_MS) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.report(), delay);
  }

  /** Send each peer whose size changed its new size (only changes: nothing while it stays). */
  report() {
    if (!this.call.selfId) return;
    for (const [peerId, root] of this.observed) {
      const size = tileSize(root, this.visible.get(root) ?? true);
      if ((this.sent.get(peerId) ?? DEFAULT) === size) continue;
      if (this.call.signal.send({ type: "view", to: peerId, size })) this.sent.set(peerId, size);
    }
  }

  /** A fresh join: the others know nothing of how we show them yet. */
  reset(peerId) {
    this.peerId = peerId;
    this.sent.clear();
    this.schedule(0);
  }

  /** A `view` frame: how peer `from` shows our camera. */
  onView(frame) {
    const view = SIZES_FOR_UPLINK[frame.size];
    if (!view) return;
    this.call.uplink.views.set(frame.from, view);
    this.call.uplink.applyLink(frame.from);
  }
}
