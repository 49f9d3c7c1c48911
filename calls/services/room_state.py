"""Who is in which room, shared by every server process.

Room membership is *not* channel-layer group membership (that expires silently after
`group_expiry` and keeps crashed processes' members). Each peer has a record and an
expiry that its process refreshes every heartbeat; a process that dies stops refreshing,
so its peers expire within PEER_TTL and the next sweep or join reaps them.

Two implementations behind one interface: RedisRoomState (several processes) and
MemoryRoomState (the embedded single-process default). Both pass the same tests.
"""

import time
from dataclasses import dataclass, field
from typing import Protocol

import orjson
import redis.asyncio as aioredis


class RoomFull(Exception):
    """The room is at capacity."""


class TooManySockets(Exception):
    """The user already has the most room sockets allowed."""


@dataclass(slots=True)
class PeerRecord:
    peer_id: str
    node: str
    user: dict
    media: dict = field(default_factory=lambda: {"audio": True, "video": True, "screen": False})

    @property
    def user_id(self) -> int:
        return self.user["id"]

    def public(self) -> dict:
        """PROTOCOL.md `PEER`."""
        return {"peer_id": self.peer_id, "user": self.user, "media": self.media}

    def dumps(self) -> bytes:
        return orjson.dumps({"p": self.peer_id, "n": self.node, "u": self.user, "m": self.media})

    @classmethod
    def loads(cls, raw: bytes | str) -> "PeerRecord":
        data = orjson.loads(raw)
        return cls(peer_id=data["p"], node=data["n"], user=data["u"], media=data["m"])


@dataclass(slots=True)
class JoinResult:
    peers: list[PeerRecord]  # the others already in the room
    reaped: list[PeerRecord]  # expired peers removed while joining: announce them as gone


class RoomState(Protocol):
    async def join(
        self, *, slug: str, peer: PeerRecord, capacity: int, max_per_user: int, ttl: float
    ) -> JoinResult: ...
    async def leave(self, *, slug: str, peer: PeerRecord) -> tuple[bool, list[PeerRecord]]: ...
    async def peer_get(self, *, slug: str, peer_id: str) -> PeerRecord | None: ...
    async def peers_list(self, *, slug: str) -> list[PeerRecord]: ...
    async def media_set(self, *, slug: str, peer: PeerRecord) -> None: ...
    async def refresh(self, *, peers: list[tuple[str, PeerRecord]], ttl: float) -> None: ...
    async def reap(self, *, slug: str) -> tuple[list[PeerRecord], list[PeerRecord]]: ...
    async def rooms_list(self) -> list[str]: ...
    async def ban(self, *, slug: str, user_id: int, seconds: float) -> None: ...
    async def is_banned(self, *, slug: str, user_id: int) -> bool: ...
    async def user_sockets_live(self, *, user_id: int) -> int: ...
    async def close(self) -> None: ...


# --- Redis ---------------------------------------------------------------------------------

# KEYS: peers hash, expiry zset, user sockets zset, rooms set
# ARGV: peer_id, record, now, expiry, capacity, max_per_user, slug
_JOIN = """
local reaped = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
for _, pid in ipairs(expired) do
  local rec = redis.call('HGET', KEYS[1], pid)
  if rec then table.insert(reaped, rec) end
  redis.call('HDEL', KEYS[1], pid)
  redis.call('ZREM', KEYS[2], pid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then return {-2, reaped, {}} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return {-1, reaped, {}} end
local others = redis.call('HVALS', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[7])
return {1, reaped, others}
"""

# KEYS: peers hash, expiry zset, user sockets zset, rooms set; ARGV: peer_id, slug
_LEAVE = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
  redis.call('DEL', KEYS[1], KEYS[2])
end
return {removed, redis.call('HVALS', KEYS[1])}
"""

# KEYS: peers hash, expiry zset, rooms set; ARGV: now, slug
_REAP = """
local reaped = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, pid in ipairs(expired) do
  local rec = redis.call('HGET', KEYS[1], pid)
  if rec then table.insert(reaped, rec) end
  redis.call('HDEL', KEYS[1], pid)
  redis.call('ZREM', KEYS[2], pid)
