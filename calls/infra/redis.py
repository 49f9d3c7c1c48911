"""Redis clients: the signaling registry's and bus's, the session cache's, one pool per URL for
Django's cache, and the readiness check's.

With REDIS_SENTINELS (host:port,...) and REDIS_SENTINEL_MASTER set, every pool made here (and
the channel layer's, config.channel_layers) connects to the master that Redis Sentinel names,
and asks again when a connection fails: after a failover the next retry reaches the new master.
The URL then gives only the password and database number; its host and port are not used.
"""

import asyncio
import re
import threading
import weakref

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError

# Connections one client may hold. A join storm's commands wait for a free one instead of
# each opening its own: redis-py 8 spends ~0.3 ms of CPU opening one (it reads its package
# metadata every time), which was a quarter of a join, and its default pool fails outright
# past 100 (docs/performance.md).
REDIS_POOL_SIZE = 64
REDIS_POOL_WAIT = 10
# What a new connection tells Redis (CLIENT SETINFO), built once: left to redis-py, every
# connection opened reads the package's version from its metadata on disk again (6% of a cold
# server's first join storm; docs/performance.md). Every pool here is given this one.
DRIVER_INFO = DriverInfo()


def redis_client_create(url: str) -> aioredis.Redis:
    """A client with deliberate options: no read timeout (pub/sub blocks), keepalive, a bounded
    pool that makes a burst of commands wait for a connection rather than fail, and a command
    retried on a fresh connection when its pooled one died (after a Redis restart every pooled
    connection is dead: the first sweep's refresh failed, and a join admitted then saw no one)."""
    pool = redis_async_pool(
        url,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT,
        socket_timeout=None,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
        retry_on_error=[RedisConnectionError],
        driver_info=DRIVER_INFO,
    )
    client = aioredis.Redis(connection_pool=pool, decode_responses=False)
    _clients.add(client)
    return client


# Every client made here, for redis_connections_open (a server's warm-up at start).
_clients: "weakref.WeakSet[aioredis.Redis]" = weakref.WeakSet()


async def redis_connections_open(*, count: int, clients=None) -> int:
    """Open up to `count` connections in each client's pool now (default: every client made by
    redis_client_create), instead of in the first join storm; returns how many commands ran.

    Concurrent PINGs each take a connection, so the pool opens what it lacks (at most its size).
    """
    targets = list(_clients if clients is None else clients)
    await asyncio.gather(*(client.ping() for client in targets for _ in range(count)))
    return len(targets) * count


def cache_redis_url(*, alias: str) -> str | None:
    """The URL of the Redis server that cache `alias` writes to, or None if it is not Redis.

    Django's documented LOCATION: one URL, or several (a list, or split by `;` or `,`) of which
    the first is the leader that every write goes to.
    """
    if not isinstance(caches[alias], RedisCache):
        return None
    location = settings.CACHES[alias]["LOCATION"]
    servers = re.split("[;,]", location) if isinstance(location, str) else list(location)
    return servers[0]


class SharedConnectionPool(redis.ConnectionPool):
    """One pool per Redis URL for the whole process (Django's cache OPTIONS `pool_class`).

    Django makes a cache object, and with it a new pool, per async context: every socket's
    session look-up opened a new Redis connection (a quarter of the join's CPU).
    """

    _pools: dict[tuple, redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        kwargs.setdefault("driver_info", DRIVER_INFO)
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with cls._lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = redis_sync_pool(url, **kwargs)
            return pool


def redis_sync_client(url: str, *, timeout: float = 2.0) -> redis.Redis:
    """A synchronous client on the process's shared pool for `url` (SharedConnectionPool), with
    short timeouts: for checks that must answer quickly (/readyz) whatever Redis does."""
    pool = SharedConnectionPool.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    return redis.Redis(connection_pool=pool)


# --- Sentinel ------------------------------------------------------------------------------------
# A sentinel that does not answer within this long is skipped for the next one.
SENTINEL_TIMEOUT = 1.0


def redis_sentinels() -> list[tuple[str, int]]:
    """REDIS_SENTINELS as (host, port) pairs; empty when Redis is used directly."""
    pairs = []
    for item in getattr(settings, "REDIS_SENTINELS", []):
        host, _, port = item.strip().rpartition(":")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


def _sentinel_kwargs() -> dict:
    kwargs = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    if getattr(settings, "REDIS_SENTINEL_PASSWORD", ""):
        kwargs["password"] = settings.REDIS_SENTINEL_PASSWORD
    return kwargs


def _master_options(url: str) -> dict:
    """What the URL says besides where Redis is: password, user name, database number."""
    options = parse_url(url)
    for where in ("host", "port", "path", "connection_class"):
        options.pop(where, None)
    return options


class BlockingSentinelConnectionPool(redis.asyncio.sentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """The Sentinel-named master's connections in a bounded pool: a burst waits for a connection."""


def redis_async_pool(url: str, **options) -> aioredis.ConnectionPool:
    """A bounded pool (`max_connections`, waiting up to `timeout` for one) to `url`'s Redis,
    or to the master Sentinel names when REDIS_SENTINELS is set."""
    sentinels = redis_sentinels()
    if not sentinels:
        return aioredis.BlockingConnectionPool.from_url(url, **options)
    manager = redis.asyncio.sentinel.Sentinel(sentinels, sentinel_kwargs=_sentinel_kwargs())
    return BlockingSentinelConnectionPool(
        settings.REDIS_SENTINEL_MASTER, manager, **{**_master_options(url), **options}
    )


def redis_sync_pool(url: str, **options) -> redis.ConnectionPool:
    """A (synchronous) pool to `url`'s Redis, or to the master Sentinel names."""
    sentinels = redis_sentinels()
    if not sentinels:
        return redis.ConnectionPool.from_url(url, **options)
    manager = redis.sentinel.Sentinel(sentinels, sentinel_kwargs=_sentinel_kwargs())
    return redis.sentinel.SentinelConnectionPool(
        settings.REDIS_SENTINEL_MASTER, manager, **{**_master_options(url), **options}
    )
