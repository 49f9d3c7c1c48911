// Keeps a recording in IndexedDB while it is made, a chunk a second, so that a tab closed (or a
// browser that crashed) mid-recording loses at most the last second: the next page offers to save
// it (recording_rescue.js). The recording tab holds a Web Lock named after the recording, so another
// tab can tell a live recording from an abandoned one.

const DATABASE = "parley-recordings";
const RECORDINGS = "recordings"; // {id, user, slug, room, startedAt (ms since the epoch), mime, milliseconds, state}
const CHUNKS = "chunks"; // {recording, seq, blob}, keyed [recording, seq]
const LOCK_PREFIX = "parley-recording-";
// VP8 at 2.5 Mbit/s and Opus at 128 kbit/s: the bytes a minute of recording takes.
const BYTES_PER_MINUTE = ((2_500_000 + 128_000) / 8) * 60;
const LOW_MINUTES = 30;

export const lockName = (id) => `${LOCK_PREFIX}${id}`;

function done(request) {
  return new Promise((resolve, reject) => {
    request.addEventListener("success", () => resolve(request.result));
    request.addEventListener("error", () => reject(request.error));
  });
}

function finished(transaction) {
  return new Promise((resolve, reject) => {
    transaction.addEventListener("complete", () => resolve());
    transaction.addEventListener("error", () => reject(transaction.error));
    transaction.addEventListener("abort", () => reject(transaction.error));
  });
}

let opened = null;

/** The database, opened once a page (null where the browser has no IndexedDB). */
export function openStore() {
  if (typeof indexedDB === "undefined") return Promise.resolve(null);
  if (!opened) {
    const request = indexedDB.open(DATABASE, 1);
    request.addEventListener("upgradeneeded", () => {
      request.result.createObjectStore(RECORDINGS, { keyPath: "id" });
      request.result.createObjectStore(CHUNKS, { keyPath: ["recording", "seq"] });
    });
    opened = done(request).catch((error) => {
      console.warn("recordings cannot be kept in this browser", error);
      return null;
    });
  }
  return opened;
}

const chunkRange = (id) => IDBKeyRange.bound([id, 0], [id, Infinity]);

/** Every kept recording's metadata. */
export async function storedRecordings(db) {
  return done(db.transaction(RECORDINGS).objectStore(RECORDINGS).getAll());
}

/** A kept recording's metadata, or undefined if it is not kept (any more). */
export async function storedRecording(db, id) {
  return done(db.transaction(RECORDINGS).objectStore(RECORDINGS).get(id));
}

/** A kept recording's chunks, in order, as one Blob. */
export async function storedBlob(db, recording) {
  const chunks = await done(db.transaction(CHUNKS).objectStore(CHUNKS).getAll(chunkRange(recording.id)));
  return new Blob(
    chunks.map((chunk) => chunk.blob),
    { type: recording.mime || "video/webm" },
  );
}

/** Forget a kept recording: its metadata and chunks. */
export async function storedDelete(db, id) {
  const transaction = db.transaction([RECORDINGS, CHUNKS], "readwrite");
  transaction.objectStore(RECORDINGS).delete(id);
  transaction.objectStore(CHUNKS).delete(chunkRange(id));
  return finished(transaction);
}

/** Minutes of recording the browser still has room for, or null where it does not say. */
export async function storageMinutesLeft() {
  if (!navigator.storage?.estimate) return null;
  try {
    const { quota, usage } = await navigator.storage.estimate();
    return Math.max(0, Math.floor((quota - usage) / BYTES_PER_MINUTE));
  } catch {
    return null;
  }
}

export const isStorageLow = (minutes) => minutes !== null && minutes < LOW_MINUTES;

/** One recording being kept as it is made: `add` each MediaRecorder chunk, `finish` once saved. */
export class KeptRecording {
  constructor({ user, slug, room, startedAt, mime }) {
    const id = crypto.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`; // only secure pages have randomUUID
    this.meta = { id, user, slug, room, startedAt: startedAt.getTime(), mime, milliseconds: 0, state: "recording" };
    this.seq = 0;
    this.release = null;
    this.db = null;
    this.broken = false;
    // The lock first, then the metadata: a recording without its lock held is never a live one.
    this.ready = this.hold();
    this.write(null);
  }

  hold() {
    if (!navigator.locks) return Promise.resolve();
    return new Promise((granted) => {
      navigator.locks
        .request(lockName(this.meta.id), () => {
          granted();
          return new Promise((release) => (this.release = release));
        })
        .catch(() => granted());
    });
  }

  /** Write the metadata, and `blob` as the next chunk, in one transaction (in order: each waits for the last). */
  write(blob) {
    const seq = blob ? this.seq++ : null;
    this.ready = (this.ready || Promise.resolve()).then(async () => {
      if (this.broken) return;
      const db = await openStore();
      this.db = db;
      if (!db) return;
      try {
        const transaction = db.transaction([RECORDINGS, CHUNKS], "readwrite");
        transaction.objectStore(RECORDINGS).put(this.meta);
        if (blob) transaction.objectStore(CHUNKS).put({ recording: this.meta.id, seq, blob });
        await finished(transaction);
      } catch (error) {
        this.broken = true; // full, most likely: the recording goes on in memory only
        console.warn("the recording is no longer kept in this browser", error);
      }
    });
    return this.ready;
  }

  /** A chunk that covers the recording up to `milliseconds` from its start. */
  add(blob, milliseconds) {
    this.meta.milliseconds = milliseconds;
    return this.write(blob);
  }

  /**
   * The page goes: the recording stays, marked interrupted, and its lock goes with the page. Written
   * at once, not after the chunks on their way: the page may not live to run another callback.
   */
  interrupt() {
    this.meta.state = "interrupted";
    if (!this.db || this.broken) return;
    try {
      const transaction = this.db.transaction(RECORDINGS, "readwrite");
      transaction.objectStore(RECORDINGS).put(this.meta);
      transaction.commit?.();
    } catch (error) {
      console.warn("the recording could not be marked interrupted", error);
    }
  }

  /** Saved as a file: forget it, then let go of the lock. */
  async finish() {
    await this.ready;
    const db = await openStore();
    if (db) await storedDelete(db, this.meta.id).catch((error) => console.warn("a saved recording is still kept", error));
    this.release?.();
  }
}
