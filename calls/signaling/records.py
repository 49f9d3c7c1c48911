"""What the room registry stores and answers: peer records, join and resume results, refusals."""

from dataclasses import dataclass, field
from typing import Protocol

import orjson


class SeatRefused(Exception):
    """The join was refused; `gone` are the expired peers the attempt reaped meanwhile."""

    def __init__(self, gone: "list[Gone]") -> None:
        super().__init__(gone)
        self.gone = gone


class RoomFull(SeatRefused):
    """The room is at capacity."""


class TooManySockets(SeatRefused):
    """The user already has the most room sockets allowed."""


class Banned(SeatRefused):
    """A moderator removed the user from the room a short while ago."""


class Restoring(SeatRefused):
    """Redis came back empty a moment ago: the processes are putting their peers back."""


@dataclass(slots=True)
class PeerRecord:
    peer_id: str
    node: str
    user: dict
    media: dict = field(default_factory=lambda: {"audio": True, "video": True, "screen": False})
    device: str = ""  # the browser's device id (calls.signaling.takeover): never sent to the others

    @property
    def user_id(self) -> int:
        return self.user["id"]

    def public(self) -> dict:
        """docs/protocol.md `PEER`."""
        return {"peer_id": self.peer_id, "user": self.user, "media": self.media}

    def moved(self, node: str) -> "PeerRecord":
        return PeerRecord(peer_id=self.peer_id, node=node, user=self.user, media=self.media, device=self.device)

    def dumps(self) -> bytes:
        data = {"p": self.peer_id, "n": self.node, "u": self.user, "m": self.media}
        if self.device:
            data["d"] = self.device
        return orjson.dumps(data)

    @classmethod
    def loads(cls, raw: bytes | str) -> "PeerRecord":
        data = orjson.loads(raw)
        return cls(peer_id=data["p"], node=data["n"], user=data["u"], media=data["m"], device=data.get("d", ""))


@dataclass(slots=True)
class Gone:
    """A peer removed because its expiry passed: `reason` is "disconnected" for a peer whose
    resume grace ran out, "timeout" for one whose process stopped refreshing it."""

    peer: PeerRecord
    reason: str


@dataclass(slots=True)
class JoinResult:
    peers: list[PeerRecord]  # the others already in the room
    reaped: list[Gone]  # expired peers removed while joining: announce them as gone


@dataclass(slots=True)
class Resumed:
    peer: PeerRecord  # the record, now on the resuming process's node
    previous_node: str  # where it was suspended
    buffered: list[str]  # frames that arrived for it while it was away, in order
    others: list[PeerRecord]  # the other peers of the room now


@dataclass(slots=True)
class BanRecord:
    """A moderator's removal still in force: who removed the user (a public user dict, or None)
    and how many whole seconds are left, rounded up."""

    by: dict | None
    seconds_left: int


# Results of Registry.buffer() and Registry.stash() besides a node id.
BUFFERED = "buffered"
GONE = "gone"


class Registry(Protocol):
    """Who is in which room, shared by every process (RedisRegistry) or in memory (MemoryRegistry)."""

    async def join(
        self, *, slug: str, peer: PeerRecord, capacity: int, max_per_user: int, ttl: float, refuse_banned: bool
    ) -> JoinResult: ...
    async def leave(self, *, slug: str, peer: PeerRecord) -> tuple[bool, list[PeerRecord]]: ...
    async def peer_get(self, *, slug: str, peer_id: str) -> PeerRecord | None: ...
    async def peers_list(self, *, slug: str) -> list[PeerRecord]: ...
    async def media_set(self, *, slug: str, peer: PeerRecord) -> None: ...
    async def refresh(self, *, peers: list[tuple[str, PeerRecord]], ttl: float, restore: bool = False) -> bool: ...
    async def reap(self, *, slug: str) -> tuple[list[Gone], list[PeerRecord]]: ...
    async def rooms_list(self) -> list[str]: ...
    async def ban(self, *, slug: str, user_id: int, seconds: float, by: dict | None = None) -> None: ...
    async def ban_get(self, *, slug: str, user_id: int) -> BanRecord | None: ...
    async def occupancy(self, *, slugs: list[str]) -> dict[str, list[PeerRecord]]: ...
    async def user_sockets_live(self, *, user_id: int) -> int: ...
    async def suspend(self, *, slug: str, peer: PeerRecord, grace: float) -> bool: ...
    async def buffer(self, *, slug: str, peer_id: str, node: str, text: str, limit: int) -> str: ...
    async def stash(self, *, slug: str, peer_id: str, node: str, texts: list[str], limit: int) -> str: ...
    async def resume(self, *, slug: str, peer_id: str, user_id: int, node: str, ttl: float) -> Resumed | None: ...
    async def adopt(
        self, *, slug: str, peer_id: str, user_id: int, old_node: str, node: str, ttl: float
    ) -> Resumed | None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...
