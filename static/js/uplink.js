// The upload budget applied: every link's senders get their encoding, and each adapts to its network.

import { Adaptation, AUDIO_KBPS, congested, isPhone, linkEncoding } from "./budget.js";

/** Set what differs on one sender (getParameters, then setParameters: no renegotiation). */
async function applySender(sender, wanted) {
  if (!sender || !sender.track || !wanted) return;
  const parameters = sender.getParameters();
  const encoding = parameters.encodings && parameters.encodings[0];
  if (!encoding) return; // not negotiated yet: the next poll sets it
  let changed = false;
  for (const [key, value] of Object.entries(wanted)) {
    const target = key === "degradationPreference" ? parameters : encoding;
    if (target[key] !== value) {
      target[key] = value;
      changed = true;
    }
  }
  if (changed) await sender.setParameters(parameters);
}

/**
 * Follows the links of the call (`links`, peer id -> PeerLink) and our media. `apply()` runs on every
 * join and leave and camera or screen change; `observe()` on each stats poll of a link.
 */
export class Uplink {
  /** `videoBudget`, `videoBudgetPhone`: the operator's budgets in kbit/s (the call page's data attributes). */
  constructor(links, media, { videoBudget, videoBudgetPhone } = {}, phone = isPhone()) {
    this.links = links;
    this.media = media;
    this.phone = phone;
    this.budgetKbps = Number(phone ? videoBudgetPhone : videoBudget) || null;
    this.adaptation = new Adaptation();
    // How each peer shows us: "full", "thumb" or "hidden" (what its `view` frame will say; "full" until then).
    this.views = new Map();
    this.current = new Map(); // peer id -> the linkEncoding last applied
    this.queues = new Map(); // peer id -> its setParameters calls, one at a time
  }

  encodingFor(peerId) {
    const camera = this.media.outgoing("video");
    return linkEncoding({
      links: this.links.size,
      phone: this.phone,
      step: this.adaptation.step(peerId),
      view: this.views.get(peerId) ?? "full",
      screen: Boolean(this.media.outgoing("screen")),
      sourceHeight: (camera && camera.getSettings().height) || 720,
      budgetKbps: this.budgetKbps,
    });
  }

  apply() {
    for (const peerId of [...this.current.keys()]) {
      if (this.links.has(peerId)) continue;
      this.current.delete(peerId);
      this.queues.delete(peerId);
      this.views.delete(peerId);
      this.adaptation.forget(peerId);
    }
    for (const peerId of this.links.keys()) this.applyLink(peerId);
  }

  applyLink(peerId) {
    const link = this.links.get(peerId);
    if (!link || link.closed) return Promise.resolve();
    const encoding = this.encodingFor(peerId);
    this.current.set(peerId, encoding);
    const senders = [
      [link.transceivers.audio?.sender, encoding.audio],
      [link.transceivers.video?.sender, encoding.camera],
      [link.screenTransceiver?.sender, encoding.screen],
    ];
    const previous = this.queues.get(peerId) ?? Promise.resolve();
    const next = previous
      .then(() => Promise.all(senders.map(([sender, wanted]) => applySender(sender, wanted))))
      .catch((error) => console.warn("encoding for", peerId, error));
    this.queues.set(peerId, next);
    return next;
  }

  /** A poll's figures for a link: adapt it, keep its senders set; returns what we send, for its quality popover. */
  observe(peerId, stats) {
    const encoding = this.current.get(peerId);
    if (stats.state !== "connected" || !this.links.has(peerId)) return null;
    if (encoding) {
      const wantedKbps = (encoding.camera.maxBitrate + (encoding.screen?.maxBitrate ?? 0)) / 1000 + AUDIO_KBPS;
      const verdict = congested({ ...stats, loss: stats.sendLoss, reason: stats.sent.reason }, wantedKbps);
      if (this.adaptation.observe(peerId, verdict, stats.at)) {
        this.apply();
        return this.sending(peerId, stats);
      }
    }
    this.applyLink(peerId);
    return this.sending(peerId, stats);
  }

  sending(peerId, stats) {
    return {
      height: stats.sent.height || null,
      fps: stats.sent.fps === null ? null : Math.round(stats.sent.fps),
      kbps: stats.sentKbps,
      lowered: this.adaptation.step(peerId) > 0,
    };
  }
}
