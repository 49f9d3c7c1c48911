// The room socket (docs/protocol.md): heartbeat, reconnect with backoff and jitter, resume.
// Close 4012 `moving` (the server is restarting) is a reconnect at once, to another process.

import { CLOSE_CODES, FATAL_CLOSE_CODES } from "./close-codes.js";
import { deviceId } from "./device.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 10000;
const PROBE_MS = 5000;

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter. */
export function backoffDelay(attempt) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * The delay before the next connect: none after a 4012 `moving` close of a socket that had its
 * `welcome` (its process is stopping: our peer waits for us on another one); the back-off otherwise,
 * so that a process refusing us with 4012 again is not hammered.
 */
export function reconnectDelay(code, attempt) {
  return code === CLOSE_CODES.moving && attempt === 0 ? 0 : backoffDelay(attempt);
}

/**
 * Events: "frame" (detail: frame), "open", "down" (socket lost, reconnecting; detail: {delay, code}),
 * "closed" (detail: {code, error}) when the server refused us for good or we left.
 */
export class SignalingClient extends EventTarget {
  constructor(path) {
    super();
    this.path = path;
    this.socket = null;
    this.resumeToken = null;
    this.device = deviceId();
    this.attempt = 0;
    this.heartbeatTimer = null;
    this.watchdogTimer = null;
    this.reconnectTimer = null;
    this.lastError = null;
    this.stopped = false;
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams();
    if (this.resumeToken) query.set("resume", this.resumeToken);
    if (this.device) query.set("device", this.device); // a crash's held seat is taken back (device.js)
    const joiner = this.path.includes("?") ? "&" : "?"; // the path may carry ?pass= (knock.js)
    const search = query.size ? `${joiner}${query}` : "";
    const socket = new WebSocket(`${scheme}//${location.host}${this.path}${search}`);
    this.socket = socket;
    this.lastError = null;
    socket.addEventListener("open", () => this.dispatchEvent(new Event("open")));
    socket.addEventListener("message", (event) => this.onMessage(socket, event));
    socket.addEventListener("close", (event) => this.onClose(socket, event));
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Leave the room on purpose: no reconnect. */
  leave() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.send({ type: "leave" });
    this.stopTimers();
  }

  onMessage(socket, event) {
    if (socket !== this.socket) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    this.armWatchdog();
    if (frame.type === "welcome") {
      this.attempt = 0;
      this.resumeToken = frame.resume_token || null;
      this.startHeartbeat(frame.heartbeat);
    } else if (frame.type === "pong" && frame.resume_token) {
      this.resumeToken = frame.resume_token; // tokens expire: keep the newest
    } else if (frame.type === "error") {
      this.lastError = frame;
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }

  onClose(socket, event) {
    if (socket !== this.socket) return;
    this.stopTimers();
    this.socket = null;
    // Only a refusal or our own `leave` ends the session; any other close (1000 included:
    // a proxy or a server shutting down may send it) is a drop, and we come back.
    if (this.stopped || FATAL_CLOSE_CODES.has(event.code)) {
      this.stopped = true;
      this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code, error: this.lastError } }));
      return;
    }
    const delay = reconnectDelay(event.code, this.attempt);
    this.attempt += 1;
    this.dispatchEvent(new CustomEvent("down", { detail: { delay, code: event.code } }));
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  startHeartbeat(seconds) {
    this.heartbeatSeconds = Math.max(1, Number(seconds) || 15);
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.send({ type: "ping" }), this.heartbeatSeconds * 1000);
    this.armWatchdog();
  }

  /** A socket that hears nothing (not even a pong) for 2.5 heartbeats is dead: drop it and reconnect. */
  armWatchdog(delay = this.heartbeatSeconds * 2500) {
    if (!this.heartbeatSeconds) return;
    clearTimeout(this.watchdogTimer);
    const socket = this.socket;
    this.watchdogTimer = setTimeout(() => {
      if (socket === this.socket) this.drop("heartbeat timeout");
    }, delay);
  }

  /**
   * The device went offline: the socket is as good as dead (the browser may hold its close for
   * minutes), so treat it as dropped now; the backoff keeps trying and the resume keeps our peer.
   */
  drop(reason) {
    const socket = this.socket;
    if (!socket || this.stopped) return;
    socket.close(CLOSE_CODES.replaced, reason);
    this.onClose(socket, { code: CLOSE_CODES.replaced });
  }

  /**
   * The device is back online: reconnect at once instead of waiting out the backoff. A socket that
   * still looks open may be a half-open one from before the network change: it must answer a ping soon.
   */
  reconnectNow() {
    if (this.stopped) return;
    if (this.isOpen) {
      this.send({ type: "ping" });
      this.armWatchdog(PROBE_MS);
      return;
    }
    clearTimeout(this.reconnectTimer);
    if (this.socket) this.socket.close();
    this.socket = null;
    this.attempt = 0;
    this.connect();
  }

  stopTimers() {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.watchdogTimer);
    this.heartbeatSeconds = 0;
  }
}
