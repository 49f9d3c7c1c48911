"""The wire contract of ../shared/PROTOCOL.md: frame validation, limits and schemas.

Incoming frames are parsed and validated here, before any state is touched, so a bad
frame can only ever produce an `error` reply. Outgoing frames are built by the
`*_frame` helpers and described by OUTGOING, which the test-suite checks every frame
the server sends against.
"""

from dataclasses import dataclass
from typing import Any

import orjson

PROTOCOL_VERSION = 1

# Close codes of the contract, by error code.
CLOSE_CODES = {
    "unauthenticated": 4401,
    "forbidden": 4403,
    "no-such-room": 4404,
    "room-full": 4409,
    "rate-limited": 4429,
}
ERROR_CODES = frozenset(
    {
        *CLOSE_CODES,
        "bad-json",
        "bad-message",
        "unknown-type",
        "unknown-peer",
        "too-large",
        "unavailable",
        "user-offline",
        "busy",
        "no-such-call",
        "no-such-user",
    }
)
REASONS = frozenset({"left", "disconnected", "kicked", "timeout"})


class ProtocolError(Exception):
    """A frame the server refuses; becomes `{"type":"error","code","message","ref"?}`."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 96 * 1024
    max_sdp_bytes: int = 64 * 1024
    max_candidate_bytes: int = 2 * 1024
    max_chat_chars: int = 2000


class Optional:
    """Marks a field that may be absent."""

    __slots__ = ("spec",)

    def __init__(self, spec: Any) -> None:
        self.spec = spec


class Nullable:
    """Marks a field whose value may be null."""

    __slots__ = ("spec",)

    def __init__(self, spec: Any) -> None:
        self.spec = spec


class OneOf:
    """A string field restricted to a set of values."""

    __slots__ = ("values",)

    def __init__(self, *values: str) -> None:
        self.values = frozenset(values)


PEER_ID = str
CLIENT_ID = Optional(str)

# Client to server: field specs per type (extra fields are ignored, never forwarded).
INCOMING: dict[str, dict[str, Any]] = {
    "offer": {"to": PEER_ID, "sdp": str},
    "answer": {"to": PEER_ID, "sdp": str},
    "ice": {"to": PEER_ID, "candidate": Nullable(dict)},
    "chat": {"text": str},
    "media": {"audio": bool, "video": bool, "screen": bool},
    "ice-servers": {},
    "ping": {},
    "leave": {},
    "kick": {"peer": PEER_ID},
    "lock": {"locked": bool},
}

# Presence socket, client to server.
PRESENCE_INCOMING: dict[str, dict[str, Any]] = {
    "call": {"username": str},
    "accept": {"call_id": str},
    "decline": {"call_id": str},
    "cancel": {"call_id": str},
    "hangup": {"call_id": str},
    "ping": {},
}

_TYPE_NAMES = {str: "a string", bool: "true or false", dict: "an object", int: "a number", list: "a list"}


def _check(value: Any, spec: Any, name: str) -> None:
    if isinstance(spec, Nullable):
        if value is None:
            return
        spec = spec.spec
    if isinstance(spec, OneOf):
        if value not in spec.values:
            raise ProtocolError("bad-message", f"'{name}' must be one of {', '.join(sorted(spec.values))}.")
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ProtocolError("bad-message", f"'{name}' must be an object.")
        for key, sub in spec.items():
            if key not in value:
                if isinstance(sub, Optional):
                    continue
                raise ProtocolError("bad-message", f"'{name}.{key}' is missing.")
            _check(value[key], sub.spec if isinstance(sub, Optional) else sub, f"{name}.{key}")
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise ProtocolError("bad-message", f"'{name}' must be a list.")
        for index, item in enumerate(value):
            _check(item, spec[0], f"{name}[{index}]")
        return
    # bool is a subclass of int: a number field must not accept true/false.
    if spec is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ProtocolError("bad-message", f"'{name}' must be a number.")
    if spec is int:
        return
    if not isinstance(value, spec):
        raise ProtocolError("bad-message", f"'{name}' must be {_TYPE_NAMES.get(spec, spec.__name__)}.")


def frame_parse(text: str | None, *, limits: Limits, schemas: dict[str, dict[str, Any]] = INCOMING) -> dict:
    """Parse and validate one client text frame; raise ProtocolError for anything off-contract."""
    if text is None:
        raise ProtocolError("bad-message", "Binary frames are not accepted; send JSON text.")
    if _over(text, limits.max_frame_bytes):
        raise ProtocolError("too-large", f"Frames are limited to {limits.max_frame_bytes} bytes.")
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad-json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise ProtocolError("bad-message", "A frame must be a JSON object.")
    ref = frame.get("id")
    if ref is not None and (not isinstance(ref, str) or len(ref) > 64):
        raise ProtocolError("bad-message", "'id' must be a string of at most 64 characters.")
    try:
        kind = frame.get("type")
        if not isinstance(kind, str):
            raise ProtocolError("bad-message", "'type' is missing or not a string.")
        spec = schemas.get(kind)
        if spec is None:
            raise ProtocolError("unknown-type", f"Unknown frame type '{kind[:40]}'.")
        for key, sub in spec.items():
            if key not in frame:
                raise ProtocolError("bad-message", f"'{key}' is missing.")
            _check(frame[key], sub, key)
        _check_limits(kind, frame, limits)
    except ProtocolError as error:
        error.ref = ref
        raise
    return frame


def _over(text: str, max_bytes: int) -> bool:
    """True if `text` is over `max_bytes` in UTF-8 (encoded only when it could be: 4 bytes a character at most)."""
    return len(text) > max_bytes or (len(text) * 4 > max_bytes and len(text.encode()) > max_bytes)


_CANDIDATE_FIELDS = {
    "candidate": str,
    "sdpMid": Nullable(str),
    "sdpMLineIndex": Nullable(int),
    "usernameFragment": Nullable(str),
}


def _check_limits(kind: str, frame: dict, limits: Limits) -> None:
    if kind in ("offer", "answer"):
        if _over(frame["sdp"], limits.max_sdp_bytes):
            raise ProtocolError("too-large", f"SDP is limited to {limits.max_sdp_bytes} bytes.")
        if not frame["sdp"]:
            raise ProtocolError("bad-message", "'sdp' is empty.")
    elif kind == "ice" and frame["candidate"] is not None:
        candidate = frame["candidate"]
        if len(orjson.dumps(candidate)) > limits.max_candidate_bytes:
            raise ProtocolError("too-large", f"A candidate is limited to {limits.max_candidate_bytes} bytes.")
        if "candidate" not in candidate:
            raise ProtocolError("bad-message", "'candidate.candidate' is missing.")
        for key, sub in _CANDIDATE_FIELDS.items():
            if key in candidate:
                _check(candidate[key], sub, f"candidate.{key}")
        # Forward only the fields RTCIceCandidateInit knows.
        frame["candidate"] = {key: candidate[key] for key in _CANDIDATE_FIELDS if key in candidate}
    elif kind == "chat":
        text = frame["text"].strip()
        if len(text) > limits.max_chat_chars:
            raise ProtocolError("too-large", f"Chat messages are limited to {limits.max_chat_chars} characters.")
        if not text:
            raise ProtocolError("bad-message", "'text' is empty.")
        frame["text"] = text
    elif kind in ("call", "accept", "decline", "cancel", "hangup"):
        for key in ("username", "call_id"):
            if key in frame and not 0 < len(frame[key]) <= 150:
                raise ProtocolError("bad-message", f"'{key}' must be 1 to 150 characters.")


def frame_encode(frame: dict) -> str:
    return orjson.dumps(frame).decode()


def error_frame(code: str, message: str, ref: str | None = None) -> dict:
    frame = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return frame


# ---------------------------------------------------------------------------------------
# Server to client: every frame type the server sends and its schema.
USER = {"id": int, "username": str, "display_name": str}
MEDIA = {"audio": bool, "video": bool, "screen": bool}
PEER = {"peer_id": str, "user": USER, "media": MEDIA}
ICE_SERVER = {"urls": list, "username": Optional(str), "credential": Optional(str)}

OUTGOING: dict[str, dict[str, Any]] = {
    "welcome": {
        "v": int,
        "peer_id": str,
        "room": {"slug": str, "name": str, "capacity": int, "locked": bool},
        "you": USER,
        "peers": [PEER],
        "ice_servers": [ICE_SERVER],
        "ice_ttl": int,
        "heartbeat": int,
        "moderator": bool,
        "resume_token": str,
        "resumed": bool,
        "ice_transport_policy": OneOf("all", "relay"),
    },
    "peer-joined": {"peer": PEER},
    "peer-left": {"peer_id": str, "reason": OneOf(*REASONS)},
    "offer": {"from": str, "sdp": str},
    "answer": {"from": str, "sdp": str},
    "ice": {"from": str, "candidate": Nullable(dict)},
    "chat": {"id": str, "from": str, "user": USER, "text": str, "ts": str},
    "media": {"from": str, "audio": bool, "video": bool, "screen": bool},
    "room": {"locked": bool},
    "ice-servers": {"ice_servers": [ICE_SERVER], "ice_ttl": int},
    "pong": {"id": Optional(str)},
    "kicked": {"by": Optional(USER)},
    "error": {"code": OneOf(*ERROR_CODES), "message": str, "ref": Optional(str)},
    # Presence socket.
    "presence": {"you": USER, "online": [USER], "heartbeat": int, "ring_timeout": int},
    "user-online": {"user": USER},
    "user-offline": {"user": USER, "call_id": Optional(str)},
    "ringing": {"call_id": str, "callee": USER, "timeout": int},
    "ring": {"call_id": str, "caller": USER, "room": {"slug": str, "url": str}, "timeout": int},
    "accepted": {"call_id": str, "room": {"slug": str, "url": str}, "join": bool},
    "declined": {"call_id": str},
    "cancelled": {"call_id": str},
    "missed": {"call_id": str},
    "busy": {"call_id": str, "user": USER},
    "hangup": {"call_id": str},
}


def outgoing_validate(frame: Any) -> None:
    """Raise AssertionError unless `frame` matches its OUTGOING schema exactly (no stray fields)."""
    assert isinstance(frame, dict), f"not an object: {frame!r}"
    kind = frame.get("type")
    assert kind in OUTGOING, f"unknown outgoing type {kind!r}"
    spec = OUTGOING[kind]
    _strict(frame, spec, kind, top=True)


def _strict(value: Any, spec: Any, name: str, top: bool = False) -> None:
    if isinstance(spec, Optional):
        spec = spec.spec
    if isinstance(spec, Nullable):
        if value is None:
            return
        spec = spec.spec
    if isinstance(spec, dict):
        assert isinstance(value, dict), f"{name}: not an object"
        allowed = set(spec) | ({"type"} if top else set())
        extra = set(value) - allowed
        assert not extra, f"{name}: unexpected fields {sorted(extra)}"
        for key, sub in spec.items():
            if key not in value:
                assert isinstance(sub, Optional), f"{name}: missing {key}"
                continue
            _strict(value[key], sub, f"{name}.{key}")
        return
    if isinstance(spec, list):
        assert isinstance(value, list), f"{name}: not a list"
        for index, item in enumerate(value):
            _strict(item, spec[0], f"{name}[{index}]")
        return
    try:
        _check(value, spec, name)
    except ProtocolError as error:
        raise AssertionError(error.message) from None
