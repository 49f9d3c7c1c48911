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

from calls.services.batches import slices
from calls.services.redis_batch import RedisBatcher


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
    buffered: list[str]  # frames that arrived for it while suspended, in order
    others: list[PeerRecord]  # the other peers of the room now


# Results of RoomState.buffer().
BUFFERED = "buffered"
GONE = "gone"


class RoomState(Protocol):
    async def join(
        self, *, slug: str, peer: PeerRecord, capacity: int, max_per_user: int, ttl: float, refuse_banned: bool
    ) -> JoinResult: ...
    async def leave(self, *, slug: str, peer: PeerRecord) -> tuple[bool, list[PeerRecord]]: ...
    async def peer_get(self, *, slug: str, peer_id: str) -> PeerRecord | None: ...
    async def peers_list(self, *, slug: str) -> list[PeerRecord]: ...
    async def media_set(self, *, slug: str, peer: PeerRecord) -> None: ...
    async def refresh(self, *, peers: list[tuple[str, PeerRecord]], ttl: float) -> None: ...
    async def reap(self, *, slug: str) -> tuple[list[Gone], list[PeerRecord]]: ...
    async def rooms_list(self) -> list[str]: ...
    async def ban(self, *, slug: str, user_id: int, seconds: float) -> None: ...
    async def user_sockets_live(self, *, user_id: int) -> int: ...
    async def suspend(self, *, slug: str, peer: PeerRecord, grace: float) -> bool: ...
    async def buffer(self, *, slug: str, peer_id: str, node: str, text: str, limit: int) -> str: ...
    async def resume(self, *, slug: str, peer_id: str, user_id: int, node: str, ttl: float) -> Resumed | None: ...
    async def adopt(
        self, *, slug: str, peer_id: str, user_id: int, old_node: str, node: str, ttl: float
    ) -> Resumed | None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


# --- Redis ---------------------------------------------------------------------------------

# Removes expired peers with their suspension mark and buffer; returns {record, was_suspended, ...}.
_REAP_EXPIRED = """
local function reap_expired(peers, exp, susp, now, bufbase)
  local reaped = {}
  for _, pid in ipairs(redis.call('ZRANGEBYSCORE', exp, '-inf', now)) do
    local rec = redis.call('HGET', peers, pid)
    if rec then
      table.insert(reaped, rec)
      table.insert(reaped, redis.call('HDEL', susp, pid))
    end
    redis.call('HDEL', peers, pid)
    redis.call('ZREM', exp, pid)
    redis.call('DEL', bufbase .. pid)
  end
  return reaped
end
"""

# KEYS: peers hash, expiry zset, user sockets zset, rooms set, suspended hash, ban key
# ARGV: now, buffer key base, peer_id, record, expiry, capacity, max_per_user, slug, refuse banned (1/0)
_JOIN = (
    _REAP_EXPIRED
    + """
local reaped = reap_expired(KEYS[1], KEYS[2], KEYS[5], ARGV[1], ARGV[2])
if ARGV[9] == '1' and redis.call('EXISTS', KEYS[6]) == 1 then return {-3, reaped, {}} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[7]) then return {-2, reaped, {}} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then return {-1, reaped, {}} end
local others = redis.call('HVALS', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[8])
return {1, reaped, others}
"""
)

# KEYS: peers hash, expiry zset, user sockets zset, rooms set, suspended hash, buffer list; ARGV: peer_id, slug, node
# Only the peer's own node removes it (a peer adopted by another node is no longer this one's).
_LEAVE = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and cjson.decode(rec)['n'] ~= ARGV[3] then return {0, redis.call('HVALS', KEYS[1])} end
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('DEL', KEYS[6])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[5])
end
return {removed, redis.call('HVALS', KEYS[1])}
"""

# KEYS: peers hash, expiry zset, rooms set, suspended hash; ARGV: now, buffer key base, slug
_REAP = (
    _REAP_EXPIRED
    + """
