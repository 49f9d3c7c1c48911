// This browser's device id (docs/protocol.md, "The device id"): sent on the room socket's URL so
// that a browser that crashed takes back the seat its old peer still holds, instead of a ghost.

const KEY = "parley.device";

function fresh() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The id kept in localStorage (made on first use); "" where storage is unavailable. */
export function deviceId() {
  try {
    let id = localStorage.getItem(KEY);
    if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
      id = fresh();
      localStorage.setItem(KEY, id);
    }
    return id;
  } catch {
    return ""; // storage blocked: join without one (a crash then leaves the seat held for the grace)
  }
}
