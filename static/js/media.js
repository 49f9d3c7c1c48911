// The local camera, microphone and screen.

import { captureConstraints } from "./budget.js";
import { gettext } from "./i18n.js";

/** A message a person can act on, for a getUserMedia / getDisplayMedia failure. */
export function mediaErrorMessage(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return gettext(
        "Camera and microphone access was denied. Allow it in your browser's site settings and reload, or join without them.",
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return gettext("No camera or microphone was found. You can still join to watch, listen and chat.");
    case "NotReadableError":
    case "AbortError":
      return gettext("Your camera or microphone is in use by another application.");
    case "InsecureContext":
      return gettext("Camera and microphone need a secure (HTTPS) connection.");
    default:
      return gettext("Could not start your camera or microphone.");
  }
}

function stopTrack(track) {
  if (track) track.stop();
}

export class LocalMedia extends EventTarget {
  constructor() {
    super();
    this.audioTrack = null;
    this.cameraTrack = null;
    this.screenTrack = null;
    this.audioEnabled = true;
    this.videoEnabled = true;
    this.error = null;
  }

  get available() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  /**
   * Open the camera and microphone (given device ids, or the defaults). When one kind
   * is missing the other is still used; `this.error` holds the first failure.
   */
  async open({ cameraId = "", micId = "" } = {}) {
    this.error = null;
    if (!this.available) {
      this.error = { name: "InsecureContext" };
      return;
    }
    const audio = micId ? { deviceId: { exact: micId } } : true;
    const video = cameraId ? { ...captureConstraints(), deviceId: { exact: cameraId } } : captureConstraints();
    let stream = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    } catch (error) {
      this.error = error;
      if (error.name === "NotFoundError" || error.name === "NotReadableError" || error.name === "OverconstrainedError") {
        stream = await this.openOne({ audio }) || await this.openOne({ video });
      }
    }
    this.setTracks(stream);
  }

  async openOne(constraints) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch {
      return null;
    }
  }

  setTracks(stream) {
    const audio = stream ? stream.getAudioTracks()[0] || null : null;
    const video = stream ? stream.getVideoTracks()[0] || null : null;
    if (audio !== this.audioTrack) stopTrack(this.audioTrack);
    if (video !== this.cameraTrack) stopTrack(this.cameraTrack);
    this.audioTrack = audio;
    this.cameraTrack = video;
    this.applyEnabled();
    this.dispatchEvent(new Event("change"));
  }

  async devices() {
    if (!this.available) return { cameras: [], microphones: [], speakers: [] };
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      cameras: all.filter((device) => device.kind === "videoinput"),
      microphones: all.filter((device) => device.kind === "audioinput"),
      speakers: all.filter((device) => device.kind === "audiooutput"),
    };
  }

  currentDeviceId(kind) {
    const track = kind === "audio" ? this.audioTrack : this.cameraTrack;
    return track ? track.getSettings().deviceId || "" : "";
  }

  applyEnabled() {
    if (this.audioTrack) this.audioTrack.enabled = this.audioEnabled;
    if (this.cameraTrack) this.cameraTrack.enabled = this.videoEnabled;
  }

  setAudio(enabled) {
    this.audioEnabled = enabled;
    this.applyEnabled();
    this.dispatchEvent(new Event("change"));
  }

  setVideo(enabled) {
    this.videoEnabled = enabled;
    this.applyEnabled();
    this.dispatchEvent(new Event("change"));
  }

  /** The track to send for "audio", "video" (the camera) or "screen": a shared screen goes beside the camera. */
  outgoing(kind) {
    return { audio: this.audioTrack, video: this.cameraTrack, screen: this.screenTrack }[kind] || null;
  }

  /** What the `media` frame announces. */
  state() {
    return {
      audio: Boolean(this.audioTrack) && this.audioEnabled,
      video: Boolean(this.cameraTrack) && this.videoEnabled,
      screen: Boolean(this.screenTrack),
    };
  }

  async startScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    track.contentHint = "detail";
    track.addEventListener("ended", () => this.stopScreen());
    this.screenTrack = track;
    this.dispatchEvent(new Event("change"));
    this.dispatchEvent(new Event("screen"));
  }

  stopScreen() {
    if (!this.screenTrack) return;
    stopTrack(this.screenTrack);
    this.screenTrack = null;
    this.dispatchEvent(new Event("change"));
    this.dispatchEvent(new Event("screen"));
  }

  stopAll() {
    for (const track of [this.audioTrack, this.cameraTrack, this.screenTrack]) stopTrack(track);
    this.audioTrack = this.cameraTrack = this.screenTrack = null;
  }
}
