"""The Redis channel layer, made to outlive a Redis restart."""

import asyncio
import logging
import time
import weakref

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from calls.services.redis_batch import RedisBatcher
from calls.services.room_state import REDIS_POOL_WAIT

logger = logging.getLogger(__name__)


class ResilientRedisChannelLayer(RedisChannelLayer):
    """channels_redis lets a lost Redis connection escape `receive()`, which ends the consumer
    (close 1011): a Redis restart would drop every call on every process. Wait and retry instead;
    the signaling relay has its own reconnecting transport, so calls carry on.

    Its pools are also made to retry a command once Redis is back: after a restart every pooled
    connection is dead, and without a retry each one fails a join's group_add (a crashed consumer).
    """

    def __init__(self, hosts=None, **kwargs) -> None:
        retry = {"retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 3), "retry_on_error": [RedisConnectionError]}
        hosts = [dict(host, **retry) if isinstance(host, dict) else host for host in hosts or []]
        super().__init__(hosts=hosts or None, **kwargs)
        self._batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def create_pool(self, index: int):
        """A bounded pool that makes a burst wait for a connection: see calls.services.room_state."""
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), timeout=REDIS_POOL_WAIT, **host)

    def _batcher(self, group: str) -> RedisBatcher:
        client = self.connection(self.consistent_hash(group))
        batcher = self._batchers.get(client)
        if batcher is None:
            batcher = self._batchers[client] = RedisBatcher(client)
        return batcher

    async def group_add(self, group: str, channel: str) -> None:
        """channels_redis's ZADD then EXPIRE, sent with the other commands of this loop turn (a
        join storm starts many rooms at once: calls.services.redis_batch)."""
        assert self.require_valid_group_name(group), "Group name not valid"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        batcher, key = self._batcher(group), self._group_key(group)
        await asyncio.gather(
            batcher.execute("ZADD", key, time.time(), channel), batcher.execute("EXPIRE", key, self.group_expiry)
        )

    async def group_discard(self, group: str, channel: str) -> None:
        assert self.require_valid_group_name(group), "Group name not valid"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        await self._batcher(group).execute("ZREM", self._group_key(group), channel)

    async def receive(self, channel: str) -> dict:
        backoff = 0.1
        while True:
            try:
                return await super().receive(channel)
            except (RedisConnectionError, RedisTimeoutError, ConnectionError) as error:
                logger.warning("channel layer lost Redis (%s); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
