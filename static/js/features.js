// The room's features beside the call: raised hands, reactions, recording, and the recent chat a
// late joiner is shown. They follow the signaling frames on their own, after the call has handled
// them (the people and tiles exist by then); only a departure is seen before, while the name is known.

import { Hands } from "./hands.js";
import { gettext } from "./i18n.js";
import { Reactions } from "./reactions.js";
import { Recording } from "./recording.js";
import { byId } from "./ui.js";

export class RoomFeatures {
  constructor(call) {
    this.call = call;
    this.hands = new Hands(call);
    this.reactions = new Reactions(call);
    this.recording = new Recording(call);
    this.chatIds = new Set(); // of the messages replayed from before we joined
    this.you = null;
    // A capture listener runs before the call's own (at the target, capture listeners come first).
    call.signal.addEventListener("frame", (event) => this.before(event), { capture: true });
    call.signal.addEventListener("frame", (event) => this.after(event.detail));
    call.controls.shortcuts.keys.h = () => byId("toggle-hand").click();
    window.addEventListener("pagehide", () => this.recording.stopLocal({ pageGone: true }));
  }

  before(event) {
    const frame = event.detail;
    if (this.call.ended) return;
    if (frame.type === "peer-left") {
      this.recording.onPeerLeft(frame.peer_id);
    } else if (frame.type === "chat" && this.chatIds.has(frame.id)) {
      event.stopImmediatePropagation(); // sent while we joined: shown with the earlier ones already
    }
  }

  after(frame) {
    if (this.call.ended) return;
    switch (frame.type) {
      case "welcome":
        this.you = frame.you;
        this.hands.onWelcome(frame);
        this.recording.onWelcome(frame);
        break;
      case "chat-history":
        this.showHistory(frame.messages);
        break;
      case "peer-left":
        this.hands.onPeerLeft(frame.peer_id);
        break;
      case "hand":
        this.hands.onHand(frame);
        break;
      case "reaction":
        this.reactions.onReaction(frame);
        break;
      case "recording":
        this.recording.onRecording(frame);
        break;
      case "error":
        this.recording.onError(frame);
        break;
      default:
    }
  }

  /** The room's last messages, before the ones that follow. */
  showHistory(messages) {
    const chat = this.call.chat;
    chat.notice(gettext("Messages from before you joined:"));
    for (const message of messages) {
      if (this.chatIds.has(message.id)) continue;
      this.chatIds.add(message.id);
      const name = message.user.display_name || message.user.username;
      const view = chat.add({ name, text: message.text, ts: message.ts, mine: this.you && message.user.id === this.you.id });
      view.item.classList.add("earlier");
    }
  }

  /** The call ends (left, removed, refused): a recording in progress is saved. */
  onEnd() {
    this.recording.stopLocal();
  }
}