end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[2])
  redis.call('DEL', KEYS[1], KEYS[2])
end
return {reaped, redis.call('HVALS', KEYS[1])}
"""

# KEYS: peers hash; ARGV: peer_id, record. Only updates a peer still present.
_MEDIA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""


def redis_client_create(url: str) -> aioredis.Redis:
    """A client with deliberate options: no read timeout (pub/sub blocks), keepalive, a large pool."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=None,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
        max_connections=1000,
        decode_responses=False,
    )


class RedisRoomState:
    def __init__(self, *, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self._join = client.register_script(_JOIN)
        self._leave = client.register_script(_LEAVE)
        self._reap = client.register_script(_REAP)
        self._media = client.register_script(_MEDIA)

    def _keys(self, slug: str) -> tuple[str, str]:
        base = f"{self.prefix}:room:{slug}"
        return f"{base}:peers", f"{base}:exp"

    def _user_key(self, user_id: int) -> str:
        return f"{self.prefix}:user:{user_id}:socks"

    @property
    def _rooms_key(self) -> str:
        return f"{self.prefix}:rooms"

    async def join(self, *, slug, peer, capacity, max_per_user, ttl) -> JoinResult:
        peers_key, exp_key = self._keys(slug)
        now = time.time()
        status, reaped, others = await self._join(
            keys=[peers_key, exp_key, self._user_key(peer.user_id), self._rooms_key],
            args=[peer.peer_id, peer.dumps(), now, now + ttl, capacity, max_per_user, slug],
        )
        reaped_peers = [PeerRecord.loads(raw) for raw in reaped]
        if status == -1:
            raise RoomFull(reaped_peers)
        if status == -2:
            raise TooManySockets(reaped_peers)
        return JoinResult(peers=[PeerRecord.loads(raw) for raw in others], reaped=reaped_peers)

    async def leave(self, *, slug, peer) -> tuple[bool, list[PeerRecord]]:
        """Remove the peer; True only for the one caller that removed it, and who remains."""
        peers_key, exp_key = self._keys(slug)
        removed, remaining = await self._leave(
            keys=[peers_key, exp_key, self._user_key(peer.user_id), self._rooms_key], args=[peer.peer_id, slug]
        )
        return bool(removed), [PeerRecord.loads(raw) for raw in remaining]

    async def peer_get(self, *, slug, peer_id) -> PeerRecord | None:
        raw = await self.redis.hget(self._keys(slug)[0], peer_id)
        return PeerRecord.loads(raw) if raw else None

    async def peers_list(self, *, slug) -> list[PeerRecord]:
        return [PeerRecord.loads(raw) for raw in await self.redis.hvals(self._keys(slug)[0])]

    async def media_set(self, *, slug, peer) -> None:
        await self._media(keys=[self._keys(slug)[0]], args=[peer.peer_id, peer.dumps()])

    async def refresh(self, *, peers, ttl) -> None:
        if not peers:
            return
        until = time.time() + ttl
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug, peer in peers:
                pipe.zadd(self._keys(slug)[1], {peer.peer_id: until}, xx=True)
                pipe.zadd(self._user_key(peer.user_id), {peer.peer_id: until}, xx=True)
            await pipe.execute()

    async def reap(self, *, slug) -> tuple[list[PeerRecord], list[PeerRecord]]:
        """Remove expired peers; returns (reaped, remaining)."""
        peers_key, exp_key = self._keys(slug)
        reaped, remaining = await self._reap(keys=[peers_key, exp_key, self._rooms_key], args=[time.time(), slug])
        return [PeerRecord.loads(raw) for raw in reaped], [PeerRecord.loads(raw) for raw in remaining]

    async def rooms_list(self) -> list[str]:
        return [slug.decode() for slug in await self.redis.smembers(self._rooms_key)]

    async def ban(self, *, slug, user_id, seconds) -> None:
        await self.redis.set(f"{self.prefix}:ban:{slug}:{user_id}", 1, px=int(seconds * 1000))

    async def is_banned(self, *, slug, user_id) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}:ban:{slug}:{user_id}"))

    async def user_sockets_live(self, *, user_id) -> int:
        """How many unexpired room sockets the user has, in any room (a direct call's busy check)."""
        return await self.redis.zcount(self._user_key(user_id), time.time(), "+inf")

    async def close(self) -> None:
        await self.redis.aclose()


