// The room page: pre-join screen, then the mesh call (entry module).

import { gettext, interpolate } from "./i18n.js";
import { LocalMedia, mediaErrorMessage } from "./media.js";
import { PeerLink } from "./peers.js";
import { SignalingClient } from "./signaling.js";
import { ChatPanel, Participants, Tiles, fillDeviceSelect } from "./ui.js";

const SELF = "self";
const STATS_PERIOD_MS = 2000;
const CLOSE_MESSAGES = {
  4401: () => gettext("You are signed out. Sign in again to join the call."),
  4403: () => gettext("You may not join this room: it is private or locked, or a moderator removed you."),
  4404: () => gettext("This room does not exist or was closed."),
  4409: () => gettext("This room is full."),
};

const byId = (id) => document.getElementById(id);

class Call {
  constructor(root) {
    this.root = root;
    this.loopbackOnly = "loopbackOnly" in root.dataset;
    this.displayName = root.dataset.displayName || "";
    this.media = new LocalMedia();
    this.signal = new SignalingClient(root.dataset.wsPath);
    this.selfId = null;
    this.peers = new Map(); // peer id -> {user, media}
    this.links = new Map(); // peer id -> PeerLink
    this.iceServers = [];
    this.iceTransportPolicy = "all";
    this.iceRefreshTimer = null;
    this.statsTimer = null;
    this.joined = false;
    this.ended = false;
    this.resumedCount = 0;
    this.moderator = false;
    this.locked = false;
    this.tiles = new Tiles(byId("tiles"));
    this.participants = new Participants(byId("participants"), byId("people-count"));
    this.chat = new ChatPanel(byId("chat-log"));

    this.signal.addEventListener("frame", (event) => this.onFrame(event.detail));
    this.signal.addEventListener("down", (event) => this.onSignalDown(event.detail));
    this.signal.addEventListener("closed", (event) => this.onSignalClosed(event.detail));
    this.media.addEventListener("change", () => this.onLocalMediaChange());
    this.media.addEventListener("outgoing", () => this.onOutgoingChange());
    this.bindControls();
  }

  // Pre-join --------------------------------------------------------------------------------
  async prejoin() {
    await this.media.open();
    await this.showDevices();
    this.showMediaError();
    this.refreshPreview();
    byId("join").disabled = false;
  }

  /** Opened from an accepted direct call: no pre-join screen, join with the default devices. */
  async joinAtOnce() {
    byId("prejoin").hidden = true;
    byId("incall").hidden = false;
    this.setStatus(gettext("Connecting…"));
    await this.prejoin();
    this.join();
    if (this.media.error && (!this.media.audioTrack || !this.media.cameraTrack)) {
      this.chat.notice(mediaErrorMessage(this.media.error));
    }
  }

  async showDevices() {
    const { cameras, microphones } = await this.media.devices();
    const camera = this.media.currentDeviceId("video");
    const mic = this.media.currentDeviceId("audio");
    for (const id of ["camera-select", "call-camera-select"]) {
      fillDeviceSelect(byId(id), cameras, camera, gettext("Camera %(n)s"));
    }
    for (const id of ["mic-select", "call-mic-select"]) {
      fillDeviceSelect(byId(id), microphones, mic, gettext("Microphone %(n)s"));
    }
    byId("join-camera").disabled = !this.media.cameraTrack;
    byId("join-mic").disabled = !this.media.audioTrack;
  }

  showMediaError() {
    const box = byId("media-error");
    const missing = !this.media.audioTrack || !this.media.cameraTrack;
    box.hidden = !(this.media.error && missing);
    box.textContent = box.hidden ? "" : mediaErrorMessage(this.media.error);
  }

  refreshPreview() {
    const preview = byId("preview");
    const track = this.media.cameraTrack;
    const on = Boolean(track) && byId("join-camera").checked;
    preview.srcObject = track ? new MediaStream([track]) : null;
    preview.hidden = !on;
    byId("preview-off").hidden = on;
    byId("preview-off").textContent = track ? gettext("Camera is off") : gettext("No camera");
  }

