// The room socket (PROTOCOL.md): heartbeat, reconnect with backoff and jitter, resume.

const FATAL_CLOSE_CODES = new Set([4401, 4403, 4404, 4409]);
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 10000;

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter. */
export function backoffDelay(attempt) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * Events: "frame" (detail: frame), "open", "down" (socket lost, reconnecting; detail: {delay}),
 * "closed" (detail: {code, error}) when the server refused us for good or we left.
 */
export class SignalingClient extends EventTarget {
  constructor(path) {
    super();
    this.path = path;
    this.socket = null;
    this.resumeToken = null;
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
    const query = this.resumeToken ? `?resume=${encodeURIComponent(this.resumeToken)}` : "";
    const socket = new WebSocket(`${scheme}//${location.host}${this.path}${query}`);
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
    const delay = backoffDelay(this.attempt);
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
  armWatchdog() {
    if (!this.heartbeatSeconds) return;
    clearTimeout(this.watchdogTimer);
    const socket = this.socket;
    this.watchdogTimer = setTimeout(() => {
      if (socket !== this.socket || !socket) return;
      socket.close(4000, "heartbeat timeout");
      this.onClose(socket, { code: 4000 });
    }, this.heartbeatSeconds * 2500);
  }

  stopTimers() {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.watchdogTimer);
    this.heartbeatSeconds = 0;
  }
}
