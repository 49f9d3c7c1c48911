// Ask to join (docs/protocol.md, "Ask to join"): on the page of a private or locked room, knock on
// a socket of its own and wait for the people in the call; admitted, enter the call at once.

import { CLOSE_CODES } from "./close-codes.js";
import { gettext } from "./i18n.js";
import { refusalText } from "./refusal.js";

// Refusals after which asking again cannot work for a while: the button stays off.
const FINAL = new Set(["too-many-knocks", "removed", "closed", "signed-out"]);

/** `moved`: the last knock's process was restarting (close 4012): ask again, once, at once. */
function knock(box, button, status, moved = false) {
  button.disabled = true;
  status.textContent = gettext("Asking the people in the call to let you in…");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}${box.dataset.wsPath}`);
  let lastError = null;
  let admitted = false;
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "knocking") {
      status.textContent = gettext("Waiting for someone in the call to let you in (up to a minute)…");
    } else if (frame.type === "admitted") {
      admitted = true;
      status.textContent = gettext("You were let in. Joining the call…");
      location.assign(`${box.dataset.roomUrl}?pass=${encodeURIComponent(frame.pass)}#join`);
    } else if (frame.type === "error") {
      lastError = frame;
    }
  });
  socket.addEventListener("close", (event) => {
    if (admitted) return;
    if (event.code === CLOSE_CODES.moving && !moved) {
      knock(box, button, status, true);
      return;
    }
    const { text, reason } = refusalText(event.code, lastError);
    status.textContent = text || gettext("The request could not be sent; try again shortly.");
    button.disabled = FINAL.has(reason);
  });
}

const box = document.getElementById("knock");
if (box) {
  const button = document.getElementById("knock-button");
  const status = document.getElementById("knock-status");
  button.addEventListener("click", () => knock(box, button, status));
}
