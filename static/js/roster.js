// The people in the call and the link to each: tiles, people list and chat notices follow them.

import { gettext, interpolate } from "./i18n.js";
import { PeerLink } from "./peers.js";
import { RelayWatch } from "./relay_watch.js";

export class Roster {
  constructor(call) {
    this.call = call;
    this.peers = new Map(); // peer id -> {user, media}
    this.links = new Map(); // peer id -> PeerLink
    this.relay = new RelayWatch(call, this.links); // the status line says when the TURN server is lost
  }

  /** `announced`: from a peer-joined frame, so the chat says who came in. */
  addPeer(peer, announced = false) {
    const known = this.peers.get(peer.peer_id);
    this.peers.set(peer.peer_id, { user: peer.user, media: peer.media });
    const name = peer.user.display_name || peer.user.username;
    this.call.tiles.ensure(peer.peer_id, { name });
    this.call.tiles.setMedia(peer.peer_id, peer.media);
    this.call.participants.upsert(peer.peer_id, { name, media: peer.media, state: known ? null : "new", ...this.removal(peer.peer_id) });
    if (!known && this.call.selfId) this.call.setStatus("");
    if (announced) this.call.chat.notice(interpolate(gettext("%(name)s joined the call."), { name }));
  }

  removePeer(peerId, reason) {
    const peer = this.peers.get(peerId);
    this.links.get(peerId)?.close();
    this.links.delete(peerId);
    this.relay.forget(peerId);
    this.call.uplink.apply(); // the others' share of the budget grows
    this.peers.delete(peerId);
    this.call.tiles.remove(peerId);
    this.call.tiles.remove(`${peerId}:screen`);
    this.call.speakers.unwatch(peerId);
    this.call.participants.remove(peerId);
    if (peer && reason) {
      const name = peer.user.display_name || peer.user.username;
      const text = reason === "kicked" ? gettext("%(name)s was removed from the call.") : gettext("%(name)s left the call.");
      this.call.chat.notice(interpolate(text, { name }));
    }
  }

  linkFor(peerId, initiator) {
    let link = this.links.get(peerId);
    if (link) return link;
    if (!this.peers.has(peerId)) {
      // An offer can overtake peer-joined when the room spans several servers.
      this.addPeer({ peer_id: peerId, user: { display_name: "…", username: "…" }, media: { audio: true, video: true, screen: false } });
    }
    link = new PeerLink({
      remoteId: peerId,
      localId: this.call.selfId,
      config: { iceServers: this.call.iceServers, iceTransportPolicy: this.call.iceTransportPolicy },
      outgoing: (kind) => this.call.media.outgoing(kind),
      send: (frame) => this.call.signal.send(frame),
      loopbackOnly: this.call.loopbackOnly,
      initiator,
    });
    link.addEventListener("track", () => {
      this.call.tiles.setStream(peerId, link.remoteStream);
      this.call.speakers.watch(peerId, link.remoteStream);
    });
    link.addEventListener("screen", () => this.showScreen(peerId));
    link.addEventListener("state", () => {
      if (link.state === "connected") this.call.uplink.applyLink(peerId);
      this.showLinkState(peerId, { state: link.state });
      this.relay.observe(peerId, { state: link.state });
    });
    this.links.set(peerId, link);
    this.call.uplink.apply(); // every link's share of the budget shrinks
    return link;
  }

  /** A peer's shared screen is a tile of its own (the stage puts it up) while the peer says it presents. */
  showScreen(peerId) {
    const peer = this.peers.get(peerId);
    const stream = this.links.get(peerId)?.screenStream;
    const key = `${peerId}:screen`;
    if (!peer || !peer.media.screen || !stream) {
      this.call.tiles.remove(key);
      return;
    }
    const name = peer.user.display_name || peer.user.username;
    this.call.tiles.ensure(key, { name: interpolate(gettext("%(name)s's screen"), { name }), screen: true });
    this.call.tiles.setStream(key, stream);
  }

  /** Moderators (the room owner, staff) get a Remove button per person. */
  removal(peerId) {
    return this.call.moderator ? { onRemove: () => this.call.signal.send({ type: "kick", peer: peerId }) } : {};
  }

  closeAllLinks() {
    this.relay.stop();
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  /** A stats poll of a link: the uplink adapts it; a link lowered for the network shows at most "fair". */
  onStats(peerId, stats) {
    const sending = this.call.uplink.observe(peerId, stats);
    const level = sending?.lowered && stats.level === "good" ? "fair" : stats.level;
    this.showLinkState(peerId, { ...stats, sending, level });
    this.relay.observe(peerId, stats);
  }

  showLinkState(peerId, stats) {
    this.call.tiles.setState(peerId, stats);
    const peer = this.peers.get(peerId);
    if (peer) {
      const name = peer.user.display_name || peer.user.username;
      this.call.participants.upsert(peerId, { name, media: peer.media, state: stats.state, ...this.removal(peerId) });
    }
  }

  onRemoteMedia(frame) {
    const peer = this.peers.get(frame.from);
    if (!peer) return;
    peer.media = { audio: frame.audio, video: frame.video, screen: frame.screen };
    this.call.tiles.setMedia(frame.from, peer.media);
    this.showScreen(frame.from);
    const name = peer.user.display_name || peer.user.username;
    this.call.participants.upsert(frame.from, {
      name,
      media: peer.media,
      state: this.links.get(frame.from)?.state,
      ...this.removal(frame.from),
    });
  }
}
