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
 * "audio" or "video" (or null). The newcomer is the `initiator`: it creates the
 * transceivers and so sends the first offer; the other side answers with its tracks.
 * Events: "track" (remote media changed), "state" (connectionState changed).
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
    this.restarts = 0;
    this.disconnectedTimer = null;
    this.closed = false;

    const pc = new RTCPeerConnection(config);
    this.pc = pc;
    pc.addEventListener("track", ({ track }) => {
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

  /** What the selected candidate pair and the inbound video say about this link. */
  async stats() {
    const report = await this.pc.getStats();
    const result = { state: this.pc.connectionState, candidateType: null, rtt: null, framesDecoded: 0 };
    let pair = null;
    report.forEach((entry) => {
      if (entry.type === "transport" && entry.selectedCandidatePairId) pair = report.get(entry.selectedCandidatePairId);
      if (entry.type === "inbound-rtp" && entry.kind === "video") result.framesDecoded += entry.framesDecoded || 0;
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
    }
    return result;
  }

  close() {
    this.closed = true;
    clearTimeout(this.disconnectedTimer);
    this.pc.close();
  }
}
