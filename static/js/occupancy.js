// Live occupancy: "3 / 8 in the call", full, locked and who is in it, on the lobby and the
// pre-join screen, polled from /api/occupancy/ every few seconds (calls/occupancy_views.py says
// why a poll and not a push). User text reaches the page only through textContent.

import { gettext, interpolate } from "./i18n.js";

const POLL_MS = 5000;

/** Fill `element` with a room's line (the same as templates/calls/_occupancy.html). */
export function renderOccupancy(element, row) {
  const parts = [];
  const count = document.createElement("span");
  count.className = "occupancy-count";
  count.textContent = interpolate(gettext("%(count)s / %(capacity)s in the call"), row);
  parts.push(count);
  for (const [on, label] of [[row.full, gettext("full")], [row.locked, gettext("locked")]]) {
    if (!on) continue;
    const flag = document.createElement("strong");
    flag.className = "occupancy-flag";
    flag.textContent = label;
    parts.push(" · ", flag);
  }
  if (row.people && row.people.length) {
    const people = document.createElement("span");
    people.className = "occupancy-people";
    people.textContent = row.people.map((user) => user.display_name || user.username).join(", ");
    parts.push(" · ", people);
  }
  element.replaceChildren(...parts);
}

/** Call `onRows(rows)` with the rooms of `url` now and every few seconds while the tab is shown,
 * until `stillWanted()` is false or the server refuses (403, 404). */
export function pollOccupancy(url, onRows, stillWanted = () => true) {
  let timer = null;
  const tick = async () => {
    if (!stillWanted()) return;
    if (!document.hidden) {
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.status === 403 || response.status === 404) return;
        if (response.ok) onRows((await response.json()).rooms);
      } catch (error) {
        console.warn("occupancy:", error);
      }
    }
    timer = setTimeout(tick, POLL_MS);
  };
  timer = setTimeout(tick, 0);
  return () => clearTimeout(timer);
}

/**
 * The pre-join screen: keep the room's line and the full notice live while the screen shows;
 * `onSeat()` runs once, as soon as the room is not full (at once if it was not), so that the
 * device check starts only when joining can work.
 */
export function watchRoom(root, onSeat) {
  const line = document.getElementById("room-occupancy");
  const notice = document.getElementById("room-full-notice");
  const prejoin = document.getElementById("prejoin");
  let seated = false;
  const seat = () => {
    if (seated) return;
    seated = true;
    onSeat();
  };
  if (!("full" in root.dataset)) seat();
  if (!line) return;
  pollOccupancy(line.dataset.occupancyUrl, ([row]) => {
    if (!row) return;
    renderOccupancy(line, row);
    notice.hidden = !row.full;
    notice.textContent = interpolate(
      gettext("This room is full (%(count)s of %(capacity)s). You can join as soon as someone leaves: this page will tell you."),
      row,
    );
    const join = document.getElementById("join");
    if (seated && join && join.dataset.ready) join.disabled = row.full;
    if (!row.full) seat();
  }, () => !prejoin.hidden);
}

// The lobby: every listed room's line.
const lobby = document.getElementById("lobby-rooms");
if (lobby) {
  pollOccupancy(lobby.dataset.occupancyUrl, (rows) => {
    for (const row of rows) {
      const element = lobby.querySelector(`[data-occupancy="${CSS.escape(row.slug)}"]`);
      if (element) renderOccupancy(element, row);
    }
  });
}
