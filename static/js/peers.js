// One RTCPeerConnection per remote peer, with the perfect-negotiation pattern.

const KINDS = ["audio", "video"];
const DISCONNECTED_GRACE_MS = 4000;

/** In the loopback-only test mode only 127.0.0.1 candidates are sent or accepted. */
export function candidateAllowed(candidate, loopbackOnly) {
  if (!loopbackOnly || !candidate || !candidate.candidate) return true;
  return candidate.candidate.split(" ")[4] === "127.0.0.1";
}

/**
 * The call with one remote peer. `outgoing(kind)` gives the local track to send for
 * "audio", "video" (the camera) or "screen" (or null). The newcomer is the `initiator`: it
 * creates the audio and camera transceivers and so sends the first offer; the other side
 * answers with its tracks. A shared screen travels on a transceiver of its own, added by the
 * presenter after those two (a renegotiation): so on each side the first video transceiver is
 * the camera and any later video one receives the peer's screen.
 * Events: "track" (remote camera or audio changed), "screen" (remote screen track arrived),
 * "state" (connectionState changed).
 */
export class PeerLink extends EventTarget {
  constructor({ remoteId, localId, config, outgoing, send, loopbackOnly, initiator }) {
    super();
    this.remoteId = remoteId;
    this.polite = localId < remoteId;
    this.outgoing = outgoing;
    this.sendFrame = send;
    this.loopbackOnly = loopbackOnly;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.transceivers = {};
    this.queue = Promise.resolve();
    this.remoteStream = new MediaStream();
    this.screenStream = null; // the peer's shared screen, once its track arrived
    this.screenTransceiver = null; // ours, sending our screen
    this.restarts = 0;
    this.disconnectedTimer = null;
    this.closed = false;

    const pc = new RTCPeerConnection(config);
    this.pc = pc;
    pc.addEventListener("track", ({ track, transceiver }) => {
      const camera = pc.getTransceivers().find((candidate) => candidate.receiver.track.kind === "video");
      if (track.kind === "video" && transceiver !== camera) {
        if (this.screenStream?.getVideoTracks()[0] !== track) this.screenStream = new MediaStream([track]);
        this.dispatchEvent(new Event("screen"));
        return;
      }
      if (!this.remoteStream.getTrackById(track.id)) this.remoteStream.addTrack(track);
      this.dispatchEvent(new Event("track"));
    });
    pc.addEventListener("icecandidate", ({ candidate }) => {
      const init = candidate ? candidate.toJSON() : null;
      if (init && !candidateAllowed(init, this.loopbackOnly)) return;
      this.sendFrame({ type: "ice", to: this.remoteId, candidate: init });
    });
    pc.addEventListener("negotiationneeded", () => this.offer());
    pc.addEventListener("connectionstatechange", () => this.onConnectionState());
    if (initiator) {
      for (const kind of KINDS) {
        const track = this.outgoing(kind);
        this.transceivers[kind] = pc.addTransceiver(track || kind, { direction: track ? "sendrecv" : "recvonly" });
      }
      this.updateScreen();
    }
  }

  get state() {
    return this.pc.connectionState;
  }

