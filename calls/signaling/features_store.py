"""The shared state of a room's features: raised hands, who records, the recent chat.

Kept apart from the room registry (calls.signaling.registry) and keyed per room; the
whole room's entry goes when its last peer does (`room_clear`), a peer's hand and
recording when that peer leaves (`peers_forget`). Two implementations behind one
interface, like the registry: RedisFeatureStore (shared by every server process) and
MemoryFeatureStore (the embedded single-process default); `feature_store_for` picks the
registry's twin.
"""

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import orjson
import redis.asyncio as aioredis

from calls.infra.redis_batch import RedisBatcher
from calls.infra.tasks import background
from calls.services.outages import outage_failed

from .registry import RedisRegistry

logger = logging.getLogger(__name__)

CHAT_KEPT = 50  # the last messages a late joiner is shown
# A safety net only: a room's keys are deleted when it empties; if the process that should
# have done it died, they expire this long after the room's last change.
KEYS_TTL = 24 * 3600


@dataclass(slots=True)
class FeatureSnapshot:
    hands: list[str] = field(default_factory=list)  # peer ids, in raise order
    recorders: list[str] = field(default_factory=list)  # peer ids, in start order
    chat: list[dict] = field(default_factory=list)  # chat frames as sent, oldest first


class FeatureStore(Protocol):
    async def hand_set(self, *, slug: str, peer_id: str, raised: bool) -> bool: ...
    async def recorder_set(self, *, slug: str, peer_id: str, active: bool) -> bool: ...
    def chat_keep(self, *, slug: str, text: str) -> None: ...
    async def snapshot(self, *, slug: str, chat: bool) -> FeatureSnapshot: ...
    async def peers_forget(self, *, slug: str, peer_ids: list[str]) -> None: ...
    async def room_clear(self, *, slug: str) -> None: ...


# KEYS: hands, recorders, chat; ARGV: '1' to read the chat too. One command per join, batched
# with the other commands of its event-loop turn (a join storm sends them in one pipeline).
_SNAPSHOT = """
local chat = {}
if ARGV[1] == '1' then chat = redis.call('LRANGE', KEYS[3], 0, -1) end
return {redis.call('ZRANGE', KEYS[1], 0, -1), redis.call('HGETALL', KEYS[2]), chat}
"""


