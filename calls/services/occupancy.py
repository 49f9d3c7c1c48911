"""Who is in which room's call now, for the pages (lobby, pre-join screen, the occupancy
endpoint): read from the signaling registry in one round trip for many rooms, never from the
database per peer.

Pages run in worker threads: with Redis, they read its keys through the registry's own
selectors (`occupancy_queue`, `ban_queue`) on a synchronous client; with the in-memory
registry (one process), they ask the node on its event loop.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from calls.infra.redis import redis_sync_client
from calls.signaling.records import BanRecord, PeerRecord
from calls.signaling.registry import ban_parse, ban_queue, occupancy_parse, occupancy_queue

logger = logging.getLogger(__name__)
MEMORY_READ_TIMEOUT = 2.0
_UNREADABLE = (redis.RedisError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Occupancy:
    count: int  # seats taken (two devices of one user are two)
    people: list[dict]  # the distinct users in the call, public dicts, in the order they joined


def occupancy_of(peers: list[PeerRecord]) -> Occupancy:
    people: dict[int, dict] = {}
    for peer in peers:
        people.setdefault(peer.user_id, peer.user)
    return Occupancy(count=len(peers), people=list(people.values()))


def occupancy_for_rooms(*, slugs: list[str]) -> dict[str, Occupancy]:
    """Each room's occupancy (rooms nobody is in are left out); empty if the registry cannot be read."""
    slugs = list(dict.fromkeys(slugs))
    if not slugs:
        return {}
    try:
        rooms = _registry_read(
            redis_read=lambda pipe, prefix: occupancy_queue(pipe, prefix, slugs, time.time()),
            redis_parse=lambda replies: occupancy_parse(slugs, replies),
            memory_read=lambda registry: registry.occupancy(slugs=slugs),
        )
    except _UNREADABLE as error:
        logger.warning("occupancy: the registry did not answer (%s)", error)
        return {}
    return {slug: occupancy_of(peers) for slug, peers in (rooms or {}).items()}


def room_ban_for_user(*, slug: str, user_id: int) -> BanRecord | None:
    """The moderator's removal keeping `user_id` out of the room now, if any."""
    try:
        return _registry_read(
            redis_read=lambda pipe, prefix: ban_queue(pipe, prefix, slug, user_id),
            redis_parse=ban_parse,
            memory_read=lambda registry: registry.ban_get(slug=slug, user_id=user_id),
        )
    except _UNREADABLE as error:
        logger.warning("occupancy: the registry did not answer (%s)", error)
        return None


def _registry_read(*, redis_read, redis_parse, memory_read):
    config = settings.SIGNALING
    if config["BACKEND"] == "redis":
        pipe = redis_sync_client(config["REDIS_URL"]).pipeline(transaction=False)
        redis_read(pipe, config["KEY_PREFIX"])
        return redis_parse(pipe.execute())
    from calls.signaling.node import nodes_serving

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    # One process, one serving loop; none started yet means nobody is in any call.
    for loop, node in nodes_serving():
        if loop is running:  # called on the loop itself: it cannot wait for itself
            continue
        return asyncio.run_coroutine_threadsafe(memory_read(node.registry), loop).result(MEMORY_READ_TIMEOUT)
    return None
