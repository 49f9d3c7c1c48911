// The people list beside the video.

import { gettext, interpolate } from "./i18n.js";
import { element, stateLabel } from "./ui.js";

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

  /** The peer's socket dropped and its seat is held (`peer-suspended`), or it is back. */
  setAway(peerId, away) {
    const item = this.items.get(peerId);
    if (!item) return;
    if (away && !item.away) {
      item.away = element("span", "participant-away meta", gettext("Reconnecting…"));
      item.flags.after(item.away);
    } else if (!away && item.away) {
      item.away.remove();
      item.away = null;
    }
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