  async offer() {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.sendFrame({ type: "offer", to: this.remoteId, sdp: this.pc.localDescription.sdp });
    } catch (error) {
      console.warn("offer to", this.remoteId, "failed:", error);
    } finally {
      this.makingOffer = false;
    }
  }

  /** Signaling frames are applied one at a time, in arrival order. */
  enqueue(task) {
    this.queue = this.queue.then(task).catch((error) => console.warn("signaling with", this.remoteId, error));
    return this.queue;
  }

  handleDescription(type, sdp) {
    return this.enqueue(async () => {
      if (this.closed) return;
      const collision = type === "offer" && (this.makingOffer || this.pc.signalingState !== "stable");
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      await this.pc.setRemoteDescription({ type, sdp });
      if (type === "offer") {
        await this.attachAnswererTracks();
        await this.pc.setLocalDescription();
        this.sendFrame({ type: "answer", to: this.remoteId, sdp: this.pc.localDescription.sdp });
        // Sharing before the first offer came: the screen's transceiver follows the camera's.
        if (!this.screenTransceiver) this.updateScreen();
      }
    });
  }

  handleCandidate(candidate) {
    if (candidate && !candidateAllowed(candidate, this.loopbackOnly)) return Promise.resolve();
    return this.enqueue(async () => {
      if (this.closed) return;
      try {
        await this.pc.addIceCandidate(candidate || undefined);
      } catch (error) {
        if (!this.ignoreOffer) throw error;
      }
    });
  }

  /** The answering side sends on the transceivers the first offer created. */
  async attachAnswererTracks() {
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (this.transceivers[kind] || transceiver.stopped) continue;
      this.transceivers[kind] = transceiver;
      const track = this.outgoing(kind);
      if (track) await transceiver.sender.replaceTrack(track);
      transceiver.direction = track ? "sendrecv" : "recvonly";
    }
  }

  /** Send a different local track; a transceiver that starts or stops sending renegotiates. */
  async replaceOutgoing(kind) {
    const transceiver = this.transceivers[kind];
    if (!transceiver || this.closed) return;
    const track = this.outgoing(kind);
    await transceiver.sender.replaceTrack(track);
    const direction = track ? "sendrecv" : "recvonly";
    if (transceiver.direction !== direction) transceiver.direction = direction;
  }

  /** Start, switch or stop sending our screen; the first start adds its transceiver (a renegotiation). */
  updateScreen() {
    const track = this.outgoing("screen");
    if (this.closed || !this.transceivers.video) return Promise.resolve();
    if (!this.screenTransceiver) {
      if (track) this.screenTransceiver = this.pc.addTransceiver(track, { direction: "sendonly" });
      return Promise.resolve();
    }
    const direction = track ? "sendonly" : "inactive";
    if (this.screenTransceiver.direction !== direction) this.screenTransceiver.direction = direction;
    return this.screenTransceiver.sender.replaceTrack(track);
  }

  setIceServers(iceServers) {
    if (this.closed) return;
    const config = this.pc.getConfiguration();
    config.iceServers = iceServers;
    this.pc.setConfiguration(config);
  }

  restartIce() {
    if (this.closed) return;
    this.restarts += 1;
    this.pc.restartIce();
  }

  /** After a signaling outage: resend an offer nobody answered, restart ICE on a broken path. */
  recover() {
    if (this.closed) return;
    if (this.pc.signalingState === "have-local-offer" && this.pc.localDescription) {
      this.sendFrame({ type: "offer", to: this.remoteId, sdp: this.pc.localDescription.sdp });
    } else if (this.pc.connectionState === "failed" || this.pc.connectionState === "disconnected") {
      this.restartIce();
    }
  }

  onConnectionState() {
    const state = this.pc.connectionState;
    clearTimeout(this.disconnectedTimer);
    if (state === "failed") {
      this.restartIce();
    } else if (state === "disconnected") {
      this.disconnectedTimer = setTimeout(() => {
        if (this.pc.connectionState === "disconnected") this.restartIce();
      }, DISCONNECTED_GRACE_MS);
    }
    this.dispatchEvent(new Event("state"));
  }

  /**
   * What the selected candidate pair and the streams say about this link (cumulative counters); `sent`:
   * our camera's encoding as sent, `sendLoss`: the loss (%) the peer reports for our video.
   */
  async stats() {
    const report = await this.pc.getStats();
    const result = {
      state: this.pc.connectionState, candidateType: null, rtt: null, framesDecoded: 0,
      bytesReceived: 0, packetsReceived: 0, packetsLost: 0, jitter: null, at: performance.now(),
      bytesSent: 0, sent: { height: 0, fps: null, reason: null }, sendLoss: null, availableKbps: null,
    };
    let pair = null;
    const cameraMid = this.transceivers.video?.mid;
    report.forEach((entry) => {
      if (entry.type === "transport" && entry.selectedCandidatePairId) pair = report.get(entry.selectedCandidatePairId);
      if (entry.type === "remote-inbound-rtp" && entry.kind === "video" && typeof entry.fractionLost === "number") {
        result.sendLoss = Math.max(result.sendLoss ?? 0, Math.round(entry.fractionLost * 1000) / 10);
      }
      if (entry.type === "outbound-rtp" && entry.kind === "video") {
        result.bytesSent += entry.bytesSent || 0;
        if (entry.mid === cameraMid) {
          result.sent = { height: entry.frameHeight || 0, fps: entry.framesPerSecond ?? null, reason: entry.qualityLimitationReason || null };
        }
      }
      if (entry.type !== "inbound-rtp") return;
      if (entry.kind === "video") result.framesDecoded += entry.framesDecoded || 0;
      result.bytesReceived += entry.bytesReceived || 0;
      result.packetsReceived += entry.packetsReceived || 0;
      result.packetsLost += Math.max(0, entry.packetsLost || 0);
      if (typeof entry.jitter === "number") result.jitter = Math.max(result.jitter || 0, Math.round(entry.jitter * 1000));
    });
    if (pair) {
      const local = report.get(pair.localCandidateId);
      const remote = report.get(pair.remoteCandidateId);
      result.candidateType = local && remote && (local.candidateType === "relay" || remote.candidateType === "relay")
        ? "relay"
        : local && local.candidateType;
      result.localAddress = local && (local.address || local.ip);
      result.remoteAddress = remote && (remote.address || remote.ip);
      if (typeof pair.currentRoundTripTime === "number") result.rtt = Math.round(pair.currentRoundTripTime * 1000);
      if (typeof pair.availableOutgoingBitrate === "number") result.availableKbps = Math.round(pair.availableOutgoingBitrate / 1000);
    }
    return result;
  }

  close() {
    this.closed = true;
    clearTimeout(this.disconnectedTimer);
    this.pc.close();
  }
}
