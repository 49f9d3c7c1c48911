// The connection banner: the device went offline, or the signaling socket is down and reconnecting.

import { CLOSE_CODES } from "./close-codes.js";
import { gettext, interpolate } from "./i18n.js";
import { icon } from "./icons.js";
import { byId } from "./ui.js";

// A move to another server process (close 4012) resumes within this long, usually: no banner before.
const MOVING_QUIET_MS = 1000;

/**
 * Follows the browser's `offline` / `online` events and the signaling client's "down" / "frame"
 * events. Offline drops the socket (the browser may keep a dead one open for minutes); online
 * reconnects at once, skipping the backoff timer.
 */
export class ConnectionBanner {
  constructor(signal, isActive) {
    this.signal = signal;
    this.isActive = isActive;
    this.offline = false;
    this.down = null; // {delay, at} while the socket is down
    this.banner = byId("connection-banner");
    this.text = byId("connection-text");
    this.banner.prepend(icon("offline"));
    this.timer = null;
    window.addEventListener("offline", () => this.onOffline());
    window.addEventListener("online", () => this.onOnline());
    signal.addEventListener("down", (event) => {
      this.down = { delay: event.detail.delay, at: Date.now() };
      if (event.detail.code === CLOSE_CODES.moving) {
        clearTimeout(this.timer); // the welcome of the resume clears it; shown only if that takes long
        this.timer = setTimeout(() => this.show(), MOVING_QUIET_MS);
        return;
      }
      this.show();
    });
    signal.addEventListener("frame", (event) => {
      if (event.detail.type !== "welcome") return;
      this.down = null;
      this.offline = false;
      this.show();
    });
  }

  onOffline() {
    if (!this.isActive()) return;
    this.offline = true;
    this.signal.drop("offline");
    this.show();
  }

  onOnline() {
    this.offline = false;
    if (!this.isActive()) return;
    this.signal.reconnectNow();
    this.show();
  }

  show() {
    clearTimeout(this.timer);
    const visible = this.isActive() && (this.offline || this.down !== null);
    this.banner.hidden = !visible;
    this.banner.dataset.state = this.offline ? "offline" : "reconnecting";
    if (!visible) return;
    if (this.offline) {
      this.text.textContent = gettext("You are offline. The call comes back when your network does.");
      return;
    }
    const seconds = Math.ceil((this.down.at + this.down.delay - Date.now()) / 1000);
    this.text.textContent = seconds > 0
      ? interpolate(gettext("Connection lost. Reconnecting in %(seconds)s s…"), { seconds })
      : gettext("Connection lost. Reconnecting…");
    this.timer = setTimeout(() => this.show(), 1000);
  }
}
