"""The WebSocket close codes of the contract: one table for the server and the browser client.

The server closes with `CLOSE_CODES[name]`; the client's copy, static/js/close-codes.js, is
rendered from the same table by `make close-codes`, and a test checks that the two agree.
`fatal` codes are refusals a client must not retry: reconnecting would be refused again.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CloseCode:
    code: int
    name: str  # the error code sent before the close, where there is one
    fatal: bool
    meaning: str


CLOSE_TABLE = (
    CloseCode(1000, "left", False, "after the client's leave"),
    CloseCode(4000, "replaced", False, "the peer resumed on a newer socket of the same client"),
    CloseCode(4012, "moving", False, "the server is restarting: resume on another process now, no back-off"),
    CloseCode(4401, "unauthenticated", True, "no signed-in user, or the user was signed out"),
    CloseCode(4403, "forbidden", True, "a private or locked room, a kick's ban, or kicked"),
    CloseCode(4404, "no-such-room", True, "an unknown or closed room"),
    CloseCode(4408, "timeout", False, "the socket was silent for two heartbeat periods"),
    CloseCode(4409, "room-full", True, "the room's capacity is reached"),
    CloseCode(4429, "rate-limited", True, "flooding after warnings, or too many sockets for one user"),
    CloseCode(4503, "unavailable", False, "try again later: the service could not admit or keep the socket"),
)
CLOSE_CODES: dict[str, int] = {entry.name: entry.code for entry in CLOSE_TABLE}
FATAL_CLOSE_CODES = frozenset(entry.code for entry in CLOSE_TABLE if entry.fatal)


def close_codes_js() -> str:
    """static/js/close-codes.js: the table as an ES module for the browser client."""
    names = "".join(f'  "{entry.name}": {entry.code}, // {entry.meaning}\n' for entry in CLOSE_TABLE)
    fatal = ", ".join(str(code) for code in sorted(FATAL_CLOSE_CODES))
    return (
        "// The WebSocket close codes of docs/protocol.md. Generated from calls/protocol/close_codes.py\n"
        "// by `make close-codes`: edit the table there, not this file.\n\n"
        f"export const CLOSE_CODES = Object.freeze({{\n{names}}});\n\n"
        "/** Refusals: a client that gets one of these must not reconnect, it would be refused again. */\n"
        f"export const FATAL_CLOSE_CODES = new Set([{fatal}]);\n"
    )
