"""Client frames: one msgspec Struct per type, decoded and validated from JSON text in one pass.

A frame is acted on only once `frame_parse` has returned it: anything off the contract is a
ProtocolError with one of its codes (docs/protocol.md, "Errors that keep the connection
open"), never a traceback. Fields a frame does not define are skipped by the decoder, never
built into objects, never forwarded.
"""

import operator
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from .common import ProtocolError, tagged


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 96 * 1024
    max_sdp_bytes: int = 64 * 1024
    max_candidate_bytes: int = 2 * 1024
    max_chat_chars: int = 2000
    # Client frames nest two levels (a frame, its candidate); deeper is refused, in fields the
    # decoder skips too.
    max_depth: int = 8


ClientId = Annotated[str, Meta(max_length=64)]
Name = Annotated[str, Meta(min_length=1, max_length=150)]  # a username, a call id


class ClientFrame(Struct, tag_field="type", kw_only=True):
    """Any client frame may carry `id`: a refusal echoes it as `ref`."""

    id: ClientId | None = None

    @property
    def type(self) -> str:
        return self.__struct_config__.tag

    def check(self, limits: Limits) -> None:
        """Refuse values of the right type that are outside the limits (or normalize them)."""


class Candidate(Struct, omit_defaults=True):
    """The `RTCIceCandidateInit` fields: all of a candidate that is read and sent on."""

    candidate: str
    sdpMid: str | UnsetType | None = UNSET
    sdpMLineIndex: Annotated[int, Meta(ge=0, le=65535)] | UnsetType | None = UNSET
    usernameFragment: str | UnsetType | None = UNSET


class SessionDescription(ClientFrame):
    """An offer or an answer. Its SDP is kept as the JSON string the client sent, checked
    here and relayed as it is: never unescaped and escaped again (4 KB of it, in every offer)."""

    to: str
    sdp: msgspec.Raw

    def check(self, limits: Limits) -> None:
        if memoryview(self.sdp)[0] != ord('"'):
            raise ProtocolError("bad-message", "'sdp' must be a string.")
        # As JSON it is at least as long as the text it stands for (quotes, escapes): measure
        # the text only when the JSON is over the limit.
        if len(self.sdp) - 2 > limits.max_sdp_bytes and _over(self.sdp_text, limits.max_sdp_bytes):
            raise ProtocolError("too-large", f"SDP is limited to {limits.max_sdp_bytes} bytes.")
        if len(self.sdp) == 2:
            raise ProtocolError("bad-message", "'sdp' is empty.")

    @property
    def sdp_text(self) -> str:
        return msgspec.json.decode(self.sdp, type=str)


Offer, Answer = tagged(SessionDescription, "offer", "answer")
_encode = msgspec.json.Encoder().encode


class Ice(ClientFrame, tag="ice", dict=True):
    """`candidate_json` (set by `check`, not a field) is the candidate as the JSON sent on: it is
    encoded once, to measure it and to relay it (outgoing.ice_frame_spliced). Measured: 454 ->
    288 ns per candidate, ~3% of a relayed candidate's core-path CPU (docs/performance.md)."""

    to: str
    candidate: Candidate | None  # null: the end of candidates

    def check(self, limits: Limits) -> None:
        # The limit is on what is sent on: the fields of RTCIceCandidateInit, as JSON.
        encoded = _encode(self.candidate)
        if len(encoded) > limits.max_candidate_bytes:
            raise ProtocolError("too-large", f"A candidate is limited to {limits.max_candidate_bytes} bytes.")
        self.candidate_json = encoded.decode()


class Chat(ClientFrame, tag="chat"):
    text: str

    def check(self, limits: Limits) -> None:
        text = self.text.strip()
        if len(text) > limits.max_chat_chars:
            raise ProtocolError("too-large", f"Chat messages are limited to {limits.max_chat_chars} characters.")
        if not text:
            raise ProtocolError("bad-message", "'text' is empty.")
        self.text = text


class Media(ClientFrame, tag="media"):
    audio: bool
    video: bool
    screen: bool


IceServers, Ping, Leave = tagged(ClientFrame, "ice-servers", "ping", "leave")


class Kick(ClientFrame, tag="kick"):
    peer: str


class Lock(ClientFrame, tag="lock"):
    locked: bool


# Room features (calls.signaling.features): hands, reactions, recording.
REACTIONS = ("👍", "👏", "😂", "❤️", "🎉", "😮")


class Hand(ClientFrame, tag="hand"):
    """Raise or lower your hand; a moderator may lower someone else's (`peer`)."""

    raised: bool
    peer: ClientId | None = None


class Reaction(ClientFrame, tag="reaction"):
    emoji: Literal[REACTIONS]


class Record(ClientFrame, tag="record"):
    """You started (true) or stopped (false) recording the call in your browser."""

    active: bool


class KnockAnswer(ClientFrame, tag="knock-answer"):
    knock: ClientId
    admit: bool
    allow: bool = False  # a private room: also add the person to its allowed people


class View(ClientFrame, tag="view"):
    """How large we show peer `to`'s camera (docs/protocol.md `view`)."""

    to: str
    size: Literal["hidden", "thumb", "tile", "stage"]


# Presence socket.
class Call(ClientFrame, tag="call"):
    username: Name


class CallStep(ClientFrame):
    call_id: Name


Accept, Decline, Cancel, Hangup = tagged(CallStep, "accept", "decline", "cancel", "hangup")


