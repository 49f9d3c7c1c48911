// The WebSocket close codes of docs/protocol.md. Generated from calls/protocol/close_codes.py
// by `make close-codes`: edit the table there, not this file.

export const CLOSE_CODES = Object.freeze({
  "left": 1000, // after the client's leave
  "replaced": 4000, // the peer resumed on a newer socket of the same client
  "moving": 4012, // the server is restarting: resume on another process now, no back-off
  "unauthenticated": 4401, // no signed-in user, or the user was signed out
  "forbidden": 4403, // a private or locked room, a kick's ban, or kicked
  "no-such-room": 4404, // an unknown or closed room
  "timeout": 4408, // the socket was silent for two heartbeat periods
  "room-full": 4409, // the room's capacity is reached
  "rate-limited": 4429, // flooding after warnings, or too many sockets for one user
  "unavailable": 4503, // try again later: the service could not admit or keep the socket
});

/** Refusals: a client that gets one of these must not reconnect, it would be refused again. */
export const FATAL_CLOSE_CODES = new Set([4401, 4403, 4404, 4409, 4429]);
