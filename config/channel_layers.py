"""The Redis channel layer, made to outlive a Redis restart and a join storm."""

import asyncio
import logging

from channels_redis.core import RedisChannelLayer
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from calls.infra.redis import DRIVER_INFO, REDIS_POOL_WAIT, redis_async_pool
from calls.services.outages import outage_failed

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

    def create_pool(self, index: int):
        """A bounded pool that makes a burst wait for a connection (calls.infra.redis): the layer's
        own fails a burst past its `max_connections` (tests/test_layer_events.py pins that the
        layer takes its pools from here). Through Sentinel when REDIS_SENTINELS is set. Its
        connections share one DriverInfo (calls.infra.redis)."""
        host = dict(self.hosts[index])
        host.setdefault("driver_info", DRIVER_INFO)
        return redis_async_pool(host.pop("address"), timeout=REDIS_POOL_WAIT, **host)

    async def receive(self, channel: str) -> dict:
        backoff = 0.1
        while True:
            try:
                return await super().receive(channel)
            except (RedisConnectionError, RedisTimeoutError, ConnectionError) as error:
                # Part of the Redis outage: one WARNING for all of it, the failures counted (metrics).
                outage_failed(what="channel layer receive", error=error, log=logger)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
