// The control bar: microphone, camera, screen, chat, people, lock, help and leave; device menus; shortcuts.

import { DeviceMenus } from "./devices.js";
import { gettext } from "./i18n.js";
import { setButton } from "./icons.js";
import { mediaErrorMessage } from "./media.js";
import { Panels } from "./panels.js";
import { showDevices } from "./prejoin.js";
import { Shortcuts } from "./shortcuts.js";
import { byId } from "./ui.js";

export class Controls {
  /** `call` gives the media, the signaling client, the links, the tiles and the status line. */
  constructor(call) {
    this.call = call;
    this.sinkId = "";
    const media = call.media;
    byId("toggle-mic").addEventListener("click", () => media.setAudio(!media.audioEnabled));
    byId("toggle-camera").addEventListener("click", () => media.setVideo(!media.videoEnabled));
    byId("toggle-screen").addEventListener("click", () => this.toggleScreen());
    byId("stop-presenting").addEventListener("click", () => media.stopScreen());
    byId("leave").addEventListener("click", () => call.leave());
    byId("toggle-lock").addEventListener("click", () => call.signal.send({ type: "lock", locked: !call.locked }));
    setButton(byId("leave"), "leave");
    this.menus = new DeviceMenus({ onDevice: () => this.changeDevice(), onSpeaker: (id) => this.changeSpeaker(id) });
    this.panels = new Panels();
    this.shortcuts = new Shortcuts(
      {
        m: () => byId("toggle-mic").click(),
        v: () => byId("toggle-camera").click(),
        s: () => byId("toggle-screen").click(),
        c: () => byId("toggle-chat").click(),
        "?": () => this.shortcuts.showHelp(),
      },
      () => call.joined && !call.ended,
    );
  }

  async toggleScreen() {
    const media = this.call.media;
    if (media.screenTrack) {
      media.stopScreen();
      return;
    }
    try {
      await media.startScreen();
    } catch (error) {
      if (error.name !== "NotAllowedError") this.call.setStatus(gettext("Could not share your screen."), "bad");
    }
  }

  /** Open the chosen devices and send their tracks to every peer. */
  async changeDevice() {
    const { media } = this.call;
    await media.open({ cameraId: byId("call-camera-select").value, micId: byId("call-mic-select").value });
    await showDevices(media);
    if (media.error) this.call.setStatus(mediaErrorMessage(media.error), "bad");
    for (const link of this.call.links.values()) {
      await link.replaceOutgoing("audio");
      await link.replaceOutgoing("video");
    }
    this.call.showLocal();
  }

  async changeSpeaker(sinkId) {
    this.sinkId = sinkId;
    await this.call.tiles.setSinkId(sinkId);
  }

  async showSpeakers() {
    const { speakers } = await this.call.media.devices();
    this.menus.showSpeakers(speakers, this.sinkId);
  }

  /** The buttons follow the local media state; a pressed toggle (muted, camera off, sharing) looks pressed. */
  show(state) {
    const media = this.call.media;
    const mic = byId("toggle-mic");
    mic.setAttribute("aria-pressed", String(!state.audio));
    setButton(mic, state.audio ? "mic" : "mic-off", state.audio ? gettext("Mute") : gettext("Unmute"));
    mic.disabled = !media.audioTrack;
    const camera = byId("toggle-camera");
    camera.setAttribute("aria-pressed", String(!state.video));
    setButton(camera, state.video ? "camera" : "camera-off", state.video ? gettext("Stop camera") : gettext("Start camera"));
    camera.disabled = !media.cameraTrack;
    const screen = byId("toggle-screen");
    screen.setAttribute("aria-pressed", String(state.screen));
    setButton(screen, state.screen ? "screen-off" : "screen", state.screen ? gettext("Stop sharing") : gettext("Share screen"));
    screen.disabled = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    byId("presenting").hidden = !state.screen;
  }

  showLocked(locked) {
    const button = byId("toggle-lock");
    button.setAttribute("aria-pressed", String(locked));
    setButton(button, locked ? "lock" : "unlock", locked ? gettext("Unlock room") : gettext("Lock room"));
  }
}