local reaped = reap_expired(KEYS[1], KEYS[2], KEYS[4], ARGV[1], ARGV[2])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[3])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
end
return {reaped, redis.call('HVALS', KEYS[1])}
"""
)

# KEYS: peers hash; ARGV: peer_id, record. Only updates a peer still present.
_MEDIA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""

# KEYS: peers hash, expiry zset, user sockets zset, suspended hash; ARGV: peer_id, node, until
# Marks a present peer of `node` suspended until `until` (it keeps its seat meanwhile).
_SUSPEND = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec or cjson.decode(rec)['n'] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[4], ARGV[1], 1)
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], 'XX', ARGV[3], ARGV[1])
return 1
"""

# KEYS: peers hash, suspended hash, buffer list; ARGV: peer_id, node, text, limit, ttl ms
# Buffers a frame for a peer suspended on `node`; else says where the peer is now (or that it is gone).
_BUFFER = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 'gone' end
local node = cjson.decode(rec)['n']
if node ~= ARGV[2] or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return node end
if redis.call('LLEN', KEYS[3]) < tonumber(ARGV[4]) then
  redis.call('RPUSH', KEYS[3], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
return 'buffered'
"""

# KEYS: peers hash, expiry zset, user sockets zset, suspended hash, buffer list
# ARGV: peer_id, user_id, new record, now, until
# Takes over a suspended, unexpired peer of `user_id`: returns {old record, buffered frames, all records}.
_RESUME = """
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 0 then return nil end
local rec = redis.call('HGET', KEYS[1], ARGV[1])
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not rec or not expiry or tonumber(expiry) <= tonumber(ARGV[4]) then return nil end
if tostring(cjson.decode(rec)['u']['id']) ~= ARGV[2] then return nil end
local buffered = redis.call('LRANGE', KEYS[5], 0, -1)
redis.call('DEL', KEYS[5])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
return {rec, buffered, redis.call('HVALS', KEYS[1])}
"""


# KEYS: peers hash, expiry zset, user sockets zset, suspended hash; ARGV: peer_id, user_id, old node, new record,
# now, until. Moves an unexpired, unsuspended peer of `user_id` off `old node` (which did not answer).
_ADOPT = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec or redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return nil end
local data = cjson.decode(rec)
if data['n'] ~= ARGV[3] or tostring(data['u']['id']) ~= ARGV[2] then return nil end
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not expiry or tonumber(expiry) <= tonumber(ARGV[5]) then return nil end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
return {rec, {}, redis.call('HVALS', KEYS[1])}
"""


def _gone_list(flat: list) -> list[Gone]:
    return [
        Gone(peer=PeerRecord.loads(flat[i]), reason="disconnected" if flat[i + 1] else "timeout")
        for i in range(0, len(flat), 2)
    ]


# Connections one client may hold. A join storm's commands wait for a free one instead of
# each opening its own: redis-py 8 spends ~0.3 ms of CPU opening one (it reads its package
# metadata every time), which was a quarter of a join, and its default pool fails outright
# past 100 (docs/performance.md).
REDIS_POOL_SIZE = 64
REDIS_POOL_WAIT = 10
# Peers refreshed per pipeline by the sweeper.
REFRESH_SLICE = 100


def redis_client_create(url: str) -> aioredis.Redis:
    """A client with deliberate options: no read timeout (pub/sub blocks), keepalive, and a
    bounded pool that makes a burst of commands wait for a connection rather than fail."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT,
        socket_timeout=None,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool, decode_responses=False)


class RedisRoomState:
    def __init__(self, *, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self._join = client.register_script(_JOIN)
        self._leave = client.register_script(_LEAVE)
        self._reap = client.register_script(_REAP)
        self._media = client.register_script(_MEDIA)
        self._suspend = client.register_script(_SUSPEND)
        self._buffer = client.register_script(_BUFFER)
        self._resume = client.register_script(_RESUME)
        self._adopt = client.register_script(_ADOPT)
        self.batcher = RedisBatcher(client)

    def _keys(self, slug: str) -> tuple[str, str]:
        base = f"{self.prefix}:room:{slug}"
        return f"{base}:peers", f"{base}:exp"

    def _suspended_key(self, slug: str) -> str:
        return f"{self.prefix}:room:{slug}:susp"

    def _buffer_base(self, slug: str) -> str:
        return f"{self.prefix}:room:{slug}:buf:"

    def _user_key(self, user_id: int) -> str:
        return f"{self.prefix}:user:{user_id}:socks"

    @property
    def _rooms_key(self) -> str:
        return f"{self.prefix}:rooms"

    def _membership_keys(self, slug: str, user_id: int) -> list[str]:
        """KEYS[1..5] of the join and leave scripts: the room's peers and their expiries, the
        user's sockets, the list of rooms, the room's suspended peers."""
        peers_key, exp_key = self._keys(slug)
        return [peers_key, exp_key, self._user_key(user_id), self._rooms_key, self._suspended_key(slug)]

    async def join(self, *, slug, peer, capacity, max_per_user, ttl, refuse_banned) -> JoinResult:
        now = time.time()
        status, reaped, others = await self.batcher.evalsha(
            self._join,
            keys=[*self._membership_keys(slug, peer.user_id), self._ban_key(slug, peer.user_id)],
            args=[
                now,
                self._buffer_base(slug),
                peer.peer_id,
                peer.dumps(),
                now + ttl,
                capacity,
                max_per_user,
                slug,
                "1" if refuse_banned else "0",
            ],
        )
        gone = _gone_list(reaped)
        if status == -1:
            raise RoomFull(gone)
        if status == -2:
            raise TooManySockets(gone)
        if status == -3:
            raise Banned(gone)
        return JoinResult(peers=[PeerRecord.loads(raw) for raw in others], reaped=gone)

    async def leave(self, *, slug, peer) -> tuple[bool, list[PeerRecord]]:
        """Remove the peer; True only for the one caller that removed it, and who remains."""
        removed, remaining = await self._leave(
            keys=[*self._membership_keys(slug, peer.user_id), self._buffer_base(slug) + peer.peer_id],
            args=[peer.peer_id, slug, peer.node],
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
        """Extend this process's live peers; put them back if Redis lost its data.

        A per-process marker expires with the peers: if it is missing, Redis restarted empty
        (or this process stalled past the TTL), so the rooms are rebuilt from the live sockets
        and calls in progress carry on without anyone being told to leave or rejoin.
        """
        if not peers:
            return
        until = time.time() + ttl
        marker = f"{self.prefix}:alive:{peers[0][1].node}"
        restore = await self.redis.set(marker, 1, nx=True, px=int(ttl * 1000))
        if not restore:
            await self.redis.pexpire(marker, int(ttl * 1000))
        # In slices: packing and parsing one pipeline of every peer's commands held the event
        # loop for ~20 ms with 800 sockets, a delay every frame relayed meanwhile waited out.
        for chunk in slices(peers, REFRESH_SLICE):
            async with self.redis.pipeline(transaction=False) as pipe:
                for slug, peer in chunk:
                    if restore:
                        pipe.hsetnx(self._keys(slug)[0], peer.peer_id, peer.dumps())
                        pipe.sadd(self._rooms_key, slug)
                    pipe.zadd(self._keys(slug)[1], {peer.peer_id: until}, xx=not restore)
                    pipe.zadd(self._user_key(peer.user_id), {peer.peer_id: until}, xx=not restore)
                await pipe.execute()

    async def reap(self, *, slug) -> tuple[list[Gone], list[PeerRecord]]:
        """Remove expired peers; returns (reaped, remaining)."""
        peers_key, exp_key = self._keys(slug)
        reaped, remaining = await self.batcher.evalsha(
            self._reap,
            keys=[peers_key, exp_key, self._rooms_key, self._suspended_key(slug)],
            args=[time.time(), self._buffer_base(slug), slug],
        )
        return _gone_list(reaped), [PeerRecord.loads(raw) for raw in remaining]

    async def rooms_list(self) -> list[str]:
        return [slug.decode() for slug in await self.redis.smembers(self._rooms_key)]

    def _ban_key(self, slug: str, user_id: int) -> str:
        return f"{self.prefix}:ban:{slug}:{user_id}"

    async def ban(self, *, slug, user_id, seconds) -> None:
        await self.redis.set(self._ban_key(slug, user_id), 1, px=int(seconds * 1000))

    async def user_sockets_live(self, *, user_id) -> int:
        """How many unexpired room sockets the user has, in any room (a direct call's busy check)."""
        return await self.redis.zcount(self._user_key(user_id), time.time(), "+inf")

    async def suspend(self, *, slug, peer, grace) -> bool:
        """Keep a disconnected peer's seat for `grace` seconds so that it can resume."""
        peers_key, exp_key = self._keys(slug)
        done = await self._suspend(
            keys=[peers_key, exp_key, self._user_key(peer.user_id), self._suspended_key(slug)],
            args=[peer.peer_id, peer.node, time.time() + grace],
        )
        return bool(done)

    async def buffer(self, *, slug, peer_id, node, text, limit) -> str:
        """BUFFERED, GONE, or the node the peer resumed on (forward the frame there)."""
        result = await self._buffer(
            keys=[self._keys(slug)[0], self._suspended_key(slug), self._buffer_base(slug) + peer_id],
            args=[peer_id, node, text, limit, int(_BUFFER_TTL * 1000)],
        )
        return result.decode()

    async def _moved(self, peers_key: str, peer_id: str, node: str) -> PeerRecord | None:
        """The peer's record as it will be on `node`, or None if it is gone."""
        raw = await self.redis.hget(peers_key, peer_id)
        if raw is None:
            return None
        old = PeerRecord.loads(raw)
        return PeerRecord(peer_id=peer_id, node=node, user=old.user, media=old.media)

    async def resume(self, *, slug, peer_id, user_id, node, ttl) -> Resumed | None:
        peers_key, exp_key = self._keys(slug)
        moved = await self._moved(peers_key, peer_id, node)
        if moved is None:
            return None
        now = time.time()
        result = await self._resume(
            keys=[
                peers_key,
                exp_key,
                self._user_key(user_id),
                self._suspended_key(slug),
                self._buffer_base(slug) + peer_id,
            ],
            args=[peer_id, str(user_id), moved.dumps(), now, now + ttl],
        )
        return _resumed(moved, result)

    async def adopt(self, *, slug, peer_id, user_id, old_node, node, ttl) -> Resumed | None:
        """Take over a peer whose process stopped answering (it crashed): same peer, new node."""
        peers_key, exp_key = self._keys(slug)
        moved = await self._moved(peers_key, peer_id, node)
        if moved is None:
            return None
        now = time.time()
        result = await self._adopt(
            keys=[peers_key, exp_key, self._user_key(user_id), self._suspended_key(slug)],
            args=[peer_id, str(user_id), old_node, moved.dumps(), now, now + ttl],
        )
        return _resumed(moved, result)

    async def start(self) -> None:
        """Load the scripts now, not with a join storm's first EVALSHAs all failing NOSCRIPT."""
        scripts = (self._join, self._leave, self._reap, self._media, self._suspend, self._buffer, self._resume)
        for script in (*scripts, self._adopt):
            await self.redis.script_load(script.script)

    async def close(self) -> None:
        await self.redis.aclose()


def _resumed(moved: PeerRecord, result: list | None) -> Resumed | None:
    """A Resumed from a {previous record, buffered frames, all records} script reply."""
    if result is None:
        return None
    previous = PeerRecord.loads(result[0])
    moved.media = previous.media
    return Resumed(
        peer=moved,
        previous_node=previous.node,
        buffered=[text.decode() for text in result[1]],
        others=[record for record in map(PeerRecord.loads, result[2]) if record.peer_id != moved.peer_id],
    )


# A buffer outlives any sane grace period; the reaper deletes it with its peer anyway.
_BUFFER_TTL = 3600.0


# --- Process memory ---------------------------------------------------------------------------


class MemoryRoomState:
    """The same semantics in one process's memory (no Redis needed). Not shared across processes."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, PeerRecord]] = {}
        self.expiry: dict[str, float] = {}
        self.user_sockets: dict[int, set[str]] = {}
        self.bans: dict[tuple[str, int], float] = {}
        self.suspended: dict[str, list[str]] = {}  # peer_id -> buffered frames

    def _reap_now(self, slug: str) -> list[Gone]:
        room = self.rooms.get(slug, {})
        now = time.time()
        expired = [peer for pid, peer in room.items() if self.expiry.get(pid, 0) <= now]
        reaped = [
            Gone(peer=peer, reason="disconnected" if peer.peer_id in self.suspended else "timeout") for peer in expired
        ]
        for peer in expired:
            self._remove(slug, peer)
        return reaped

    def _remove(self, slug: str, peer: PeerRecord) -> bool:
        room = self.rooms.get(slug)
        if not room or peer.peer_id not in room:
            return False
        del room[peer.peer_id]
        self.expiry.pop(peer.peer_id, None)
        self.suspended.pop(peer.peer_id, None)
        self.user_sockets.get(peer.user_id, set()).discard(peer.peer_id)
        if not room:
            del self.rooms[slug]
        return True

    async def join(self, *, slug, peer, capacity, max_per_user, ttl, refuse_banned) -> JoinResult:
        reaped = self._reap_now(slug)
        now = time.time()
        if refuse_banned and self.bans.get((slug, peer.user_id), 0) > now:
            raise Banned(reaped)
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
        current = self.rooms.get(slug, {}).get(peer.peer_id)
        removed = current is not None and current.node == peer.node and self._remove(slug, peer)
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

    async def reap(self, *, slug) -> tuple[list[Gone], list[PeerRecord]]:
        reaped = self._reap_now(slug)
        return reaped, list(self.rooms.get(slug, {}).values())

    async def rooms_list(self) -> list[str]:
        return list(self.rooms)

    async def ban(self, *, slug, user_id, seconds) -> None:
        self.bans[(slug, user_id)] = time.time() + seconds

    async def user_sockets_live(self, *, user_id) -> int:
        now = time.time()
        return sum(1 for pid in self.user_sockets.get(user_id, ()) if self.expiry.get(pid, 0) > now)

    async def suspend(self, *, slug, peer, grace) -> bool:
        current = self.rooms.get(slug, {}).get(peer.peer_id)
        if current is None or current.node != peer.node:
            return False
        self.suspended[peer.peer_id] = []
        self.expiry[peer.peer_id] = time.time() + grace
        return True

    async def buffer(self, *, slug, peer_id, node, text, limit) -> str:
        current = self.rooms.get(slug, {}).get(peer_id)
        if current is None:
            return GONE
        frames = self.suspended.get(peer_id)
        if current.node != node or frames is None:
            return current.node
        if len(frames) < limit:
            frames.append(text)
        return BUFFERED

    async def resume(self, *, slug, peer_id, user_id, node, ttl) -> Resumed | None:
        current = self.rooms.get(slug, {}).get(peer_id)
        now = time.time()
        if current is None or peer_id not in self.suspended or current.user_id != user_id:
            return None
        if self.expiry.get(peer_id, 0) <= now:
            return None
        buffered = self.suspended.pop(peer_id)
        moved = PeerRecord(peer_id=peer_id, node=node, user=current.user, media=current.media)
        self.rooms[slug][peer_id] = moved
        self.expiry[peer_id] = now + ttl
        others = [peer for pid, peer in self.rooms[slug].items() if pid != peer_id]
        return Resumed(peer=moved, previous_node=current.node, buffered=buffered, others=others)

    async def adopt(self, *, slug, peer_id, user_id, old_node, node, ttl) -> Resumed | None:
        current = self.rooms.get(slug, {}).get(peer_id)
        now = time.time()
        if current is None or peer_id in self.suspended or current.node != old_node or current.user_id != user_id:
            return None
        if self.expiry.get(peer_id, 0) <= now:
            return None
        moved = PeerRecord(peer_id=peer_id, node=node, user=current.user, media=current.media)
        self.rooms[slug][peer_id] = moved
        self.expiry[peer_id] = now + ttl
        others = [peer for pid, peer in self.rooms[slug].items() if pid != peer_id]
        return Resumed(peer=moved, previous_node=old_node, buffered=[], others=others)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