class RedisFeatureStore:
    """A sorted set of hands (scored by raise time), a hash of recorders, a capped list of chat frames."""

    def __init__(self, *, client: aioredis.Redis, prefix: str, batcher: RedisBatcher | None = None) -> None:
        self.redis = client
        self.prefix = prefix
        self.batcher = batcher or RedisBatcher(client)
        self._snapshot = client.register_script(_SNAPSHOT)
        self.chat_pending: list[tuple[str, str]] = []  # (slug, frame) not written yet

    def _keys(self, slug: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:room:{slug}"
        return f"{base}:hands", f"{base}:rec", f"{base}:chat"

    async def hand_set(self, *, slug, peer_id, raised) -> bool:
        """True if the hand changed (a second raise keeps its place in the queue)."""
        key = self._keys(slug)[0]
        async with self.redis.pipeline(transaction=True) as pipe:
            if raised:
                pipe.zadd(key, {peer_id: time.time()}, nx=True)
            else:
                pipe.zrem(key, peer_id)
            pipe.expire(key, KEYS_TTL)
            changed, _ = await pipe.execute()
        return bool(changed)

    async def recorder_set(self, *, slug, peer_id, active) -> bool:
        key = self._keys(slug)[1]
        async with self.redis.pipeline(transaction=True) as pipe:
            if active:
                pipe.hsetnx(key, peer_id, time.time())
            else:
                pipe.hdel(key, peer_id)
            pipe.expire(key, KEYS_TTL)
            changed, _ = await pipe.execute()
        return bool(changed)

    def chat_keep(self, *, slug, text) -> None:
        """Queue the frame: the messages of one event-loop turn are written in one pipeline, behind
        the send (a chat never waits for Redis; a join in that instant may miss the message)."""
        self.chat_pending.append((slug, text))
        if len(self.chat_pending) == 1:
            asyncio.get_running_loop().call_soon(self._chat_flush)

    def _chat_flush(self) -> None:
        batch, self.chat_pending = self.chat_pending, []
        background(self._chat_write(batch))

    async def _chat_write(self, batch: list[tuple[str, str]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for slug, text in batch:
                    pipe.rpush(self._keys(slug)[2], text)
                for slug in {slug for slug, _ in batch}:
                    pipe.ltrim(self._keys(slug)[2], -CHAT_KEPT, -1)
                    pipe.expire(self._keys(slug)[2], KEYS_TTL)
                await pipe.execute()
        except Exception as error:  # an outage: these messages are not kept, the call goes on
            outage_failed(what="chat history", error=error, log=logger)

    async def snapshot(self, *, slug, chat) -> FeatureSnapshot:
        hands, flat, frames = await self.batcher.script_run(
            self._snapshot, keys=list(self._keys(slug)), args=["1" if chat else "0"]
        )
        since = {flat[i].decode(): float(flat[i + 1]) for i in range(0, len(flat), 2)}
        return FeatureSnapshot(
            hands=[peer_id.decode() for peer_id in hands],
            recorders=sorted(since, key=since.__getitem__),
            chat=[orjson.loads(raw) for raw in frames],
        )

    async def peers_forget(self, *, slug, peer_ids) -> None:
        if not peer_ids:
            return
        hands_key, rec_key, _ = self._keys(slug)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(hands_key, *peer_ids)
            pipe.hdel(rec_key, *peer_ids)
            await pipe.execute()

    async def room_clear(self, *, slug) -> None:
        await self.redis.delete(*self._keys(slug))


@dataclass(slots=True)
class _Room:
    hands: dict[str, None] = field(default_factory=dict)  # insertion order: raise order
    recorders: dict[str, None] = field(default_factory=dict)
    chat: deque = field(default_factory=lambda: deque(maxlen=CHAT_KEPT))


class MemoryFeatureStore:
    """The same in one process's memory."""

    def __init__(self) -> None:
        self.rooms: dict[str, _Room] = {}

    def _room(self, slug: str) -> _Room:
        return self.rooms.setdefault(slug, _Room())

    async def hand_set(self, *, slug, peer_id, raised) -> bool:
        return _flag(self._room(slug).hands, peer_id, raised)

    async def recorder_set(self, *, slug, peer_id, active) -> bool:
        return _flag(self._room(slug).recorders, peer_id, active)

    def chat_keep(self, *, slug, text) -> None:
        self._room(slug).chat.append(text)

    async def snapshot(self, *, slug, chat) -> FeatureSnapshot:
        room = self.rooms.get(slug)
        if room is None:
            return FeatureSnapshot()
        return FeatureSnapshot(
            hands=list(room.hands),
            recorders=list(room.recorders),
            chat=[orjson.loads(text) for text in room.chat] if chat else [],
        )

    async def peers_forget(self, *, slug, peer_ids) -> None:
        room = self.rooms.get(slug)
        for peer_id in peer_ids if room else ():
            room.hands.pop(peer_id, None)
            room.recorders.pop(peer_id, None)

    async def room_clear(self, *, slug) -> None:
        self.rooms.pop(slug, None)


def _flag(members: dict[str, None], peer_id: str, on: bool) -> bool:
    """Add or remove `peer_id`; True if that changed anything."""
    if on == (peer_id in members):
        return False
    if on:
        members[peer_id] = None
    else:
        del members[peer_id]
    return True


def feature_store_for(registry) -> FeatureStore:
    """The feature store beside a node's registry: in Redis (same client, prefix and batcher) if it is."""
    if isinstance(registry, RedisRegistry):
        return RedisFeatureStore(client=registry.redis, prefix=registry.prefix, batcher=registry.batcher)
    return MemoryFeatureStore()