class FrameSet(Mapping[str, type[ClientFrame]]):
    """The frames one kind of socket accepts, by type, with the decoder of their tagged union."""

    def __init__(self, *types: type[ClientFrame]) -> None:
        self.types = {kind.__struct_config__.tag: kind for kind in types}
        self.decoder = msgspec.json.Decoder(reduce(operator.or_, types))

    def __getitem__(self, kind: str) -> type[ClientFrame]:
        return self.types[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self.types)

    def __len__(self) -> int:
        return len(self.types)


INCOMING = FrameSet(
    *(Offer, Answer, Ice, Chat, Media, IceServers, Ping, Leave, Kick, Lock),
    *(Hand, Reaction, Record, KnockAnswer, View),
)
PRESENCE_INCOMING = FrameSet(Call, Accept, Decline, Cancel, Hangup, Ping)


def frame_parse(text: str | None, *, limits: Limits, schemas: FrameSet = INCOMING) -> ClientFrame:
    """Decode and validate one client text frame; raise ProtocolError for anything off-contract."""
    if text is None:
        raise ProtocolError("bad-message", "Binary frames are not accepted; send JSON text.")
    if _over(text, limits.max_frame_bytes):
        raise ProtocolError("too-large", f"Frames are limited to {limits.max_frame_bytes} bytes.")
    try:
        frame = schemas.decoder.decode(text)
    except msgspec.ValidationError as error:
        raise _refusal(text, str(error), limits=limits, schemas=schemas) from None
    except RecursionError:  # the decoder recurses: nested far deeper than any frame may be
        raise _refusal(text, None, limits=limits, schemas=schemas) from None
    except (msgspec.DecodeError, UnicodeEncodeError):
        raise ProtocolError("bad-json", "The frame is not valid JSON.") from None
    try:
        if _deeper_than(text, limits.max_depth):
            raise _too_deep(limits)
        frame.check(limits)
    except ProtocolError as error:
        error.ref = frame.id
        raise
    return frame


def _over(text: str, max_bytes: int) -> bool:
    """True if `text` is over `max_bytes` in UTF-8 (encoded only when it could be: 4 bytes a character at most)."""
    return len(text) > max_bytes or (
        len(text) * 4 > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes
    )


_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def _deeper_than(text: str, max_depth: int) -> bool:
    """True if the objects and lists of `text` (valid JSON) nest more than `max_depth` levels.

    Frames with few brackets cannot: nearly all, and they are told apart fast (an offer has its
    own object's brace only, found by a substring search; a candidate two, counted). Else the
    strings are dropped and the innermost pairs peeled off `max_depth` times: a handful of
    regular-expression passes, however the 96 KiB are shaped.
    """
    if "[" not in text and text.find("{", 1) < 0:
        return False
    if text.count("[") + text.count("{") <= max_depth:
        return False
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    for _ in range(max_depth):
        brackets = _INNERMOST.sub("", brackets)
        if not brackets:
            return False
    return True


def _too_deep(limits: Limits) -> ProtocolError:
    return ProtocolError("bad-message", f"Objects and lists may nest at most {limits.max_depth} levels deep.")


def _refusal(text: str, message: str | None, *, limits: Limits, schemas: FrameSet) -> ProtocolError:
    """The contract's error for a frame the decoder refused, `message` its reason (None: too deep).

    The checks run in the contract's order (an object, its `id`, its depth, its `type`, its
    fields); the frame is read again for them, loosely: refusals are rare and rate-limited.
    """
    try:
        raw = msgspec.json.decode(text)
    except RecursionError:
        return _too_deep(limits)
    except msgspec.DecodeError:  # refused for a field before the decoder reached the syntax error
        return ProtocolError("bad-json", "The frame is not valid JSON.")
    if not isinstance(raw, dict):
        return ProtocolError("bad-message", "A frame must be a JSON object.")
    ref = raw.get("id")
    if ref is not None and (not isinstance(ref, str) or len(ref) > 64):
        return ProtocolError("bad-message", "'id' must be a string of at most 64 characters.")
    if message is None or _deeper_than(text, limits.max_depth):
        return ProtocolError("bad-message", _too_deep(limits).message, ref)
    kind = raw.get("type")
    if not isinstance(kind, str):
        return ProtocolError("bad-message", "'type' is missing or not a string.", ref)
    if kind not in schemas:
        return ProtocolError("unknown-type", f"Unknown frame type '{kind[:40]}'.", ref)
    return ProtocolError("bad-message", _readable(message), ref)


_AT = re.compile(r"^(?P<head>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_EXPECTED = re.compile(
    r"Expected `(?P<want>[^`]+)`(?:, got `[^`]+`| of length (?P<op>[<>]=) (?P<n>\d+)|(?P<bound>.+))?"
)
_WORDS = {
    "str": "a string",
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _readable(message: str) -> str:
    """msgspec's reason ("Expected `str`, got `int` - at `$.sdp`") as the contract's kind of message."""
    parts = _AT.match(message)
    head, path = parts["head"], parts["path"] or ""
    if missing := _MISSING.fullmatch(head):
        return f"'{'.'.join(filter(None, (path, missing['field'])))}' is missing."
    expected = _EXPECTED.fullmatch(head)
    if expected is None or not path:
        return f"{head}." if not path else f"'{path}': {head}."
    want = " or ".join(_WORDS.get(name, name) for name in expected["want"].split(" | "))
    if expected["op"] == ">=" and expected["n"] == "1":
        return f"'{path}' is empty."
    if expected["op"]:
        return f"'{path}' must be at {'most' if expected['op'] == '<=' else 'least'} {expected['n']} characters."
    return f"'{path}' must be {want}{expected['bound'] or ''}."
