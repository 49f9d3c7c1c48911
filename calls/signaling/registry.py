"""The room registry in Redis: who is in which room, shared by every server process.

Room membership is *not* channel-layer group membership (that expires silently after
`group_expiry` and keeps crashed processes' members). Each peer has a record and an expiry
that its process refreshes every heartbeat; a process that dies stops refreshing, so its peers
expire within PEER_TTL and the next sweep or join reaps them. This class is the one owner of
the Lua scripts (calls.signaling.scripts); MemoryRegistry is its twin for one process.
"""

import math
import time

import orjson
import redis.asyncio as aioredis

from calls.infra.batches import slices
from calls.infra.redis_batch import RedisBatcher

from . import scripts
from .records import Banned, BanRecord, Gone, JoinResult, PeerRecord, Restoring, Resumed, RoomFull, TooManySockets

# Peers refreshed per pipeline by the sweeper.
REFRESH_SLICE = 100
# A buffer outlives any sane grace period; the reaper deletes it with its peer anyway.
BUFFER_TTL = 3600.0
# After Redis came back empty, joins wait this long for every process to put its peers back
# (each does on reconnecting its bus, within its 0.5 s reconnect backoff).
RESTORE_WINDOW = 1.5

_REFUSALS = {-1: RoomFull, -2: TooManySockets, -3: Banned, -4: Restoring}


def _gone_list(flat: list) -> list[Gone]:
    return [
        Gone(peer=PeerRecord.loads(flat[i]), reason="disconnected" if flat[i + 1] else "timeout")
        for i in range(0, len(flat), 2)
    ]


