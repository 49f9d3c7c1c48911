// Connection statistics, polled from every link: quality figures per second, and stalled video.

const STATS_PERIOD_MS = 1000;
const STALL_MS = 2000; // video that should flow but decoded no frame for this long has stalled

/** "good", "fair" or "poor" from the round-trip time (ms) and the packet loss (%). */
export function qualityLevel({ rtt, loss }) {
  if ((rtt ?? 0) < 200 && (loss ?? 0) < 2) return "good";
  if ((rtt ?? 0) < 500 && (loss ?? 0) < 8) return "fair";
  return "poor";
}

/**
 * Every STATS_PERIOD_MS, ask each link for its stats and hand them to `show(peerId, stats)`, with
 * figures over the last period: `kbps` (received), `sentKbps`, `loss` (%), `jitter` (ms), `level` and `stalled`.
 * `expectsVideo(peerId)`: the peer says its camera or screen is on. A frozen remote video keeps
 * its element's currentTime running: only framesDecoded not advancing shows the stall.
 */
export class StatsPoller {
  constructor(links, expectsVideo, show) {
    this.links = links;
    this.expectsVideo = expectsVideo;
    this.show = show;
    this.timer = null;
    this.previous = new Map(); // peer id -> {stats, progressAt, expected}
  }

  start() {
    this.timer = setInterval(() => this.poll(), STATS_PERIOD_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  async poll() {
    for (const peerId of this.previous.keys()) if (!this.links.has(peerId)) this.previous.delete(peerId);
    for (const [peerId, link] of this.links) {
      let stats;
      try {
        stats = await link.stats();
      } catch {
        continue; // a link closed while we asked
      }
      this.show(peerId, this.figures(peerId, stats));
    }
  }

  figures(peerId, stats) {
    const expected = Boolean(this.expectsVideo(peerId));
    const before = this.previous.get(peerId);
    const now = stats.at;
    let progressAt = now;
    const result = { ...stats, kbps: null, sentKbps: null, loss: null, stalled: false };
    if (before) {
      const seconds = (now - before.stats.at) / 1000;
      const received = stats.packetsReceived - before.stats.packetsReceived;
      const lost = stats.packetsLost - before.stats.packetsLost;
      if (seconds > 0) {
        result.kbps = Math.max(0, Math.round(((stats.bytesReceived - before.stats.bytesReceived) * 8) / seconds / 1000));
        result.sentKbps = Math.max(0, Math.round(((stats.bytesSent - before.stats.bytesSent) * 8) / seconds / 1000));
      }
      if (received + lost > 0) result.loss = Math.round((Math.max(0, lost) / (received + lost)) * 1000) / 10;
      const advanced = stats.framesDecoded > before.stats.framesDecoded;
      progressAt = advanced || !expected || !before.expected ? now : before.progressAt;
    }
    result.stalled = expected && stats.state === "connected" && stats.framesDecoded > 0 && now - progressAt >= STALL_MS;
    result.level = result.stalled ? "poor" : qualityLevel(result);
    this.previous.set(peerId, { stats, progressAt, expected });
    return result;
  }
}
