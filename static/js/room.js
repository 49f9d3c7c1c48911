// The room page: pre-join screen, then the mesh call (entry module).

import { watchAway } from "./away.js";
import { ChatPanel } from "./chat.js";
import { Controls } from "./controls.js";
import { RoomFeatures } from "./features.js";
import { gettext } from "./i18n.js";
import { KnockPrompts } from "./knock_prompt.js";
import { LocalMedia, mediaErrorMessage } from "./media.js";
import { watchRoom } from "./occupancy.js";
import { ConnectionBanner } from "./network.js";
import { ChatOutbox } from "./outbox.js";
import { Participants } from "./participants.js";
import { Prejoin } from "./prejoin.js";
import { refusalText, removedText } from "./refusal.js";
import { Roster } from "./roster.js";
import { SignalingClient } from "./signaling.js";
import { SpeakerDetector } from "./speaker.js";
import { Stage } from "./stage.js";
import { StatsPoller } from "./stats.js";
import { Tiles } from "./tiles.js";
import { byId } from "./ui.js";
import { Uplink } from "./uplink.js";
import { Views } from "./views.js";

const SELF = "self";
class Call {
  constructor(root) {
    this.root = root;
    this.loopbackOnly = "loopbackOnly" in root.dataset;
    this.displayName = root.dataset.displayName || "";
    this.media = new LocalMedia();
    this.signal = new SignalingClient(root.dataset.wsPath);
    this.selfId = null;
    this.roster = new Roster(this);
    this.peers = this.roster.peers;
    this.links = this.roster.links;
    this.iceServers = [];
    this.iceTransportPolicy = "all";
    this.iceRefreshTimer = null;
    this.stats = new StatsPoller(
      this.links,
      (peerId) => { const media = this.peers.get(peerId)?.media; return media && (media.video || media.screen); },
      (peerId, stats) => this.roster.onStats(peerId, stats),
    );
    this.uplink = new Uplink(this.links, this.media, root.dataset);
    this.joined = false;
    this.ended = false;
    this.resumedCount = 0;
    this.moderator = false;
    this.locked = false;
    this.tiles = new Tiles(byId("tiles"));
    this.stage = new Stage(this.tiles);
    this.speakers = new SpeakerDetector((current, speaking) => this.stage.setSpeaker(current, speaking));
    this.participants = new Participants(byId("participants"), byId("people-count"));
    this.chat = new ChatPanel(byId("chat-log"));
    this.knocks = new KnockPrompts(byId("knocks"), (frame) => this.signal.send(frame), {
      isPrivate: "private" in root.dataset,
    });
    this.views = new Views(this); // receivers say what they show; `view` frames set our links
    watchAway(this.signal, this.tiles, this.participants); // "Reconnecting…" for a peer whose socket dropped

    this.signal.addEventListener("frame", (event) => this.onFrame(event.detail));
    this.signal.addEventListener("closed", (event) => this.onSignalClosed(event.detail));
    this.media.addEventListener("change", () => this.onLocalMediaChange());
    this.media.addEventListener("screen", () => this.onScreenChange());
    this.prejoinScreen = new Prejoin(this.media, () => this.join());
    this.controls = new Controls(this);
    this.outbox = new ChatOutbox(this.chat, (frame) => this.signal.send(frame));
    this.chat.bind(byId("chat-form"), byId("chat-input"), (text) => this.outbox.add(text, this.displayName));
    this.banner = new ConnectionBanner(this.signal, () => this.joined && !this.ended);
    // Leaving the page in a call asks first; the site's links open beside the call.
    window.addEventListener("beforeunload", (event) => {
      if (this.joined && !this.ended) event.preventDefault();
    });
    window.addEventListener("pagehide", () => {
      if (this.joined && !this.ended) this.signal.leave();
    });
    this.features = new RoomFeatures(this); // hands, reactions, recording, earlier chat
  }