class RedisRegistry:
    def __init__(self, *, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self.scripts = {
            name: client.register_script(getattr(scripts, name))
            for name in ("JOIN", "GATE", "LEAVE", "REAP", "MEDIA", "SUSPEND", "BUFFER", "RESUME", "ADOPT")
        }
        self.batcher = RedisBatcher(client)

    def _key(self, *parts: object) -> str:
        """`<prefix>:<part>:<part>...` (the layout is in calls.signaling.scripts)."""
        return ":".join([self.prefix, *map(str, parts)])

    def _room(self, slug: str) -> str:
        return self._key("room", slug)

    def _peers_key(self, slug: str) -> str:
        return self._key("room", slug, "peers")

    def _user_key(self, user_id: int) -> str:
        return self._key("user", user_id, "socks")

    def _gate_keys(self) -> list[str]:
        return [self._key("epoch"), self._key("restoring")]

    def _keys(self, slug: str, user_id: int, *more: str) -> list[str]:
        """The peers hash, expiry zset, user's sockets, suspended hash of a room, then `more`."""
        room = self._room(slug)
        return [f"{room}:peers", f"{room}:exp", self._user_key(user_id), f"{room}:susp", *more]

    def _buffer_key(self, slug: str, peer_id: str) -> str:
        return f"{self._room(slug)}:buf:{peer_id}"

    async def join(self, *, slug, peer, capacity, max_per_user, ttl, refuse_banned) -> JoinResult:
        now = time.time()
        room = self._room(slug)
        status, reaped, others = await self.batcher.script_run(
            self.scripts["JOIN"],
            keys=[
                f"{room}:peers",
                f"{room}:exp",
                self._user_key(peer.user_id),
                f"{self.prefix}:rooms",
                f"{room}:susp",
                f"{self.prefix}:ban:{slug}:{peer.user_id}",
                *self._gate_keys(),
            ],
            args=[
                *(now, f"{room}:buf:", peer.peer_id, peer.dumps(), now + ttl, capacity, max_per_user, slug),
                *("1" if refuse_banned else "0", int(RESTORE_WINDOW * 1000)),
            ],
        )
        gone = _gone_list(reaped)
        if status < 0:
            raise _REFUSALS[status](gone)
        return JoinResult(peers=[PeerRecord.loads(raw) for raw in others], reaped=gone)

    async def leave(self, *, slug, peer) -> tuple[bool, list[PeerRecord]]:
        """Remove the peer; True only for the one caller that removed it, and who remains."""
        peers, exp, user, susp = self._keys(slug, peer.user_id)
        removed, remaining = await self.scripts["LEAVE"](
            keys=[peers, exp, user, f"{self.prefix}:rooms", susp, self._buffer_key(slug, peer.peer_id)],
            args=[peer.peer_id, slug, peer.node],
        )
        return bool(removed), [PeerRecord.loads(raw) for raw in remaining]

    async def peer_get(self, *, slug, peer_id) -> PeerRecord | None:
        raw = await self.redis.hget(self._peers_key(slug), peer_id)
        return PeerRecord.loads(raw) if raw else None

    async def peers_list(self, *, slug) -> list[PeerRecord]:
        return [PeerRecord.loads(raw) for raw in await self.redis.hvals(self._peers_key(slug))]

    async def media_set(self, *, slug, peer) -> None:
        await self.scripts["MEDIA"](keys=[self._peers_key(slug)], args=[peer.peer_id, peer.dumps()])

    async def refresh(self, *, peers, ttl, restore: bool = False) -> bool:
        """Extend this process's live peers; put them back if Redis lost them. True if it did.

        A per-process marker expires with the peers: if it is missing, Redis restarted empty
        (or this process stalled past the TTL), so the rooms are rebuilt from the live sockets
        and calls in progress carry on without anyone being told to leave or rejoin.
        """
        if not peers:
            return False
        until = time.time() + ttl
        marker = f"{self.prefix}:alive:{peers[0][1].node}"
        restore = bool(await self.redis.set(marker, 1, nx=True, px=int(ttl * 1000))) or restore
        if restore:
            await self.scripts["GATE"](keys=self._gate_keys(), args=[int(RESTORE_WINDOW * 1000)])
        else:
            await self.redis.pexpire(marker, int(ttl * 1000))
        # In slices: packing and parsing one pipeline of every peer's commands held the event
        # loop for ~20 ms with 800 sockets, a delay every frame relayed meanwhile waited out.
        for chunk in slices(peers, REFRESH_SLICE):
            async with self.redis.pipeline(transaction=False) as pipe:
                for slug, peer in chunk:
                    if restore:
                        pipe.hsetnx(self._peers_key(slug), peer.peer_id, peer.dumps())
                        pipe.sadd(f"{self.prefix}:rooms", slug)
                    pipe.zadd(f"{self._room(slug)}:exp", {peer.peer_id: until}, xx=not restore)
                    pipe.zadd(self._user_key(peer.user_id), {peer.peer_id: until}, xx=not restore)
                await pipe.execute()
        return restore

    async def reap(self, *, slug) -> tuple[list[Gone], list[PeerRecord]]:
        """Remove expired peers; returns (reaped, remaining)."""
        room = self._room(slug)
        reaped, remaining = await self.batcher.script_run(
            self.scripts["REAP"],
            keys=[f"{room}:peers", f"{room}:exp", f"{self.prefix}:rooms", f"{room}:susp"],
            args=[time.time(), f"{room}:buf:", slug],
        )
        return _gone_list(reaped), [PeerRecord.loads(raw) for raw in remaining]

    async def rooms_list(self) -> list[str]:
        return [slug.decode() for slug in await self.redis.smembers(f"{self.prefix}:rooms")]

    async def ban(self, *, slug, user_id, seconds, by=None) -> None:
        await self.redis.set(ban_key(self.prefix, slug, user_id), orjson.dumps({"by": by}), px=int(seconds * 1000))

    async def ban_get(self, *, slug, user_id) -> BanRecord | None:
        """The removal that keeps the user out of the room, if any (a refusal's `by` and `retry_after`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            ban_queue(pipe, self.prefix, slug, user_id)
            return ban_parse(await pipe.execute())

    async def occupancy(self, *, slugs) -> dict[str, list[PeerRecord]]:
        """The unexpired peers of each room (none listed: not there), many rooms in one round trip."""
        slugs = list(dict.fromkeys(slugs))
        if not slugs:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            occupancy_queue(pipe, self.prefix, slugs, time.time())
            return occupancy_parse(slugs, await pipe.execute())

    async def user_sockets_live(self, *, user_id) -> int:
        """How many unexpired room sockets the user has, in any room (a direct call's busy check)."""
        return await self.redis.zcount(self._user_key(user_id), time.time(), "+inf")

    async def suspend(self, *, slug, peer, grace) -> bool:
        """Keep a disconnected peer's seat for `grace` seconds so that it can resume."""
        done = await self.scripts["SUSPEND"](
            keys=self._keys(slug, peer.user_id), args=[peer.peer_id, peer.node, time.time() + grace]
        )
        return bool(done)

    async def buffer(self, *, slug, peer_id, node, text, limit) -> str:
        """Keep a frame for a peer suspended on `node`: BUFFERED, GONE, or the node it resumed on."""
        return await self._buffer(slug, peer_id, node, [text], limit, suspended=True)

    async def stash(self, *, slug, peer_id, node, texts, limit) -> str:
        """Keep frames for a peer of `node`, a process that stopped answering (it crashed), for
        whoever adopts the peer: BUFFERED, GONE, or the node that already did."""
        return await self._buffer(slug, peer_id, node, texts, limit, suspended=False)

    async def _buffer(self, slug, peer_id, node, texts, limit, *, suspended: bool) -> str:
        room = self._room(slug)
        result = await self.scripts["BUFFER"](
            keys=[f"{room}:peers", f"{room}:susp", self._buffer_key(slug, peer_id)],
            args=[peer_id, node, limit, int(BUFFER_TTL * 1000), "1" if suspended else "0", *texts],
        )
        return result.decode()

    async def resume(self, *, slug, peer_id, user_id, node, ttl) -> Resumed | None:
        return await self._move("RESUME", slug, peer_id, user_id, node, ttl)

    async def adopt(self, *, slug, peer_id, user_id, old_node, node, ttl) -> Resumed | None:
        """Take over a peer whose process stopped answering (it crashed): same peer, new node."""
        return await self._move("ADOPT", slug, peer_id, user_id, node, ttl, old_node=old_node)

    async def _move(self, script, slug, peer_id, user_id, node, ttl, *, old_node=None) -> Resumed | None:
        raw = await self.redis.hget(self._peers_key(slug), peer_id)
        if raw is None:
            return None
        moved = PeerRecord.loads(raw).moved(node)
        now = time.time()
        args = [peer_id, str(user_id), moved.dumps(), now, now + ttl]
        if old_node is not None:
            args.insert(2, old_node)
        result = await self.scripts[script](keys=self._keys(slug, user_id, self._buffer_key(slug, peer_id)), args=args)
        return resumed_from(moved, result)

    async def start(self) -> None:
        """Load the scripts now: one run on its own (not batched) that Redis lacks fails
        NOSCRIPT before redis-py loads it, once per caller of a burst. Mark the registry as
        present (a Redis that restarts empty loses the mark: RESTORE_GATE)."""
        for script in self.scripts.values():
            await self.redis.script_load(script.script)
        await self.redis.set(self._gate_keys()[0], 1, nx=True)

    async def close(self) -> None:
        await self.redis.aclose()


def resumed_from(moved: PeerRecord, result: list | None) -> Resumed | None:
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


# The read-only selectors, shared with the pages' synchronous readers (calls.services.occupancy):
# queue the commands on a pipeline, then parse its replies.
def ban_key(prefix: str, slug: str, user_id: int) -> str:
    return f"{prefix}:ban:{slug}:{user_id}"


def ban_queue(pipe, prefix: str, slug: str, user_id: int) -> None:
    pipe.get(ban_key(prefix, slug, user_id))
    pipe.pttl(ban_key(prefix, slug, user_id))


def ban_parse(replies: list) -> BanRecord | None:
    raw, pttl = replies
    if raw is None or pttl is None or pttl == -2:
        return None
    by = orjson.loads(raw).get("by") if raw not in (b"1", "1") else None  # "1": a ban set before `by` was kept
    return BanRecord(by=by, seconds_left=max(1, math.ceil(pttl / 1000)) if pttl > 0 else 0)


def occupancy_queue(pipe, prefix: str, slugs: list[str], now: float) -> None:
    for slug in slugs:
        pipe.hvals(f"{prefix}:room:{slug}:peers")
        pipe.zrangebyscore(f"{prefix}:room:{slug}:exp", now, "+inf")


def occupancy_parse(slugs: list[str], replies: list) -> dict[str, list[PeerRecord]]:
    """Each room's peers whose expiry has not passed (a crashed process's peers are not counted
    while they wait to be reaped)."""
    rooms = {}
    for index, slug in enumerate(slugs):
        raws, ids = replies[2 * index], replies[2 * index + 1]
        live = {pid.decode() if isinstance(pid, bytes) else pid for pid in ids}
        peers = [peer for peer in map(PeerRecord.loads, raws) if peer.peer_id in live]
        if peers:
            rooms[slug] = peers
    return rooms
