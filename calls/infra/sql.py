"""Read-only SQL for the WebSocket join path, without Django's database thread.

Every `database_sync_to_async` call queues on one thread (it is thread-sensitive), so in a
join storm each socket's user and room look-ups waited there one after another, and the ORM
spent more CPU building the queries than PostgreSQL spent running them (docs/performance.md).
On PostgreSQL the join's two look-ups run on this event loop through a few psycopg async
connections; on other databases (the embedded SQLite) through Django's connection as before.
Failures are raised as Django's `OperationalError`, so the handshake's database-outage refusal
(config.middleware) covers both.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import psycopg
from channels.db import database_sync_to_async
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from psycopg_pool import AsyncConnectionPool

from calls.infra.batches import slices
from calls.infra.loops import LoopLocal
from calls.infra.tasks import background

# Connections one process keeps for join look-ups; more sockets wait their turn (a look-up
# takes well under a millisecond, and a loop turn's look-ups share one: LookupBatch).
POOL_SIZE = 4
# How long a look-up waits for a connection: a storm's queue drains in far less; with the
# database down, the handshake's refusal comes after at most this.
POOL_WAIT = 10.0
K = TypeVar("K")
V = TypeVar("V")
# Keys in one batched look-up (SQLite allows 999 parameters in a query).
BATCH_KEYS = 400

# The pools' open connections, so that tests can hang them up after their loop is gone: held
# here, or a pool dropped with its loop would keep its sessions open until garbage collection.
_opened: set[psycopg.AsyncConnection] = set()


async def _connection_opened(connection: psycopg.AsyncConnection) -> None:
    """psycopg_pool's `configure` hook: remember a new connection (and forget closed ones)."""
    _opened.difference_update([known for known in _opened if known.closed])
    _opened.add(connection)


async def _pool_open() -> AsyncConnectionPool | None:
    """A pool of autocommit connections opened on demand with Django's own parameters (and its
    connect_timeout), less its sync-only cursor class and adapters; None where the database is
    not PostgreSQL. psycopg_pool drops a connection that broke, so the first look-up after a
    database restart fails, and the next ones open fresh connections."""
    database = connections[DEFAULT_DB_ALIAS]
    if database.vendor != "postgresql":
        return None
    params = database.get_connection_params()
    for django_only in ("cursor_factory", "context"):
        params.pop(django_only, None)
    pool = AsyncConnectionPool(
        kwargs={**params, "autocommit": True},
        min_size=0,
        max_size=POOL_SIZE,
        timeout=POOL_WAIT,
        configure=_connection_opened,
        open=False,
        name="parley-lookups",
    )
    await pool.open()
    return pool


_pools: "LoopLocal[asyncio.Task]" = LoopLocal(lambda: asyncio.get_running_loop().create_task(_pool_open()))


def _fetchall_sync(sql: str, args: Sequence[Any]) -> list[tuple]:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


async def sql_fetchall(sql: str, args: Sequence[Any]) -> list[tuple]:
    """The rows of a read-only query (`%s` placeholders), from any coroutine."""
    pool = await asyncio.shield(_pools.get())
    if pool is None:
        return await database_sync_to_async(_fetchall_sync)(sql, args)
    try:
        async with pool.connection() as connection:
            cursor = await connection.execute(sql, args)
            return await cursor.fetchall()
    except psycopg.Error as error:
        raise OperationalError(str(error)) from error


class LookupBatch(Generic[K, V]):
    """Look-ups asked for during one event-loop turn, answered by one query.

    In a join storm hundreds of handshakes each need their user and their room; one query
    per turn instead of one per socket (psycopg spends ~0.4 ms of CPU per async query).
    `fetch_many` gets the distinct keys (at most BATCH_KEYS) and returns what it found.
    """

    def __init__(self, fetch_many: Callable[[list[K]], Awaitable[dict[K, V]]]) -> None:
        self.fetch_many = fetch_many
        self.pending: LoopLocal[dict[K, asyncio.Future]] = LoopLocal(dict)

    async def get(self, key: K) -> V | None:
        pending = self.pending.get()
        if not pending:
            asyncio.get_running_loop().call_soon(self._flush, pending)
        future = pending.get(key)
        if future is None:
            future = pending[key] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(future)

    def _flush(self, pending: dict[K, asyncio.Future]) -> None:
        batch = dict(pending)
        pending.clear()
        for keys in slices(list(batch), BATCH_KEYS):
            background(self._answer({key: batch[key] for key in keys}))

    async def _answer(self, futures: dict[K, asyncio.Future]) -> None:
        try:
            found = await self.fetch_many(list(futures))
        except Exception as error:
            for future in futures.values():
                if not future.done():
                    future.set_exception(error)
            return
        for key, future in futures.items():
            if not future.done():
                future.set_result(found.get(key))


def sql_placeholders(count: int) -> str:
    """`%s, %s, ...` for an IN list."""
    return ", ".join(["%s"] * count)


def sql_pools_discard() -> None:
    """Hang up every loop's connections, from outside any loop.

    For tests: each runs its own event loop, and PostgreSQL would keep their connections
    (and refuse to drop the test database) until the loops are garbage.
    """
    list(_pools.drain())
    while _opened:
        _opened.pop().pgconn.finish()
