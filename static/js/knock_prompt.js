// In the call, for the owner and staff: "Erin asks to join" with Admit and Deny (docs/protocol.md,
// "Ask to join"). A prompt goes away when anyone answers it, or after a minute.

import { gettext, interpolate } from "./i18n.js";

export class KnockPrompts {
  constructor(list, send, { isPrivate = false } = {}) {
    this.list = list;
    this.send = send;
    this.isPrivate = isPrivate;
  }

  /** A `knock` frame: show the prompt. */
  add(frame) {
    const name = frame.user.display_name || frame.user.username;
    const item = document.createElement("li");
    item.className = "knock-item";
    item.dataset.knock = frame.knock;
    const text = document.createElement("span");
    text.textContent = interpolate(gettext("%(name)s asks to join"), { name });
    item.append(text);
    let allow = null;
    if (this.isPrivate) {
      const label = document.createElement("label");
      allow = document.createElement("input");
      allow.type = "checkbox";
      label.append(allow, " ", gettext("Also add to the allowed people"));
      item.append(label);
    }
    for (const [admit, label, kind] of [[true, gettext("Admit"), "primary"], [false, gettext("Deny"), "danger"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = kind;
      button.textContent = label;
      button.setAttribute("aria-label", interpolate(admit ? gettext("Admit %(name)s") : gettext("Deny %(name)s"), { name }));
      button.addEventListener("click", () => {
        this.send({ type: "knock-answer", knock: frame.knock, admit, allow: Boolean(admit && allow && allow.checked) });
        this.remove(frame.knock);
      });
      item.append(button);
    }
    this.list.append(item);
    setTimeout(() => this.remove(frame.knock), (frame.timeout + 1) * 1000);
  }

  /** A `knock-ended` frame (someone answered, or nobody did): the prompt goes. */
  remove(knock) {
    for (const item of this.list.querySelectorAll(".knock-item")) {
      if (item.dataset.knock === knock) item.remove();
    }
  }
}
