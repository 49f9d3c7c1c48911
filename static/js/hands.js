// Raised hands: the H key and the control bar raise and lower yours; a hand shows on the tile and
// at the top of the people list, in the order they were raised; a moderator may lower anyone's.

import { gettext, interpolate } from "./i18n.js";
import { icon, setButton } from "./icons.js";
import { byId, element } from "./ui.js";

const SELF = "self";

/** A hand icon and its place in the queue; said as "Hand raised, number 2". */
function handMark(position) {
  const number = element("span", "", String(position + 1));
  number.setAttribute("aria-hidden", "true");
  const said = element("span", "visually-hidden", interpolate(gettext("Hand raised, number %(n)s"), { n: position + 1 }));
  return [icon("hand"), number, said];
}

export class Hands {
  constructor(call) {
    this.call = call;
    this.order = []; // peer ids ("self" for us), in raise order
    this.button = byId("toggle-hand");
    this.button.addEventListener("click", () => this.toggle());
    this.show();
  }

  key(peerId) {
    return peerId === this.call.selfId ? SELF : peerId;
  }

  name(key) {
    if (key === SELF) return this.call.displayName;
    const user = this.call.peers.get(key)?.user;
    return user ? user.display_name || user.username : "";
  }

  toggle() {
    this.call.signal.send({ type: "hand", raised: !this.order.includes(SELF) });
  }

  lower(key) {
    if (key === SELF) this.call.signal.send({ type: "hand", raised: false });
    else this.call.signal.send({ type: "hand", raised: false, peer: key });
  }

  /** The room's raised hands, from `welcome` (after a resume too: the room as it is now). */
  onWelcome(frame) {
    this.order = (frame.hands || []).map((peerId) => this.key(peerId)).filter((key) => key === SELF || this.call.peers.has(key));
    this.show();
  }

  onHand(frame) {
    const key = this.key(frame.from);
    const known = this.order.includes(key);
    if (frame.raised && !known) {
      this.order.push(key);
      if (key !== SELF) this.call.chat.notice(interpolate(gettext("%(name)s raised their hand."), { name: this.name(key) }));
    } else if (!frame.raised && known) {
      this.order = this.order.filter((other) => other !== key);
      if (key === SELF && frame.by) {
        const by = this.call.peers.get(frame.by)?.user;
        const name = by ? by.display_name || by.username : "";
        this.call.chat.notice(interpolate(gettext("%(name)s lowered your hand."), { name }));
      }
    }
    this.show();
  }

  onPeerLeft(peerId) {
    if (!this.order.includes(peerId)) return;
    this.order = this.order.filter((key) => key !== peerId);
    this.show();
  }

  /** Tiles, people list and the button follow `order`. */
  show() {
    const mine = this.order.includes(SELF);
    this.button.setAttribute("aria-pressed", String(mine));
    setButton(this.button, "hand", mine ? gettext("Lower hand") : gettext("Raise hand"));
    for (const [key, tile] of this.call.tiles.tiles) {
      if (tile.root.dataset.screen === "true") continue;
      this.showOnTile(tile, this.order.indexOf(key));
    }
    const list = this.call.participants.list;
    for (const [key, item] of this.call.participants.items) {
      const position = this.order.indexOf(key);
      this.showInList(key, item, position);
      if (position < 0 && item.root.dataset.hand === "true") list.append(item.root);
      item.root.dataset.hand = String(position >= 0);
    }
    for (const key of [...this.order].reverse()) {
      const item = this.call.participants.items.get(key);
      if (item) list.prepend(item.root);
    }
  }

  showOnTile(tile, position) {
    let badge = tile.root.querySelector(".tile-hand");
    if (position < 0) {
      badge?.remove();
      tile.root.classList.remove("hand-raised");
      return;
    }
    if (!badge) {
      badge = element("span", "badge tile-hand");
      tile.root.querySelector(".tile-caption").prepend(badge);
    }
    tile.root.classList.add("hand-raised");
    badge.replaceChildren(...handMark(position));
  }

  showInList(key, item, position) {
    let hand = item.root.querySelector(".participant-hand");
    let lower = item.root.querySelector(".participant-lower");
    if (position < 0) {
      hand?.remove();
      lower?.remove();
      return;
    }
    if (!hand) {
      hand = element("span", "participant-hand");
      item.root.prepend(hand);
    }
    hand.replaceChildren(...handMark(position));
    if ((this.call.moderator || key === SELF) && !lower) {
      lower = element("button", "link participant-lower", gettext("Lower hand"));
      lower.type = "button";
      lower.addEventListener("click", () => this.lower(key));
      item.root.append(lower);
    }
    lower?.setAttribute("aria-label", interpolate(gettext("Lower the hand of %(name)s"), { name: this.name(key) }));
  }
}
