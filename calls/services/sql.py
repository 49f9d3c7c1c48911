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
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import psycopg
from channels.db import database_sync_to_async
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

from calls.services.batches import slices
from calls.services.tasks import background

# Connections one process keeps for join look-ups; more sockets wait their turn (a look-up
# takes well under a millisecond).
POOL_SIZE = 4
K = TypeVar("K")
V = TypeVar("V")
# Keys in one batched look-up (SQLite allows 999 parameters in a query).
BATCH_KEYS = 400


class AsyncSqlPool:
    """At most `size` autocommit psycopg connections on one event loop, opened on demand.

    A connection that failed is closed, not reused, so the first look-up after a database
    restart opens a fresh one instead of failing again.
    """

    def __init__(self, *, params: dict[str, Any], size: int = POOL_SIZE) -> None:
        self.params = params
        self.idle: list[psycopg.AsyncConnection] = []
        self.opened: set[psycopg.AsyncConnection] = set()
        self.slots = asyncio.Semaphore(size)

    async def fetchall(self, sql: str, args: Sequence[Any]) -> list[tuple]:
        async with self.slots:
            connection = self.idle.pop() if self.idle else None
            try:
                if connection is None:
                    connection = await psycopg.AsyncConnection.connect(autocommit=True, **self.params)
                    self.opened.add(connection)
                cursor = await connection.execute(sql, args)
                rows = await cursor.fetchall()
            except BaseException as error:
                if connection is not None:
                    self.opened.discard(connection)
                    connection.pgconn.finish()  # at once: a cancelled task may not get to await a close
                if isinstance(error, psycopg.Error):
                    raise OperationalError(str(error)) from error
                raise
            self.idle.append(connection)
            return rows

    def discard(self) -> None:
        """Hang up every connection, from outside the loop."""
        self.idle.clear()
        while self.opened:
            self.opened.pop().pgconn.finish()


# Per event loop: its pool, or None where the database is not PostgreSQL.
_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncSqlPool | None]" = weakref.WeakKeyDictionary()


def _pool_create() -> "AsyncSqlPool | None":
    """Django's own connection parameters (with its connect_timeout), less its sync-only cursor
    class and adapters."""
    database = connections[DEFAULT_DB_ALIAS]
    if database.vendor != "postgresql":
        return None
    params = database.get_connection_params()
    for django_only in ("cursor_factory", "context"):
        params.pop(django_only, None)
    return AsyncSqlPool(params=params)


def _fetchall_sync(sql: str, args: Sequence[Any]) -> list[tuple]:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


async def sql_fetchall(sql: str, args: Sequence[Any]) -> list[tuple]:
    """The rows of a read-only query (`%s` placeholders), from any coroutine."""
    loop = asyncio.get_running_loop()
    if loop in _pools:
        pool = _pools[loop]
    else:
        pool = _pools[loop] = _pool_create()
    if pool is not None:
        return await pool.fetchall(sql, args)
    return await database_sync_to_async(_fetchall_sync)(sql, args)


class LookupBatch(Generic[K, V]):
    """Look-ups asked for during one event-loop turn, answered by one query.

    In a join storm hundreds of handshakes each need their user and their room; one query
    per turn instead of one per socket (psycopg spends ~0.4 ms of CPU per async query).
    `fetch_many` gets the distinct keys (at most BATCH_KEYS) and returns what it found.
    """

    def __init__(self, fetch_many: Callable[[list[K]], Awaitable[dict[K, V]]]) -> None:
        self.fetch_many = fetch_many
        self.pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[K, asyncio.Future]] = (
            weakref.WeakKeyDictionary()
        )

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        pending = self.pending.setdefault(loop, {})
        if not pending:
            loop.call_soon(self._flush, loop)
        future = pending.get(key)
        if future is None:
            future = pending[key] = loop.create_future()
        return await asyncio.shield(future)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self.pending.pop(loop, {})
        for keys in slices(list(pending), BATCH_KEYS):
            background(self._answer({key: pending[key] for key in keys}))

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
    while _pools:
        pool = _pools.popitem()[1]
        if pool is not None:
            pool.discard()
