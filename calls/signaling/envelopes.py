"""The typed envelope of everything that crosses processes on the bus (calls.signaling.bus).

One tagged union, encoded as compact JSON arrays (`array_like`): a batch of a loop turn for one
process is one `list[Envelope]`, decoded and validated in one msgspec pass. The frame text inside
is the server frame as the socket sends it: the bus never looks into it.
"""

import msgspec


class Frames(msgspec.Struct, tag="f", array_like=True):
    """`text` for `peers` of room `slug` on the receiving process. A join or leave carries the
    change of membership for the receiver's mirror; `snapshot` frames (membership, media, lock)
    are not kept for a suspended peer: the `welcome` of its resume shows the room as it is then."""

    slug: str
    peers: list[str]
    text: str
    snapshot: bool = False
    joined: tuple[str, str] | None = None  # (peer_id, node)
    left: str | None = None


class Moved(msgspec.Struct, tag="m", array_like=True):
    """Peer `peer_id` of room `slug` is now on `node` (it resumed there, or was adopted). With
    `answer`, to the node it was on, which answers `Handover` (calls.signaling.handover;
    a process of an older version ignores the field, and the resume waits out HANDOVER_WAIT)."""

    slug: str
    peer_id: str
    node: str
    answer: bool = False


class Handover(msgspec.Struct, tag="h", array_like=True):
    """To the node a peer of room `slug` resumed on, from the node it was on: every frame the old
    node held for it has been sent on (they come before this on the node's FIFO channel)."""

    slug: str
    peer_id: str


class Control(msgspec.Struct, tag="c", array_like=True):
    """A server decision for some sockets of room `slug`: kick, replace (a takeover)."""

    slug: str
    peers: list[str]
    kind: str
    by: dict | None = None


class RoomEvent(msgspec.Struct, tag="r", array_like=True):
    """The admin closed or (un)locked room `slug`."""

    slug: str
    event: str  # "closed" or "locked"
    locked: bool = False


class UserEvict(msgspec.Struct, tag="u", array_like=True):
    """A user signed out, was deactivated or changed the password: close their sockets (those of
    `session_key` if set, never those of a session in `keep`)."""

    user_id: int
    session_key: str | None
    keep: list[str]
    reason: str


Envelope = Frames | Moved | Handover | Control | RoomEvent | UserEvict

batch_encode = msgspec.json.Encoder().encode
batch_decode = msgspec.json.Decoder(list[Envelope]).decode


def layer_message_envelope(message: dict) -> Envelope | None:
    """The envelope of a channel-layer event (calls.services.eviction), None if unknown."""
    kind = message.get("type")
    if kind == "user.evict":
        return UserEvict(
            user_id=message["user_id"],
            session_key=message.get("session_key"),
            keep=list(message.get("keep", ())),
            reason=message.get("reason", "signed-out"),
        )
    if kind == "room.control":
        return RoomEvent(slug=message["slug"], event=message["event"], locked=bool(message.get("locked")))
    return None
