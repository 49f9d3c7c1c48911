// Why the server refused or ended the call, said in the page's language from the refusal's
// structured fields (docs/protocol.md, Refusals), and which actions can work now.

import { CLOSE_CODES } from "./close-codes.js";
import { gettext, interpolate, ngettext } from "./i18n.js";

const CLOSE_MESSAGES = {
  [CLOSE_CODES.unauthenticated]: () => gettext("You are signed out. Sign in again to join the call."),
  [CLOSE_CODES.forbidden]: () => gettext("You may not join this room: it is private or locked, or a moderator removed you."),
  [CLOSE_CODES["no-such-room"]]: () => gettext("This room does not exist or was closed."),
  [CLOSE_CODES["room-full"]]: () => gettext("This room is full."),
};

function userName(user) {
  return user ? user.display_name || user.username : null;
}

/** "You were removed by Alice; you can rejoin in 4 minutes." (`seconds` left of the ban). */
export function removedText(by, seconds) {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  const name = userName(by);
  const text = name
    ? ngettext(
        "You were removed by %(name)s; you can rejoin in %(minutes)s minute.",
        "You were removed by %(name)s; you can rejoin in %(minutes)s minutes.",
        minutes,
      )
    : ngettext(
        "A moderator removed you; you can rejoin in %(minutes)s minute.",
        "A moderator removed you; you can rejoin in %(minutes)s minutes.",
        minutes,
      );
  return interpolate(text, { name, minutes });
}

const REASONS = {
  "signed-out": () => gettext("You are signed out. Sign in again to join the call."),
  private: () => gettext("This room is private: only the people its owner allows may join."),
  locked: () => gettext("This room is locked: nobody new may join until its owner unlocks it."),
  removed: (error) => removedText(error.by, error.retry_after || 0),
  closed: () => gettext("This room does not exist or was closed."),
  full: (error) => interpolate(gettext("This room is full (%(count)s of %(capacity)s)."), error),
  "too-many-calls": () => gettext("You already have the most calls open; leave one first."),
  denied: (error) =>
    error.by
      ? interpolate(gettext("%(name)s did not let you in."), { name: userName(error.by) })
      : gettext("The people in the call did not let you in."),
  "no-answer": () => gettext("Nobody answered your request to join. You can ask again."),
  "no-moderator": () => gettext("Nobody who can let you in is in the call now. Try again later."),
  "too-many-knocks": () => gettext("You asked to join this room too often; try again later."),
};

// Reasons after which joining again can work now (a seat may free up, a call can be left).
const RETRYABLE = new Set(["full", "too-many-calls"]);

/**
 * The sentence for a socket the server closed with `code` after `error` (its last error frame,
 * or null), and whether "Join again" can work: {text, rejoin, reason}.
 */
export function refusalText(code, error) {
  const reason = error && error.reason;
  if (reason && REASONS[reason]) {
    return { text: REASONS[reason](error), rejoin: RETRYABLE.has(reason), reason };
  }
  const message = CLOSE_MESSAGES[code];
  const text = message ? message() : (error && error.message) || "";
  return { text, rejoin: code !== CLOSE_CODES.forbidden && code !== CLOSE_CODES["no-such-room"], reason: null };
}
