"""Server frames: one msgspec Struct per type, and one constructor per type returning the text sent.

The Structs are the schemas of docs/protocol.md's server frames (`OUTGOING`): strict (no
stray fields, `forbid_unknown_fields`) so that the test-suite can check every frame the
server sends with `outgoing_validate`. The constructors are the only place frames are
built. Nested records (a user, a peer, ICE servers) are passed as the dicts the services
keep: msgspec encodes them as they are, and the tests' strict decoding checks their shape.
"""

import operator
from functools import reduce
from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType, field

from .common import ERROR_CODES, tagged
from .incoming import Candidate

PROTOCOL_VERSION = 1
REASONS = ("left", "disconnected", "kicked", "timeout")
# Why a join was refused (an `error` frame's `reason`, docs/protocol.md Refusals).
REFUSAL_REASONS = (
    *("signed-out", "private", "locked", "removed", "closed", "full", "too-many-calls"),
    *("denied", "no-answer", "no-moderator", "too-many-knocks"),  # a knock (ask to join)
)
KNOCK_OUTCOMES = ("admitted", "denied", "no-answer")


class Part(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A part of a server frame: exactly these fields, none missing and no others."""


class User(Part):
    id: int
    username: str
    display_name: str


class MediaState(Part):
    audio: bool
    video: bool
    screen: bool


class Peer(Part):
    peer_id: str
    user: User
    media: MediaState


class IceServer(Part):
    urls: list[str]
    username: str | UnsetType = UNSET
    credential: str | UnsetType = UNSET


class RoomSummary(Part):
    slug: str
    name: str
    capacity: int
    locked: bool


class RoomLink(Part):
    slug: str
    url: str


class IceCandidate(Candidate, forbid_unknown_fields=True):
    pass


class ServerFrame(Part, tag_field="type", kw_only=True):
    pass


_encode = msgspec.json.Encoder().encode


def _text(frame: ServerFrame) -> str:
    return _encode(frame).decode()


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


def welcome_frame(
    *,
    peer_id: str,
    room: dict,
    you: dict,
    peers: list[dict],
    ice_servers: list[dict],
    ice_ttl: int,
    heartbeat: int,
    moderator: bool,
    resume_token: str,
    resumed: bool,
    ice_transport_policy: str,
    hands: list[str] = (),
    recorders: list[str] = (),
) -> str:
    return _text(
        Welcome(
            v=PROTOCOL_VERSION,
            peer_id=peer_id,
            room=room,
            you=you,
            peers=peers,
            ice_servers=ice_servers,
            ice_ttl=ice_ttl,
            heartbeat=heartbeat,
            moderator=moderator,
            resume_token=resume_token,
            resumed=resumed,
            ice_transport_policy=ice_transport_policy,
            hands=list(hands),
            recorders=list(recorders),
        )
    )


class PeerJoined(ServerFrame, tag="peer-joined"):
    peer: Peer


def peer_joined_frame(*, peer: dict) -> str:
    return _text(PeerJoined(peer=peer))


class PeerLeft(ServerFrame, tag="peer-left"):
    peer_id: str
    reason: Literal[REASONS]


def peer_left_frame(*, peer_id: str, reason: str) -> str:
    return _text(PeerLeft(peer_id=peer_id, reason=reason))


class PeerSuspended(ServerFrame, tag="peer-suspended"):
    """The peer's socket dropped: it keeps its seat for the resume grace (show it as reconnecting)."""

    peer_id: str


class PeerResumed(ServerFrame, tag="peer-resumed"):
    """A suspended peer is back (same peer_id, its links as they were)."""

    peer_id: str


def peer_suspended_frame(*, peer_id: str) -> str:
    return _text(PeerSuspended(peer_id=peer_id))


def peer_resumed_frame(*, peer_id: str) -> str:
    return _text(PeerResumed(peer_id=peer_id))


VIEW_SIZES = ("hidden", "thumb", "tile", "stage")


class View(ServerFrame, tag="view"):
    """How peer `from` shows our camera: the sender scales (or pauses) that one link's video."""

    sender: str = field(name="from")
    size: Literal[VIEW_SIZES]


def view_frame(*, sender: str, size: str) -> str:
    return _text(View(sender=sender, size=size))


class SessionDescription(ServerFrame):
    sender: str = field(name="from")
    sdp: str


Offer, Answer = tagged(SessionDescription, "offer", "answer")


class Ice(ServerFrame, tag="ice"):
    sender: str = field(name="from")
    candidate: IceCandidate | None


def offer_frame(*, sender: str, sdp: msgspec.Raw) -> str:
    """`sdp` is the JSON string the client sent (incoming.SessionDescription): sent on as it is."""
    return _text(Offer(sender=sender, sdp=sdp))


def answer_frame(*, sender: str, sdp: msgspec.Raw) -> str:
    return _text(Answer(sender=sender, sdp=sdp))


def ice_frame(*, sender: str, candidate: Candidate | None) -> str:
    return _text(Ice(sender=sender, candidate=candidate))


def ice_frame_spliced(*, sender: str, candidate_json: str) -> str:
    """`ice_frame` from the candidate's JSON (incoming.Ice.candidate_json), without building and
    encoding a Struct per relayed candidate (see incoming.Ice for the measured gain). The sender id is
    server-made (URL-safe characters): it needs no escaping."""
    return '{"type":"ice","from":"' + sender + '","candidate":' + candidate_json + "}"


class Chat(ServerFrame, tag="chat"):
    id: str
    sender: str = field(name="from")
    user: User
    text: str
    ts: str


def chat_frame(*, id: str, sender: str, user: dict, text: str, ts: str) -> str:
    return _text(Chat(id=id, sender=sender, user=user, text=text, ts=ts))


class ChatEntry(Part):
    id: str
    sender: str = field(name="from")
    user: User
    text: str
    ts: str


class ChatHistory(ServerFrame, tag="chat-history"):
    """The room's recent chat, oldest first, right after a fresh join's `welcome`."""

    messages: list[ChatEntry]


def chat_history_frame(*, messages: list[dict]) -> str:
    """`messages`: chat frames as sent (decoded), oldest first."""
    return _text(ChatHistory(messages=[{k: v for k, v in m.items() if k != "type"} for m in messages]))


class Hand(ServerFrame, tag="hand"):
    sender: str = field(name="from")  # whose hand
    raised: bool
    by: str | UnsetType = UNSET  # the moderator who lowered it, when not its owner


def hand_frame(*, sender: str, raised: bool, by: str | None = None) -> str:
    return _text(Hand(sender=sender, raised=raised, by=by or UNSET))


class Reaction(ServerFrame, tag="reaction"):
    sender: str = field(name="from")
    emoji: str


def reaction_frame(*, sender: str, emoji: str) -> str:
    return _text(Reaction(sender=sender, emoji=emoji))


class Recording(ServerFrame, tag="recording"):
    sender: str = field(name="from")
    active: bool


def recording_frame(*, sender: str, active: bool) -> str:
    return _text(Recording(sender=sender, active=active))


class Media(ServerFrame, tag="media"):
    sender: str = field(name="from")
    audio: bool
    video: bool
    screen: bool


def media_frame(*, sender: str, media: dict) -> str:
    return _text(Media(sender=sender, **media))


class Room(ServerFrame, tag="room"):
    locked: bool


def room_frame(*, locked: bool) -> str:
    return _text(Room(locked=locked))


class IceServersSent(ServerFrame, tag="ice-servers"):
    ice_servers: list[IceServer]
    ice_ttl: int


def ice_servers_frame(*, ice_servers: list[dict], ice_ttl: int) -> str:
    return _text(IceServersSent(ice_servers=ice_servers, ice_ttl=ice_ttl))


class Pong(ServerFrame, tag="pong"):
    id: str | UnsetType = UNSET
    resume_token: str | UnsetType = UNSET  # room sockets only


def pong_frame(*, id: str | None = None, resume_token: str | None = None) -> str:
    return _text(Pong(id=UNSET if id is None else id, resume_token=resume_token or UNSET))


class Kicked(ServerFrame, tag="kicked"):
    by: User | UnsetType = UNSET


def kicked_frame(*, by: dict | None = None) -> str:
    return _text(Kicked(by=by or UNSET))


class Error(ServerFrame, tag="error"):
    code: Literal[tuple(sorted(ERROR_CODES))]
    message: str
    ref: str | UnsetType = UNSET
    # A refused join says why, and for how long (docs/protocol.md, Refusals).
    reason: Literal[REFUSAL_REASONS] | UnsetType = UNSET
    by: User | UnsetType = UNSET
    retry_after: int | UnsetType = UNSET
    capacity: int | UnsetType = UNSET
    count: int | UnsetType = UNSET


def error_frame(
    code: str,
    message: str,
    ref: str | None = None,
    *,
    reason: str | None = None,
    by: dict | None = None,
    retry_after: int | None = None,
    capacity: int | None = None,
    count: int | None = None,
) -> str:
    fields = {"reason": reason, "by": by, "retry_after": retry_after, "capacity": capacity, "count": count}
    given = {name: value for name, value in fields.items() if value is not None}
    return _text(Error(code=code, message=message, ref=UNSET if ref is None else ref, **given))


# --- Ask to join (a knock socket, and the prompt of the owner and staff in the call) ---------------
class Knocking(ServerFrame, tag="knocking"):
    timeout: int


def knocking_frame(*, timeout: int) -> str:
    return _text(Knocking(timeout=timeout))


class KnockPrompt(ServerFrame, tag="knock"):
    knock: str
    user: User
    timeout: int


def knock_frame(*, knock: str, user: dict, timeout: int) -> str:
    return _text(KnockPrompt(knock=knock, user=user, timeout=timeout))


class KnockEnded(ServerFrame, tag="knock-ended"):
    knock: str
    outcome: Literal[KNOCK_OUTCOMES]
    by: User | UnsetType = UNSET


def knock_ended_frame(*, knock: str, outcome: str, by: dict | None = None) -> str:
    return _text(KnockEnded(knock=knock, outcome=outcome, by=by or UNSET))


class Admitted(ServerFrame, tag="admitted"):
    pass_token: str = field(name="pass")


def admitted_frame(*, pass_token: str) -> str:
    return _text(Admitted(pass_token=pass_token))


# --- Presence socket ------------------------------------------------------------------------------
class Presence(ServerFrame, tag="presence"):
    you: User
    online: list[User]
    heartbeat: int
    ring_timeout: int


def presence_frame(*, you: dict, online: list[dict], heartbeat: int, ring_timeout: int) -> str:
    return _text(Presence(you=you, online=online, heartbeat=heartbeat, ring_timeout=ring_timeout))


class UserOnline(ServerFrame, tag="user-online"):
    user: User


class UserOffline(ServerFrame, tag="user-offline"):
    user: User
    call_id: str | UnsetType = UNSET  # the reply to a `call`


def user_online_frame(*, user: dict) -> str:
    return _text(UserOnline(user=user))


def user_offline_frame(*, user: dict, call_id: str | None = None) -> str:
    return _text(UserOffline(user=user, call_id=call_id or UNSET))


class Ringing(ServerFrame, tag="ringing"):
    call_id: str
    callee: User
    timeout: int


def ringing_frame(*, call_id: str, callee: dict, timeout: int) -> str:
    return _text(Ringing(call_id=call_id, callee=callee, timeout=timeout))


class Ring(ServerFrame, tag="ring"):
    call_id: str
    caller: User
    room: RoomLink
    timeout: int


def ring_frame(*, call_id: str, caller: dict, room: dict, timeout: int) -> str:
    return _text(Ring(call_id=call_id, caller=caller, room=room, timeout=timeout))


class Accepted(ServerFrame, tag="accepted"):
    call_id: str
    room: RoomLink
    join: bool


def accepted_frame(*, call_id: str, room: dict, join: bool) -> str:
    return _text(Accepted(call_id=call_id, room=room, join=join))


class Busy(ServerFrame, tag="busy"):
    call_id: str
    user: User


def busy_frame(*, call_id: str, user: dict) -> str:
    return _text(Busy(call_id=call_id, user=user))


class CallOutcome(ServerFrame):
    call_id: str


CALL_OUTCOMES = {
    outcome.__struct_config__.tag: outcome
    for outcome in tagged(CallOutcome, "declined", "cancelled", "missed", "hangup")
}


def call_outcome_frame(*, outcome: str, call_id: str) -> str:
    """`declined`, `cancelled`, `missed` or `hangup`: how a direct call ended, for both users."""
    return _text(CALL_OUTCOMES[outcome](call_id=call_id))


# --- Schemas ---------------------------------------------------------------------------------------
_FRAMES = (
    *(Welcome, PeerJoined, PeerLeft, PeerSuspended, PeerResumed, View, Offer, Answer, Ice, Chat, Media, Room),
    *(IceServersSent, Pong, Kicked, Error),
    *(ChatHistory, Hand, Reaction, Recording),
    *(Knocking, KnockPrompt, KnockEnded, Admitted),
    *(Presence, UserOnline, UserOffline, Ringing, Ring, Accepted, Busy, *CALL_OUTCOMES.values()),
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
