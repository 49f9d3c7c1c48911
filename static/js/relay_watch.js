// The relay (TURN) lost in a call: say so in the status line, and restart the relayed links once it is back.

import { gettext } from "./i18n.js";
import { relayProbe } from "./relay_probe.js";
import { byId } from "./ui.js";

const RETRY_MS = 2000;

/**
 * Told every link's state and stats (`observe`). When a link that went through the relay stalls
 * or drops, probes the TURN server; while it does not answer, the status line says so and the
 * probe repeats every RETRY_MS. When it answers again, the line clears and every relayed link
 * that is not back restarts ICE (its allocations died with the server). `#call[data-relay-restarts]`
 * counts those restarts.
 */
export class RelayWatch {
  constructor(call, links) {
    this.call = call;
    this.links = links;
    this.paths = new Map(); // peer id -> {relayed, broken}
    this.probing = false;
    this.lost = false;
    this.timer = null;
    this.stopped = false;
    this.restarts = 0;
  }

  /** `stats` from the poller, or only `{state}` from a link's state change. */
  observe(peerId, stats) {
    const path = this.paths.get(peerId) || { relayed: false, broken: false };
    if (stats.state === "connected" && stats.candidateType) path.relayed = stats.candidateType === "relay";
    path.broken = Boolean(stats.stalled) || stats.state === "disconnected" || stats.state === "failed";
    this.paths.set(peerId, path);
    if (path.relayed && path.broken && !this.probing) this.probe();
  }

  forget(peerId) {
    this.paths.delete(peerId);
  }

  async probe() {
    if (this.stopped) return;
    if (![...this.paths.values()].some((path) => path.relayed)) {
      this.probing = false; // the relayed peers left: nothing to say about the relay any more
      this.clearLine();
      return;
    }
    this.probing = true;
    const started = performance.now();
    const answered = await relayProbe(this.call.iceServers);
    if (this.stopped) return;
    const wait = Math.max(0, started + RETRY_MS - performance.now());
    if (answered === false) {
      this.lost = true;
      this.call.setStatus(this.text(), "bad"); // again each time: another message may have replaced it
      this.timer = setTimeout(() => this.probe(), wait);
      return;
    }
    if (this.lost) this.recover();
    // The relay answers: a link broken for another reason is left to its own recovery, probed again at most every RETRY_MS.
    this.timer = setTimeout(() => { this.probing = false; }, wait);
  }

  clearLine() {
    this.lost = false;
    if (byId("call-status").textContent === this.text()) this.call.setStatus("");
  }

  recover() {
    this.clearLine();
    for (const [peerId, path] of this.paths) {
      const link = this.links.get(peerId);
      if (!link || !path.relayed || !(path.broken || link.state !== "connected")) continue;
      link.restartIce();
      this.restarts += 1;
    }
    this.call.root.dataset.relayRestarts = String(this.restarts);
  }

  text() {
    return gettext("The relay server (TURN) cannot be reached; trying again…");
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
