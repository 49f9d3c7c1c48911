// Recording, as everyone sees it: the Record button (the owner and moderators, or everyone if the
// room allows it), the "Recording" banner with who records, and chat notices. The server is told
// first (`record`); the file starts only once it has told the room (`recording` from us).

import { gettext, interpolate, ngettext } from "./i18n.js";
import { setButton } from "./icons.js";
import { Recorder, recordingFileName, recordingSupported } from "./recorder.js";
import { isStorageLow, KeptRecording, storageMinutesLeft } from "./recording_store.js";
import { byId } from "./ui.js";

const START_REF = "record-start";

export class Recording {
  constructor(call) {
    this.call = call;
    this.recorders = new Map(); // peer id -> name, in start order
    this.recorder = null; // ours, while recording
    this.kept = null; // its copy in IndexedDB, for a tab closed mid-recording
    this.audioContext = null;
    this.pending = false;
    this.roomName = call.root.querySelector(".room-name")?.textContent.trim() || "";
    this.button = byId("toggle-record");
    this.button.hidden = !("mayRecord" in call.root.dataset) || !recordingSupported();
    this.button.addEventListener("click", () => this.toggle());
    this.showButton();
  }

  name(peerId) {
    if (peerId === this.call.selfId) return this.call.displayName;
    const user = this.call.peers.get(peerId)?.user;
    return user ? user.display_name || user.username : "";
  }

  toggle() {
    if (this.recorder) {
      this.call.signal.send({ type: "record", active: false });
      this.stopLocal();
      return;
    }
    if (this.pending) return;
    this.pending = true;
    // Made in the click: a page may start sound only on a user's gesture.
    this.audioContext = new AudioContext();
    this.call.signal.send({ type: "record", active: true, id: START_REF });
    this.showButton();
  }

  /** Our file starts once the room has been told; a failure to start tells the room it stopped. */
  startLocal() {
    this.pending = false;
    if (this.recorder) return;
    const startedAt = new Date();
    const kept = new KeptRecording({
      user: document.body.dataset.user || "",
      slug: this.call.root.dataset.slug || "",
      room: this.roomName,
      startedAt,
      mime: "video/webm",
    });
    this.kept = kept;
    this.recorder = new Recorder({
      stage: this.call.tiles.container,
      sounds: () => this.sounds(),
      audioContext: this.audioContext || new AudioContext(),
      fileName: recordingFileName(this.roomName, startedAt),
      selfName: this.call.displayName,
      onData: (blob, milliseconds) => kept.add(blob, milliseconds),
    });
    this.audioContext = null;
    try {
      this.recorder.start();
    } catch (error) {
      console.warn("recording failed", error);
      this.recorder = null;
      this.kept = null;
      kept.finish();
      this.call.signal.send({ type: "record", active: false });
      this.call.setStatus(gettext("Could not record the call in this browser."), "bad");
    }
    this.showButton();
    if (this.recorder) this.warnIfStorageLow();
  }

  /** Little room left in the browser's storage: a closed tab would lose most of the recording. */
  async warnIfStorageLow() {
    const minutes = await storageMinutesLeft();
    if (!isStorageLow(minutes)) return;
    const text = ngettext(
      "This browser has room to keep only about %(minutes)s minute of the recording if the tab closes.",
      "This browser has room to keep only about %(minutes)s minutes of the recording if the tab closes.",
      minutes,
    );
    this.call.chat.notice(interpolate(text, { minutes }));
  }

  /**
   * Stop our recording and save the file (also when the call ends). When the page goes
   * (`pageGone`) the download may not finish: the copy in IndexedDB stays, for the next page.
   */
  stopLocal({ pageGone = false } = {}) {
    const recorder = this.recorder;
    const kept = this.kept;
    this.recorder = null;
    this.kept = null;
    this.showButton();
    if (!recorder) return Promise.resolve();
    if (pageGone) {
      kept.interrupt();
      return recorder.stop();
    }
    this.call.chat.notice(gettext("The recording is saved in your downloads."));
    return recorder.stop().then(() => kept.finish());
  }

  sounds() {
    const tracks = [this.call.media.audioTrack];
    for (const link of this.call.links.values()) tracks.push(...(link.remoteStream?.getAudioTracks() || []));
    return tracks;
  }

  onWelcome(frame) {
    const recorders = frame.recorders || [];
    this.recorders = new Map(recorders.filter((id) => id === this.call.selfId || this.call.peers.has(id)).map((id) => [id, this.name(id)]));
    // Resumed while recording, and the room forgot us: tell it again.
    if (this.recorder && !this.recorders.has(this.call.selfId)) this.call.signal.send({ type: "record", active: true });
    this.showBanner();
  }

  onRecording(frame) {
    const mine = frame.from === this.call.selfId;
    if (frame.active && !this.recorders.has(frame.from)) {
      this.recorders.set(frame.from, this.name(frame.from));
      this.call.chat.notice(
        mine ? gettext("You started recording. Everyone is told.") : interpolate(gettext("%(name)s started recording."), { name: this.name(frame.from) }),
      );
      if (mine && this.pending) this.startLocal();
    } else if (!frame.active && this.recorders.has(frame.from)) {
      this.ended(frame.from);
      if (mine && this.recorder) this.stopLocal();
    }
    this.showBanner();
  }

  /** A recorder left (or lost its connection for good): its indicator ends. */
  onPeerLeft(peerId) {
    if (!this.recorders.has(peerId)) return;
    this.ended(peerId);
    this.showBanner();
  }

  ended(peerId) {
    const name = this.recorders.get(peerId);
    this.recorders.delete(peerId);
    this.call.chat.notice(
      peerId === this.call.selfId ? gettext("You stopped recording.") : interpolate(gettext("%(name)s stopped recording."), { name }),
    );
  }

  onError(frame) {
    if (frame.ref !== START_REF) return;
    this.pending = false;
    this.audioContext?.close().catch(() => {});
    this.audioContext = null;
    this.showButton();
    if (frame.code === "forbidden") this.call.setStatus(gettext("Only the room owner or a moderator may record this call."), "bad");
  }

  showButton() {
    const on = Boolean(this.recorder);
    this.button.setAttribute("aria-pressed", String(on));
    this.button.disabled = this.pending;
    const label = on ? gettext("Stop recording") : gettext("Record");
    setButton(this.button, on ? "record-stop" : "record", label);
    this.button.setAttribute("aria-label", label); // the label is hidden on a phone
  }

  showBanner() {
    const banner = byId("recording-banner");
    const names = [...this.recorders].map(([id, name]) => (id === this.call.selfId ? gettext("you") : name));
    banner.hidden = names.length === 0;
    let text = "";
    if (this.recorders.size === 1 && this.recorders.has(this.call.selfId)) text = gettext("Recording: you are recording this call.");
    else if (names.length) text = interpolate(gettext("Recording: %(names)s"), { names: names.join(", ") });
    byId("recording-text").textContent = text;
  }
}
