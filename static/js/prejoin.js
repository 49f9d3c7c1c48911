// The pre-join screen: camera and microphone check, device choice, preview.

import { gettext } from "./i18n.js";
import { mediaErrorMessage } from "./media.js";
import { byId, fillDeviceSelect } from "./ui.js";

/** Fill every camera and microphone list (pre-join and in-call) with the current devices. */
export async function showDevices(media) {
  const { cameras, microphones } = await media.devices();
  const camera = media.currentDeviceId("video");
  const mic = media.currentDeviceId("audio");
  for (const id of ["camera-select", "call-camera-select"]) {
    fillDeviceSelect(byId(id), cameras, camera, gettext("Camera %(n)s"));
  }
  for (const id of ["mic-select", "call-mic-select"]) {
    fillDeviceSelect(byId(id), microphones, mic, gettext("Microphone %(n)s"));
  }
  byId("join-camera").disabled = !media.cameraTrack;
  byId("join-mic").disabled = !media.audioTrack;
}

export class Prejoin {
  constructor(media, onJoin) {
    this.media = media;
    byId("camera-select").addEventListener("change", () => this.changeDevice());
    byId("mic-select").addEventListener("change", () => this.changeDevice());
    byId("join-camera").addEventListener("change", () => this.refreshPreview());
    byId("prejoin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      onJoin();
    });
  }

  async open() {
    await this.media.open();
    await showDevices(this.media);
    this.showMediaError();
    this.refreshPreview();
    byId("join").dataset.ready = "1";
    const full = byId("room-full-notice");
    byId("join").disabled = Boolean(full && !full.hidden);
  }

  showMediaError() {
    const box = byId("media-error");
    const missing = !this.media.audioTrack || !this.media.cameraTrack;
    box.hidden = !(this.media.error && missing);
    box.textContent = box.hidden ? "" : mediaErrorMessage(this.media.error);
  }

  refreshPreview() {
    const preview = byId("preview");
    const track = this.media.cameraTrack;
    const on = Boolean(track) && byId("join-camera").checked;
    preview.srcObject = track ? new MediaStream([track]) : null;
    preview.hidden = !on;
    byId("preview-off").hidden = on;
    byId("preview-off").textContent = track ? gettext("Camera is off") : gettext("No camera");
  }

  async changeDevice() {
    await this.media.open({ cameraId: byId("camera-select").value, micId: byId("mic-select").value });
    await showDevices(this.media);
    this.showMediaError();
    this.refreshPreview();
  }

  /** What the person chose: join with the camera and microphone on or off. */
  choices() {
    return {
      video: byId("join-camera").checked && Boolean(this.media.cameraTrack),
      audio: byId("join-mic").checked && Boolean(this.media.audioTrack),
    };
  }

  close() {
    byId("prejoin").hidden = true;
    byId("preview").srcObject = null;
  }
}
