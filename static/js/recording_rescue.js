// On every signed-in page: a recording of this person that a closed tab (or a crash) left in
// IndexedDB (recording_store.js) is offered back: "Save it" downloads it as the recording tab would
// have, "Discard" forgets it. A recording whose lock another tab holds is live there, not offered.

import { gettext, interpolate } from "./i18n.js";
import { recordingFileName, saveFile } from "./recorder.js";
import { lockName, openStore, storedBlob, storedDelete, storedRecording, storedRecordings } from "./recording_store.js";
import { element } from "./ui.js";
import { webmWithDuration } from "./webm.js";

const SAID_FOR = 10_000; // how long "saved" (or "could not") stays before the notice goes

async function heldLocks() {
  if (!navigator.locks?.query) return new Set();
  const { held } = await navigator.locks.query();
  return new Set(held.map((lock) => lock.name));
}

/** Run `work` holding the recording's lock, so that no other tab offers or saves it meanwhile; false if one holds it. */
function withLock(id, work) {
  if (!navigator.locks) return work().then(() => true);
  return navigator.locks.request(lockName(id), { ifAvailable: true }, async (lock) => {
    if (!lock) return false;
    await work();
    return true;
  });
}

function when(milliseconds) {
  const format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" });
  return format.format(new Date(milliseconds));
}

function button(text, className, onClick) {
  const node = element("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

/** The recording as a file: its chunks in order, with the duration the recording tab last stored. */
async function rescuedFile(db, recording) {
  const blob = await storedBlob(db, recording);
  return webmWithDuration(blob, recording.milliseconds).catch(() => blob);
}

function notice(db, recording, list) {
  const item = element("div", "rescue");
  item.setAttribute("role", "alert");
  const text = element("p");
  text.textContent = interpolate(gettext("A recording of %(room)s from %(time)s was not saved."), {
    room: recording.room || "Parley",
    time: when(recording.startedAt),
  });
  const actions = element("div", "rescue-actions");
  const remove = () => {
    item.remove();
    if (!list.children.length) list.remove();
  };
  // Saved (or not): said for a while in place of the buttons. Discarded: gone, focus on the next notice.
  const gone = (message) => {
    actions.remove();
    if (message) {
      item.setAttribute("role", "status");
      text.textContent = message;
      setTimeout(remove, SAID_FOR);
      return;
    }
    remove();
    list.querySelector(".rescue-actions button:enabled")?.focus();
  };
  const act = (work, message) => async () => {
    for (const node of actions.querySelectorAll("button")) node.disabled = true;
    try {
      const ours = await withLock(recording.id, work);
      gone(ours ? message : ""); // not ours: another tab is saving it, or recording it again
    } catch (error) {
      console.warn("the recording could not be rescued", error);
      gone(gettext("The recording could not be saved."));
    }
  };
  const save = async () => {
    saveFile(await rescuedFile(db, recording), recordingFileName(recording.room, new Date(recording.startedAt)));
    await storedDelete(db, recording.id);
  };
  actions.append(
    button(gettext("Save it"), "primary", act(save, gettext("The recording is saved in your downloads."))),
    button(gettext("Discard"), "", act(() => storedDelete(db, recording.id), "")),
  );
  item.append(text, actions);
  return item;
}

/** Offer `recording` (as it is now in the store), or forget it if not a second of it was kept. */
async function offer(db, id, list) {
  const recording = await storedRecording(db, id);
  if (!recording) return; // saved by its tab, or by another page
  if (!recording.milliseconds) {
    await storedDelete(db, id);
    return;
  }
  list.append(notice(db, recording, list));
  if (!list.isConnected) document.querySelector("main")?.prepend(list);
}

async function rescue() {
  const user = document.body.dataset.user;
  const db = user && (await openStore());
  if (!db) return;
  // The recordings first, then the locks: a recording tab takes its lock before it writes anything.
  const mine = (await storedRecordings(db)).filter((recording) => recording.user === user);
  const held = await heldLocks();
  const list = element("div", "rescues");
  for (const recording of mine.sort((a, b) => a.startedAt - b.startedAt)) {
    if (!navigator.locks) {
      // Without Web Locks a live recording in another tab looks abandoned: only an interrupted one is offered.
      if (recording.state === "interrupted") await offer(db, recording.id, list);
    } else if (held.has(lockName(recording.id))) {
      // Live in another tab (or in one still closing): offered here once that tab lets go of it unsaved.
      navigator.locks.request(lockName(recording.id), () => offer(db, recording.id, list)).catch(() => {});
    } else {
      await offer(db, recording.id, list);
    }
  }
}

rescue().catch((error) => console.warn("kept recordings could not be read", error));
