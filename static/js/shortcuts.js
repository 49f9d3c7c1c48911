// Keyboard shortcuts in the call, and the dialog that lists them.

import { setButton } from "./icons.js";
import { byId } from "./ui.js";

const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);

/** `keys` maps a key ("m", "?") to what it does; typing in a field or a modifier key leaves keys alone. */
export class Shortcuts {
  constructor(keys, active) {
    this.keys = keys;
    this.active = active;
    this.dialog = byId("help-dialog");
    setButton(byId("show-help"), "help");
    byId("show-help").addEventListener("click", () => this.showHelp());
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat || !this.active()) return;
    const target = event.target;
    if (target && (TYPING.has(target.tagName) || target.isContentEditable)) return;
    if (this.dialog.open) return;
    const action = this.keys[event.key.length === 1 ? event.key.toLowerCase() : event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }

  showHelp() {
    if (!this.dialog.open) this.dialog.showModal();
  }
}