# --- Process memory ---------------------------------------------------------------------------


class MemoryRoomState:
    """The same semantics in one process's memory (no Redis needed). Not shared across processes."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, PeerRecord]] = {}
        self.expiry: dict[str, float] = {}
        self.user_sockets: dict[int, set[str]] = {}
        self.bans: dict[tuple[str, int], float] = {}

    def _reap_now(self, slug: str) -> list[PeerRecord]:
        room = self.rooms.get(slug, {})
        now = time.time()
        reaped = [peer for pid, peer in room.items() if self.expiry.get(pid, 0) <= now]
        for peer in reaped:
            self._remove(slug, peer)
        return reaped

    def _remove(self, slug: str, peer: PeerRecord) -> bool:
        room = self.rooms.get(slug)
        if not room or peer.peer_id not in room:
            return False
        del room[peer.peer_id]
        self.expiry.pop(peer.peer_id, None)
        self.user_sockets.get(peer.user_id, set()).discard(peer.peer_id)
        if not room:
            del self.rooms[slug]
        return True

    async def join(self, *, slug, peer, capacity, max_per_user, ttl) -> JoinResult:
        reaped = self._reap_now(slug)
        now = time.time()
        sockets = {pid for pid in self.user_sockets.get(peer.user_id, set()) if self.expiry.get(pid, 0) > now}
        self.user_sockets[peer.user_id] = sockets
        if len(sockets) >= max_per_user:
            raise TooManySockets(reaped)
        room = self.rooms.setdefault(slug, {})
        if len(room) >= capacity:
            if not room:
                del self.rooms[slug]
            raise RoomFull(reaped)
        others = list(room.values())
        room[peer.peer_id] = peer
        self.expiry[peer.peer_id] = now + ttl
        sockets.add(peer.peer_id)
        return JoinResult(peers=others, reaped=reaped)

    async def leave(self, *, slug, peer) -> tuple[bool, list[PeerRecord]]:
        removed = self._remove(slug, peer)
        return removed, list(self.rooms.get(slug, {}).values())

    async def peer_get(self, *, slug, peer_id) -> PeerRecord | None:
        return self.rooms.get(slug, {}).get(peer_id)

    async def peers_list(self, *, slug) -> list[PeerRecord]:
        return list(self.rooms.get(slug, {}).values())

    async def media_set(self, *, slug, peer) -> None:
        room = self.rooms.get(slug, {})
        if peer.peer_id in room:
            room[peer.peer_id] = peer

    async def refresh(self, *, peers, ttl) -> None:
        until = time.time() + ttl
        for _slug, peer in peers:
            if peer.peer_id in self.expiry:
                self.expiry[peer.peer_id] = until

    async def reap(self, *, slug) -> tuple[list[PeerRecord], list[PeerRecord]]:
        reaped = self._reap_now(slug)
        return reaped, list(self.rooms.get(slug, {}).values())

    async def rooms_list(self) -> list[str]:
        return list(self.rooms)

    async def ban(self, *, slug, user_id, seconds) -> None:
        self.bans[(slug, user_id)] = time.time() + seconds

    async def is_banned(self, *, slug, user_id) -> bool:
        return self.bans.get((slug, user_id), 0) > time.time()

    async def user_sockets_live(self, *, user_id) -> int:
        now = time.time()
        return sum(1 for pid in self.user_sockets.get(user_id, ()) if self.expiry.get(pid, 0) > now)

    async def close(self) -> None:
        return None
