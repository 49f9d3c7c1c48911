"""What every server frame is made of: the strict Struct base, its encoding, and the nested records.

Nested records (a user, a peer, ICE servers) are passed as the dicts the services keep: msgspec
encodes them as they are, and the tests' strict decoding (`outgoing_validate`) checks their shape.
"""

import msgspec
from msgspec import UNSET, Struct, UnsetType

from .incoming import Candidate


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


_encode = msgspec.json.Encoder().encode


class ServerFrame(Part, tag_field="type", kw_only=True):
    """A server frame's schema; `Frame(...).to_text()` is the text sent on a socket (not `text()`:
    a field of that name, chat's, would hide the method)."""

    def to_text(self) -> str:
        return _encode(self).decode()