  // Pre-join --------------------------------------------------------------------------------
  prejoin() {
    return this.prejoinScreen.open();
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

  // Joining and leaving -------------------------------------------------------------------------
  join() {
    const { video, audio } = this.prejoinScreen.choices();
    this.media.setVideo(video);
    this.media.setAudio(audio);
    this.prejoinScreen.close();
    byId("incall").hidden = false;
    document.body.classList.add("in-call");
    for (const link of document.querySelectorAll(".topbar a")) {
      link.target = "_blank";
      link.rel = "noopener";
    }
    this.joined = true;
    this.speakers.start();
    this.tiles.ensure(SELF, { name: this.displayName, local: true });
    this.showLocal();
    this.setStatus(gettext("Connecting…"));
    this.signal.connect();
    this.stats.start();
    this.controls.showSpeakers();
  }

  leave() {
    this.signal.leave();
    // A direct call ends for both at once when one leaves on purpose (presence.js hangs it up).
    document.dispatchEvent(new Event("parley:leave"));
    this.end(gettext("You left the call"), "");
  }

  end(title, reason, { rejoin = true } = {}) {
    if (this.ended) return;
    this.features.onEnd();
    this.ended = true;
    this.stats.stop();
    this.outbox.stop();
    this.speakers.stop();
    clearTimeout(this.iceRefreshTimer);
    this.roster.closeAllLinks();
    this.media.stopAll();
    byId("prejoin").hidden = true;
    byId("incall").hidden = true;
    document.body.classList.remove("in-call");
    byId("ended").hidden = false;
    byId("ended-title").textContent = title;
    byId("ended-reason").textContent = reason;
    byId("rejoin-action").hidden = !rejoin;
  }

  // Signaling ------------------------------------------------------------------------------------
  onFrame(frame) {
    if (this.ended) return undefined;
    switch (frame.type) {
      case "welcome":
        return this.onWelcome(frame);
      case "peer-joined":
        return this.roster.addPeer(frame.peer, true);
      case "peer-left":
        return this.roster.removePeer(frame.peer_id, frame.reason);
      case "offer":
      case "answer":
        return this.roster.linkFor(frame.from, false).handleDescription(frame.type, frame.sdp);
      case "ice":
        return this.links.get(frame.from)?.handleCandidate(frame.candidate);
      case "chat":
        return this.onChat(frame);
      case "media":
        return this.roster.onRemoteMedia(frame);
      case "ice-servers":
        return this.onIceServers(frame.ice_servers, frame.ice_ttl);
      case "room":
        this.showLocked(frame.locked);
        return this.chat.notice(frame.locked ? gettext("The room is now locked.") : gettext("The room is now unlocked."));
      case "kicked":
        return this.end(gettext("You were removed from the call"), removedText(frame.by, this.banSeconds()), {
          rejoin: false,
        });
      case "error":
        return this.onError(frame);
      case "knock":
        return this.knocks.add(frame);
      case "knock-ended":
        return this.knocks.remove(frame.knock);
      default:
        return undefined;
    }
  }

  onChat(frame) {
    const mine = frame.from === this.selfId;
    if (mine && this.outbox.confirm(frame)) return;
    this.chat.add({ name: frame.user.display_name || frame.user.username, text: frame.text, ts: frame.ts, mine });
    if (!mine) this.controls.panels.onMessage();
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
      for (const peerId of [...this.peers.keys()]) if (!present.has(peerId)) this.roster.removePeer(peerId, "left");
      for (const peer of frame.peers) this.roster.addPeer(peer);
      // Frames we sent while the socket was down are lost: finish what they started.
      for (const link of this.links.values()) link.recover();
    } else {
      for (const peerId of [...this.peers.keys()]) this.roster.removePeer(peerId, null);
      for (const peer of frame.peers) {
        this.roster.addPeer(peer);
        this.roster.linkFor(peer.peer_id, true);
      }
    }
    this.sendMedia();
    this.outbox.flush();
    this.setStatus(frame.peers.length ? "" : gettext("Waiting for others to join…"));
  }

  onSignalClosed({ code, error }) {
    if (this.ended) return;
    const { text, rejoin, reason } = refusalText(code, error);
    this.root.dataset.refused = reason || "";
    this.end(gettext("You are not in the call"), text, { rejoin });
  }

  banSeconds() {
    return (Number(this.root.dataset.banMinutes) || 5) * 60;
  }

  onError(frame) {
    if (frame.ref) this.outbox.reject(frame.ref);
    if (frame.code === "rate-limited" || frame.code === "too-large" || frame.code === "bad-message") {
      this.setStatus(frame.message, "bad");
    } else if (frame.code === "unknown-peer") {
      console.warn("server:", frame.message);
    }
  }

  showLocked(locked) {
    this.locked = locked;
    this.controls.showLocked(locked);
  }

  // Local media -------------------------------------------------------------------------------------
  showLocal() {
    const track = this.media.outgoing("video");
    this.tiles.setStream(SELF, track ? new MediaStream([track]) : null);
    const state = this.media.state();
    this.tiles.setMedia(SELF, state);
    this.speakers.watch(SELF, this.media.audioTrack ? new MediaStream([this.media.audioTrack]) : null);
    this.participants.upsert(SELF, { name: this.displayName, media: state, local: true });
    this.controls.show(state);
  }

  onLocalMediaChange() {
    if (!this.joined || this.ended) return;
    this.showLocal();
    this.sendMedia();
    this.uplink.apply();
  }

  onScreenChange() {
    for (const link of this.links.values()) {
      link.updateScreen().then(() => this.uplink.applyLink(link.remoteId)).catch((error) => console.warn(error));
    }
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
  else watchRoom(root, () => call.prejoin());
}
