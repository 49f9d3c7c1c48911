"""A server process warms up before it listens, so that its first join storm costs what later ones do.

uvicorn runs the ASGI lifespan's startup before it binds its socket (config.serve passes
`--lifespan on`). Left lazy, a fresh process did all of this inside its first storm, with
hundreds of handshakes queued behind it (docs/performance.md, "Cold and warm storms"):

- start the signaling node (calls.signaling.node: Lua scripts loaded, its bus channel subscribed,
  the channel layer's membership of the all-processes group): the first socket waited for all of it;
- open the Redis connections a storm uses: the channel layer's pool (one `group_add` per
  room), the node's and the session cache's pools (calls.infra.redis);
- open the SQL look-up pool's connections (calls.infra.sql);
- run one session and user look-up through the handshake's code path.

Every step is best effort and bounded in time: with Redis or the database down, the process
still starts (and refuses handshakes readably) and those steps happen lazily later.
"""

import asyncio
import logging
import time

from django.conf import settings

logger = logging.getLogger(__name__)

# Connections opened per Redis pool: about what one storm of a few hundred sockets uses at once.
REDIS_CONNECTIONS = 16
# Seconds for one step, and for all of them: a process never waits longer than that to listen.
STEP_TIMEOUT = 3.0
TOTAL_TIMEOUT = 6.0


async def _node_start() -> None:
    from calls.signaling.node import node_get

    await node_get()


async def _layer_connections() -> None:
    from channels.layers import get_channel_layer
    from channels_redis.core import RedisChannelLayer

    layer = get_channel_layer()
    if isinstance(layer, RedisChannelLayer):
        from calls.infra.redis import redis_connections_open

        count = min(REDIS_CONNECTIONS * 4, int(layer.hosts[0].get("max_connections") or 64))
        await redis_connections_open(count=count, clients=[layer.connection(0)])


async def _socket_auth_path() -> None:
    """A handshake's look-ups once: the session cache's Redis pool, the SQL pool, the code paths."""
    from calls.infra.socket_auth import socket_session_open
    from calls.infra.sql import POOL_SIZE, sql_fetchall

    await socket_session_open(cookie="warm-up-no-such-session")
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        await asyncio.gather(*(sql_fetchall("SELECT 1", []) for _ in range(POOL_SIZE)))


async def _redis_connections() -> None:
    from calls.infra.redis import redis_connections_open

    await redis_connections_open(count=REDIS_CONNECTIONS)


STEPS = [_node_start, _layer_connections, _socket_auth_path, _redis_connections]
NEEDS_REDIS = {_node_start, _layer_connections, _redis_connections}


async def _redis_reachable() -> bool:
    """Whether the signaling Redis answers a PING within a second (True without one). A node
    whose start is cut short leaves its pub/sub listener retrying: it is not started then."""
    config = settings.SIGNALING
    if config.get("BACKEND") != "redis" or not config.get("REDIS_URL"):
        return True
    import redis.asyncio as aioredis

    client = aioredis.from_url(config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


async def server_warm_up() -> None:
    """Run every step (see the module's docstring); never raises. SERVER_WARM_UP=false skips it."""
    if not settings.SERVER_WARM_UP:
        return
    started = time.monotonic()
    steps = STEPS
    if not await _redis_reachable():
        logger.warning("warm-up step node/redis skipped: Redis does not answer; done on first use")
        steps = [step for step in STEPS if step not in NEEDS_REDIS]
    for step in steps:
        left = TOTAL_TIMEOUT - (time.monotonic() - started)
        try:
            await asyncio.wait_for(step(), max(0.01, min(STEP_TIMEOUT, left)))
        except Exception as error:  # best effort: the lazy path does it later
            logger.warning("warm-up step %s skipped: %r", step.__name__.lstrip("_"), error)
    logger.info("warmed up in %.0f ms", (time.monotonic() - started) * 1000)


async def lifespan(scope, receive, send) -> None:
    """The ASGI lifespan protocol: warm up at startup, nothing to do at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await server_warm_up()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
