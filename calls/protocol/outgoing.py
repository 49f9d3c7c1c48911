"""Server frames of the room socket, and the schemas of every server frame (`OUTGOING`).

One msgspec Struct per frame type; `Frame(...).to_text()` is the text sent, and the only way frames
are built (calls.protocol.parts). The Structs are the schemas of docs/protocol.md's server frames:
strict (no stray fields, `forbid_unknown_fields`) so that the test-suite checks every frame the
server sends with `outgoing_validate`. Fields that are often absent default to None, which is not
sent (`omit_defaults`). The knock and presence sockets' frames live beside this module.
"""

import operator
from functools import reduce
from typing import Any, Literal

import msgspec
from msgspec import field

from .common import ERROR_CODES, tagged
from .knock_frames import KNOCK_FRAMES
from .parts import IceCandidate, IceServer, Part, Peer, RoomSummary, ServerFrame, User
from .presence_frames import PRESENCE_FRAMES

PROTOCOL_VERSION = 1
REASONS = ("left", "disconnected", "kicked", "timeout")
# Why a join was refused (an `error` frame's `reason`, docs/protocol.md Refusals).
REFUSAL_REASONS = (
    *("signed-out", "private", "locked", "removed", "closed", "full", "too-many-calls"),
    *("denied", "no-answer", "no-moderator", "too-many-knocks"),  # a knock (ask to join)
)


# --- Room socket -----------------------------------------------------------------------------------
class Welcome(ServerFrame, tag="welcome"):
    v: int
    peer_id: str
    room: RoomSummary
    you: User
    peers: list[Peer]
    ice_servers: list[IceServer]
    ice_ttl: int
    heartbeat: int
    moderator: bool
    resume_token: str
    resumed: bool
    ice_transport_policy: Literal["all", "relay"]
    hands: list[str]  # peer ids with a raised hand, in raise order (calls.signaling.features)
    recorders: list[str]  # peer ids recording the call


class PeerJoined(ServerFrame, tag="peer-joined"):
    peer: Peer


class PeerLeft(ServerFrame, tag="peer-left"):
    peer_id: str
    reason: Literal[REASONS]


class PeerSuspended(ServerFrame, tag="peer-suspended"):
    """The peer's socket dropped: it keeps its seat for the resume grace (show it as reconnecting)."""

    peer_id: str


class PeerResumed(ServerFrame, tag="peer-resumed"):
    """A suspended peer is back (same peer_id, its links as they were)."""

    peer_id: str


VIEW_SIZES = ("hidden", "thumb", "tile", "stage")


class View(ServerFrame, tag="view"):
    """How peer `from` shows our camera: the sender scales (or pauses) that one link's video."""

    sender: str = field(name="from")
    size: Literal[VIEW_SIZES]


class SessionDescription(ServerFrame):
    sender: str = field(name="from")
    sdp: str


Offer, Answer = tagged(SessionDescription, "offer", "answer")


class Ice(ServerFrame, tag="ice"):
    sender: str = field(name="from")
    candidate: IceCandidate | None


def ice_frame_spliced(*, sender: str, candidate_json: str) -> str:
    """An `Ice` frame's text from the candidate's JSON (incoming.Ice.candidate_json), without building and
    encoding a Struct per relayed candidate (see incoming.Ice for the measured gain). The sender id is
    server-made (URL-safe characters): it needs no escaping."""
    return '{"type":"ice","from":"' + sender + '","candidate":' + candidate_json + "}"


class Chat(ServerFrame, tag="chat"):
    id: str
    sender: str = field(name="from")
    user: User
    text: str
    ts: str


class ChatEntry(Part):
    id: str
    sender: str = field(name="from")
    user: User
    text: str
    ts: str


class ChatHistory(ServerFrame, tag="chat-history"):
    """The room's recent chat, oldest first, right after a fresh join's `welcome`."""

    messages: list[ChatEntry]


class Hand(ServerFrame, tag="hand"):
    sender: str = field(name="from")  # whose hand
    raised: bool
    by: str | None = None  # the moderator who lowered it, when not its owner


class Reaction(ServerFrame, tag="reaction"):
    sender: str = field(name="from")
    emoji: str


class Recording(ServerFrame, tag="recording"):
    sender: str = field(name="from")
    active: bool


class Media(ServerFrame, tag="media"):
    sender: str = field(name="from")
    audio: bool
    video: bool
    screen: bool


class RoomUpdate(ServerFrame, tag="room"):
    """A moderator locked or unlocked the room."""

    locked: bool


class IceServersSent(ServerFrame, tag="ice-servers"):
    ice_servers: list[IceServer]
    ice_ttl: int


class Pong(ServerFrame, tag="pong"):
    id: str | None = None  # the ping's
    resume_token: str | None = None  # room sockets only


class Kicked(ServerFrame, tag="kicked"):
    by: User | None = None


class Error(ServerFrame, tag="error"):
    code: Literal[tuple(sorted(ERROR_CODES))]
    message: str
    ref: str | None = None  # the refused frame's id
    # A refused join says why, and for how long (docs/protocol.md, Refusals).
    reason: Literal[REFUSAL_REASONS] | None = None
    by: User | None = None
    retry_after: int | None = None
    capacity: int | None = None
    count: int | None = None


def error_frame(code: str, message: str, ref: str | None = None, **details) -> str:
    """The shorthand of every refusal path: `Error(...).to_text()` with the code and message first."""
    return Error(code=code, message=message, ref=ref, **details).to_text()


# --- Schemas ---------------------------------------------------------------------------------------
_FRAMES = (
    *(Welcome, PeerJoined, PeerLeft, PeerSuspended, PeerResumed, View, Offer, Answer, Ice, Chat, Media, RoomUpdate),
    *(IceServersSent, Pong, Kicked, Error),
    *(ChatHistory, Hand, Reaction, Recording),
    *KNOCK_FRAMES,
    *PRESENCE_FRAMES,
)
OUTGOING: dict[str, type[ServerFrame]] = {frame.__struct_config__.tag: frame for frame in _FRAMES}
_ANY_FRAME = reduce(operator.or_, _FRAMES)


def outgoing_validate(frame: Any) -> None:
    """Raise AssertionError unless `frame` (decoded JSON) is a server frame of the contract, exactly."""
    assert isinstance(frame, dict), f"not an object: {frame!r}"
    assert frame.get("type") in OUTGOING, f"unknown outgoing type {frame.get('type')!r}"
    try:
        msgspec.convert(frame, _ANY_FRAME)
    except msgspec.ValidationError as error:
        raise AssertionError(f"{frame['type']}: {error}") from None