  async changeDevice() {
    await this.media.open({ cameraId: byId("camera-select").value, micId: byId("mic-select").value });
    await this.showDevices();
    this.showMediaError();
    this.refreshPreview();
  }

  /** In the call: open the chosen devices and send their tracks to every peer. */
  async changeDeviceInCall() {
    await this.media.open({ cameraId: byId("call-camera-select").value, micId: byId("call-mic-select").value });
    await this.showDevices();
    if (this.media.error) this.setStatus(mediaErrorMessage(this.media.error), "bad");
    for (const link of this.links.values()) {
      await link.replaceOutgoing("audio");
      await link.replaceOutgoing("video");
    }
    this.showLocal();
  }

  // Controls --------------------------------------------------------------------------------
  bindControls() {
    byId("camera-select").addEventListener("change", () => this.changeDevice());
    byId("mic-select").addEventListener("change", () => this.changeDevice());
    byId("join-camera").addEventListener("change", () => this.refreshPreview());
    byId("call-camera-select").addEventListener("change", () => this.changeDeviceInCall());
    byId("call-mic-select").addEventListener("change", () => this.changeDeviceInCall());
    byId("prejoin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.join();
    });
    byId("toggle-mic").addEventListener("click", () => this.media.setAudio(!this.media.audioEnabled));
    byId("toggle-camera").addEventListener("click", () => this.media.setVideo(!this.media.videoEnabled));
    byId("toggle-screen").addEventListener("click", () => this.toggleScreen());
    byId("leave").addEventListener("click", () => this.leave());
    byId("toggle-lock").addEventListener("click", () => this.signal.send({ type: "lock", locked: !this.locked }));
    byId("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendChat();
    });
    window.addEventListener("pagehide", () => {
      if (this.joined && !this.ended) this.signal.leave();
    });
  }

  async toggleScreen() {
    if (this.media.screenTrack) {
      this.media.stopScreen();
      return;
    }
    try {
      await this.media.startScreen();
    } catch (error) {
      if (error.name !== "NotAllowedError") this.setStatus(gettext("Could not share your screen."), "bad");
    }
  }

  sendChat() {
    const input = byId("chat-input");
    const text = input.value.trim();
    if (!text) return;
    if (!this.signal.send({ type: "chat", text })) {
      this.setStatus(gettext("Not connected: the message was not sent."), "bad");
      return;
    }
    input.value = "";
  }

  // Joining and leaving -------------------------------------------------------------------------
  join() {
    this.media.setVideo(byId("join-camera").checked && Boolean(this.media.cameraTrack));
    this.media.setAudio(byId("join-mic").checked && Boolean(this.media.audioTrack));
    byId("prejoin").hidden = true;
    byId("incall").hidden = false;
    byId("preview").srcObject = null;
    this.joined = true;
    this.tiles.ensure(SELF, { name: this.displayName, local: true });
    this.showLocal();
    this.setStatus(gettext("Connecting…"));
    this.signal.connect();
    this.statsTimer = setInterval(() => this.pollStats(), STATS_PERIOD_MS);
  }

  leave() {
    this.signal.leave();
    this.end(gettext("You left the call"), "");
  }

  end(title, reason) {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.statsTimer);
    clearTimeout(this.iceRefreshTimer);
    this.closeAllLinks();
    this.media.stopAll();
    byId("prejoin").hidden = true;
    byId("incall").hidden = true;
    byId("ended").hidden = false;
    byId("ended-title").textContent = title;
    byId("ended-reason").textContent = reason;
  }

  // Signaling ------------------------------------------------------------------------------------
  onFrame(frame) {
    if (this.ended) return undefined;
    switch (frame.type) {
      case "welcome":
        return this.onWelcome(frame);
      case "peer-joined":
        return this.addPeer(frame.peer);
      case "peer-left":
        return this.removePeer(frame.peer_id, frame.reason);
      case "offer":
      case "answer":
        return this.linkFor(frame.from, false).handleDescription(frame.type, frame.sdp);
      case "ice":
        return this.links.get(frame.from)?.handleCandidate(frame.candidate);
      case "chat":
        return this.chat.add({
          name: frame.user.display_name || frame.user.username,
          text: frame.text,
          ts: frame.ts,
          mine: frame.from === this.selfId,
        });
      case "media":
        return this.onRemoteMedia(frame);
      case "ice-servers":
        return this.onIceServers(frame.ice_servers, frame.ice_ttl);
      case "room":
        this.showLocked(frame.locked);
        return this.chat.notice(frame.locked ? gettext("The room is now locked.") : gettext("The room is now unlocked."));
      case "kicked":
        return this.end(gettext("You were removed from the call"), gettext("A moderator removed you from this room."));
      case "error":
        return this.onError(frame);
      default:
        return undefined;
    }
  }

  onWelcome(frame) {
    const resumed = frame.resumed && frame.peer_id === this.selfId;
    this.selfId = frame.peer_id;
    this.displayName = frame.you.display_name || frame.you.username;
    this.tiles.ensure(SELF, { name: this.displayName, local: true });
    this.iceTransportPolicy = frame.ice_transport_policy || "all";
    this.moderator = Boolean(frame.moderator);
    byId("toggle-lock").hidden = !this.moderator;
    this.showLocked(frame.room.locked);
    this.onIceServers(frame.ice_servers, frame.ice_ttl);
    if (resumed) {
      this.resumedCount += 1;
      const present = new Set(frame.peers.map((peer) => peer.peer_id));
      for (const peerId of [...this.peers.keys()]) if (!present.has(peerId)) this.removePeer(peerId, "left");
      for (const peer of frame.peers) this.addPeer(peer);
      // Frames we sent while the socket was down are lost: finish what they started.
      for (const link of this.links.values()) link.recover();
    } else {
      for (const peerId of [...this.peers.keys()]) this.removePeer(peerId, null);
      for (const peer of frame.peers) {
        this.addPeer(peer);
        this.linkFor(peer.peer_id, true);
      }
    }
    this.sendMedia();
    this.setStatus(frame.peers.length ? "" : gettext("Waiting for others to join…"));
  }

  onSignalDown({ delay }) {
    if (this.ended) return;
    this.setStatus(interpolate(gettext("Connection lost. Reconnecting in %(seconds)s s…"), { seconds: Math.ceil(delay / 1000) }), "bad");
  }

  onSignalClosed({ code, error }) {
    if (this.ended) return;
    const message = CLOSE_MESSAGES[code];
    this.end(gettext("You are not in the call"), message ? message() : (error && error.message) || "");
  }

  onError(frame) {
    if (frame.code === "rate-limited" || frame.code === "too-large" || frame.code === "bad-message") {
      this.setStatus(frame.message, "bad");
    } else if (frame.code === "unknown-peer") {
      console.warn("server:", frame.message);
    }
  }

  // Peers ---------------------------------------------------------------------------------------------
  addPeer(peer) {
    const known = this.peers.get(peer.peer_id);
    this.peers.set(peer.peer_id, { user: peer.user, media: peer.media });
    const name = peer.user.display_name || peer.user.username;
    this.tiles.ensure(peer.peer_id, { name });
    this.tiles.setMedia(peer.peer_id, peer.media);
    this.participants.upsert(peer.peer_id, { name, media: peer.media, state: known ? null : "new", ...this.removal(peer.peer_id) });
    if (!known && this.selfId) this.setStatus("");
  }

  removePeer(peerId, reason) {
    const peer = this.peers.get(peerId);
    this.links.get(peerId)?.close();
    this.links.delete(peerId);
    this.peers.delete(peerId);
    this.tiles.remove(peerId);
    this.participants.remove(peerId);
    if (peer && reason) {
      const name = peer.user.display_name || peer.user.username;
      const text = reason === "kicked" ? gettext("%(name)s was removed from the call.") : gettext("%(name)s left the call.");
      this.chat.notice(interpolate(text, { name }));
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
      localId: this.selfId,
      config: { iceServers: this.iceServers, iceTransportPolicy: this.iceTransportPolicy },
      outgoing: (kind) => this.media.outgoing(kind),
      send: (frame) => this.signal.send(frame),
      loopbackOnly: this.loopbackOnly,
      initiator,
    });
    link.addEventListener("track", () => this.tiles.setStream(peerId, link.remoteStream));
    link.addEventListener("state", () => this.showLinkState(peerId, { state: link.state }));
    this.links.set(peerId, link);
    return link;
  }

  /** Moderators (the room owner, staff) get a Remove button per person. */
  removal(peerId) {
    return this.moderator ? { onRemove: () => this.signal.send({ type: "kick", peer: peerId }) } : {};
  }

  showLocked(locked) {
    this.locked = locked;
    const button = byId("toggle-lock");
    button.setAttribute("aria-pressed", String(locked));
    button.textContent = locked ? gettext("Unlock room") : gettext("Lock room");
  }

  closeAllLinks() {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  showLinkState(peerId, stats) {
    this.tiles.setState(peerId, stats);
    const peer = this.peers.get(peerId);
    if (peer) {
      const name = peer.user.display_name || peer.user.username;
      this.participants.upsert(peerId, { name, media: peer.media, state: stats.state, ...this.removal(peerId) });
    }
  }

  async pollStats() {
    for (const [peerId, link] of this.links) {
      try {
        this.showLinkState(peerId, await link.stats());
      } catch {
        // a link closed while we asked
      }
    }
  }

  onRemoteMedia(frame) {
    const peer = this.peers.get(frame.from);
    if (!peer) return;
    peer.media = { audio: frame.audio, video: frame.video, screen: frame.screen };
    this.tiles.setMedia(frame.from, peer.media);
    const name = peer.user.display_name || peer.user.username;
    this.participants.upsert(frame.from, {
      name,
      media: peer.media,
      state: this.links.get(frame.from)?.state,
      ...this.removal(frame.from),
    });
  }

  // Local media -------------------------------------------------------------------------------------
  showLocal() {
    const track = this.media.outgoing("video");
    this.tiles.setStream(SELF, track ? new MediaStream([track]) : null);
    const state = this.media.state();
    this.tiles.setMedia(SELF, state);
    this.tiles.tiles.get(SELF)?.video.classList.toggle("mirror", !state.screen);
    this.participants.upsert(SELF, { name: this.displayName, media: state, local: true });
    const mic = byId("toggle-mic");
    mic.setAttribute("aria-pressed", String(!state.audio));
    mic.textContent = state.audio ? gettext("Mute") : gettext("Unmute");
    mic.disabled = !this.media.audioTrack;
    const camera = byId("toggle-camera");
    camera.setAttribute("aria-pressed", String(!state.video));
    camera.textContent = state.video ? gettext("Stop camera") : gettext("Start camera");
    camera.disabled = !this.media.cameraTrack;
    const screen = byId("toggle-screen");
    screen.setAttribute("aria-pressed", String(state.screen));
    screen.textContent = state.screen ? gettext("Stop sharing") : gettext("Share screen");
    screen.disabled = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  }

  onLocalMediaChange() {
    if (!this.joined || this.ended) return;
    this.showLocal();
    this.sendMedia();
  }

  onOutgoingChange() {
    for (const link of this.links.values()) link.replaceOutgoing("video").catch((error) => console.warn(error));
  }

  sendMedia() {
    this.signal.send({ type: "media", ...this.media.state() });
  }

  // TURN credentials ------------------------------------------------------------------------------------
  onIceServers(iceServers, ttl) {
    this.iceServers = iceServers;
    for (const link of this.links.values()) link.setIceServers(iceServers);
    clearTimeout(this.iceRefreshTimer);
    if (!ttl) return;
    // Ask for fresh credentials well before the old ones expire.
    const delay = Math.max(5, ttl * 0.8) * 1000;
    this.iceRefreshTimer = setTimeout(() => this.signal.send({ type: "ice-servers" }), delay);
  }

  setStatus(text, tone = "") {
    const status = byId("call-status");
    status.textContent = text;
    status.dataset.tone = tone;
  }
}

const root = byId("call");
if (root) {
  const call = new Call(root);
  // For debugging in the console and for the browser tests.
  window.parley = call;
  if (location.hash === "#join") call.joinAtOnce();
  else call.prejoin();
}
