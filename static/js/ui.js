// DOM for the call page. Every piece of user text goes in through textContent.

import { gettext, interpolate } from "./i18n.js";

export function element(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

const STATE_LABELS = {
  new: () => gettext("Connecting"),
  connecting: () => gettext("Connecting"),
  connected: () => gettext("Connected"),
  disconnected: () => gettext("Reconnecting"),
  failed: () => gettext("Connection failed"),
  closed: () => gettext("Closed"),
};

export function stateLabel(state) {
  return (STATE_LABELS[state] || STATE_LABELS.new)();
}

function initial(name) {
  return (name || "?").trim().charAt(0).toUpperCase() || "?";
}

/** The video grid: one tile per person, keyed by peer id ("self" for us). */
export class Tiles {
  constructor(container) {
    this.container = container;
    this.tiles = new Map();
  }

  ensure(peerId, { name, local = false }) {
    let tile = this.tiles.get(peerId);
    if (!tile) {
      const root = element("figure", local ? "tile local" : "tile");
      root.dataset.peerId = peerId;
      const video = element("video");
      video.autoplay = true;
      video.playsInline = true;
      if (local) {
        video.muted = true;
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
      state.hidden = local;
      caption.append(nameNode, muted, screen, state);
      root.append(video, avatar, caption);
      this.container.append(root);
      tile = { root, video, avatarLetter, nameNode, muted, screen, state, local };
      this.tiles.set(peerId, tile);
      this.layout();
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
    tile.root.classList.toggle("camera-off", !media.video && !media.screen);
    tile.root.dataset.audio = String(media.audio);
    tile.root.dataset.video = String(media.video);
  }

  setState(peerId, { state, candidateType, rtt }) {
    const tile = this.tiles.get(peerId);
    if (!tile || tile.local) return;
    const parts = [stateLabel(state)];
    if (state === "connected" && candidateType === "relay") parts.push(gettext("via relay"));
    if (state === "connected" && rtt !== null && rtt !== undefined) parts.push(interpolate(gettext("%(ms)s ms"), { ms: rtt }));
    tile.state.textContent = parts.join(" · ");
    tile.root.dataset.state = state;
    tile.state.classList.toggle("bad", state === "failed" || state === "disconnected");
    tile.state.classList.toggle("good", state === "connected");
  }

  remove(peerId) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.root.remove();
    this.tiles.delete(peerId);
    this.layout();
  }

  /** Columns grow with the number of tiles so that they stay as large as possible. */
  layout() {
    const count = Math.max(1, this.tiles.size);
    const columns = count <= 1 ? 1 : count <= 4 ? 2 : count <= 9 ? 3 : 4;
    this.container.style.setProperty("--columns", String(columns));
  }
}

/** The people list beside the video. */
export class Participants {
  constructor(list, counter) {
    this.list = list;
    this.counter = counter;
    this.items = new Map();
  }

  /** `onRemove`, for moderators, adds a button that removes this person from the room. */
  upsert(peerId, { name, media, local = false, state = null, onRemove = null }) {
    let item = this.items.get(peerId);
    if (!item) {
      const root = element("li", "participant");
      root.dataset.peerId = peerId;
      const nameNode = element("span", "participant-name");
      const flags = element("span", "participant-flags meta");
      root.append(nameNode, flags);
      this.list.append(root);
      item = { root, nameNode, flags, remove: null };
      this.items.set(peerId, item);
    }
    if (onRemove && !item.remove) {
      item.remove = element("button", "link participant-remove", gettext("Remove"));
      item.remove.type = "button";
      item.remove.addEventListener("click", onRemove);
      item.root.append(item.remove);
    }
    if (item.remove) item.remove.setAttribute("aria-label", interpolate(gettext("Remove %(name)s from the room"), { name }));
    item.nameNode.textContent = local ? interpolate(gettext("%(name)s (you)"), { name }) : name;
    const flags = [];
    if (media && !media.audio) flags.push(gettext("muted"));
    if (media && !media.video) flags.push(gettext("camera off"));
    if (media && media.screen) flags.push(gettext("presenting"));
    if (state && state !== "connected") flags.push(stateLabel(state).toLowerCase());
    item.flags.textContent = flags.join(" · ");
    this.updateCount();
  }

  remove(peerId) {
    const item = this.items.get(peerId);
    if (item) item.root.remove();
    this.items.delete(peerId);
    this.updateCount();
  }

  updateCount() {
    this.counter.textContent = `(${this.items.size})`;
  }
}

/** The chat panel. */
export class ChatPanel {
  constructor(log) {
    this.log = log;
  }

  add({ name, text, ts, mine }) {
    const item = element("li", mine ? "chat-message mine" : "chat-message");
    const head = element("div", "chat-head");
    const who = element("span", "chat-name", name);
    const when = element("time", "chat-time meta");
    const date = new Date(ts);
    if (!Number.isNaN(date.getTime())) {
      when.dateTime = date.toISOString();
      when.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    head.append(who, when);
    item.append(head, element("p", "chat-text", text));
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
  }

  notice(text) {
    this.log.append(element("li", "chat-notice meta", text));
    this.log.scrollTop = this.log.scrollHeight;
  }
}

export function fillDeviceSelect(select, devices, currentId, fallbackLabel) {
  select.replaceChildren();
  devices.forEach((device, index) => {
    const option = element("option", "", device.label || interpolate(fallbackLabel, { n: index + 1 }));
    option.value = device.deviceId;
    if (device.deviceId === currentId) option.selected = true;
    select.append(option);
  });
  select.disabled = devices.length === 0;
  if (devices.length === 0) select.append(element("option", "", gettext("None found")));
}
