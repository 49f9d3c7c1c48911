// The device menus on the microphone and camera buttons: microphone, speaker output, camera.

import { gettext } from "./i18n.js";
import { setButton } from "./icons.js";
import { byId, fillDeviceSelect } from "./ui.js";

/** Speaker choice needs HTMLMediaElement.setSinkId (Chromium; not every browser). */
export const canChooseSpeaker = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;

const MENUS = [
  ["mic-menu-button", "mic-menu"],
  ["camera-menu-button", "camera-menu"],
];

export class DeviceMenus {
  /** `onDevice()` opens the chosen microphone and camera; `onSpeaker(id)` plays the call there. */
  constructor({ onDevice, onSpeaker }) {
    for (const [buttonId, menuId] of MENUS) {
      const button = byId(buttonId);
      setButton(button, "chevron");
      button.addEventListener("click", (event) => {
        event.stopPropagation();
        this.toggle(buttonId, menuId);
      });
      byId(menuId).addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          this.closeAll();
          button.focus();
        }
      });
    }
    document.addEventListener("click", (event) => {
      if (!event.target.closest(".device-menu")) this.closeAll();
    });
    byId("call-camera-select").addEventListener("change", onDevice);
    byId("call-mic-select").addEventListener("change", onDevice);
    byId("call-speaker-select").addEventListener("change", (event) => onSpeaker(event.target.value));
    for (const node of document.querySelectorAll(".speaker-field")) node.hidden = !canChooseSpeaker;
  }

  toggle(buttonId, menuId) {
    const open = byId(menuId).hidden;
    this.closeAll();
    if (!open) return;
    byId(menuId).hidden = false;
    byId(buttonId).setAttribute("aria-expanded", "true");
    byId(menuId).querySelector("select").focus();
  }

  closeAll() {
    for (const [buttonId, menuId] of MENUS) {
      byId(menuId).hidden = true;
      byId(buttonId).setAttribute("aria-expanded", "false");
    }
  }

  showSpeakers(speakers, currentId) {
    if (canChooseSpeaker) fillDeviceSelect(byId("call-speaker-select"), speakers, currentId, gettext("Speaker %(n)s"));
  }
}
