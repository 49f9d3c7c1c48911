// The upload budget of a mesh call: what each link may send, at what size and rate (docs/media.md).

const BUDGET_KBPS = 2500; // the whole video upload of one browser, over all its links
const PHONE_BUDGET_KBPS = 1000;
const MAX_STEP = 3; // how many rungs the network may take a link down

/** The ladder of camera encodings; the room size picks a rung, the network may take a link lower. */
const LADDER = [
  { height: 720, fps: 30, kbps: 2500 },
  { height: 360, fps: 30, kbps: 1000 },
  { height: 240, fps: 24, kbps: 600 },
  { height: 180, fps: 15, kbps: 300 },
  { height: 120, fps: 15, kbps: 150 },
];
export const AUDIO_KBPS = 40; // Opus, outside the video budget and never lowered
const SCREEN_FPS = 5;
const SCREEN_SHARE = 0.75; // of a link's share while we present; the camera keeps the rest
const THUMB_RUNG = 3; // a receiver that shows us small never needs more than 180p

/** The rung for a room of `links` other people (the documented table): 1 → 720p, 2 → 360p, 3-5 → 240p, more → 180p/15. */
function roomRung(links, phone = false) {
  const rung = links <= 1 ? 0 : links === 2 ? 1 : links <= 5 ? 2 : 3;
  return phone ? Math.max(1, rung + 1) : rung; // a phone never sends above 360p, and one rung lower
}

/**
 * The pure mapping (room size, phone?, link state) → sender parameters of one link.
 * `links`: other people we send to; `step`: rungs the network took this link down; `view`: how the
 * receiver shows us ("full", "thumb" or "hidden", from its future `view` frame); `screen`: we share
 * our screen; `sourceHeight`: the camera's captured height. Bitrates in bit/s.
 */
export function linkEncoding({ links, phone = false, step = 0, view = "full", screen = false, sourceHeight = 720, budgetKbps = null }) {
  const budget = budgetKbps ?? (phone ? PHONE_BUDGET_KBPS : BUDGET_KBPS);
  const share = budget / Math.max(1, links);
  let rung = Math.min(LADDER.length - 1, roomRung(links, phone) + step);
  if (view === "thumb" || screen) rung = Math.max(rung, THUMB_RUNG);
  const row = LADDER[rung];
  const cameraKbps = Math.min(row.kbps, screen ? share * (1 - SCREEN_SHARE) : share);
  const camera = {
    active: view !== "hidden",
    maxBitrate: Math.floor(cameraKbps * 1000),
    scaleResolutionDownBy: Math.max(1, sourceHeight / row.height),
    maxFramerate: row.fps,
    degradationPreference: "maintain-framerate",
  };
  const screenParams = screen
    ? {
        active: true,
        maxBitrate: Math.floor(share * SCREEN_SHARE * 0.6 ** step * 1000),
        scaleResolutionDownBy: 1,
        maxFramerate: SCREEN_FPS,
        degradationPreference: "maintain-resolution",
      }
    : null;
  return { rung, height: Math.min(row.height, sourceHeight), camera, screen: screenParams, audio: { priority: "high", networkPriority: "high" } };
}

/** The camera to open: 720p where we may send it, 360p on a phone. */
export function captureConstraints(phone = isPhone()) {
  return phone
    ? { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } }
    : { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
}

export function isPhone() {
  const mobile = navigator.userAgentData?.mobile;
  return mobile ?? /Android|iPhone|iPad|Mobi/i.test(navigator.userAgent);
}

const BAD_SAMPLES = 3; // consecutive congested polls (1 s) before a link is lowered
const GOOD_SAMPLES = 8; // consecutive clear polls before it is raised again
const HOLD_MS = 3000; // after a change, what the link does before the next one

/**
 * Whether the network limits a link, from its stats (StatsPoller figures): loss (%) or round trip
 * high, or the encoder held back for bandwidth while the estimate stays under what we allow it.
 * (Chromium also says "bandwidth" when its quality scaler lowers a costly picture on a fast path.)
 */
export function congested({ loss = null, rtt = null, reason = null, availableKbps = null }, wantedKbps) {
  if ((loss ?? 0) >= 5 || (rtt ?? 0) >= 400) return true;
  return reason === "bandwidth" && availableKbps !== null && availableKbps < 0.8 * wantedKbps;
}

/**
 * The adaptation state machine: a congested link is lowered first; if it stays congested once
 * lowered, the others come down with it (they share the uplink). Clear links rise again, the
 * shared step last. `step(peerId)` is what linkEncoding takes.
 */
export class Adaptation {
  constructor() {
    this.links = new Map(); // peer id -> {step, bad, good, changedAt}
    this.shared = 0;
  }

  step(peerId) {
    return Math.min(MAX_STEP, (this.links.get(peerId)?.step ?? 0) + this.shared);
  }

  forget(peerId) {
    this.links.delete(peerId);
    if (!this.links.size) this.shared = 0;
  }

  /** One poll's verdict for a link; true when some link's step changed. */
  observe(peerId, isCongested, now) {
    let link = this.links.get(peerId);
    if (!link) {
      link = { step: 0, bad: 0, good: 0, changedAt: now };
      this.links.set(peerId, link);
    }
    link.bad = isCongested ? link.bad + 1 : 0;
    link.good = isCongested ? 0 : link.good + 1;
    if (now - link.changedAt < HOLD_MS) return false;
    if (link.bad >= BAD_SAMPLES && this.step(peerId) < MAX_STEP) {
      if (link.step === 0) link.step = 1;
      else this.shared += 1;
      return this.changed(link, now);
    }
    if (link.good >= GOOD_SAMPLES && link.step > 0) {
      link.step -= 1;
      return this.changed(link, now);
    }
    const allClear = [...this.links.values()].every((other) => other.good >= GOOD_SAMPLES);
    if (allClear && this.shared > 0) {
      this.shared -= 1;
      return this.changed(link, now);
    }
    return false;
  }

  changed(link, now) {
    for (const other of this.links.values()) other.bad = other.good = 0;
    link.changedAt = now;
    return true;
  }
}
